"""fsutil: directories and files only this user can reach (the runtime
directory's rules; the attacks by a second user are in
tests/integration/test_security_rundir.py)."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from rootless import fsutil


def mode(p) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_private_dir_created_0700_with_its_missing_parents(tmp_path):
    d = fsutil.private_dir(tmp_path / "a" / "b" / "rl")
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", d)] == [0o700] * 3


def test_private_dir_refuses_a_symlink_and_a_file(tmp_path):
    (tmp_path / "target").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(fsutil.UnsafeDirectory, match="symbolic link"):
        fsutil.private_dir(tmp_path / "link")
    (tmp_path / "file").write_text("")
    with pytest.raises(fsutil.UnsafeDirectory, match="not a directory"):
        fsutil.private_dir(tmp_path / "file")


def test_private_dir_writable_by_others_refused_where_others_could_enter(tmp_path):
    tmp_path.chmod(0o755)
    d = tmp_path / "rl"
    d.mkdir()
    d.chmod(0o777)
    with pytest.raises(fsutil.UnsafeDirectory, match="writable by other users") as e:
        fsutil.private_dir(d)
    assert f"rm -rf {d}" in e.value.hint
    d.chmod(0o755)  # readable only: nobody else could have written into it
    fsutil.private_dir(d)
    assert mode(d) == 0o700


def test_private_dir_in_a_private_parent_is_tightened(tmp_path):
    parent = tmp_path / "run"
    parent.mkdir(mode=0o700)
    (parent / "rl").mkdir()
    (parent / "rl").chmod(0o777)  # nobody else can reach it: an old umask's doing
    fsutil.private_dir(parent / "rl")
    assert mode(parent / "rl") == 0o700


def test_private_dir_in_a_world_writable_parent_without_sticky_bit_refused(tmp_path):
    parent = tmp_path / "open"
    parent.mkdir()
    parent.chmod(0o777)
    with pytest.raises(fsutil.UnsafeDirectory, match="not sticky"):
        fsutil.private_dir(parent / "rl")


def test_private_dir_missing_without_create(tmp_path):
    with pytest.raises(FileNotFoundError):
        fsutil.private_dir(tmp_path / "none", create=False)
    assert not (tmp_path / "none").exists()


def test_read_private_refuses_a_symlink_and_a_fifo_without_hanging(tmp_path):
    (tmp_path / "real").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert fsutil.read_private(tmp_path / "real") == b"data"
    with pytest.raises(OSError):
        fsutil.read_private(tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    done = []
    t = threading.Thread(target=lambda: done.append(pytest.raises(OSError, fsutil.read_private, tmp_path / "fifo")))
    t.start()
    t.join(30)
    assert done, "read_private hung on a FIFO"
    assert len(fsutil.read_private(tmp_path / "real", limit=2)) == 2


def test_atomic_write_replaces_a_symlink_never_writes_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "state.json").symlink_to(victim)
    fsutil.atomic_write(tmp_path / "state.json", "{}")
    assert victim.read_text() == "keep"
    assert not (tmp_path / "state.json").is_symlink() and (tmp_path / "state.json").read_text() == "{}"
    assert mode(tmp_path / "state.json") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "victim"]  # no temporary left


def test_atomic_write_mode_none_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        fsutil.atomic_write(tmp_path / "f", "x", mode=None)
    finally:
        os.umask(old)
    assert mode(tmp_path / "f") == 0o640 and (tmp_path / "f").read_text() == "x"


def test_atomic_write_leaves_no_temporary_file_when_the_rename_fails(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep").write_text("")  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OSError) as e:
        fsutil.atomic_write(tmp_path / "d", b"x", fsync=True)
    assert e.value.filename == str(tmp_path / "d")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_start_time_names_one_live_process():
    from rootless.procfs import start_time
    assert start_time(os.getpid()) == start_time(os.getpid()) is not None
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        while open(f"/proc/{pid}/stat", "rb").read().rsplit(b")", 1)[1].split()[0] != b"Z":
            os.sched_yield()
        assert start_time(pid) is None  # finished: not an owner any more
        assert start_time(pid, zombie=True) is not None  # still ours to reap
    finally:
        os.waitpid(pid, 0)
    assert start_time(pid, zombie=True) is None


def test_record_files(tmp_path):
    """The JSON records of a directory (networks, members, images): sorted, no dot-file temporaries."""
    from rootless import fsutil
    assert fsutil.record_files(tmp_path / "missing") == []
    for name in ("b.json", "a.json", ".a.json.123.tmp", ".hidden.json", "notes.txt", "c.json.tmp"):
        (tmp_path / name).write_text("{}")
    assert fsutil.record_files(tmp_path) == ["a.json", "b.json"]
