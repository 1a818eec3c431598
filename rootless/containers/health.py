"""Healthchecks: `rl healthcheck run` and the monitor's timer run one check
in the container and record the resulting health."""

from __future__ import annotations

import os
import signal
import time

from rootless.config import Paths
from rootless.containers import policy
from rootless.containers.execsettings import exec_spec, running_pid
from rootless.containers.records import Record, Store
from rootless.errors import ContainerError


def record_health(store: Store, rec: Record, code: int, output: str, cfg, in_start_period: bool) -> dict:
    now = time.time()
    entry = {"Start": now, "End": now, "ExitCode": code, "Output": output[-4096:]}
    st = store.state(rec)
    h = policy.health_after(st.get("health"), code, cfg, in_start_period, entry)
    store.update_state(rec, health=h)
    return h


def config_of(rec: Record):
    """The container's healthcheck (its flags, else its image's); None: it has none."""
    # the record's request fields as saved (None when unset), not a RunRequest:
    # run imports lifecycle, which asks this module, so importing run here is a cycle
    r = rec.request or {}
    return policy.health_config(r.get("health_cmd"), r.get("health_interval"), r.get("health_retries"),
                                r.get("health_start_period"), r.get("health_timeout"),
                                (rec.image_config or {}).get("Healthcheck"))


def healthcheck_run(paths: Paths, name: str) -> str:
    """`rl healthcheck run`: one check now; the resulting status."""
    from rootless.runtime import exec as rexec
    store = Store(paths)
    rec = store.lookup(name)
    cfg = config_of(rec)
    if cfg is None:
        raise ContainerError(f"container {rec.name} has no defined healthcheck")
    pid = running_pid(store, rec)
    spec = exec_spec(store, rec, cfg.cmd, die_with_parent=True)
    code, output = _run_check(rexec, pid, spec, cfg.timeout)
    st = store.state(rec)
    started = st.get("started") or 0
    h = record_health(store, rec, code, output, cfg, time.time() - started < cfg.start_period)
    from rootless import events
    events.container(paths, rec, "health_status", health=h["Status"])
    return h["Status"]


def _run_check(rexec, pid: int, spec, timeout: float) -> tuple[int, str]:
    """The check's status and its output (the last 4 kB), killed after timeout."""
    import select
    from rootless.runtime import userns
    null = os.open(os.devnull, os.O_RDWR)
    r, w = os.pipe()
    try:
        a, _ = rexec.spawn(pid, spec, stdio=(null, w, w))
    finally:
        os.close(w)
        os.close(null)
    out = b""
    pidfd = os.pidfd_open(a)
    watch = [r, pidfd]
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            ready = select.select(watch, [], [], left)[0] if left > 0 else []
            if not ready:
                os.kill(a, signal.SIGKILL)
                userns.wait_status(a)
                return 1, "healthcheck timed out"
            if r in ready:
                chunk = os.read(r, 65536)
                out = (out + chunk)[-4096:]
                if not chunk:
                    watch.remove(r)
            if pidfd in ready:
                code = userns.wait_status(a)
                if r in watch:
                    os.set_blocking(r, False)
                    try:
                        out = (out + os.read(r, 65536))[-4096:]
                    except BlockingIOError:
                        pass
                return code, out.decode(errors="replace")
    finally:
        os.close(pidfd)
        os.close(r)
