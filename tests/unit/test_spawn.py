"""rootless.linux.spawn, the one way rl starts a long-lived helper: real
forks, real signals, the child's own /proc."""

from __future__ import annotations

import errno
import json
import os
import signal
import time

import pytest

from rootless.errors import RuntimeSetupError
from rootless.linux.spawn import SpawnError, spawn


def _gone(pid: int, timeout: float = 30.0) -> bool:
    """pid no longer runs (a zombie counts as gone: PID 1 here reaps slowly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_ready_returns_the_payload_and_the_child_runs_until_it_exits():
    r, w = os.pipe()

    def helper(rep):
        rep.ready(b"hello")
        os.read(r, 1)
        return 7
    child = spawn(helper, name="t", keep_fds=(r,))
    os.close(r)
    assert child.payload == b"hello"
    assert os.path.exists(f"/proc/{child.pid}")
    os.close(w)
    assert child.wait() == 7


def test_an_error_carries_its_message_hint_and_code_into_the_callers_type():
    def helper(rep):
        raise RuntimeSetupError("the thing broke", hint="fix it", exit_code=126)
    with pytest.raises(RuntimeSetupError) as e:
        spawn(helper, name="t", error=RuntimeSetupError, context="cannot start t")
    assert e.value.message == "cannot start t: the thing broke"
    assert e.value.hint == "fix it" and e.value.exit_code == 126


def test_an_oserror_reports_its_strerror_and_errno():
    def helper(rep):
        os.open("/nonexistent/x", os.O_RDONLY)
    with pytest.raises(SpawnError) as e:
        spawn(helper, name="t")
    assert e.value.errno == errno.ENOENT and e.value.message == "No such file or directory"
    assert e.value.exit_code == 125 and not e.value.died


def test_a_child_dying_before_ready_is_reported_with_its_status():
    def helper(rep):
        os.kill(os.getpid(), signal.SIGKILL)
    with pytest.raises(SpawnError) as e:
        spawn(helper, name="thelper")
    assert e.value.died and e.value.message == "thelper died before it was ready: killed by SIGKILL"

    def quits(rep):
        os._exit(3)
    with pytest.raises(RuntimeSetupError) as e:
        spawn(quits, name="t", error=RuntimeSetupError, died="t gave up", died_hint="look")
    assert e.value.message == "t gave up" and e.value.hint == "look"

    def returns(rep):
        return 4
    with pytest.raises(SpawnError, match=r"exited before it was ready \(status 4\)"):
        spawn(returns, name="t")


def test_the_frame_arrives_although_forks_of_the_helper_hold_the_pipe():
    # the monitor's case: the runtime it forks inherits the pipe; no EOF may be awaited
    def helper(rep):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        rep.ready(b"ok")
        return 0
    child = spawn(helper, name="t")
    assert child.payload == b"ok" and child.wait() == 0


def _our_children() -> set[int]:
    kids: set[int] = set()
    for tid in os.listdir(f"/proc/{os.getpid()}/task"):
        with open(f"/proc/{os.getpid()}/task/{tid}/children") as f:
            kids.update(int(x) for x in f.read().split())
    return kids


def test_a_double_fork_leaves_no_zombie_and_names_the_helper():
    r, w = os.pipe()

    def helper(rep):
        rep.ready(json.dumps([os.getpid(), os.getppid(), os.getsid(0)]))
        os.read(r, 1)
    before = _our_children()  # a test session may have children of its own (servers)
    child = spawn(helper, name="t", double_fork=True, setsid=True, keep_fds=(r,))
    os.close(r)
    pid, ppid, sid = json.loads(child.payload)
    assert child.pid == pid and ppid != os.getpid() and sid != os.getsid(0)  # a session of its own
    # nothing new of ours, not even a zombie: the intermediate was reaped, the helper is init's
    assert _our_children() == before
    os.close(w)
    assert _gone(pid)


def test_the_death_signal_is_delivered_when_the_starter_dies():
    r, w = os.pipe()
    starter = os.fork()
    if starter == 0:
        code = 1
        try:
            os.close(r)
            child = spawn(lambda rep: (rep.ready(), time.sleep(120)), name="t",
                          death_signal=signal.SIGKILL)
            os.write(w, str(child.pid).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    helper = int(os.read(r, 64))
    os.close(r)
    os.waitpid(starter, 0)
    assert _gone(helper), "the helper outlived its starter"


def test_without_a_death_signal_the_helper_outlives_its_starter():
    # the test above can fail: here the same helper survives
    r, w = os.pipe()
    starter = os.fork()
    if starter == 0:
        try:
            os.close(r)
            child = spawn(lambda rep: (rep.ready(), time.sleep(120)), name="t")
            os.write(w, str(child.pid).encode())
        finally:
            os._exit(0)
    os.close(w)
    helper = int(os.read(r, 64))
    os.close(r)
    os.waitpid(starter, 0)
    try:
        assert not _gone(helper, timeout=0.5)
    finally:
        os.kill(helper, signal.SIGKILL)


def _open_fds() -> list[int]:
    out = []
    for fd in range(1024):
        try:
            os.fstat(fd)
            out.append(fd)
        except OSError:
            pass
    return out


def test_no_fd_but_the_kept_ones_reaches_the_helper():
    leak = os.open("/dev/null", os.O_RDONLY)
    os.set_inheritable(leak, True)
    cloexec_leak = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)  # a fork inherits those too
    kept = os.open("/dev/null", os.O_RDONLY)
    try:
        def helper(rep):
            rep.ready(json.dumps({"fds": _open_fds(), "report": rep.fd, "stdin": os.readlink("/proc/self/fd/0")}))
        child = spawn(helper, name="t", keep_fds=(kept,))
        info = json.loads(child.payload)
        child.wait()
    finally:
        for fd in (leak, cloexec_leak, kept):
            os.close(fd)
    # the report pipe (closed once ready is sent) and the kept fd, nothing else
    assert info["fds"] == sorted([0, 1, 2, kept, info["report"]]) and info["stdin"] == "/dev/null"


def test_signal_handlers_and_mask_are_reset_but_sigpipe_stays_ignored():
    old = signal.signal(signal.SIGTERM, lambda *_: None)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    try:
        def helper(rep):
            with open("/proc/self/status") as f:
                status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
            rep.ready(json.dumps({
                "term": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
                "pipe": signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN,
                "int": signal.getsignal(signal.SIGINT) == signal.SIG_DFL,
                "blocked": int(status["SigBlk"].strip(), 16)}))
        child = spawn(helper, name="t")
        info = json.loads(child.payload)
        child.wait()
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    assert info == {"term": True, "pipe": True, "int": True, "blocked": 0}


def test_a_non_dumpable_helper():
    import ctypes
    libc = ctypes.CDLL(None)

    def flag(rep):
        rep.ready(str(libc.prctl(3, 0, 0, 0, 0)))  # PR_GET_DUMPABLE
    for dumpable, want in ((False, b"0"), (None, b"1")):
        child = spawn(flag, name="t", dumpable=dumpable)
        child.wait()
        assert child.payload == want


def test_stdio_is_installed_whatever_the_given_fds_numbers():
    # (stdout, stdin, stderr) of a pipe pair: a naive dup2 in order would copy fd 0 onto 1 after overwriting it
    r, w = os.pipe()
    saved = [os.dup(0), os.dup(1)]
    try:
        os.dup2(r, 1)
        os.dup2(w, 0)

        def helper(rep):
            os.write(1, b"to the pipe")
            rep.ready(os.readlink("/proc/self/fd/0"))
        child = spawn(helper, name="t", stdio=(1, 0, 2))
        child.wait()
    finally:
        os.dup2(saved[0], 0)
        os.dup2(saved[1], 1)
        for fd in saved:
            os.close(fd)
        os.close(w)
    with os.fdopen(r, "rb") as f:
        assert f.read() == b"to the pipe"
    assert child.payload.decode().startswith("pipe:")


def test_log_to_starter_keeps_log_records_out_of_the_helpers_own_stderr(tmp_path):
    """A container's namespace side has the container's pipes as its fds 0-2:
    its log records must still go to the starter's stderr."""
    import logging
    import sys
    mine, theirs = tmp_path / "starter-stderr", tmp_path / "container-stderr"
    starter_fd = os.open(mine, os.O_WRONLY | os.O_CREAT, 0o600)
    container_fd = os.open(theirs, os.O_WRONLY | os.O_CREAT, 0o600)
    saved = sys.stderr
    handler = logging.StreamHandler()
    handler.__class__ = type("FollowsStderr", (logging.StreamHandler,), {
        "stream": property(lambda self: sys.stderr, lambda self, v: None)})
    logger = logging.getLogger("rootless.test_spawn")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # only this handler: another test may have configured the root's
    sys.stderr = open(starter_fd, "w", closefd=False)
    try:
        def helper(rep):
            logger.debug("a debug line")
            os.write(2, b"the container's own\n")
            rep.ready()
        for flag in (True, False):
            spawn(helper, name="t", stdio=(container_fd, container_fd, container_fd), log_to_starter=flag).wait()
    finally:
        sys.stderr = saved
        logger.removeHandler(handler)
        logger.propagate = True
        os.close(starter_fd)
        os.close(container_fd)
    # with the flag the line went to the starter's; without it, into the helper's own fd 2
    assert mine.read_text() == "a debug line\n"
    assert theirs.read_text() == "the container's own\na debug line\nthe container's own\n"


def test_report_and_error_of_are_one_frame_format():
    from rootless.linux.spawn import error_of, report
    r, w = os.pipe()
    report(w, 127, "sh: not found", "check the image's PATH")
    with os.fdopen(r, "rb") as f:
        raw = f.read()  # report closed its end: EOF
    e = error_of(raw)
    assert (e.message, e.hint, e.exit_code) == ("sh: not found", "check the image's PATH", 127)
    assert error_of(b"") is None  # EOF without a frame: the exec happened
    assert error_of(b"garbage").message == "garbage"


class _Cycle:
    """Garbage only the cyclic collector frees (it refers to itself)."""

    def __init__(self, path):
        self.me = self
        self.f = open(path, "w")


def test_a_starter_object_collected_in_the_helper_cannot_close_the_helpers_fds(tmp_path):
    """The helper closes the fds it does not keep, so the number of a file
    the starter had open can be reused by the helper; the starter's garbage,
    collected in the helper, must not close it (seen: an unpack's directory
    fd closed mid-way, a random EBADF)."""
    garbage = _Cycle(tmp_path / "starter")
    number = garbage.f.fileno()
    del garbage  # unreachable now, not yet collected (a cycle)

    def target(reporter):
        fd = os.open(tmp_path / "helper", os.O_RDONLY | os.O_CREAT, 0o600)
        if fd != number:
            os.dup2(fd, number)
            os.close(fd)
        import gc
        gc.collect()  # without the freeze: _Cycle's file closes `number`
        os.fstat(number)  # EBADF if it did
        reporter.ready(b"ok")
        return 0

    child = spawn(target, name="the gc probe")
    assert child.payload == b"ok"
    assert child.wait() == 0
