"""`rl ps` and `rl exec` without typer, as cli/fastrun.py does for run and
create: importing typer costs more than either command's own work (ps of 50
containers reads 100 small files). Anything unusual (--help, a parse error)
returns None and typer takes over with its usual messages."""

from __future__ import annotations

from rootless.cli.options import GLOBAL_FLAGS, OPTIONS
from rootless.errors import ContainerExit


class _Fallback(Exception):
    pass


def _parser(verb: str):
    import argparse

    class P(argparse.ArgumentParser):
        def error(self, message):
            raise _Fallback(message)

    p = P(prog=f"rl {verb}", add_help=False, allow_abbrev=False)
    if verb == "ps":
        p.add_argument("-a", "--all", dest="all_", action="store_true")
        p.add_argument("-q", "--quiet", action="store_true")
        p.add_argument("-s", "--size", action="store_true")
        p.add_argument("-f", "--filter", dest="filters", action="append", default=[])
        p.add_argument("--format", dest="fmt", default=None)
        p.add_argument("-n", "--last", type=int, default=-1)
        p.add_argument("-l", "--latest", action="store_true")
        p.add_argument("--no-trunc", action="store_true")
        p.add_argument("-p", "--pod", action="store_true")
    else:
        for short, long in (("-i", "--interactive"), ("-t", "--tty"), ("-d", "--detach")):
            p.add_argument(short, long, action="store_true")
        p.add_argument("--privileged", action="store_true")
        p.add_argument("-u", "--user", default=None)
        p.add_argument("-w", "--workdir", default=None)
        p.add_argument("-e", "--env", action="append", default=[])
        p.add_argument("container")
        p.add_argument("command", nargs="...")
    return p


def fast_ctr(argv: list[str]) -> int | None:
    i = 0
    while i + 1 < len(argv) and argv[i] in GLOBAL_FLAGS:
        i += 2
    if i >= len(argv) or argv[i] not in ("ps", "exec"):
        return None
    verb, rest = argv[i], argv[i + 1:]
    try:
        ns = _parser(verb).parse_args(rest)
    except _Fallback:
        return None
    own = rest if verb == "ps" else rest[:len(rest) - len(ns.command) - 1]
    if any(a in ("-h", "--help") for a in own) or (verb == "exec" and not ns.command):
        return None
    for j in range(0, i, 2):
        setattr(OPTIONS, GLOBAL_FLAGS[argv[j]], argv[j + 1])
    from rootless.config import default_paths
    paths = default_paths(OPTIONS.root, OPTIONS.runroot)
    if verb == "ps":
        from rootless.cli import ctrview
        ctrview.ps(paths, all_=ns.all_, quiet=ns.quiet, size=ns.size, filters=ns.filters, fmt=ns.fmt,
                   last=1 if ns.latest else ns.last, trunc=not ns.no_trunc, pod=ns.pod)
        return 0
    from rootless.containers import lifecycle
    command = ns.command[1:] if ns.command[:1] == ["--"] else ns.command
    try:
        return lifecycle.exec_(paths, ns.container, command, env=ns.env, user=ns.user, workdir=ns.workdir,
                               tty=ns.tty, interactive=ns.interactive, detach=ns.detach, privileged=ns.privileged)
    except ContainerExit as e:
        return e.status
