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

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH, signal.SIGCONT, signal.SIGALRM)
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


def namespace_pid(pid1: int) -> int:
    """Host side: the process whose /proc/PID/ns/* stand for the container's
    namespaces. PID 1 itself, unless it is rl's non-dumpable init, whose ns
    links the user cannot open: then the command it runs, the container's PID
    2 (the first process PID 1 forked, alive as long as the container)."""
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
    except OSError:
        return pid1
    for child in children:
        try:
            with open(f"/proc/{child}/status", "rb") as f:
                nspid = next(line for line in f if line.startswith(b"NSpid:")).split()
        except (OSError, StopIteration):
            continue
        if nspid[-1] == b"2":
            return child
    return pid1
