"""The confirmation every prune asks, as podman asks it: the warning on
stdout, the answer read from stdin whether or not it is a terminal (a script
piping `echo n`, or running with </dev/null, must never lose data). Only an
answer starting with y goes on; end of input is an error and removes nothing."""

from __future__ import annotations

import sys

from rootless.errors import ImageError, RlError

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


def image_choice():
    """The short-name prompt rl installs for the engine (rootless.images.short_name_prompt):
    a numbered menu on the terminal, or None without one (podman prompts
    only when stdin and stdout are both terminals)."""
    try:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return None
    except (AttributeError, ValueError):
        return None

    def choose(cands: list) -> int:
        sys.stdout.write("? Please select an image:\n")
        for i, c in enumerate(cands, 1):
            sys.stdout.write(f"  {i}) {c}\n")
        while True:
            sys.stdout.write(f"Enter a number [1-{len(cands)}]: ")
            sys.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                raise ImageError("short-name resolution: no image selected (end of input)",
                                 hint="use a fully qualified name")
            line = line.strip()
            if line.isdigit() and 1 <= int(line) <= len(cands):
                return int(line) - 1
            sys.stdout.write(f"{line!r} is not one of the numbers above\n")
    return choose
