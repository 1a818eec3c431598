"""-t on the host side: the pty master (created inside the container's own
devpts) is pumped to and from rl's stdio, with the host terminal in raw mode
and its window size followed."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import struct
import termios
import tty


def copy_winsize(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:  # a non-blocking fd rl inherited: wait, do not drop
            select.select([], [fd], [])
            continue
        data = data[n:]


def pump(master: int, stdin_fd: int | None, stdout_fd: int = 1, log=None) -> None:
    """Copy until the container side of the pty is closed. stdin_fd None
    means -t without -i: nothing is sent. log: as relay's (stream stdout)."""
    size_src = next((fd for fd in (stdin_fd, stdout_fd) if fd is not None and os.isatty(fd)), None)
    saved = None
    if stdin_fd is not None and os.isatty(stdin_fd):
        saved = termios.tcgetattr(stdin_fd)
        tty.setraw(stdin_fd)
    old_winch = None
    if size_src is not None:
        copy_winsize(size_src, master)
        old_winch = signal.signal(signal.SIGWINCH, lambda *_: copy_winsize(size_src, master))
    try:
        readers = [master] + ([stdin_fd] if stdin_fd is not None else [])
        while True:
            try:
                ready, _, _ = select.select(readers, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as e:
                    if e.errno == errno.EIO:  # every slave fd closed: the container is done
                        return
                    raise
                if not data:
                    return
                if log is not None:
                    log.write("stdout", data)
                _write_all(stdout_fd, data)
            if stdin_fd is not None and stdin_fd in ready:
                data = os.read(stdin_fd, 65536)
                if data:
                    _write_all(master, data)
                else:
                    # piped input ended: end-of-file for the program, as a typed ^D would
                    readers.remove(stdin_fd)
                    _write_all(master, b"\x04")
    finally:
        if saved is not None:
            termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)


class Pipes:
    """Without -t the container's stdio are pipes rl relays (conmon's way),
    never rl's own fds: a terminal handed over would let the container ioctl
    it (TIOCSTI, tcsetattr) or, in the caller's session, open /dev/tty.
    stdin is a pipe only with -i, else /dev/null. `child` goes to the
    container's 0, 1, 2; close_child() once it has them."""

    def __init__(self, stdin: bool):
        self.stdin_w = None
        if stdin:
            in_r, self.stdin_w = os.pipe()
        else:
            in_r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        self.child = (in_r, out_w, err_w)
        self.host = tuple(fd for fd in (self.stdin_w, self.out_r, self.err_r) if fd is not None)
        self._streams = {self.out_r: "stdout", self.err_r: "stderr"}
        self._log = None  # relay(log=...): a foreground run's log

    def close_child(self) -> None:
        for fd in self.child:
            os.close(fd)
        self.child = ()

    def close(self) -> None:
        self.close_child()
        for fd in self.host:
            try:
                os.close(fd)
            except OSError:
                pass
        self.host = ()

    def relay(self, pid: int, stdin_fd: int = 0, stdout_fd: int = 1, stderr_fd: int = 2, log=None) -> None:
        """Copy rl's stdin to the container and its output to rl's stdout and
        stderr until process pid (the child holding the container) exits, then
        what is left in the pipes. stdin's end of file closes the container's.
        log: a foreground run's log (log.write(stream, data),
        rootless.containers.logs.Writer) gets every chunk with its stream."""
        pidfd = os.pidfd_open(pid)
        outs = {self.out_r: stdout_fd, self.err_r: stderr_fd}
        self._log = log
        src = stdin_fd if self.stdin_w is not None else None
        pending = b""
        try:
            if src is not None:
                os.fstat(src)
        except OSError:  # rl was started with its stdin closed: an empty input
            src = None
            self._close_stdin()
        if self.stdin_w is not None:
            os.set_blocking(self.stdin_w, False)
        try:
            while True:
                readers = [pidfd, *outs] + ([src] if src is not None and not pending else [])
                writers = [self.stdin_w] if pending else []
                try:
                    ready, writable, _ = select.select(readers, writers, [])
                except InterruptedError:
                    continue
                for fd in ready:
                    if fd in outs and not self._copy(fd, outs):
                        del outs[fd]
                if src is not None and src in ready:
                    try:
                        pending = os.read(src, 65536)
                    except OSError:
                        pending = b""
                    if not pending:
                        src = None
                        self._close_stdin()
                if writable:
                    try:
                        pending = pending[os.write(self.stdin_w, pending):]
                    except BlockingIOError:
                        pass
                    except OSError:  # the container closed its stdin
                        pending, src = b"", None
                        self._close_stdin()
                if pidfd in ready:
                    break
            for fd in list(outs):  # what was written before the exit
                os.set_blocking(fd, False)
                try:
                    while self._copy(fd, outs):
                        pass
                except BlockingIOError:
                    pass
        finally:
            os.close(pidfd)

    def _close_stdin(self) -> None:
        if self.stdin_w is not None:
            os.close(self.stdin_w)
            self.host = tuple(fd for fd in self.host if fd != self.stdin_w)
            self.stdin_w = None

    def _copy(self, fd: int, outs: dict) -> bool:
        """One read from fd to its destination; False when done with fd. A
        destination that is gone (EPIPE: `rl run ... | head`) closes fd, so
        the container's next write fails as it would on that pipe itself."""
        data = os.read(fd, 65536)
        if not data:
            return False
        if self._log is not None:
            self._log.write(self._streams[fd], data)
        try:
            _write_all(outs[fd], data)
        except OSError:
            os.close(fd)
            self.host = tuple(h for h in self.host if h != fd)
            return False
        return True
