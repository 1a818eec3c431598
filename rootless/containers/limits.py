"""A running container's cgroup, for any face: its limits changed
(`rl update`, kept in its record for the next start) and its usage read
(`rl stats`). Engine API, plain data, no printing:

    update(paths, container, limits) -> the container's ID
    stats_targets(paths, containers) -> [StatsTarget]   (all running ones when none is named)
    stats_sample(targets, interval) -> [dict]           podman's `stats --format json` fields, with id and name

limits: podman's resource flags by their runflags.RESOURCE_FLAGS dest
({"memory": "256m", "device_read_bps": ["/dev/sda:1mb"], ...}); absent or
None: unchanged."""

from __future__ import annotations

from rootless.config import Paths
from rootless.plain import record


@record
class StatsTarget:
    id: str
    name: str
    cgroup: str          # the container's cgroup path (v2, relative to the mount)
    pid: int | None      # its PID 1 on the host


def running_cgroup(store, rec) -> tuple[str, int | None]:
    """(the container's cgroup path, PID 1), or a ContainerError (not
    running) / CgroupError (no cgroup of its own, with the host's fix)."""
    from rootless.cgroups import stats
    from rootless.errors import ContainerError
    st = store.state(rec)
    if st.get("state") not in ("running", "starting"):
        raise ContainerError(f"container {rec.name} is not running", hint=f"rl start {rec.name}")
    pid = st.get("pid") if isinstance(st.get("pid"), int) else None
    cg = stats.locate(store.run_dir(rec.id), pid)
    if not cg or cg == "/" or "/rl-" not in cg:
        from rootless.cgroups import CgroupError, layout
        # the host's own diagnosis (as `rl system check` gives it): lingering does not help on cgroup v1
        fix = layout.delegation()[2]
        raise CgroupError(f"container {rec.name} has no cgroup of its own (it was started without a cgroup "
                          "manager: nothing is delegated to this user)",
                          hint=f"{fix}, then start the container again" if fix else
                          "it started before cgroups were delegated: start it again")
    return cg, pid


def update(paths: Paths, container: str, limits: dict) -> str:
    """Change a running container's limits in its cgroup, and in its record
    so that a restart keeps them (podman); its ID."""
    from rootless import cgroups
    from rootless.cgroups import stats
    from rootless.containers import runflags
    from rootless.containers.records import Store
    res = cgroups.parse({f.dest: limits.get(f.dest) for f in runflags.RESOURCE_FLAGS})
    store = Store(paths)
    rec = store.lookup(container)
    cg, _ = running_cgroup(store, rec)
    stats.update(cg, res)
    _remember(store, rec, res.to_dict())
    return rec.id


def _remember(store, rec, new: dict) -> None:
    from rootless.containers.records import write_json
    with store.lock(rec):
        rec = store.load(rec.id)
        merged = {**(rec.request.get("resources") or {}), **new}
        if "memory" in new and "memory_swap" not in new:
            merged.pop("memory_swap", None)  # swap follows the new memory limit again
        rec.request["resources"] = merged
        write_json(store.container_dir(rec.id) / "config.json", rec.to_dict())


def stats_targets(paths: Paths, containers: list[str] = ()) -> list[StatsTarget]:
    """The named containers (each must be running, with a cgroup of its
    own), or every running one."""
    from rootless.containers.records import Store
    store = Store(paths)
    recs = [store.lookup(c) for c in containers] if containers else [
        r for r in store.all() if store.state(r).get("state") in ("running", "starting")]
    return [StatsTarget(rec.id, rec.name, *running_cgroup(store, rec)) for rec in recs]


def stats_sample(targets: list[StatsTarget], interval: float = 0.5) -> list[dict]:
    """One usage sample per target, each over interval seconds."""
    from rootless.cgroups import stats
    return [{"id": t.id, "name": t.name, **stats.report(t.cgroup, t.pid, interval=interval)} for t in targets]
