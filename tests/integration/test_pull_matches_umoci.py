"""Every fixture image, pulled by rl, looks exactly like what an independent
tool unpacks from the same OCI layout: umoci, in a user namespace made by
util-linux's unshare (not rl's). rl's side is its layers mounted with kernel
overlay, as a container sees them. Compared path by path: type, permission
bits, owner, link target, content hash."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess

import pytest

pytestmark = [pytest.mark.registry, pytest.mark.userns]

# registry tag -> (which layout, ref inside it). umoci 0.4.7 reads no zstd
# layers: the zstd tags are recompressions of the same layers (same
# diff_ids, checked below), so umoci's unpack of the gzip layout is the reference.
SOURCES = {
    "library/debian:bookworm": ("oci_layout", "debian"),
    "library/debian:buster": ("oci_layout", "debian"),
    "library/debian:bookworm-oci": ("oci_layout", "debian"),
    "library/debian:bookworm-zstd": ("oci_layout", "debian"),
    "rl-test/layers:v1": ("oci_layout", "layers"),
    "rl-test/layers:v1-docker": ("oci_layout", "layers"),
    "rl-test/layers:v1-zstd": ("oci_layout", "layers"),
    "rl-test/multi:oci": ("oci_layout", "tiny-amd64"),
    "rl-test/multi:docker": ("oci_layout", "tiny-amd64"),
    "rl-test/multi:attest": ("oci_layout", "tiny-amd64"),
}


def _describe(root: str) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            extra = None
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                extra = h.hexdigest()
            out[os.path.relpath(p, root)] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, extra)
    return out


def _compare_in_ns(layers: list[str], theirs: str, mnt: str, empty: str) -> tuple[list, dict, dict]:
    """Runs as root of the user namespace: mount rl's layers, describe both trees."""
    from rootless import linux
    linux.unshare(linux.Clone.NEWNS)
    linux.mount(None, "/", None, linux.Mount.REC | linux.Mount.PRIVATE)
    lower = ":".join(list(reversed(layers)) + [empty])  # overlay wants 2+ lower dirs without an upper
    linux.mount("overlay", mnt, "overlay", linux.Mount.RDONLY, f"lowerdir={lower},userxattr")
    ours = _describe(mnt)
    linux.umount2(mnt)
    return [], ours, _describe(theirs)


def _umoci_unpack(layout, ref, dest) -> None:
    # util-linux maps 0 -> the user and 1.. -> the subordinate range, like rl,
    # so owners read the same from inside either namespace
    res = subprocess.run(["unshare", "--map-auto", "--map-root-user", "umoci", "unpack", "--image",
                          f"{layout}:{ref}", str(dest)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr


@pytest.fixture(scope="module")
def umoci_trees(registry, tmp_path_factory):
    """One umoci unpack per distinct layout ref, shared by the tags that point at it."""
    base = tmp_path_factory.mktemp("umoci")
    trees = {}
    yield trees, base
    from tests.conftest import reclaim
    reclaim(base)


@pytest.mark.parametrize("tag", sorted(SOURCES))
def test_pulled_tree_matches_umoci(rl, registry, umoci_trees, tag, tmp_path):
    trees, base = umoci_trees
    layout_attr, ref = SOURCES[tag]
    key = (layout_attr, ref)
    if key not in trees:
        dest = base / f"{layout_attr}-{ref}"
        _umoci_unpack(getattr(registry, layout_attr), ref, dest)
        trees[key] = dest / "rootfs"

    rl.env.update(registry.env())
    res = rl.run("pull", "-q", "--tls-verify=false", f"{registry.plain}/{tag}")
    assert res.returncode == 0, res.stderr

    from rootless.config import Paths
    from rootless.images import ImageStore
    from rootless.runtime.userns import run_in_userns
    from pathlib import Path
    img = ImageStore(Paths(Path(rl.env["XDG_DATA_HOME"]) / "rl")).lookup(f"{registry.plain}/{tag}")
    layers = [str(p) for p in img.layer_dirs()]
    if tag.endswith("-zstd"):
        gzip_twin = ImageStore(Paths(Path(rl.env["XDG_DATA_HOME"]) / "rl"))
        rl.run("pull", "-q", "--tls-verify=false", f"{registry.plain}/{tag[:-5]}", check=True)
        assert gzip_twin.lookup(f"{registry.plain}/{tag[:-5]}").config["rootfs"]["diff_ids"] == \
            img.config["rootfs"]["diff_ids"]
    (tmp_path / "mnt").mkdir()
    (tmp_path / "empty").mkdir()
    _, ours, theirs = run_in_userns(_compare_in_ns, layers, str(trees[key]), str(tmp_path / "mnt"),
                                    str(tmp_path / "empty"))

    # device nodes cannot be created rootless: rl skips them (and records it),
    # umoci leaves an empty file in their place
    skipped = {p for p, d in theirs.items() if d[0] == stat.S_IFREG and d[4] == hashlib.sha256(b"").hexdigest()
               and p.startswith("dev/") and p not in ours}
    assert theirs, "umoci unpacked nothing"
    missing = sorted(set(theirs) - set(ours) - skipped)
    extra = sorted(set(ours) - set(theirs))
    differ = sorted(p for p in set(ours) & set(theirs) if ours[p] != theirs[p])
    assert not missing and not extra and not differ, {
        "missing": missing[:10], "extra": extra[:10],
        "differ": [(p, ours[p], theirs[p]) for p in differ[:10]]}
