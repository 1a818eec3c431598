"""--init when neither catatonit nor tini-static is installed: PID 1 stays
this (already privilege-dropped) process, forwards signals to the command,
reaps orphans and exits with the command's status. Runs after pivot_root:
uses only modules imported at startup.

That PID 1 is rl's Python, forked from the host's rl: every process of the
container sees it. prepare() makes it non-dumpable before the command exists
(the kernel then wants CAP_SYS_PTRACE in the host's user namespace for its
/proc/1/environ, mem, fd, exe and ns, and for ptrace: the container never
has it), blanks rl's environment and command line, and serve() keeps no fd
but the container's stdio. As the host cannot open /proc/1/ns either,
namespace_pid() names the command (the container's PID 2) to rl exec."""

from __future__ import annotations

import os
import signal

from rootless import linux
from rootless.runtime.signals import FORWARDED_WINCH

FORWARDED = FORWARDED_WINCH
TITLE = "rl-init"


def prepare() -> None:
    """In PID 1, before it forks the command: nothing of rl's for the container."""
    linux.set_dumpable(False)
    linux.blank_exec_strings(TITLE)
    linux.set_name(TITLE)


def serve(main_pid: int) -> None:
    """Never returns."""
    linux.close_fds_except(())  # rl's pipes and whatever its caller left open: PID 1 never execs

    def forward(sig, _frame):
        try:
            os.kill(main_pid, sig)
        except ProcessLookupError:
            pass
    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == main_pid:
            os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))


def _field(pid: int, name: bytes) -> list[bytes]:
    with open(f"/proc/{pid}/status", "rb") as f:
        return next(line for line in f if line.startswith(name + b":")).split()[1:]


def namespace_pid(pid1: int) -> int:
    """Host side: the process whose /proc/PID/ns/* stand for the container's
    namespaces. PID 1 itself, unless it is rl's non-dumpable init, whose ns
    links the user cannot open: then the command it runs, the container's PID
    2 (the first process PID 1 forked, alive as long as the container), if it
    is still in the user namespace of PID 1's parent (rl's namespace side):
    a command that moved into a namespace of its own is not taken for the
    container."""
    try:
        os.readlink(f"/proc/{pid1}/ns/mnt")
        return pid1
    except PermissionError:
        pass
    except OSError:
        return pid1  # gone: the caller's open says so
    try:
        with open(f"/proc/{pid1}/task/{pid1}/children", "rb") as f:
            children = [int(p) for p in f.read().split()]
        userns = os.readlink(f"/proc/{int(_field(pid1, b'PPid')[0])}/ns/user")
        for child in children:
            if _field(child, b"NSpid")[-1] == b"2" and os.readlink(f"/proc/{child}/ns/user") == userns:
                return child
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return pid1
