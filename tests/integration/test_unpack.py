"""The layer unpacker for real, as root of a user namespace: owners, modes,
links, whiteouts in overlay form, and malicious layers that must not touch
anything outside the layer root."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile

import pytest

from rootless.errors import ImageError
from rootless.images import unpack as U

pytestmark = pytest.mark.userns

MTIME = 1_600_000_000


def _entry(tf, name, kind="file", data=b"", mode=0o644, uid=0, gid=0, link="", pax=None, dev=(0, 0)):
    ti = tarfile.TarInfo(name)
    ti.mode, ti.uid, ti.gid, ti.mtime = mode, uid, gid, MTIME
    if pax:
        ti.pax_headers = pax
    if kind == "file":
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
        return
    ti.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
               "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE}[kind]
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    tf.addfile(ti)


def make_tar(path, entries, fmt=tarfile.PAX_FORMAT, compress=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for e in entries:
            _entry(tf, *e[:2], **(e[2] if len(e) > 2 else {}))
    raw = buf.getvalue()
    data = raw
    if compress == "gzip":
        data = gzip.compress(raw)
    elif compress == "zstd":
        import zstandard
        data = zstandard.ZstdCompressor().compress(raw)
    path.write_bytes(data)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _describe(root):
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            d = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid, "mtime": int(st.st_mtime),
                 "ino": st.st_ino, "rdev": st.st_rdev}
            if stat.S_ISLNK(st.st_mode):
                d["link"] = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    d["data"] = f.read()
            elif stat.S_ISDIR(st.st_mode):
                d["xattrs"] = {k: os.getxattr(p, k) for k in os.listxattr(p)}
            out[rel] = d
    return out


def _unpack_and_describe(src, dest):
    os.mkdir(dest)
    res = U.unpack(src, dest)
    return res, _describe(dest)


def unpack_in_ns(src, dest):
    from rootless.runtime.userns import run_in_userns
    return run_in_userns(_unpack_and_describe, str(src), str(dest))


def host_tree(path):
    """What the files look like from the host (uids are subuids)."""
    return {os.path.relpath(os.path.join(dp, n), path): os.lstat(os.path.join(dp, n))
            for dp, dns, fns in os.walk(path) for n in dns + fns}


@pytest.fixture
def cleanup():
    made = []
    yield made
    from rootless.runtime.userns import run_in_userns
    for p in made:
        run_in_userns(U.remove_tree, str(p))


@pytest.mark.parametrize("compress", [None, "gzip", "zstd"])
def test_basic_tree(tmp_path, cleanup, compress):
    long = "d/" + "n" * 150 + "/f" * 20
    src = tmp_path / "l.tar"
    diff_id = make_tar(src, [
        ("d", "dir", {"mode": 0o755}),
        ("d/file", "file", {"data": b"hello", "mode": 0o640, "uid": 1000, "gid": 1000}),
        ("d/suid", "file", {"data": b"#!", "mode": 0o4755}),
        ("d/hard", "hard", {"link": "d/file"}),
        ("d/sym", "sym", {"link": "/etc/passwd"}),
        ("d/fifo", "fifo", {"mode": 0o600}),
        ("d/null", "chr", {"dev": (1, 3)}),
        ("ro", "dir", {"mode": 0o555}),
        ("ro/inside", "file", {"data": b"x"}),
        (long, "file", {"data": b"long"}),
        ("implicit/parent/file", "file", {"data": b"p"}),
        ("xa", "file", {"data": b"", "pax": {"SCHILY.xattr.user.test": "v"}}),
    ], compress=compress)
    cleanup.append(tmp_path / "out")
    res, tree = unpack_in_ns(src, tmp_path / "out")
    assert res.diff_id == diff_id
    assert tree["d/file"]["data"] == b"hello" and tree["d/file"]["mode"] & 0o7777 == 0o640
    assert (tree["d/file"]["uid"], tree["d/file"]["gid"]) == (1000, 1000)
    assert tree["d/suid"]["mode"] & 0o7777 == 0o4755
    assert tree["d/hard"]["ino"] == tree["d/file"]["ino"]
    assert tree["d/sym"]["link"] == "/etc/passwd"
    assert stat.S_ISFIFO(tree["d/fifo"]["mode"])
    assert "d/null" not in tree and any("d/null" in s for s in res.skipped)
    assert tree["ro"]["mode"] & 0o777 == 0o555 and tree["ro/inside"]["data"] == b"x"
    assert tree[long]["data"] == b"long"
    assert tree["implicit/parent/file"]["data"] == b"p"
    assert tree["d"]["mtime"] == MTIME and tree["d/file"]["mtime"] == MTIME and tree["ro"]["mtime"] == MTIME
    # seen from the host, container uid 1000 is a subordinate uid, root is the user
    host = host_tree(tmp_path / "out")
    assert host["d/file"].st_uid not in (0, os.getuid(), 1000)
    assert host["d/suid"].st_uid == os.getuid()


def test_gnu_long_names(tmp_path, cleanup):
    src = tmp_path / "l.tar"
    name = "g/" + "x" * 200
    make_tar(src, [(name, "file", {"data": b"gnu"}), ("g/l", "sym", {"link": "y" * 150})],
             fmt=tarfile.GNU_FORMAT)
    cleanup.append(tmp_path / "out")
    _, tree = unpack_in_ns(src, tmp_path / "out")
    assert tree[name]["data"] == b"gnu" and tree["g/l"]["link"] == "y" * 150


def test_whiteouts_become_overlay_form(tmp_path, cleanup):
    src = tmp_path / "l.tar"
    make_tar(src, [
        ("etc", "dir"),
        ("etc/.wh.gone", "file"),
        ("opq", "dir"),
        ("opq/kept", "file", {"data": b"k"}),
        ("opq/.wh..wh..opq", "file"),     # after its sibling
        ("late/.wh..wh..opq", "file"),    # before its directory
        ("late", "dir", {"mode": 0o750}),
        (".wh..wh.plnk", "dir"),
    ])
    cleanup.append(tmp_path / "out")
    _, tree = unpack_in_ns(src, tmp_path / "out")
    gone = tree["etc/gone"]
    assert stat.S_ISCHR(gone["mode"]) and gone["rdev"] == os.makedev(0, 0)
    assert not any(".wh." in k for k in tree)
    for d in ("opq", "late"):
        assert tree[d]["xattrs"] == {"user.overlay.opaque": b"y", "user.fuseoverlayfs.opaque": b"y"}
    assert tree["opq/kept"]["data"] == b"k"
    assert tree["late"]["mode"] & 0o777 == 0o750
    assert "etc" in tree and tree["etc"]["xattrs"] == {}


def test_later_entries_replace_earlier(tmp_path, cleanup):
    outside = tmp_path / "outside"
    outside.write_text("host file")
    src = tmp_path / "l.tar"
    make_tar(src, [
        ("f", "sym", {"link": str(outside)}),
        ("f", "file", {"data": b"replaced"}),   # must replace the symlink, not write through it
        ("d", "dir"), ("d/x", "file"),
        ("d", "file", {"data": b"dir became file"}),
    ])
    cleanup.append(tmp_path / "out")
    _, tree = unpack_in_ns(src, tmp_path / "out")
    assert tree["f"]["data"] == b"replaced" and tree["d"]["data"] == b"dir became file"
    assert outside.read_text() == "host file"


@pytest.mark.parametrize("entries", [
    [("../escape", "file", {"data": b"x"})],
    [("a/../../escape", "file", {"data": b"x"})],
    [("link", "sym", {"link": "{victim}"}), ("link/escape", "file", {"data": b"x"})],
    [("link", "sym", {"link": "../../.."}), ("link/escape", "file", {"data": b"x"})],
    [("hl", "hard", {"link": "../../../{victim}/secret"})],
    [("link", "sym", {"link": "{victim}"}), ("hl", "hard", {"link": "link/secret"})],
], ids=["dotdot", "dotdot-nested", "symlink-abs", "symlink-rel", "hardlink-dotdot", "hardlink-via-symlink"])
def test_malicious_layers_touch_nothing_outside(tmp_path, cleanup, entries):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret").write_text("secret")
    fixed = [(n, k, {kk: (vv.format(victim=victim) if isinstance(vv, str) else vv) for kk, vv in
                     (o[0] if o else {}).items()}) for n, k, *o in entries]
    src = tmp_path / "evil.tar"
    make_tar(src, fixed)
    cleanup.append(tmp_path / "out")
    with pytest.raises(ImageError) as e:
        unpack_in_ns(src, tmp_path / "out")
    assert "layer" in e.value.message or "hard link" in e.value.message
    assert sorted(os.listdir(victim)) == ["secret"] and (victim / "secret").read_text() == "secret"
    assert sorted(os.listdir(tmp_path)) == ["evil.tar", "out", "victim"]
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()


def test_absolute_paths_land_under_root(tmp_path, cleanup):
    src = tmp_path / "l.tar"
    make_tar(src, [(str(tmp_path / "abs"), "file", {"data": b"inside"}),
                   ("hl", "hard", {"link": str(tmp_path / "abs")})])
    cleanup.append(tmp_path / "out")
    _, tree = unpack_in_ns(src, tmp_path / "out")
    rel = str(tmp_path / "abs").lstrip("/")
    assert tree[rel]["data"] == b"inside" and tree["hl"]["ino"] == tree[rel]["ino"]
    assert not (tmp_path / "abs").exists()


def test_hardlink_to_host_file_refused(tmp_path, cleanup):
    src = tmp_path / "l.tar"
    make_tar(src, [("hl", "hard", {"link": "/etc/passwd"})])
    cleanup.append(tmp_path / "out")
    with pytest.raises(ImageError, match="not in the image"):
        unpack_in_ns(src, tmp_path / "out")


@pytest.mark.parametrize("damage", ["truncate", "corrupt-gzip", "bad-checksum"])
def test_damaged_layers(tmp_path, cleanup, damage):
    src = tmp_path / "l.tar"
    make_tar(src, [("f", "file", {"data": os.urandom(200_000)})], compress="gzip" if damage != "bad-checksum"
             else None)
    data = bytearray(src.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "corrupt-gzip":
        for i in range(100, 400):
            data[i] ^= 0xFF
    else:
        data[0] ^= 0x01
    src.write_bytes(bytes(data))
    cleanup.append(tmp_path / "out")
    with pytest.raises(ImageError):
        unpack_in_ns(src, tmp_path / "out")


@pytest.mark.parametrize("entries,match", [
    ([("d", "dir"), ("hl", "hard", {"link": "d"})], 'layer entry "hl"'),
    ([("f", "file", {"data": b"x", "uid": 70000})], "outside the mapped IDs"),
], ids=["hardlink-to-dir", "unmapped-uid"])
def test_os_errors_become_clear_image_errors(tmp_path, cleanup, entries, match):
    src = tmp_path / "l.tar"
    make_tar(src, entries)
    cleanup.append(tmp_path / "out")
    with pytest.raises(ImageError, match=match):
        unpack_in_ns(src, tmp_path / "out")


def test_whiteout_then_directory_of_the_same_name(tmp_path, cleanup):
    """`.wh.foo` then `foo/bar`: the later entries win (foo becomes a directory)."""
    src = tmp_path / "l.tar"
    make_tar(src, [(".wh.foo", "file"), ("foo/bar", "file", {"data": b"b"}),
                   ("f", "file"), ("f/x", "file", {"data": b"x"})])
    cleanup.append(tmp_path / "out")
    _, tree = unpack_in_ns(src, tmp_path / "out")
    assert stat.S_ISDIR(tree["foo"]["mode"]) and tree["foo/bar"]["data"] == b"b"
    assert tree["f/x"]["data"] == b"x"
