"""--init when neither catatonit nor tini-static is installed: PID 1 stays
this (already privilege-dropped) process, forwards signals to the command,
reaps orphans and exits with the command's status. Runs after pivot_root:
uses only modules imported at startup."""

from __future__ import annotations

import os
import signal

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH, signal.SIGCONT, signal.SIGALRM)


def serve(main_pid: int) -> None:
    """Never returns."""
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
