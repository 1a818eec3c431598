"""The confirmation every prune asks, as podman asks it: the warning on
stdout, the answer read from stdin whether or not it is a terminal (a script
piping `echo n`, or running with </dev/null, must never lose data). Only an
answer starting with y goes on; end of input is an error and removes nothing."""

from __future__ import annotations

import sys

from rootless.errors import RlError

QUESTION = "Are you sure you want to continue? [y/N] "


def confirm(warning: str) -> bool:
    """Print warning + the question; True only for an answer starting with y."""
    sys.stdout.write(warning + QUESTION)
    sys.stdout.flush()
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        sys.stdout.write("\n")
        raise RlError("no answer on standard input (end of input): nothing was removed",
                      hint="answer y to go on, or pass -f/--force to prune without asking")
    return line.strip().lower().startswith("y")
