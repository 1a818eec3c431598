"""One way to start a long-lived helper process (the monitor, the port
forwarder, the rootless-netns keeper, ...): fork (optionally setsid, and a
double fork so that init adopts it), a parent-death signal set before
anything else runs, signal handlers and mask back to a fresh interpreter's,
stdio onto /dev/null (or given fds), every other inherited fd closed but the
ones asked for, then the helper's own code.

The helper says it is ready, or why it is not, once, on a close-on-exec
pipe, as one framed message: a header (kind, sender pid, errno, exit code,
lengths) then the text and the hint. `spawn` returns once the ready message
has arrived, and raises one error type otherwise, decoded here only: the
helper's exception (its message, hint and exit code when it carries them,
the strerror and errno of an OSError), or that it died before it was ready
(its status). The frame has a length, so the parent never waits for an EOF
that forks of the helper (which inherit the pipe) would hold back.

The same frame is the error format of the processes that are not helpers
but become the container's command (PID 1, an exec'd process): they write
it (`report`) on a close-on-exec error pipe whose EOF without a frame means
the exec happened, and their starter decodes it with `error_of`.

This module imports nothing of rl but `linux`: every layer may use it. A
caller that wants its own RlError subclass passes it as `error`."""

from __future__ import annotations

import fcntl
import gc
import os
import signal
import struct
import sys

from rootless import logconf
from rootless.linux import close_fds_except, syscalls

log = logconf.logger(__name__)  # logging imported only if something is logged

TYPE_CHECKING = False  # typing is not imported: `rl run` pays for every import
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable

_HEAD = struct.Struct("!BIiiII")  # kind, sender pid, errno, exit code, len(text), len(hint)
_READY, _ERROR = 1, 2
_TEXT_MAX = 1 << 16


class SpawnError(Exception):
    """A helper that did not become ready: what it said, or that it died."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 125, errno: int = 0,
                 died: bool = False):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code
        self.errno = errno
        self.died = died

    def __str__(self) -> str:
        return self.message


class Reporter:
    """The helper's end of the ready pipe (given to the target)."""

    def __init__(self, fd: int):
        self.fd: int | None = fd

    @property
    def sent(self) -> bool:
        return self.fd is None

    def _send(self, kind: int, text: str | bytes, hint: str | None = None, exit_code: int = 0,
              err: int = 0) -> None:
        if self.fd is None:
            return
        raw = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
        rawhint = (hint or "").encode("utf-8", "replace")
        raw, rawhint = raw[:_TEXT_MAX], rawhint[:_TEXT_MAX]
        data = memoryview(_HEAD.pack(kind, os.getpid(), err, exit_code, len(raw), len(rawhint)) + raw + rawhint)
        fd, self.fd = self.fd, None
        try:
            while data:
                data = data[os.write(fd, data):]
        except OSError:
            pass  # the starter has gone: nobody to tell
        finally:
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        """Drop this end without a word (a fork of the helper that must not hold it)."""
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def ready(self, payload: str | bytes = b"") -> None:
        """Tell the starter the helper runs (payload: what it should know, e.g. a pid)."""
        self._send(_READY, payload)

    def fail(self, exc: BaseException) -> None:
        """Tell the starter why the helper cannot run."""
        self._send(_ERROR, *describe(exc))


def report(fd: int, exit_code: int, message: str, hint: str | None = None) -> None:
    """A setup failure of a process that was to exec (the container's PID 1,
    an exec'd command) on its error pipe, in the helpers' frame; closes fd."""
    Reporter(fd).fail(SpawnError(message, hint, exit_code))


def error_of(raw: bytes) -> SpawnError | None:
    """What an error pipe said (read to its EOF): None when nothing (the
    exec happened), else the first frame's error; bytes that are no frame
    are kept as its message."""
    if not raw:
        return None
    if len(raw) >= _HEAD.size:
        kind, _, err, code, ntext, nhint = _HEAD.unpack_from(raw)
        body = raw[_HEAD.size:_HEAD.size + ntext + nhint]
        if kind == _ERROR and len(body) == ntext + nhint:
            return SpawnError(body[:ntext].decode("utf-8", "replace") or "setup failed",
                              body[ntext:].decode("utf-8", "replace") or None, code or 125, err)
    return SpawnError(raw.decode("utf-8", "replace").strip() or "setup failed")


def describe(exc: BaseException) -> tuple[str, str | None, int, int]:
    """(message, hint, exit code, errno) of an exception, the one way helpers report it."""
    if hasattr(exc, "message") and hasattr(exc, "exit_code"):  # an RlError (or a SpawnError)
        return (str(exc.message), getattr(exc, "hint", None), int(exc.exit_code or 125),
                int(getattr(exc, "errno", 0) or 0))
    if isinstance(exc, OSError):
        return exc.strerror or str(exc), None, 125, exc.errno or 0
    return str(exc) or type(exc).__name__, None, 125, 0




# Python's own dispositions at startup: these two ignored, every other default
_PYTHON_IGNORES = (signal.SIGPIPE, signal.SIGXFSZ)


def reset_signals() -> None:
    """Every handler the starter installed (its forwarding of SIGINT, SIGTERM,
    SIGWINCH...) back to the default action, the mask emptied, no wakeup fd;
    SIGPIPE and SIGXFSZ stay ignored as in any Python process (a helper's
    write to a closed pipe or socket is EPIPE, not death)."""
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_IGN if sig in _PYTHON_IGNORES else signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # not a valid signal number here (the real-time range's libc-reserved ones)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


class Child:
    """A started helper: its pid (for a double fork, the helper's own, not
    the intermediate's, which is reaped), and what it sent with ready."""

    def __init__(self, pid: int, payload: bytes, reapable: bool):
        self.pid = pid
        self.payload = payload
        self.reapable = reapable  # our child (not double-forked): wait() and kill() reap it

    def wait(self) -> int:
        """Its exit status (128+N when killed by N)."""
        if not self.reapable:
            raise ChildProcessError(f"process {self.pid} was double-forked: not ours to wait for")
        while True:
            try:
                _, status = os.waitpid(self.pid, 0)
                break
            except InterruptedError:
                continue
        return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.kill(self.pid, sig)
            if self.reapable:
                os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _read_frame(fd: int) -> tuple | None:
    """One frame from fd, or None at an EOF before a whole one."""
    def exactly(n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            try:
                chunk = os.read(fd, n - len(buf))
            except InterruptedError:
                continue
            if not chunk:
                return None
            buf += chunk
        return buf
    head = exactly(_HEAD.size)
    if head is None:
        return None
    kind, pid, err, code, ntext, nhint = _HEAD.unpack(head)
    body = exactly(ntext + nhint) if ntext + nhint else b""
    if body is None:
        return None
    return kind, pid, err, code, body[:ntext], body[ntext:].decode("utf-8", "replace")


def _install_stdio(stdio) -> None:
    """fds onto 0, 1, 2; each first moved above 2, so that one of them that
    is itself 0, 1 or 2 is not overwritten before it is copied."""
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for target_fd, fd in enumerate(moved):
        os.dup2(fd, target_fd)
    for fd in set(moved):
        os.close(fd)


_replaced: list = []


def _fresh_stderr(fd: int) -> None:
    """sys.stderr (where the logging handler writes) as a new object on fd:
    a lock of the old one, held by another thread of the starter at the
    fork, cannot block the helper. The old object is kept alive: collected,
    it could close an fd number that now names something else."""
    _replaced.append(sys.stderr)
    try:
        sys.stderr = open(fd, "w", buffering=1, errors="backslashreplace", closefd=fd > 2)
    except OSError:
        pass


def _child_side(target: Callable[[Reporter], int | None], report_w: int, parent: int, *, double_fork: bool,
                setsid: bool, keep_fds, stdio, death_signal: int | None, dumpable: bool | None,
                log_to_starter: bool) -> None:
    """The forked side. Never returns."""
    # every object inherited from the starter out of the cyclic collector's
    # reach: the fds behind them are closed below, and a file or socket of the
    # starter's collected here would close whatever fd now has its number
    # (an unpack's directory fd once: a random EBADF)
    gc.freeze()
    code = 125
    reporter = Reporter(report_w)
    try:
        if death_signal:
            syscalls.set_pdeathsig(death_signal)
            if os.getppid() != parent:  # the starter died before the line above
                os._exit(125)
        if dumpable is not None:
            syscalls.set_dumpable(dumpable)
        if setsid:
            os.setsid()  # first: the terminal's signals stop reaching it
        reset_signals()
        if double_fork and os.fork():
            os._exit(0)  # the intermediate: the helper is init's (or the nearest subreaper's) now
        log_fd = 2
        if log_to_starter:  # the starter's log stream (its own may be a copy already), gone at an exec
            try:
                src = sys.stderr.fileno()
            except (AttributeError, ValueError, OSError):
                src = 2
            log_fd = fcntl.fcntl(src, fcntl.F_DUPFD_CLOEXEC, 3)
        if stdio == "null":
            null = os.open(os.devnull, os.O_RDWR)
            stdio = (null, null, null)
        if stdio is not None:
            _install_stdio(stdio)
        close_fds_except({report_w, log_fd, *keep_fds})
        _fresh_stderr(log_fd)
        result = target(reporter)
        code = result if isinstance(result, int) else 0
        if not reporter.sent:
            reporter.fail(SpawnError(f"exited before it was ready (status {code})"))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 125
        reporter.fail(SpawnError(f"exited before it was ready (status {code})"))
    except BaseException as e:  # noqa: BLE001 - a forked child must never return
        reporter.fail(e)
    finally:
        os._exit(code)


def spawn(target: Callable[[Reporter], int | None], *, name: str, double_fork: bool = False,
          setsid: bool = False, keep_fds=(), stdio: str | tuple[int, int, int] | None = "null",
          death_signal: int | None = None, dumpable: bool | None = None, error: Callable | None = None,
          context: str | None = None, died: str | None = None, died_hint: str | None = None,
          log_to_starter: bool = False) -> Child:
    """Fork a helper that runs target(reporter) and exits with its return
    value; return once it called reporter.ready(payload).

    double_fork: the helper is reparented to init (or the nearest subreaper)
    and nobody needs to reap it; setsid: its own session (the terminal's
    ^C reaches rl only); keep_fds: fds it keeps besides 0-2 (all others are
    closed); stdio: "null" (/dev/null), None (the starter's), or three fds;
    death_signal: sent to it when the starter (the forking thread) dies,
    set before anything else (not with double_fork: its parent is the
    intermediate, which exits at once); dumpable False: PR_SET_DUMPABLE 0;
    log_to_starter: its log records (sys.stderr) go to a close-on-exec copy
    of the starter's stderr, not to the fd 2 it was given (a container's
    stderr must carry the container's output only). Its sys.stderr is a new
    object in any case (no lock of the starter's threads).

    On failure raises error(message, hint=, exit_code=) (an RlError
    subclass) or SpawnError: message is "context: what the helper said" (its
    exception's message, an OSError's strerror), or died ("context: NAME
    died before it was ready: exit status N" when not given) when it exited
    without a word."""
    if double_fork and death_signal:
        raise ValueError("a double-forked helper's parent exits at once: no death signal")
    report_r, report_w = os.pipe()  # close-on-exec: what the helper execs does not hold it
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(report_r)
        _child_side(target, report_w, parent, double_fork=double_fork, setsid=setsid, keep_fds=keep_fds,
                    stdio=stdio, death_signal=death_signal, dumpable=dumpable, log_to_starter=log_to_starter)
    os.close(report_w)
    status = None
    if double_fork:
        _, status = os.waitpid(pid, 0)  # the intermediate exits at once: no zombie left
    try:
        frame = _read_frame(report_r)
    finally:
        os.close(report_r)
    if frame is not None and frame[0] == _READY:
        log.debug("%s started: pid %d", name, frame[1])
        return Child(frame[1], frame[4], reapable=not double_fork)
    if frame is not None:
        _, _, err, code, text, hint = frame
        exc = SpawnError(text.decode("utf-8", "replace"), hint or None, code or 125, err)
    else:
        if not double_fork:
            _, status = os.waitpid(pid, 0)
        how = _status_text(status) if status is not None and not double_fork else "no ready message"
        exc = SpawnError(died or f"{name} died before it was ready: {how}", died_hint, 125, 0, died=True)
    if not double_fork and frame is not None:
        try:
            os.waitpid(pid, 0)  # it exits right after saying why
        except ChildProcessError:
            pass
    message = f"{context}: {exc.message}" if context and not (exc.died and died) else exc.message
    if error is not None:
        raise error(message, hint=exc.hint, exit_code=exc.exit_code) from None
    exc.message = message
    exc.args = (message,)
    raise exc
