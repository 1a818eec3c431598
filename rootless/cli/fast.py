"""The command line parsed with argparse from the command table (cli/table.py),
without importing typer: the path every ordinary `rl ...` takes.

Anything unusual returns None and typer takes over with its usual help and
messages: `--help`, a line that does not parse, an unknown command, shell
completion, no command at all. So a parse error never differs from typer's,
and what the fast path accepts is checked against typer by
tests/unit/test_command_table.py."""

from __future__ import annotations

import os

from rootless.cli import table
from rootless.cli.options import GLOBAL_FLAGS, OPTIONS


# `rl --version` / `rl -v`: podman-compose asks before every action
VERSION_FLAGS = ("--version", "-v")


class _Fallback(Exception):
    pass


def _globals(argv: list[str]) -> tuple[dict[str, str], int] | None:
    """rl's own options before the command: their values and where the command starts."""
    seen: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        flag, eq, value = argv[i].partition("=")
        if flag in VERSION_FLAGS and not eq:
            seen["version"] = "true"  # typer's is eager: the version, whatever follows
            i += 1
            continue
        if flag not in GLOBAL_FLAGS:
            return None  # --help, completion, or a typo: typer's
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        seen[GLOBAL_FLAGS[flag]] = value
        i += 1
    return seen, i


def parser(cmd: table.Command, prog: str):
    import argparse

    class P(argparse.ArgumentParser):
        def error(self, message):
            raise _Fallback(message)

        def _get_formatter(self):
            # never prints (help is typer's); a width given keeps argparse from importing shutil
            return self.formatter_class(prog=self.prog, width=80)

    p = P(prog=prog, add_help=False, allow_abbrev=False)
    for o in cmd.options:
        pos = [n for d in o.decls for n in d.split("/")[:1]]
        if o.kind == table.BOOL:
            p.add_argument(*pos, dest=o.dest, action="store_true", default=o.default)
            neg = [d.split("/")[1] for d in o.decls if "/" in d]
            if neg:
                p.add_argument(*neg, dest=o.dest, action="store_false")
        elif o.kind == table.LIST:
            p.add_argument(*pos, dest=o.dest, action="append", default=None)
        elif o.flag_value is not None:
            p.add_argument(*pos, dest=o.dest, nargs="?", const=o.flag_value, default=o.default)
        else:
            conv = {table.INT: int, table.FLOAT: float}.get(o.kind, str)
            p.add_argument(*pos, dest=o.dest, type=conv, default=o.default)
    for a in cmd.args:
        nargs = {table.ONE: None, table.OPTIONAL: "?", table.MANY: "*", table.SOME: "+",
                 table.REST: argparse.REMAINDER, table.REST1: argparse.REMAINDER}[a.nargs]
        p.add_argument(a.dest, nargs=nargs, default=[] if a.nargs == table.MANY else None)
    return p


_CONV = {table.INT: int, table.FLOAT: float}


class _Unsure(Exception):
    """A line plain() leaves to argparse."""


def plain(cmd: table.Command, words: list[str]) -> dict | None:
    """What argparse makes of an ordinary line, without importing it
    (argparse, gettext and locale, and building the parser, cost `rl ps -a`
    about an eighth of its instructions): long options (`--x`, `--x=V`,
    `--x V`), single short options (`-a`, `-t V`), positional arguments
    anywhere. A command with a REST argument (run, create, exec: NAME then
    [COMMAND [ARG...]]) as argparse's REMAINDER takes it: options until the
    positional arguments before it are given, then every word verbatim.
    Anything else (`--`, grouped or attached short options, a value that
    starts with '-', an unknown option, an option an argparse user could
    abbreviate, help): None, and parse() asks argparse.
    tests/unit/test_fast_parse.py checks that every answer is argparse's."""
    try:
        return _plain(cmd, words)
    except (_Unsure, ValueError):  # ValueError: an INT/FLOAT that does not convert (argparse's message)
        return None


def _plain(cmd: table.Command, words: list[str]) -> dict:
    by_name: dict[str, tuple] = {}
    for o in cmd.options:
        for d in o.decls:
            pos, _, neg = d.partition("/")
            by_name[pos] = (o, True)
            if neg:
                by_name[neg] = (o, False)
    given: dict[str, object] = {}
    positional: list[str] = []
    lead, rest = None, None  # with a REST argument: how many words come before it; the words it takes
    if cmd.rest:
        *before, last = cmd.args
        if last.nargs not in (table.REST, table.REST1) or not before or any(a.nargs != table.ONE for a in before):
            raise _Unsure
        if "--" in words:
            raise _Unsure
        lead = len(before)
    i = 0
    while i < len(words):
        w = words[i]
        i += 1
        if not w.startswith("-"):
            positional.append(w)
            if len(positional) == lead:
                rest = words[i:]
                break
            continue
        if w in ("--", "-", "-h", "--help"):
            raise _Unsure
        name, eq, value = w.partition("=")
        if eq and not (name.startswith("--") and value):  # -t=5, --x= : argparse's corners
            raise _Unsure
        if not name.startswith("--") and len(name) != 2:  # -aq, -t5: grouped or attached
            raise _Unsure
        hit = by_name.get(name)
        if hit is None:
            raise _Unsure
        o, positive = hit
        if o.kind == table.BOOL:
            if eq:
                raise _Unsure
            given[o.dest] = positive
            continue
        if o.flag_value is not None and not eq:  # `--sig-proxy [V]`: what follows may or may not be its value
            raise _Unsure
        if not eq:
            if i >= len(words) or words[i].startswith("-"):
                raise _Unsure
            value = words[i]
            i += 1
        if o.kind == table.LIST:
            given.setdefault(o.dest, []).append(value)
        else:
            given[o.dest] = _CONV.get(o.kind, str)(value)
    values = {}
    for o in cmd.options:
        if o.dest in given:
            values[o.dest] = given[o.dest]
        elif o.kind == table.LIST:
            values[o.dest] = list(o.default)
        elif isinstance(o.default, str) and o.kind in _CONV:  # argparse converts a string default
            values[o.dest] = _CONV[o.kind](o.default)
        else:
            values[o.dest] = o.default
    if lead is not None:
        if rest is None or (cmd.args[-1].nargs == table.REST1 and not rest):
            raise _Unsure  # a NAME or COMMAND missing: argparse's (or typer's) message
        for a, w in zip(cmd.args, positional):
            values[a.dest] = w
        values[cmd.args[-1].dest] = rest
        return values
    _place(cmd.args, positional, values)
    return values


def _place(args: list, words: list[str], values: dict) -> None:
    """Positional words onto args as argparse matches them: each takes as many
    as it may while leaving the later ones their minimum."""
    least = {table.ONE: 1, table.OPTIONAL: 0, table.MANY: 0, table.SOME: 1}
    most = {table.ONE: 1, table.OPTIONAL: 1}
    left = list(words)
    for k, a in enumerate(args):
        if a.nargs not in least:
            raise _Unsure
        later = sum(least.get(b.nargs, 0) for b in args[k + 1:])
        n = min(most.get(a.nargs, len(left)), len(left) - later)
        if n < least[a.nargs]:
            raise _Unsure  # too few: argparse's error
        taken, left = left[:n], left[n:]
        if a.nargs == table.ONE:
            values[a.dest] = taken[0]
        elif a.nargs == table.OPTIONAL:
            values[a.dest] = taken[0] if taken else None
        else:
            values[a.dest] = taken
    if left:
        raise _Unsure  # too many: argparse's error


def parse(cmd: table.Command, words: list[str], prog: str = "rl") -> dict | None:
    """The keyword arguments cmd.fn gets for words (the line after the
    command's name), or None when typer should handle it."""
    values = plain(cmd, words)
    if values is not None:
        return values
    return by_argparse(cmd, words, prog)


def by_argparse(cmd: table.Command, words: list[str], prog: str = "rl") -> dict | None:
    """parse() through argparse, for every line."""
    p = parser(cmd, prog)
    try:
        ns = p.parse_args(words) if cmd.rest else p.parse_intermixed_args(words)
    except _Fallback:
        return None
    values = vars(ns)
    own = words
    for a in cmd.args:
        if a.nargs in (table.REST, table.REST1):
            rest = values[a.dest] or []
            if a.nargs == table.REST1 and rest in ([], ["--"]):
                return None  # typer says what is missing
            own = words[:len(words) - len(rest)]
            values[a.dest] = rest[1:] if rest[:1] == ["--"] else rest
    if any(w in ("-h", "--help") for w in own):
        return None
    for o in cmd.options:
        if o.kind == table.LIST:
            values[o.dest] = list(values[o.dest] or o.default)
    return values


def execute(argv: list[str]) -> int | None:
    """Run argv's command from the table; None: typer's to handle."""
    if any(k.startswith("_RL_COMPLETE") for k in os.environ) or os.environ.get("_TYPER_COMPLETE_ARGS"):
        return None
    found = _globals(argv)
    if found is None:
        return None
    seen, i = found
    if seen.pop("version", None):
        from rootless import system
        print(system.version_line())  # `rl version X.Y.Z (podman 4.6.0)`: system.PODMAN_API_VERSION
        return 0
    tbl = table.load_for(argv[i:])  # the one command module it needs
    hit = tbl.find(argv[i:])
    if hit is None:
        return None
    cmd, n = hit
    kwargs = parse(cmd, argv[i + n:], "rl " + " ".join(argv[i:i + n]))
    if kwargs is None:
        return None
    for k, v in seen.items():
        setattr(OPTIONS, k, v)
    rv = cmd.fn(**kwargs)
    return rv if isinstance(rv, int) else 0
