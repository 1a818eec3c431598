"""issue 19 item 10: `rl attach` over a real pty, typed as a person types.
The detach sequence's first key is held back until the sequence is decided
(podman's rule), --detach-keys takes podman's syntax, and Ctrl-C on a
container without -t is forwarded to it (--sig-proxy, on by default)."""

from __future__ import annotations

import os
import pty
import signal
import sys
import termios
import time

import pytest

from tests.integration.test_run_support import require_rootfs
from tests.integration.test_run_tty import _reap, read_until


def spawn(rl, *args: str) -> tuple[int, int]:
    """rl on a new pty, with the signal dispositions of a login shell's
    foreground job (a test runner started in the background ignores SIGINT,
    and exec keeps that)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir("/")
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        os.execve(sys.executable, [sys.executable, "-m", "rootless", *args], rl.env)
    return pid, fd

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

CTRL_P, CTRL_Q = b"\x10", b"\x11"
# the container shows every byte it gets: ^P for ctrl-p (cat -v), nothing echoed by the pty
SHOW = "stty raw -echo; exec cat -v"


@pytest.fixture(scope="module")
def rootfs() -> str:
    return require_rootfs()


def _typed(fd: int, *keys: bytes) -> None:
    for k in keys:  # one key at a time, as typed: each its own read on rl's side
        os.write(fd, k)
        time.sleep(0.3)


def _start(rl, rootfs, name: str) -> None:
    res = rl.run("run", "-d", "-it", "--name", name, "--network", "none", "--rootfs", rootfs, "sh", "-c", SHOW)
    assert res.returncode == 0, res.stderr


def _attach(rl, name: str, *flags: str) -> tuple[int, int]:
    pid, fd = spawn(rl, "attach", *flags, name)
    # rl attach puts the terminal in raw mode once connected: until then the
    # terminal itself echoes what is typed (ctrl-p as ^P), so wait for that
    deadline = time.time() + 60
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        assert time.time() < deadline, "rl attach never put the terminal in raw mode"
        time.sleep(0.05)
    _typed(fd, b"M")  # the container shows what it gets
    read_until(fd, b"M")
    return pid, fd


def _exit_status(pid: int, timeout: float = 30) -> int:
    deadline = time.time() + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            return os.waitstatus_to_exitcode(status)
        assert time.time() < deadline, "rl attach did not end"
        time.sleep(0.05)


def _seen(rl, name: str) -> str:
    """Everything the container received, from its log."""
    res = rl.run("logs", name)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_attach_holds_back_detach_prefix(rl, rootfs):
    _start(rl, rootfs, "hold")
    try:
        pid, fd = _attach(rl, "hold")
        try:
            # ctrl-p then another key: not the sequence, so both go in, in order
            _typed(fd, CTRL_P, b"a")
            read_until(fd, b"^Pa")
            # ctrl-p ctrl-q: detach; the container never sees the ctrl-p
            _typed(fd, CTRL_P, CTRL_Q)
            assert _exit_status(pid) == 0
        finally:
            _reap(pid, fd)
        assert rl.run("inspect", "--format", "{{.State.Status}}", "hold").stdout.strip() == "running"
        pid, fd = _attach(rl, "hold")  # and attaching again works; the next key shows what came in between
        try:
            _typed(fd, b"z")
            read_until(fd, b"z")
            _typed(fd, CTRL_P, CTRL_Q)
            assert _exit_status(pid) == 0
        finally:
            _reap(pid, fd)
        assert _seen(rl, "hold") == "M^PaMz"  # no stray ^P from either detach
    finally:
        rl.run("rm", "-f", "-t", "0", "hold")


def test_attach_detach_keys_custom(rl, rootfs):
    _start(rl, rootfs, "custom")
    try:
        pid, fd = _attach(rl, "custom", "--detach-keys", "ctrl-a,d")
        try:
            _typed(fd, CTRL_P, CTRL_Q)  # the default sequence is just keys now
            read_until(fd, b"^P^Q")
            _typed(fd, b"\x01", b"d")
            assert _exit_status(pid) == 0
        finally:
            _reap(pid, fd)
        pid, fd = _attach(rl, "custom", "--detach-keys", "")  # "" disables detaching
        try:
            _typed(fd, CTRL_P, CTRL_Q, b"!")
            read_until(fd, b"^P^Q!")
        finally:
            _reap(pid, fd)
        assert _seen(rl, "custom") == "M^P^QM^P^Q!"
        res = rl.run("attach", "--detach-keys", "ctrl-", "custom")
        assert res.returncode == 125 and "invalid detach keys" in res.stderr and "Traceback" not in res.stderr
    finally:
        rl.run("rm", "-f", "-t", "0", "custom")


def test_attach_sig_proxy_forwards_sigint(rl, rootfs):
    script = 'trap "echo got-INT; exit 7" INT; while :; do echo tick; sleep 0.2; done'
    for name, flags in (("proxy", ()), ("noproxy", ("--sig-proxy=false",))):
        res = rl.run("run", "-d", "--name", name, "--network", "none", "--rootfs", rootfs, "sh", "-c", script)
        assert res.returncode == 0, res.stderr
        pid, fd = spawn(rl, "attach", *flags, name)
        try:
            read_until(fd, b"tick")
            os.write(fd, b"\x03")  # the terminal (not raw: no -t) turns Ctrl-C into SIGINT for rl
            if not flags:
                read_until(fd, b"got-INT")
                assert _exit_status(pid) == 7  # the container's status, as podman's attach
            else:  # rl attach ends, the container goes on
                assert _exit_status(pid) != 0
                assert rl.run("inspect", "--format", "{{.State.Status}}", name).stdout.strip() == "running"
                assert "got-INT" not in _seen(rl, name)
        finally:
            _reap(pid, fd)
            rl.run("rm", "-f", "-t", "0", name)
