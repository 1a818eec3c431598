"""`rl update` (a running container's limits) and `rl stats` (its usage),
both read from and written to its cgroup. Parsing and rendering only: the
engine is rootless.containers.limits."""

from __future__ import annotations

import json
import sys
import time

from rootless.cli.options import OPTIONS
from rootless.cli.table import FLOAT, LIST, MANY, STR, Arg, Opt, command
from rootless.containers import runflags


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


_KINDS = {runflags.STR: STR, runflags.LIST: LIST}


@command("update", Arg("container", metavar="CONTAINER"),
         *(Opt(f.dest, *f.decls, kind=_KINDS[f.kind], help=f.help) for f in runflags.RESOURCE_FLAGS))
def update(container, **limits) -> None:
    """Change the resource limits of a running container."""
    from rootless.containers import limits as engine
    print(engine.update(_paths(), container, limits))


@command("stats",
         Arg("containers", MANY, metavar="[CONTAINER...]"),
         Opt("no_stream", "--no-stream", help="one sample, then exit"),
         Opt("fmt", "--format", kind=STR, help="json, or a table (default)"),
         Opt("interval", "--interval", "-i", kind=FLOAT, default=1.0, help="seconds between samples when streaming"))
def stats_cmd(containers, no_stream, fmt, interval) -> None:
    """Live resource usage of running containers (from their cgroups)."""
    from rootless.containers import limits
    targets = limits.stats_targets(_paths(), containers)
    while True:
        _render(limits.stats_sample(targets, interval=0.25 if no_stream else min(interval, 1.0)), fmt)
        if no_stream:
            return
        time.sleep(max(0.0, interval - 1.0))


def _render(rows: list[dict], fmt) -> None:
    from rootless.cgroups import stats
    if fmt == "json":
        print(json.dumps(rows, indent=2))
        return
    if fmt:
        from rootless.errors import UsageError
        raise UsageError(f"unsupported --format {fmt!r}", hint="json, or leave it out for a table")
    table = [stats.HEADER] + [stats.table_row(r["id"], r["name"], r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(stats.HEADER))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    sys.stdout.flush()
