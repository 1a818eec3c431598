"""The container lifecycle after `create`: stop, kill, wait, remove, pause,
exec. Detached start is containers/detached.py, healthchecks
containers/health.py, exec settings containers/execsettings.py: this module
imports none of run, monitor or those, so run and its hooks may call it.
The CLI calls these; nothing prints."""

from __future__ import annotations

import os
import time

from rootless.config import Paths, ensure_dir
from rootless.containers import policy
from rootless.containers.execsettings import exec_spec, running_pid
from rootless.containers.records import ACTIVE, KILL_MARK, STOP_MARK, Record, Store, read_json, same_process
from rootless.errors import ContainerError, ContainerNotFound, ContainerRunning, UsageError


EXEC_NOT_RUNNING = 255


def exec_(paths: Paths, name: str, args: list[str], **kw) -> int:
    from rootless.runtime import exec as rexec
    store = Store(paths)
    rec = store.lookup(name)
    if not args:
        raise UsageError("exec needs a command", hint=f"rl exec {name} sh")
    try:
        pid = running_pid(store, rec)
    except ContainerError as e:
        # podman's status for exec into a container that is not running: scripts test for 255
        e.exit_code = EXEC_NOT_RUNNING
        raise
    if rec.driver == "fuse-overlayfs":  # not "executable not found" when the whole rootfs is gone
        from rootless import procfs
        why = procfs.fuse_lost(pid, str(store.container_dir(rec.id) / "merged"))
        if why:
            raise ContainerError(f"container {rec.name} has lost its root filesystem: its storage daemon {why}",
                                 hint=f"restart the container: rl restart {rec.name}")
    spec = exec_spec(store, rec, args, **kw)
    from rootless import events  # here: the commands that emit nothing never load it
    events.container(paths, rec, "exec")
    if spec.detach:  # nothing of rl's stdio may keep its caller waiting
        null = os.open(os.devnull, os.O_RDWR)
        try:
            rexec.spawn(pid, spec, stdio=(null, null, null))
        finally:
            os.close(null)
        return 0
    try:
        return rexec.run(pid, spec)
    finally:
        from rootless import events
        events.container(paths, rec, "exec_died")


# --- stop, kill, wait, rm
def _stop_signal(rec: Record) -> int:
    req = rec.request
    return policy.parse_signal(req.get("stop_signal") or (rec.image_config or {}).get("StopSignal"), 15)


def _exit_fd(pid, started) -> int | None:
    """A pidfd of process pid (started then), readable the moment it ends;
    None when it is gone or the kernel has no pidfds (the waits then sleep)."""
    if not same_process(pid, started):
        return None
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
    if not same_process(pid, started):  # gone, its pid taken, between the check and the open
        os.close(fd)
        return None
    return fd


def _sleep_on(fd: int | None, seconds: float) -> bool:
    """Sleep up to seconds; with fd (_exit_fd's), wake the moment its
    process ends: True then."""
    if fd is None:
        time.sleep(seconds)
        return False
    import select
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(max(0, int(seconds * 1000 + 0.999))))


def _wait_inactive(store: Store, rec: Record, timeout: float) -> bool:
    """Until the container is no longer active, at most timeout. Its PID 1's
    end wakes the wait at once (a pidfd); rl-monitor's exit file, which makes
    it inactive, follows within moments, and is looked for often then
    (every 2 ms, slowing to every 20 ms)."""
    deadline = time.monotonic() + timeout
    st = store.state(rec)
    fd = _exit_fd(st.get("pid"), st.get("pid_start")) if st.get("state") in ACTIVE else None
    # no pidfd: PID 1 is gone already (a SIGKILL ends it at once) and the exit
    # record is moments away, or the kernel has none: look often, then less
    interval = 0.02 if fd is not None else 0.002
    try:
        while True:
            if st.get("state") not in ACTIVE:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if _sleep_on(fd, min(interval, left)):
                os.close(fd)
                fd, interval = None, 0.002
            elif fd is None:  # back to 20 ms if the exit is slow to be recorded (a foreground run's own cleanup)
                interval = min(interval * 1.5, 0.02)
            st = store.state(rec)
    finally:
        if fd is not None:
            os.close(fd)


def _started(store: Store, rec: Record, timeout: float = 120) -> dict:
    """The state once a starting container has a PID 1 to signal (or has
    ended). A foreground `rl run` starts without the container's lock: a stop
    or `rm -f` in that window found no PID, waited out its timeouts and
    removed the container under the starting run (which then failed with an
    internal error). Bounded by the starter's life and by timeout."""
    st = store.state(rec)
    deadline = time.monotonic() + timeout
    while (st.get("state") == "starting" and not st.get("pid") and time.monotonic() < deadline
           and same_process(st.get("monitor"), st.get("monitor_start"))):
        time.sleep(0.005)
        st = store.state(rec)
    return st


def _signal(st: dict, sig: int) -> None:
    pid = st.get("pid")
    if same_process(pid, st.get("pid_start")):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop(paths: Paths, name: str, timeout: float | None = None, warn=None) -> Record:
    """warn(message) hears podman's warning when the stop signal did not end
    the container in time and SIGKILL followed."""
    store = Store(paths)
    rec = store.lookup(name, allow_damaged=True)
    with store.lock(rec):
        _stop_locked(store, rec, timeout, warn)
    _wait_released(store, rec)
    return rec


def _wait_released(store: Store, rec: Record) -> None:
    """As podman's stop returns after the container's cleanup: the monitor, past
    the exit, releases the network (published ports stop answering, helpers end)
    and then records the exit; wait for that record (or the monitor's end), at
    most FINISH_GRACE (a hang guard)."""
    deadline = time.monotonic() + FINISH_GRACE
    st = store._read_state(rec) or {}
    fd = _exit_fd(st.get("monitor"), st.get("monitor_start"))  # its end wakes the wait at once
    interval = 0.002  # the record usually follows within a few ms: look often, then less
    try:
        while time.monotonic() < deadline:
            if st.get("state") not in ACTIVE or not same_process(st.get("monitor"), st.get("monitor_start")):
                return
            if _sleep_on(fd, min(interval, deadline - time.monotonic())):
                return  # the monitor ended: whatever it had to release is released
            interval = min(interval * 1.5, 0.02)
            st = store._read_state(rec) or {}
    finally:
        if fd is not None:
            os.close(fd)


# what a monitor needs after the container's exit (rl's start-up, network
# release, the exit record): rm and start wait that long before killing it
FINISH_GRACE = 5.0


def _mark_stop(store: Store, rec: Record, kill: bool = False) -> None:
    """The monitor restarts nothing after this. A stop's mark is empty; a
    kill's says "kill" (unless a stop came first): rl's own restart policy
    ends either way, but a systemd unit's main process reports the killed
    container's status, so the unit's Restart= still acts (as with podman,
    whose conmon exits with the container's status)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        mark = ensure_dir(store.run_dir(rec.id)) / STOP_MARK
        fd = os.open(mark, flags | (os.O_EXCL if kill else os.O_TRUNC), 0o600)
        try:
            if kill:
                os.write(fd, KILL_MARK)
        finally:
            os.close(fd)
    except FileExistsError:
        pass  # already marked: a stop under way stays a stop
    except OSError:
        pass  # a full disk: the monitor's SIGKILL below still ends it


def _stop_locked(store: Store, rec: Record, timeout: float | None, warn=None) -> None:
    _mark_stop(store, rec)
    st = _started(store, rec)
    if st.get("state") not in ACTIVE:
        return
    from rootless import events
    events.container(store.paths, rec, "stop")
    if st.get("state") == "paused":  # a frozen process cannot act on its stop signal: thaw first
        try:
            _thaw(store, rec)
        except ContainerError:
            pass  # SIGKILL below still ends frozen processes
        st = store.state(rec)
    if timeout is None:
        t = rec.request.get("stop_timeout")
        timeout = float(t) if t not in (None, "") else 10.0
    if timeout > 0:
        sig = _stop_signal(rec)
        _signal(st, sig)
        if _wait_inactive(store, rec, timeout):
            return
        if warn is not None:
            warn(f"StopSignal {policy.signal_name(sig)} failed to stop container {rec.name} in {timeout:g} seconds, "
                 "resorting to SIGKILL")
    _signal(store.state(rec), policy.SIGKILL)
    if not _wait_inactive(store, rec, 10):
        _kill_monitor(store, rec)


def _kill_monitor(store: Store, rec: Record, grace: float = 0.0) -> None:
    """The last resort, and what rm does to an owner still around: the
    monitor's death takes the container, fuse daemon and slirp4netns along.
    grace: a monitor past the container's exit (releasing its network,
    recording the exit, or in a restart backoff, which the stop mark ends)
    gets that long to finish on its own first."""
    st = store._read_state(rec) or {}
    mon = st.get("monitor")
    if not same_process(mon, st.get("monitor_start")) or mon == os.getpid():
        return
    if st.get("detached"):
        deadline = time.monotonic() + grace
        while same_process(mon, st.get("monitor_start")) and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            os.kill(mon, policy.SIGKILL)
        except ProcessLookupError:
            pass
    # a foreground `rl run` is left to finish: it reports the status to its caller
    deadline = time.monotonic() + 5
    while same_process(mon, st.get("monitor_start")) and time.monotonic() < deadline:
        time.sleep(0.01)


def kill(paths: Paths, name: str, sig: str | None = None) -> Record:
    store = Store(paths)
    rec = store.lookup(name, allow_damaged=True)
    n = policy.parse_signal(sig, policy.SIGKILL)
    st = store.state(rec)
    if st.get("state") != "running":
        raise ContainerError(f"container {rec.name} is not running", hint="rl ps -a shows its state")
    # as podman: a kill is the user's decision, like a stop; no restart policy
    # (always included) starts the container again after the exit it causes
    _mark_stop(store, rec, kill=True)
    _signal(st, n)
    from rootless import events
    events.container(paths, rec, "kill")
    return rec


WAIT_CONDITIONS = {"stopped": ("exited", "stopped"), "exited": ("exited", "stopped"), "running": ("running",),
                   "created": ("created",), "paused": ("paused",), "healthy": (), "unhealthy": ()}


def wait(paths: Paths, name: str, conditions: list[str] | None = None, interval: float = 0.05) -> int:
    store = Store(paths)
    conds = conditions or ["stopped"]
    for c in conds:
        if c not in WAIT_CONDITIONS:
            raise UsageError(f"invalid --condition {c!r}", hint=", ".join(WAIT_CONDITIONS))
    try:
        rec = store.lookup(name)
    except ContainerNotFound:
        # a --rm container can be gone before `wait` starts: its exit code is kept by ID
        code = store.exit_code_of_removed(name)
        if code is not None and any(c in ("stopped", "exited") for c in conds):
            return code
        raise
    if any(c in ("healthy", "unhealthy") for c in conds):
        from rootless.containers import health
        if health.config_of(rec) is None:  # as podman's: nothing would ever turn it healthy
            raise ContainerError(f"container {rec.name} has no defined healthcheck",
                                 hint="give it one (--health-cmd, compose's healthcheck:) or wait for running")
    while True:
        st = store.state(rec)
        health = (st.get("health") or {}).get("Status")
        met = [c for c in conds if st.get("state") in WAIT_CONDITIONS[c] or health == c]
        if met:  # as podman's: the exit code for stopped/exited, -1 for any other condition
            code = st.get("exit_code") if met[0] in ("stopped", "exited") else None
            return code if code is not None else -1
        if not store.container_dir(rec.id).exists():
            code = store.exit_code_of_removed(rec.id)  # --rm: removed right after its exit
            if code is not None and any(c in ("stopped", "exited") for c in conds):
                return code
            raise ContainerError(f"container {rec.name} was removed")
        time.sleep(interval)


def remove(paths: Paths, name: str, force: bool = False, pod_infra: bool = False) -> Record:
    """pod_infra: the caller removes the pod the container is the infra of
    (rootless.pods); otherwise an infra container is refused, as podman's."""
    store = Store(paths)
    rec = store.lookup(name, allow_damaged=True)
    if rec.damaged:
        return _remove_damaged(store, rec, force)
    if rec.request.get("pod_infra") and not pod_infra:
        raise ContainerError(f"container {rec.id} is the infra container of pod {rec.request.get('pod')} and "
                             "cannot be removed without removing the pod",
                             hint=f"rl pod rm -f {(rec.request.get('pod') or '')[:12]}")
    with store.lock(rec):
        st = store.state(rec)
        if st.get("state") in ACTIVE:
            if not force:
                raise ContainerRunning(f"container {rec.name} is running",
                                       hint=f"stop it first, or: rl rm -f {rec.name}")
            _stop_locked(store, rec, 0)
        _mark_stop(store, rec)
        _kill_monitor(store, rec, grace=FINISH_GRACE)  # an exiting monitor, or one lingering in a restart backoff
        store.remove(rec)
    return rec


def _remove_damaged(store: Store, rec: Record, force: bool) -> Record:
    """A container whose config.json is missing or corrupt: its runroot
    state still names its owner (pid and start time), whose death takes PID 1,
    the fuse daemon and slirp4netns along; then every trace goes."""
    if not os.path.isdir(store.container_dir(rec.id)):  # a name pointing at nothing
        store.remove(rec)
        return rec
    with store.lock(rec):
        st = store.state(rec)
        if st.get("state") in ACTIVE:
            if not force:
                raise ContainerRunning(f"container {rec.name} is running (and damaged: {rec.damaged})",
                                       hint=f"rl rm -f {rec.name}")
            _mark_stop(store, rec)
            if st.get("state") == "paused":
                try:
                    _thaw(store, rec)
                except ContainerError:
                    pass
            _signal(st, policy.SIGKILL)
            _wait_inactive(store, rec, 10)
        _mark_stop(store, rec)
        _kill_monitor(store, rec, grace=FINISH_GRACE)
        store.remove(rec)
    return rec


def _freezer(store: Store, rec: Record):
    """The container's cgroup.freeze (cgroup v2 has one in every non-root
    cgroup: no controller to delegate), or a clear error without a cgroup."""
    from pathlib import Path
    try:
        info = read_json(store.run_dir(rec.id) / "cgroup.json")
    except (OSError, ValueError):
        info = {}
    if info.get("cgroup"):
        from rootless.cgroups import layout
        host = layout.probe()
        if host.mount:
            path = Path(host.mount) / info["cgroup"].lstrip("/")
            if (path / "cgroup.freeze").exists():
                return path
    raise ContainerError(f"cannot pause {rec.name}: it has no cgroup of its own, and pausing needs the freezer",
                         hint="enable cgroup v2 delegation (systemd user session: Delegate=yes)")


def _freeze(cg, frozen: bool) -> None:
    """Write cgroup.freeze and wait until the kernel reports the whole group so."""
    want = "frozen 1" if frozen else "frozen 0"
    try:
        (cg / "cgroup.freeze").write_text("1" if frozen else "0")
        deadline = time.monotonic() + 10
        while want not in (cg / "cgroup.events").read_text().splitlines():
            if time.monotonic() > deadline:
                raise ContainerError(f"the container's cgroup did not become {'frozen' if frozen else 'thawed'}")
            time.sleep(0.01)
    except OSError as e:
        raise ContainerError(f"cannot {'freeze' if frozen else 'thaw'} {cg}: {e.strerror}") from None


def pause(paths: Paths, name: str) -> Record:
    store = Store(paths)
    rec = store.lookup(name)
    with store.lock(rec):
        st = store.state(rec)
        if st.get("state") == "paused":
            raise ContainerError(f"container {rec.name} is already paused")
        running_pid(store, rec)
        _freeze(_freezer(store, rec), True)
        store.update_state(rec, state="paused")
    from rootless import events
    events.container(paths, rec, "pause")
    return rec


def unpause(paths: Paths, name: str) -> Record:
    store = Store(paths)
    rec = store.lookup(name)
    with store.lock(rec):
        if store.state(rec).get("state") != "paused":
            raise ContainerError(f"container {rec.name} is not paused")
        _thaw(store, rec)
    from rootless import events
    events.container(paths, rec, "unpause")
    return rec


def _thaw(store: Store, rec: Record) -> None:
    _freeze(_freezer(store, rec), False)
    store.update_state(rec, state="running")


def rename(paths: Paths, name: str, new: str) -> Record:
    store = Store(paths)
    rec = store.lookup(name)
    if new == rec.name:
        return rec  # podman: renaming to its own name does nothing
    with store.lock(rec):
        return store.rename(rec, new)


def prune(paths: Paths) -> list[str]:
    store = Store(paths)
    out = []
    for rec in store.all():
        if store.state(rec).get("state") not in ACTIVE:
            try:
                remove(paths, rec.id)
                out.append(rec.id)
            except ContainerError:
                continue
    return out


def validate(req) -> None:
    """Lifecycle flags checked before anything is pulled or recorded."""
    p = policy.parse_restart(req.restart)
    if p.name != "no" and req.rm:
        raise UsageError("the --rm option conflicts with --restart", hint="use one of them")
    if (req.log_driver or "k8s-file") not in ("k8s-file", "none", "journald"):
        raise UsageError(f"unsupported --log-driver {req.log_driver!r}", hint="k8s-file, journald or none")
    if req.log_driver == "journald":
        from rootless.containers import logs
        if not logs.journald_available():
            raise UsageError("--log-driver journald: no systemd journal here (no /run/systemd/journal/socket)",
                             hint="use the default k8s-file driver")
        if req.log_opt:
            raise UsageError("--log-opt max-size applies to the k8s-file driver",
                             hint="the journal bounds its own size (journald.conf)")
    for o in req.log_opt or []:
        k, _, v = o.partition("=")
        if k != "max-size":
            raise UsageError(f"unsupported --log-opt {o!r}", hint="max-size=10mb")
        from rootless.containers import logs  # noqa: F811 - here: most runs have no --log-opt
        try:
            logs.parse_size(v)
        except ValueError:
            raise UsageError(f"invalid --log-opt {o!r}", hint="max-size=10mb") from None
    policy.health_config(req.health_cmd, req.health_interval, req.health_retries, req.health_start_period,
                         req.health_timeout)
    policy.parse_signal(req.stop_signal)
    if req.stop_timeout not in (None, ""):
        try:
            float(req.stop_timeout)
        except ValueError:
            raise UsageError(f"invalid --stop-timeout {req.stop_timeout!r}", hint="seconds") from None
