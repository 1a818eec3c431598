"""`rl run -it` over a real pty, driven as a terminal would: type, read the
prompt, resize, exit."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

import pytest


pytestmark = [pytest.mark.userns, pytest.mark.fuse]


def read_until(fd: int, needle: bytes, timeout: float = 20) -> bytes:
    buf = b""
    deadline = time.time() + timeout
    while needle not in buf:
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    assert needle in buf, buf
    return buf


def spawn(rl, *args: str) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir("/")
        os.execve(sys.executable, [sys.executable, "-m", "rootless", *args], rl.env)
    return pid, fd


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))



def _reap(pid: int, fd: int) -> None:
    """End a spawned rl (if still there) and close its pty."""
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    os.close(fd)

def test_interactive_shell_in_a_pty(rl, rootfs):
    pid, fd = spawn(rl, "run", "--rm", "-it", "--network", "none", "--rootfs", rootfs, "sh")
    set_size(fd, 30, 100)
    try:
        read_until(fd, b"# ")
        os.write(fd, b"tty; echo sum-$((40+2))\r")
        out = read_until(fd, b"sum-42")
        assert b"/dev/pts/0" in out
        os.write(fd, b"stty size\r")
        read_until(fd, b"30 100")
        set_size(fd, 40, 120)  # rl follows SIGWINCH
        time.sleep(0.3)
        os.write(fd, b"stty size\r")
        read_until(fd, b"40 120")
        os.write(fd, b"exit 5\r")
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 5
    finally:
        _reap(pid, fd)


def test_ctrl_c_and_ctrl_d_behave(rl, rootfs):
    pid, fd = spawn(rl, "run", "--rm", "-it", "--network", "none", "--rootfs", rootfs, "sh")
    try:
        read_until(fd, b"# ")
        os.write(fd, b"sleep 30; echo after-$?\r")
        time.sleep(0.5)
        os.write(fd, b"\x03")  # raw mode on our side: the container's pty turns it into SIGINT
        read_until(fd, b"^C\r\n# ")  # the pty echoes it, the shell drops the line and prompts again
        os.write(fd, b"true\r")
        time.sleep(0.3)
        os.write(fd, b"\x04")  # Ctrl-D: end of input for the shell
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    finally:
        _reap(pid, fd)


def test_tty_with_piped_stdin(rl, rootfs):
    res = rl.run("run", "--rm", "-i", "-t", "--network", "none", "--rootfs", rootfs, "sh", "-c",
                 "test -t 0 && echo is-a-tty; read line; echo got-$line", input="hello\n", timeout=60)
    assert res.returncode == 0, res.stderr
    assert "is-a-tty" in res.stdout and "got-hello" in res.stdout


def test_tty_without_interactive_is_still_a_terminal(rl, rootfs):
    res = rl.run("run", "--rm", "-t", "--network", "none", "--rootfs", rootfs, "sh", "-c",
                 "tty; test -t 0 && echo in-tty; echo to-console > /dev/console", input="ignored\n", timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["/dev/pts/0", "in-tty", "to-console"]  # /dev/console is the pty


def test_attach_to_a_detached_tty_follows_the_terminal_size(rl, rootfs):
    """rl attach on a terminal sizes the container's pty to it, and again
    on every resize (SIGWINCH), through rl-monitor; ctrl-p ctrl-q detaches."""
    res = rl.run("run", "-dit", "--name", "sized", "--network", "none", "--rootfs", rootfs, "sh")
    assert res.returncode == 0, res.stderr
    pid, fd = spawn(rl, "attach", "sized")
    set_size(fd, 33, 111)  # before rl starts (its interpreter takes far longer than this)
    try:
        # attach switches this terminal to raw mode, which drops what was typed
        # before it: ask until the answer comes
        for _ in range(20):
            os.write(fd, b"stty size\r")
            try:
                read_until(fd, b"33 111", timeout=1)
                break
            except AssertionError:
                continue
        else:
            raise AssertionError("the container's pty never took the terminal's size")
        set_size(fd, 44, 120)
        time.sleep(0.3)
        os.write(fd, b"stty size\r")
        read_until(fd, b"44 120")
        os.write(fd, b"\x10\x11")  # ctrl-p ctrl-q
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        assert rl.run("inspect", "--format", "{{.State.Status}}", "sized").stdout.strip() == "running"
    finally:
        _reap(pid, fd)
        rl.run("rm", "-f", "sized")
