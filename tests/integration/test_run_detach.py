"""issue 19 item 10: a foreground `rl run -it` (and `rl start -ai`) on a
terminal detaches with the detach keys, as podman's: the CLI exits 0, the
container runs on under its monitor, and `rl attach` reaches it later.
Driven over a real pty, one key at a time."""

from __future__ import annotations

import os
import pty
import signal
import sys
import termios
import time

import pytest

from tests.integration.test_detach_keys import CTRL_P, CTRL_Q, _exit_status, _typed, spawn
from tests.integration.test_run_support import require_rootfs
from tests.integration.test_run_tty import _reap as _reap_once, read_until, set_size
from tests.podman import podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.fuse]


@pytest.fixture(scope="module")
def rootfs() -> str:
    return require_rootfs()


def _reap(pid: int, fd: int) -> None:
    try:
        _reap_once(pid, fd)
    except OSError:
        pass  # reaped already


def _raw(fd: int) -> None:
    """Wait until rl put the terminal in raw mode (it is attached)."""
    deadline = time.time() + 60
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        assert time.time() < deadline, "rl never put the terminal in raw mode"
        time.sleep(0.05)


def _state(rl, name: str) -> str:
    return rl.run("inspect", "--format", "{{.State.Status}}", name).stdout.strip()


def _detach_then_attach(rl, pid: int, fd: int, name: str, keys: tuple[bytes, ...] = (CTRL_P, CTRL_Q)) -> None:
    """Detach the foreground rl, check the container runs, attach again and end it with `exit 3`."""
    _typed(fd, *keys)
    assert _exit_status(pid) == 0
    _reap(pid, fd)
    assert _state(rl, name) == "running"
    pid, fd = spawn(rl, "attach", name)
    try:
        _raw(fd)
        _typed(fd, b"echo back-$((6*7))\r")
        read_until(fd, b"back-42")
        _typed(fd, b"exit 3\r")
        assert _exit_status(pid) == 3
    finally:
        _reap(pid, fd)


def test_run_it_detaches_and_attach_reaches_it(rl, rootfs):
    pid, fd = spawn(rl, "run", "-it", "--name", "fgd", "--network", "none", "--rootfs", rootfs,
                    "sh", "-c", "echo early-output; exec sh")
    set_size(fd, 33, 101)
    try:
        read_until(fd, b"early-output")  # printed before rl attached: held for it, not only logged
        _raw(fd)
        _typed(fd, b"stty size; echo sum-$((40+2))\r")
        out = read_until(fd, b"sum-42")
        assert b"33 101" in out
        _detach_then_attach(rl, pid, fd, "fgd")
        assert _state(rl, "fgd") == "exited"
        assert rl.run("inspect", "--format", "{{.State.ExitCode}}", "fgd").stdout.strip() == "3"
    finally:
        _reap(pid, fd)
        rl.run("rm", "-f", "-t", "0", "fgd")


def test_run_it_exit_status_and_rm(rl, rootfs):
    pid, fd = spawn(rl, "run", "--rm", "-it", "--name", "fgrm", "--network", "none", "--rootfs", rootfs, "sh")
    try:
        _raw(fd)
        _typed(fd, b"exit 3\r")
        assert _exit_status(pid) == 3
    finally:
        _reap(pid, fd)
    # --rm: gone by the time rl returned
    res = rl.run("inspect", "fgrm")
    assert res.returncode != 0, res.stdout


def test_run_it_custom_detach_keys(rl, rootfs):
    pid, fd = spawn(rl, "run", "-it", "--detach-keys", "ctrl-a,d", "--name", "fgk", "--network", "none",
                    "--rootfs", rootfs, "sh")
    try:
        _raw(fd)
        _typed(fd, CTRL_P, CTRL_Q, b"\r", b"echo still-$((1+1))\r")  # the default keys are just keys here
        read_until(fd, b"still-2")
        _detach_then_attach(rl, pid, fd, "fgk", keys=(b"\x01", b"d"))
    finally:
        _reap(pid, fd)
        rl.run("rm", "-f", "-t", "0", "fgk")


def test_run_bad_detach_keys_refused_before_create(rl, rootfs):
    res = rl.run("run", "-it", "--detach-keys", "ctrl-", "--name", "fgbad", "--rootfs", rootfs, "true")
    assert res.returncode == 125 and "invalid detach keys" in res.stderr and "Traceback" not in res.stderr
    assert rl.run("inspect", "fgbad").returncode != 0


def test_run_it_not_found_is_127(rl, rootfs):
    pid, fd = spawn(rl, "run", "--rm", "-it", "--network", "none", "--rootfs", rootfs, "/no/such/cmd")
    try:
        out = read_until(fd, b"/no/such/cmd")
        assert _exit_status(pid) == 127
        assert b"Traceback" not in out
    finally:
        _reap(pid, fd)


def test_start_ai_detaches(rl, rootfs):
    res = rl.run("create", "-it", "--name", "fgs", "--network", "none", "--rootfs", rootfs, "sh")
    assert res.returncode == 0, res.stderr
    try:
        pid, fd = spawn(rl, "start", "-ai", "fgs")
        try:
            _raw(fd)
            _typed(fd, b"echo in-$((5+5))\r")
            read_until(fd, b"in-10")
            _detach_then_attach(rl, pid, fd, "fgs")
        finally:
            _reap(pid, fd)
        pid, fd = spawn(rl, "start", "-ai", "fgs")  # again: a normal exit's status comes back
        try:
            _raw(fd)
            _typed(fd, b"exit 4\r")
            assert _exit_status(pid) == 4
        finally:
            _reap(pid, fd)
    finally:
        rl.run("rm", "-f", "-t", "0", "fgs")


def test_run_it_sdnotify_conmon_keeps_the_cli_as_main_process(rl, rootfs):
    """--sdnotify=conmon (a unit's foreground run): systemd is told that rl's
    own process is the main one, so that process keeps holding the container
    (the in-process path, no detaching: the keys are just keys)."""
    import socket
    import tempfile
    where = tempfile.mkdtemp(prefix="rlsd", dir="/tmp")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(where, "notify"))
    sock.settimeout(60)
    rl.env["NOTIFY_SOCKET"] = os.path.join(where, "notify")
    try:
        pid, fd = spawn(rl, "run", "--rm", "-it", "--sdnotify=conmon", "--network", "none", "--rootfs", rootfs, "sh")
    finally:
        del rl.env["NOTIFY_SOCKET"]
    try:
        msg = sock.recv(4096).decode()
        assert f"MAINPID={pid}" in msg and "READY=1" in msg, msg
        read_until(fd, b"# ")
        _typed(fd, CTRL_P, CTRL_Q, b"\r", b"echo on-$((2+2))\r")
        read_until(fd, b"on-4")
        _typed(fd, b"exit 4\r")
        assert _exit_status(pid) == 4
    finally:
        _reap(pid, fd)
        sock.close()
        os.unlink(os.path.join(where, "notify"))
        os.rmdir(where)


TRAP_HUP = 'trap "echo got-hup; exit 9" HUP; echo armed-$((3*3)); while :; do sleep 0.2; done'


def _exited_with(rl, name: str, code: str) -> None:
    deadline = time.time() + 60
    while _state(rl, name) != "exited":
        assert time.time() < deadline, _state(rl, name)
        time.sleep(0.1)
    assert rl.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == code


def test_run_it_sighup_goes_to_the_container(rl, rootfs):
    """rl gets SIGHUP (its terminal closes): the container gets it, as
    podman's --sig-proxy does with -t too, and rl returns its status."""
    pid, fd = spawn(rl, "run", "-it", "--name", "fghup", "--network", "none", "--rootfs", rootfs,
                    "sh", "-c", TRAP_HUP)
    try:
        read_until(fd, b"armed-9")
        os.kill(pid, signal.SIGHUP)
        assert _exit_status(pid) == 9
        _exited_with(rl, "fghup", "9")
    finally:
        _reap(pid, fd)
        rl.run("rm", "-f", "-t", "0", "fghup")


def test_run_it_terminal_closed(rl, rootfs):
    """The terminal itself goes away (its master closed): rl neither hangs
    on the dead terminal nor leaves the container behind."""
    pid, fd = spawn(rl, "run", "-it", "--name", "fgclose", "--network", "none", "--rootfs", rootfs,
                    "sh", "-c", TRAP_HUP)
    try:
        read_until(fd, b"armed-9")
        os.close(fd)
        fd = -1
        _exit_status(pid)
        _exited_with(rl, "fgclose", "9")
    finally:
        if fd >= 0:
            _reap(pid, fd)
        else:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        rl.run("rm", "-f", "-t", "0", "fgclose")


# --- the same with podman (the oracle) --------------------------------------

def _spawn_argv(argv: list[str], env: dict) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir("/")
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        os.execve(argv[0], argv, env)
    return pid, fd


@pytest.fixture
def both(rl, registry, podman):  # noqa: F811
    from tests.podman import load_image
    rl.env.update(registry.env())
    img = load_image(podman, registry)
    assert rl.run("pull", "-q", "debian:bookworm").returncode == 0
    yield ((("rl", [sys.executable, "-m", "rootless"], rl.env, "debian:bookworm", rl.run)),
           (("podman", podman.argv, podman.env, img, podman.run)))
    rl.run("rm", "-af", "-t", "0")


@pytest.mark.registry
@pytest.mark.parametrize("verb", ["run", "start"])
def test_detach_like_podman(both, verb):
    """run -it / create -it + start -ai: detach, still running, attach, exit 3."""
    for tool, argv, env, img, run in both:
        if verb == "run":
            cmd = [*argv, "run", "-it", "--name", "pd", img, "sh"]
        else:
            res = run("create", "-it", "--name", "pd", img, "sh")
            assert res.returncode == 0, (tool, res.stderr)
            cmd = [*argv, "start", "-ai", "pd"]
        pid, fd = _spawn_argv(cmd, env)
        try:
            read_until(fd, b"# ", timeout=120)
            _typed(fd, b"echo sum-$((40+2))\r")
            read_until(fd, b"sum-42")
            _typed(fd, CTRL_P, CTRL_Q)
            assert _exit_status(pid, 60) == 0, tool
        finally:
            _reap(pid, fd)
        assert run("inspect", "--format", "{{.State.Status}}", "pd").stdout.strip() == "running", tool
        pid, fd = _spawn_argv([*argv, "attach", "pd"], env)
        try:
            _raw(fd)
            _typed(fd, b"echo back-$((6*7))\r")
            read_until(fd, b"back-42")
            _typed(fd, b"exit 3\r")
            status = _exit_status(pid, 60)
            # podman 4.3's attach itself exits 0 here; rl's attach returns the container's status
            assert status == (3 if tool == "rl" else 0), tool
        finally:
            _reap(pid, fd)
        assert run("inspect", "--format", "{{.State.ExitCode}}", "pd").stdout.strip() == "3", tool


@pytest.mark.registry
def test_run_it_sighup_like_podman(both):
    for tool, argv, env, img, run in both:
        pid, fd = _spawn_argv([*argv, "run", "-it", "--name", "ph", img, "sh", "-c", TRAP_HUP], env)
        try:
            read_until(fd, b"armed-9", timeout=120)
            if tool == "podman":
                # podman 4.3 starts proxying signals only some time after the container's
                # output flows: a SIGHUP before that kills podman itself (seen: exit -1)
                time.sleep(2)
            os.kill(pid, signal.SIGHUP)
            assert _exit_status(pid, 60) == 9, tool
        finally:
            _reap(pid, fd)
        assert run("inspect", "--format", "{{.State.ExitCode}}", "ph").stdout.strip() == "9", tool
