"""rl's logging channel: library modules log through `logging.getLogger(__name__)`
and never print; the entry points (the CLI, the monitor's main, rl-generator)
call configure() once with podman's `--log-level` (error, warn, info, debug;
default warn). Messages reach stderr in rl's words: "WARN: ...",
"Error: ...", and `level=debug msg="..."` as podman's debug lines."""

from __future__ import annotations

import logging
import sys

LEVELS = {"error": logging.ERROR, "warn": logging.WARNING, "warning": logging.WARNING, "info": logging.INFO,
          "debug": logging.DEBUG, "trace": logging.DEBUG, "fatal": logging.CRITICAL, "panic": logging.CRITICAL}
DEFAULT = "warn"


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info:
            msg = f"{msg}\n{self.formatException(record.exc_info)}"
        if record.levelno >= logging.ERROR:
            return f"Error: {msg}"
        if record.levelno >= logging.WARNING:
            return f"WARN: {msg}"
        return f'level={logging.getLevelName(record.levelno).lower()} msg="{msg}"'


class _Stderr(logging.StreamHandler):
    """Whatever sys.stderr is when a record is emitted (a forked child's, a test's)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def level_of(name: str | None) -> int:
    return LEVELS.get((name or DEFAULT).lower(), logging.WARNING)


def configure(level: str | None = None) -> None:
    """The root logger at `level` (podman's names), one stderr handler in rl's words."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _Stderr):
            root.removeHandler(h)
    handler = _Stderr()
    handler.setFormatter(_Format())
    root.addHandler(handler)
    root.setLevel(level_of(level))


def level_from_argv(argv: list[str]) -> str | None:
    """The value of rl's global --log-level among the global flags before the
    command (a container's own arguments are never read)."""
    valued = ("--log-level", "--root", "--runroot", "--storage-driver")
    i = 0
    found = None
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in valued:
            if not eq:
                i += 1
                value = argv[i] if i < len(argv) else None
            if name == "--log-level":
                found = value
        i += 1
    return found
