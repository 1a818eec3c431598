"""Detached start: `rl run -d`, `rl start`, `rl restart` hand the container
to its monitor (containers/monitor.py)."""

from __future__ import annotations

from rootless.config import Paths
from rootless.containers.lifecycle import FINISH_GRACE, _kill_monitor, _mark_stop, stop, validate
from rootless.containers.records import ACTIVE, Record, Store


def start_requirements(paths: Paths, rec: Record, seen: set | None = None) -> None:
    """--requires: the containers rec depends on, started first (theirs before them), as podman."""
    seen = set() if seen is None else seen
    seen.add(rec.id)
    store = Store(paths)
    for cid in (rec.request or {}).get("requires") or ():
        if cid in seen:
            continue
        dep = store.lookup(cid)
        start_requirements(paths, dep, seen)
        if store.state(dep).get("state") not in ACTIVE:
            start_detached(paths, dep)


def start_detached(paths: Paths, rec: Record, **spawn_kw) -> bool:
    """Start rec under a new monitor (spawn_kw: monitor.spawn's hold, winsize);
    False when it was running already (podman's `start` then prints nothing for it)."""
    from rootless.containers import monitor
    start_requirements(paths, rec)
    store = Store(paths)
    with store.lock(rec):
        st = store.state(rec)
        if st.get("state") in ACTIVE:
            return False  # podman: starting a running container is not an error
        # one owner at a time: the last run's monitor (finishing up, or in a
        # restart backoff, which the mark ends) is gone before a new one starts
        _mark_stop(store, rec)
        _kill_monitor(store, rec, grace=FINISH_GRACE)
        monitor.spawn(paths, rec, **spawn_kw)
    return True


def run_detached(paths: Paths, req) -> Record:
    from rootless.containers import run as engine
    validate(req)
    rec = engine.create(paths, req)
    start_detached(paths, rec)
    return rec


def run_foreground(paths: Paths, req) -> int:
    """`rl run` without -d: the containers it --requires are started
    (detached) first, then it runs in the foreground; its exit status."""
    from rootless.containers import run as engine
    rec = engine.create(paths, req)
    if req.requires:
        start_requirements(paths, rec)
    return engine.start(paths, rec)


def restart(paths: Paths, name: str, timeout: float | None = None) -> Record:
    rec = stop(paths, name, timeout)
    start_detached(paths, rec)
    return rec
