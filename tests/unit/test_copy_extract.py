"""The cp extractor against hostile tar streams (what a compromised container
side could send), with openat2 and with the one-component-at-a-time walk
older kernels get: nothing is ever written, chmod'ed or linked through a
symlink, and nothing lands outside the destination."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from rootless.containers import copy


@pytest.fixture(params=["openat2", "components"])
def walk(request, monkeypatch):
    monkeypatch.setattr(copy, "_HAVE_OPENAT2", [request.param == "openat2"])
    return request.param


def _tar(*members: tuple[str, str, str | bytes]) -> io.BytesIO:
    """members: (type, name, data or link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, data in members:
            ti = tarfile.TarInfo(name)
            ti.mode = 0o777 if kind == "dir" else 0o644
            ti.uid, ti.gid = os.getuid(), os.getgid()
            if kind == "file":
                raw = data.encode() if isinstance(data, str) else data
                ti.size = len(raw)
                tar.addfile(ti, io.BytesIO(raw))
                continue
            ti.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}[kind]
            ti.linkname = data if kind != "dir" else ""
            tar.addfile(ti)
    buf.seek(0)
    return buf


def _extract(dest, stream) -> None:
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            ex = copy._Extractor(root, tar)
            for m in tar:
                ex.member(m)
            ex.finish()
    finally:
        os.close(root)


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    os.chmod(d, 0o700)
    (d / "file").write_text("precious\n")
    return d


def _intact(outside) -> None:
    assert sorted(os.listdir(outside)) == ["file"] and (outside / "file").read_text() == "precious\n"
    assert stat.S_IMODE(outside.stat().st_mode) == 0o700


def test_write_through_a_symlink_member_is_refused(walk, tmp_path, outside):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(OSError, match="symlink or non-directory on its way"):
        _extract(dest, _tar(("sym", "a", str(outside)), ("file", "a/x", "pwned")))
    _intact(outside)
    assert os.readlink(dest / "a") == str(outside)


def test_existing_symlink_is_replaced_not_followed(walk, tmp_path, outside):
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside / "file", dest / "f")
    os.symlink(outside, dest / "d")
    _extract(dest, _tar(("file", "f", "new"), ("dir", "d", ""), ("file", "d/g", "in d")))
    _intact(outside)
    assert not (dest / "f").is_symlink() and (dest / "f").read_text() == "new"
    assert not (dest / "d").is_symlink() and (dest / "d" / "g").read_text() == "in d"
    assert stat.S_IMODE((dest / "d").stat().st_mode) == 0o777


def test_planted_symlink_deeper_on_the_way_is_refused(walk, tmp_path, outside):
    dest = tmp_path / "dest"
    (dest / "a").mkdir(parents=True)
    os.symlink(outside, dest / "a" / "b")
    with pytest.raises(OSError, match="on its way"):
        _extract(dest, _tar(("file", "a/b/c", "pwned")))
    _intact(outside)


@pytest.mark.parametrize("name", ["../x", "/etc/x", "a/../../x"])
def test_names_outside_are_refused(walk, tmp_path, outside, name):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(OSError, match="outside the destination"):
        _extract(dest, _tar(("file", name, "pwned")))
    assert not (tmp_path / "x").exists()


def test_hard_link_cannot_reach_outside_or_through_a_symlink(walk, tmp_path, outside):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(OSError, match="outside the destination"):
        _extract(dest, _tar(("hard", "h", "../outside/file")))
    os.symlink(outside, dest / "s")
    with pytest.raises(OSError):
        _extract(dest, _tar(("hard", "h", "s/file")))
    os.symlink(outside / "file", dest / "t")
    _extract(dest, _tar(("hard", "h", "t")))  # a link to the symlink itself (linkat without FOLLOW)
    assert os.readlink(dest / "h") == str(outside / "file")
    _intact(outside)


def test_tree_reader_records_symlinks_as_symlinks(tmp_path, outside):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("x")
    os.symlink(outside, src / "d" / "l")
    os.symlink(outside / "file", src / "d" / "m")
    os.link(src / "d" / "f", src / "d" / "h")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        copy._TarTree(tar).add_path(str(src / "d"), "d")
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        got = {m.name: (m.type, m.linkname) for m in tar}
    assert got == {"d": (tarfile.DIRTYPE, ""), "d/f": (tarfile.REGTYPE, ""), "d/h": (tarfile.LNKTYPE, "d/f"),
                   "d/l": (tarfile.SYMTYPE, str(outside)), "d/m": (tarfile.SYMTYPE, str(outside / "file"))}
