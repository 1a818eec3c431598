"""Detached start: `rl run -d`, `rl start`, `rl restart` hand the container
to its monitor (containers/monitor.py)."""

from __future__ import annotations

from rootless.config import Paths
from rootless.containers.lifecycle import FINISH_GRACE, _kill_monitor, _mark_stop, stop, validate
from rootless.containers.records import ACTIVE, Record, Store


def start_detached(paths: Paths, rec: Record) -> None:
    from rootless.containers import monitor
    store = Store(paths)
    with store.lock(rec):
        st = store.state(rec)
        if st.get("state") in ACTIVE:
            return  # podman: starting a running container is not an error
        # one owner at a time: the last run's monitor (finishing up, or in a
        # restart backoff, which the mark ends) is gone before a new one starts
        _mark_stop(store, rec)
        _kill_monitor(store, rec, grace=FINISH_GRACE)
        monitor.spawn(paths, rec)


def run_detached(paths: Paths, req) -> Record:
    from rootless.containers import run as engine
    validate(req)
    rec = engine.create(paths, req)
    start_detached(paths, rec)
    return rec


def restart(paths: Paths, name: str, timeout: float | None = None) -> Record:
    rec = stop(paths, name, timeout)
    start_detached(paths, rec)
    return rec
