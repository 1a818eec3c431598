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
        hold = _rootless_netns(paths, rec.request or {})
        try:
            monitor.spawn(paths, rec, **spawn_kw)
        finally:
            if hold is not None:
                import os
                os.close(hold)  # the monitor holds its own by now, or failed
    return True


def _rootless_netns(paths: Paths, request: dict) -> int | None:
    """A container on user networks: the rootless netns running (its keeper
    started) and held before the monitor is forked, so that the keeper's
    start (its import of pyroute2) overlaps the monitor's own imports and
    set-up instead of following them. The hold, or None."""
    if not request.get("networks"):
        from rootless import network
        try:
            if network.parse(request.get("network")).mode != "bridge":
                return None
        except Exception:  # noqa: BLE001 - the start itself reports a bad --network
            return None
    from rootless.network import usernet
    try:
        return usernet.acquire(paths)[1]
    except Exception:  # noqa: BLE001 - only a head start: the monitor's own acquire reports what is wrong
        return None


def run_detached(paths: Paths, req) -> Record:
    from rootless.containers import run as engine
    validate(req)
    rec = engine.create(paths, req)
    start_detached(paths, rec)
    return rec


def run_foreground(paths: Paths, req, preserve_fds: int = 0) -> int:
    """`rl run` without -d: the containers it --requires are started
    (detached) first, then it runs in the foreground; its exit status."""
    from rootless.containers import run as engine
    rec = engine.create(paths, req)
    if req.requires:
        start_requirements(paths, rec)
    return engine.start(paths, rec, preserve_fds=preserve_fds)


def restart(paths: Paths, name: str, timeout: float | None = None) -> Record:
    rec = stop(paths, name, timeout)
    start_detached(paths, rec)
    return rec
