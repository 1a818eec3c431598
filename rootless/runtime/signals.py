"""The signals rl forwards to a container, once: as podman's conmon, the
catchable ones a user sends to stop, reload or poke a process. SIGWINCH only
where the window size travels as a signal; elsewhere a pty's size is set by
rl itself (tty.pump). Forked helpers reset the same set to the default action."""

import signal

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGCONT, signal.SIGALRM)
FORWARDED_WINCH = FORWARDED + (signal.SIGWINCH,)
