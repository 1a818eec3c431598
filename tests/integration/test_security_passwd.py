"""A hostile container against `rl exec` / `rl run` (issue 11, item 9): rl
resolves the user in the container's own /etc/passwd and /etc/group, files
the container controls. A FIFO there used to hang `rl exec` forever (a
blocking open with no writer); a huge file was read whole into memory. Now
only a regular file of at most 4 MiB is read (opened non-blocking): anything
else is one line and exit 125. The FIFO tests run rl with a generous hang
guard (a hang is the failure), never a timing threshold."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.test_security_tar import assert_one_line_125, run_measured

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

HANG_GUARD = 180




def _box(rl, rootfs, name="box"):
    res = rl.run("run", "-d", "--name", name, "--network", "none", "--rootfs", rootfs, "sleep", "600")
    assert res.returncode == 0, res.stderr


def _no_hang(rl, *args):
    try:
        return rl.run(*args, timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        pytest.fail(f"rl {' '.join(args)} hung on the container's /etc/passwd")


@pytest.mark.parametrize("path", ["/etc/passwd", "/etc/group"])
def test_passwd_fifo_does_not_hang_exec(rlc, rootfs, path):
    _box(rlc, rootfs)
    rlc.run("exec", "box", "sh", "-c", f"rm -f {path} && mkfifo {path}", check=True)
    res = _no_hang(rlc, "exec", "box", "id")
    assert_one_line_125(res, f"{path} in the container is not a regular file")
    res = _no_hang(rlc, "exec", "-u", "nobody", "box", "id")
    assert_one_line_125(res, "not a regular file")


def test_huge_passwd_bounded(rlc, rootfs):
    """A 512 MiB (sparse) /etc/passwd made by the container: refused unread,
    the exec's process tree stays far below its size."""
    _box(rlc, rootfs)
    rlc.run("exec", "box", "sh", "-c", "truncate -s 512M /etc/passwd", check=True)
    res, rss = run_measured(rlc, "exec", "box", "id", timeout=HANG_GUARD)
    assert_one_line_125(res, "/etc/passwd in the container is larger than 4 MiB")
    assert rss < 160 * 1024, f"peak RSS {rss >> 10} MiB"


def test_passwd_symlink_inside_the_container_still_works(rlc, rootfs):
    """/etc/passwd as a symlink within the container's root is normal (some
    images do it): it is followed, and the user is found."""
    _box(rlc, rootfs)
    rlc.run("exec", "box", "sh", "-c", "mv /etc/passwd /etc/passwd.real && ln -s passwd.real /etc/passwd",
            check=True)
    res = _no_hang(rlc, "exec", "-u", "nobody", "box", "id", "-un")
    assert res.returncode == 0 and res.stdout.strip() == "nobody", res.stderr


def test_passwd_fifo_does_not_hang_run(rlc, rootfs, tmp_path):
    """The same at `rl run` (the container's PID 1 resolves the user)."""
    fifo = tmp_path / "passwd"
    os.mkfifo(fifo)
    res = _no_hang(rlc, "run", "--rm", "--network", "none", "-v", f"{fifo}:/etc/passwd", "--rootfs", rootfs, "true")
    assert_one_line_125(res, "/etc/passwd in the container is not a regular file")
