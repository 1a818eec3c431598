"""`rl update` (a running container's limits) and `rl stats` (its usage),
both read from and written to its cgroup. Parsing and rendering only."""

from __future__ import annotations

import inspect
import json
import sys
import time
from typing import List, Optional

import typer

from rootless.cli.options import OPTIONS
from rootless.cli.typerapp import app
from rootless.containers import runflags


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


def _running(store, rec) -> tuple[str, int | None]:
    """(the container's cgroup path, PID 1) or a clear error."""
    from rootless.cgroups import stats
    from rootless.errors import ContainerError
    st = store.state(rec)
    if st.get("state") not in ("running", "starting"):
        raise ContainerError(f"container {rec.name} is not running", hint=f"rl start {rec.name}")
    pid = st.get("pid") if isinstance(st.get("pid"), int) else None
    cg = stats.locate(store.run_dir(rec.id), pid)
    if not cg or cg == "/" or "/rl-" not in cg:
        from rootless import hostcheck
        from rootless.cgroups import CgroupError
        # the host's own diagnosis (as `rl system check` gives it): lingering does not help on cgroup v1
        fix = next((f.fix for f in hostcheck.check_cgroups() if f.status != "ok" and f.fix), None)
        raise CgroupError(f"container {rec.name} has no cgroup of its own (it was started without a cgroup "
                          "manager: nothing is delegated to this user)",
                          hint=f"{fix}, then start the container again" if fix else
                          "it started before cgroups were delegated: start it again")
    return cg, pid


def _update_signature() -> inspect.Signature:
    P = inspect.Parameter
    params = [P("container", P.KEYWORD_ONLY, annotation=str,
                default=typer.Argument(..., metavar="CONTAINER"))]
    kinds = {runflags.STR: (Optional[str], None), runflags.LIST: (List[str], [])}
    for f in runflags.RESOURCE_FLAGS:
        ann, default = kinds[f.kind]
        params.append(P(f.dest, P.KEYWORD_ONLY, annotation=ann, default=typer.Option(default, *f.decls, help=f.help)))
    return inspect.Signature(params, return_annotation=None)


def update(**flags) -> None:
    """Change the resource limits of a running container."""
    from rootless import cgroups
    from rootless.cgroups import stats
    from rootless.containers.records import Store
    res = cgroups.parse({f.dest: flags.get(f.dest) for f in runflags.RESOURCE_FLAGS})
    store = Store(_paths())
    rec = store.lookup(flags["container"])
    cg, _ = _running(store, rec)
    stats.update(cg, res)
    _remember(store, rec, res.to_dict())
    print(rec.id)


def _remember(store, rec, new: dict) -> None:
    """The new limits go into the record too, so a restart keeps them (podman)."""
    from dataclasses import asdict

    from rootless.containers.records import write_json
    with store.lock(rec):
        rec = store.load(rec.id)
        merged = {**(rec.request.get("resources") or {}), **new}
        if "memory" in new and "memory_swap" not in new:
            merged.pop("memory_swap", None)  # swap follows the new memory limit again
        rec.request["resources"] = merged
        write_json(store.container_dir(rec.id) / "config.json", asdict(rec))


update.__signature__ = _update_signature()
update.__annotations__ = {p.name: p.annotation for p in update.__signature__.parameters.values()}
app.command("update")(update)


@app.command("stats")
def stats_cmd(
    containers: Optional[List[str]] = typer.Argument(None, metavar="[CONTAINER...]"),
    no_stream: bool = typer.Option(False, "--no-stream", help="one sample, then exit"),
    fmt: Optional[str] = typer.Option(None, "--format", help="json, or a table (default)"),
    interval: float = typer.Option(1.0, "--interval", "-i", help="seconds between samples when streaming"),
) -> None:
    """Live resource usage of running containers (from their cgroups)."""
    from rootless.cgroups import stats
    from rootless.containers.records import Store
    store = Store(_paths())
    recs = [store.lookup(c) for c in containers] if containers else [
        r for r in store.all() if store.state(r).get("state") in ("running", "starting")]
    targets = [(rec, *_running(store, rec)) for rec in recs]
    while True:
        rows = []
        for rec, cg, pid in targets:
            s = stats.report(cg, pid, interval=0.25 if no_stream else min(interval, 1.0))
            rows.append((rec, s))
        _render(rows, fmt)
        if no_stream:
            return
        time.sleep(max(0.0, interval - 1.0))


def _render(rows, fmt) -> None:
    from rootless.cgroups import stats
    if fmt == "json":
        out = [{"id": rec.id, "name": rec.name, **s} for rec, s in rows]
        print(json.dumps(out, indent=2))
        return
    if fmt:
        from rootless.errors import UsageError
        raise UsageError(f"unsupported --format {fmt!r}", hint="json, or leave it out for a table")
    table = [stats.HEADER] + [stats.table_row(rec.id, rec.name, s) for rec, s in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(stats.HEADER))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    sys.stdout.flush()
