"""The registry fixture, checked with skopeo before rl relies on it.

Each test compares what a registry serves with what the fixture built
(digests, decompressed layer bytes, platforms), so a broken fixture fails here
and not as a puzzling rl failure elsewhere."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from tests.fixture import cache, images, layers
from tests.fixture.registry import Registry

pytestmark = pytest.mark.registry

REPO = Path(__file__).resolve().parents[2]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
EXPECTED_TYPE = {
    "library/debian:bookworm": DOCKER_MANIFEST,
    "library/debian:buster": DOCKER_MANIFEST,
    "library/debian:bookworm-oci": OCI_MANIFEST,
    "library/debian:bookworm-zstd": OCI_MANIFEST,
    "rl-test/layers:v1": OCI_MANIFEST,
    "rl-test/layers:v1-docker": DOCKER_MANIFEST,
    "rl-test/layers:v1-zstd": OCI_MANIFEST,
    "rl-test/multi:oci": OCI_INDEX,
    "rl-test/multi:docker": DOCKER_LIST,
    "rl-test/multi:attest": OCI_INDEX,
}
# tags pushed with --preserve-digests: (layout attribute, ref in it)
PRESERVED = {
    "library/debian:bookworm-oci": ("oci_layout", "debian"),
    "library/debian:bookworm-zstd": ("oci_layout_zstd", "debian"),
    "rl-test/layers:v1": ("oci_layout", "layers"),
    "rl-test/layers:v1-zstd": ("oci_layout_zstd", "layers"),
    "rl-test/multi:oci": ("oci_layout", "multi"),
    "rl-test/multi:attest": ("oci_layout", "multi-attest"),
}


def skopeo(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    if check and res.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} -> {res.returncode}\n{res.stderr}")
    return res


def raw_manifest(ref: str, *flags: str) -> bytes:
    return skopeo("inspect", "--raw", *flags, ref).stdout.encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layout_digest(layout: Path, ref: str) -> str:
    index = json.loads((layout / "index.json").read_text())
    (desc,) = [m for m in index["manifests"] if m["annotations"][images.REF_NAME] == ref]
    return desc["digest"]


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def decompress(data: bytes, media_type: str) -> bytes:
    if media_type.endswith("zstd"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return gzip.decompress(data)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


# ------------------------------------------------------------------ plain registry

@pytest.mark.parametrize("tag", images.TAGS)
def test_plain_serves_every_tag(registry: Registry, tag: str) -> None:
    raw = raw_manifest(f"docker://{registry.plain}/{tag}", "--tls-verify=false")
    manifest = json.loads(raw)
    entry = registry.images[tag]
    assert sha256(raw) == entry["digest"]
    assert entry["mediaType"] == EXPECTED_TYPE[tag]
    # umoci leaves the optional mediaType out of OCI manifests: clients must go by Content-Type
    assert manifest.get("mediaType", entry["mediaType"]) == entry["mediaType"]
    if tag in PRESERVED:
        attr, ref = PRESERVED[tag]
        assert entry["digest"] == layout_digest(getattr(registry, attr), ref)


def test_debian_layer_is_the_mmdebstrap_tarball(registry: Registry) -> None:
    config = json.loads(skopeo("inspect", "--config", "--raw", "--tls-verify=false",
                               f"docker://{registry.plain}/library/debian:bookworm").stdout)
    assert config["architecture"] == "amd64" and config["config"]["Cmd"] == ["bash"]
    assert config["rootfs"]["diff_ids"] == [file_sha256(registry.rootfs_tar)]
    # the three debian flavours share the config; only the zstd one has another layer blob
    gz = registry.images["library/debian:bookworm"]["layers"]
    assert registry.images["library/debian:buster"]["layers"] == gz
    assert registry.images["library/debian:bookworm-oci"]["layers"][0]["digest"] == gz[0]["digest"]
    zst = registry.images["library/debian:bookworm-zstd"]["layers"]
    assert zst[0]["digest"] != gz[0]["digest"]


@pytest.mark.parametrize("tag,media_suffix", [("rl-test/layers:v1", "tar+gzip"),
                                              ("rl-test/layers:v1-docker", "tar.gzip"),
                                              ("rl-test/layers:v1-zstd", "tar+zstd")])
def test_layers_image_round_trips_the_hand_made_tarballs(registry: Registry, tmp_path: Path, tag: str,
                                                         media_suffix: str) -> None:
    out = tmp_path / "oci"
    skopeo("copy", "-q", "--src-tls-verify=false", "--preserve-digests",
           f"docker://{registry.plain}/{tag}", f"oci:{out}:x")
    manifest = json.loads(blob(out, layout_digest(out, "x")))
    assert sha256(blob(out, layout_digest(out, "x"))) == registry.images[tag]["digest"]
    got = [(lay["mediaType"], decompress(blob(out, lay["digest"]), lay["mediaType"]))
           for lay in manifest["layers"]]
    assert all(mt.endswith(media_suffix) for mt, _ in got), [mt for mt, _ in got]
    want = [registry.layer_tars[n].read_bytes() for n in layers.LAYERED_IMAGE]
    assert [sha256(b) for _, b in got] == [sha256(b) for b in want]


def test_layer_tarballs_carry_every_edge_case(registry: Registry) -> None:
    def members(name: str) -> list[tarfile.TarInfo]:
        with tarfile.open(registry.layer_tars[name]) as tf:
            return tf.getmembers()

    base = {m.name: m for m in members("base")}
    assert base["dev/null"].ischr() and (base["dev/null"].devmajor, base["dev/null"].devminor) == (1, 3)
    assert base["run/fifo"].isfifo()
    assert len(layers.LONG_NAME) > 100 and base[layers.LONG_NAME].isfile()
    changes = {m.name: m for m in members("changes")}
    assert changes["bin/tool"].mode == 0o4755
    assert changes["home/user/.profile"].uid == 1000 and changes["home/user"].gid == 1000
    assert changes["etc/.wh.remove-me"].isfile() and "etc/remove-me" in base
    assert changes["var/cache/.wh.gone"].isfile() and base["var/cache/gone"].isdir()
    assert changes["data/hardlink"].islnk() and changes["data/hardlink"].linkname == "data/file.txt"
    assert "data/file.txt" not in changes and "data/file.txt" in base  # the link target is lower
    assert changes["data/new-hardlink"].linkname == "data/new.bin"
    assert (changes["data/symlink"].linkname, changes["data/abs-symlink"].linkname) == \
        ("file.txt", "/etc/os-release")
    opaque = [m.name for m in members("opaque")]
    assert opaque[-1] == "opq/.wh..wh..opq" and "opq/new1" in opaque[:-1]


def test_multi_arch_index_and_list_have_both_platforms(registry: Registry) -> None:
    def platforms(tag: str) -> list[tuple]:
        return [(p["os"], p["architecture"], p.get("variant")) for p in
                (m["platform"] for m in registry.images[tag]["manifests"])]

    both = [("linux", "amd64", None), ("linux", "arm64", "v8")]
    assert platforms("rl-test/multi:oci") == both
    assert platforms("rl-test/multi:docker") == both
    assert platforms("rl-test/multi:attest") == both + [("unknown", "unknown", None)]
    children = {tag: {m["mediaType"] for m in registry.images[tag]["manifests"]}
                for tag in ("rl-test/multi:oci", "rl-test/multi:docker")}
    assert children == {"rl-test/multi:oci": {OCI_MANIFEST}, "rl-test/multi:docker": {DOCKER_MANIFEST}}
    # the registry resolves each platform to its own image
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        flags = ["--override-arch", arch] + (["--override-variant", variant] if variant else [])
        info = json.loads(skopeo("inspect", "--tls-verify=false", *flags,
                                 f"docker://{registry.plain}/rl-test/multi:docker").stdout)
        assert info["Architecture"] == arch
    attest = json.loads(blob(registry.oci_layout, layout_digest(registry.oci_layout, "multi-attest")))
    ann = attest["manifests"][2]["annotations"]
    assert ann["vnd.docker.reference.type"] == "attestation-manifest"
    assert ann["vnd.docker.reference.digest"] == attest["manifests"][0]["digest"]


def test_zstd_tags_have_zstd_layers(registry: Registry) -> None:
    for tag in ("library/debian:bookworm-zstd", "rl-test/layers:v1-zstd"):
        kinds = {lay["mediaType"] for lay in registry.images[tag]["layers"]}
        assert kinds == {"application/vnd.oci.image.layer.v1.tar+zstd"}, (tag, kinds)


# ------------------------------------------------------------------ auth, TLS, redirects

def test_token_registry(registry: Registry, tmp_path: Path) -> None:
    ref = f"docker://{registry.token}/rl-test/layers:v1"
    want = registry.images["rl-test/layers:v1"]["digest"]
    assert sha256(raw_manifest(ref, "--tls-verify=false", "--no-creds")) == want  # anonymous pull
    bad = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", "rl:wrong", ref, check=False)
    assert bad.returncode != 0 and "unauthorized" in bad.stderr.lower(), bad.stderr
    assert sha256(raw_manifest(ref, "--tls-verify=false", "--creds", ":".join(registry.creds))) == want

    # pushing needs credentials: anonymous tokens carry pull only
    src = f"oci:{registry.oci_layout}:tiny-amd64"
    dest = f"docker://{registry.token}/rl-test/pushed:{tmp_path.name}"
    anon = skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-no-creds", src, dest, check=False)
    assert anon.returncode != 0 and ("denied" in anon.stderr.lower() or "unauthorized" in anon.stderr.lower())
    skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds", ":".join(registry.creds), src, dest)

    issued = [json.loads(line) for line in registry.token_log.read_text().splitlines()]
    assert any(e["user"] == "rl" and any("push" in a["actions"] for a in e["granted"] or []) for e in issued)
    assert any(e["user"] is False for e in issued)  # the wrong password was refused by the token server


def test_tls_registry(registry: Registry) -> None:
    ref = f"docker://{registry.tls}/library/debian:bookworm"
    host_dir = registry.certs_d / registry.tls
    assert (host_dir / "ca.crt").read_bytes() == registry.tls_ca.read_bytes()
    raw = raw_manifest(ref, "--cert-dir", str(host_dir))
    assert sha256(raw) == registry.images["library/debian:bookworm"]["digest"]
    res = skopeo("inspect", "--raw", ref, check=False)
    assert res.returncode != 0 and "certificate" in res.stderr, res.stderr


def test_basic_auth_registry(registry: Registry) -> None:
    ref = f"docker://{registry.basic}/rl-test/layers:v1-docker"
    want = registry.images["rl-test/layers:v1-docker"]["digest"]
    assert sha256(raw_manifest(ref, "--tls-verify=false", "--creds", ":".join(registry.creds))) == want
    for flag in ("--no-creds", "--creds=rl:wrong"):
        res = skopeo("inspect", "--raw", "--tls-verify=false", flag, ref, check=False)
        assert res.returncode != 0 and "unauthorized" in res.stderr.lower(), (flag, res.stderr)


def test_redirect_front(registry: Registry, tmp_path: Path) -> None:
    out = tmp_path / "oci"
    skopeo("copy", "-q", "--src-tls-verify=false", "--preserve-digests",
           f"docker://{registry.redirect}/rl-test/layers:v1", f"oci:{out}:x")
    manifest = json.loads(blob(out, layout_digest(out, "x")))
    for lay in manifest["layers"]:
        assert sha256(blob(out, lay["digest"])) == lay["digest"]
    requests = [json.loads(line) for line in registry.redirect_log.read_text().splitlines()]
    redirected = {r["path"].rsplit("/", 1)[1] for r in requests if r["status"] == 307}
    assert {lay["digest"] for lay in manifest["layers"]} <= redirected


def test_registries_conf_mirrors_docker_io(registry: Registry) -> None:
    # skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF (podman honours it) but has a hidden flag;
    # docker.io itself is unreachable here, so only the mirror can answer
    raw = skopeo("--registries-conf", str(registry.registries_conf),
                 "inspect", "--raw", "docker://debian:buster").stdout.encode()
    assert sha256(raw) == registry.images["library/debian:buster"]["digest"]


# ------------------------------------------------------------------ process hygiene

def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _children(pid: int) -> set[int]:
    kids = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and (st := _stat(int(p.name))) and st[1] == str(pid):
            kids.add(int(p.name))
    return kids


def test_servers_die_with_their_parent(registry: Registry, tmp_path: Path) -> None:
    """Even a SIGKILLed session leaves no server behind (they carry a death signal)."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.fixture.registry", "--serve",
                             "--workdir", str(tmp_path / "serve")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        env = {}
        for line in proc.stdout:  # KEY=VALUE lines, then a comment once serving
            if line.startswith("#"):
                break
            key, _, value = line.strip().partition("=")
            env[key] = value
        assert "RL_REGISTRY" in env
        kids = _children(proc.pid)
        assert len(kids) == 6  # four registries, the token server, the redirector
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while kids and time.monotonic() < deadline:
        kids = {k for k in kids if (st := _stat(k)) and st[0] != "Z"}
        time.sleep(0.05)
    assert not kids, f"servers outlived their parent: {kids}"


# ------------------------------------------------------------------ the cache

def test_cache_never_keeps_a_half_built_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RL_TEST_CACHE", str(tmp_path))
    root = tmp_path / "registry"

    def broken(out: Path) -> None:
        (out / "half").write_text("x")
        raise RuntimeError("build failed half-way")

    with pytest.raises(RuntimeError):
        cache.entry("thing", "k1", broken)
    assert sorted(p.name for p in root.iterdir()) == [".lock"]

    # a builder killed outright (SIGKILL) cannot clean up: the next one sweeps its remains
    (root / ".partial-thing-dead").mkdir()
    builds = []

    def good(out: Path) -> None:
        builds.append(out)
        (out / "f").write_text("ok")

    path, built = cache.entry("thing", "k1", good)
    assert built and (path / "f").read_text() == "ok" and path.name == "thing-k1"
    assert not list(root.glob(".partial-*"))
    again, built_again = cache.entry("thing", "k1", good)
    assert again == path and not built_again and len(builds) == 1
