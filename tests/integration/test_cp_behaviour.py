"""`rl cp` as podman's: `-` streams a tar archive (to stdout from
CTR:PATH, from stdin into the directory CTR:PATH) instead of making a file
named `-`; directories keep their times; missing parents of the
destination are an error, not created; a missing source is one line."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from tests.integration.test_lifecycle import run_d, until

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

SETUP = ("mkdir -p /data/sub && echo inside > /data/sub/f && touch -d @1000000000 /data/sub /data"
         " && touch /ready; sleep 600")



@pytest.fixture
def files(rl, rootfs):
    run_d(rl, rootfs, "files", "sh", "-c", SETUP)
    assert until(lambda: rl.run("exec", "files", "test", "-e", "/ready").returncode == 0, timeout=60)
    yield rl
    rl.run("rm", "-f", "--all", timeout=120)


def test_cp_dash_streams_a_tar_archive_both_ways(files, tmp_path):
    res = files.run("cp", "files:/data", "-", text=False, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "-").exists()
    with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tar:
        assert tar.getnames() == ["data", "data/sub", "data/sub/f"]
        assert tar.extractfile("data/sub/f").read() == b"inside\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("in/x")
        ti.size = 4
        tar.addfile(_dir("in"))
        tar.addfile(ti, io.BytesIO(b"new\n"))
    res = files.run("cp", "-", "files:/data", input=buf.getvalue(), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "-").exists()
    assert files.run("exec", "files", "cat", "/data/in/x", check=True).stdout == "new\n"
    # the destination of a stream is a directory that exists
    res = files.run("cp", "-", "files:/data/sub/f", input=buf.getvalue())
    assert res.returncode == 125 and b"Not a directory" in res.stderr, res.stderr


def _dir(name: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    return ti


def test_cp_keeps_directory_mtimes(files, tmp_path):
    out = tmp_path / "out"
    files.run("cp", "files:/data", str(out), check=True)
    assert (out / "sub" / "f").read_text() == "inside\n"
    assert int(os.stat(out / "sub").st_mtime) == 1000000000
    assert int(os.stat(out).st_mtime) == 1000000000


def test_cp_does_not_create_missing_parents(files, tmp_path):
    host = tmp_path / "h.txt"
    host.write_text("x\n")
    res = files.run("cp", str(host), "files:/missing/dir/h.txt")
    assert res.returncode == 125, res.stderr
    assert files.run("exec", "files", "test", "-e", "/missing").returncode == 1
    res = files.run("cp", "files:/data/sub/f", str(tmp_path / "missing" / "f"))
    assert res.returncode == 125, res.stderr
    assert not (tmp_path / "missing").exists()


def test_cp_missing_source_is_one_error(files, tmp_path):
    res = files.run("cp", "files:/nonexistent", str(tmp_path / "x"))
    assert res.returncode == 125
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "/nonexistent" in lines[0], res.stderr
    assert "no such file or directory" in lines[0].lower()
    assert not (tmp_path / "x").exists()
