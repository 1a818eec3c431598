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
        n = os.write(fd, data)
        data = data[n:]


def relay(out_r: int, err_r: int, log=None) -> None:
    """A foreground container without -t: its stdout and stderr pipes to
    rl's own fds 1 and 2, each record also into the log (log.write(stream,
    data), rootless.containers.logs.Writer), until both pipes end. A
    terminal side that went away (`rl run ... | head -1`) closes that pipe,
    so the container gets its SIGPIPE as it did writing there itself."""
    streams = {out_r: (1, "stdout"), err_r: (2, "stderr")}
    while streams:
        try:
            ready, _, _ = select.select(list(streams), [], [])
        except InterruptedError:
            continue
        for fd in ready:
            dest, name = streams[fd]
            try:
                data = os.read(fd, 65536)
            except InterruptedError:
                continue
            if not data:
                del streams[fd]
                os.close(fd)
                continue
            if log is not None:
                log.write(name, data)
            try:
                _write_all(dest, data)
            except (BrokenPipeError, OSError) as e:
                if isinstance(e, BrokenPipeError) or e.errno in (errno.EPIPE, errno.EBADF):
                    del streams[fd]
                    os.close(fd)
                else:
                    raise


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
