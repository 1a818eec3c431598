"""The container lifecycle after `create`: detached start, stop, kill, wait,
remove, exec settings, healthchecks. The CLI calls these; nothing prints."""

from __future__ import annotations

import os
import signal
import time

from rootless.config import Paths, ensure_dir
from rootless.containers import policy
from rootless.containers.records import (ACTIVE, KILL_MARK, STOP_MARK, Record, Store, read_json, same_process,
                                         write_json)
from rootless.errors import ContainerError, ContainerNotFound, ContainerRunning, UsageError



# --- exec settings: what `rl exec` and healthchecks reuse of the container's spec
def save_exec_settings(store: Store, rec: Record, spec) -> None:
    write_json(store.run_dir(rec.id) / "exec.json", {
        "env": spec.env, "user": spec.user, "cwd": spec.cwd, "hostname": spec.hostname,
        "group_add": list(spec.group_add), "caps": sorted(spec.caps), "added_caps": sorted(spec.added_caps),
        "no_new_privs": spec.no_new_privs,
        "seccomp": spec.seccomp_bpf.hex() if spec.seccomp_bpf else None, "umask": spec.umask})


def exec_spec(store: Store, rec: Record, args: list[str], *, env: list[str] = (), user: str | None = None,
              workdir: str | None = None, tty: bool = False, interactive: bool = False, detach: bool = False,
              privileged: bool = False, die_with_parent: bool = False):
    from rootless.containers import options
    from rootless.runtime import security
    from rootless.runtime.exec import ExecSpec
    try:
        s = read_json(store.run_dir(rec.id) / "exec.json")  # its seccomp filter: never a planted one
    except (OSError, ValueError):
        raise ContainerError(f"container {rec.name} is not running", hint=f"rl start {rec.name}") from None
    e = dict(s["env"])
    e.setdefault("container", "rl")  # what run gives PID 1 (runtime/child.py), as podman's exec
    e.setdefault("TERM", "xterm")
    e.update(options.parse_env(list(env)))
    caps = frozenset(s["caps"])
    seccomp = bytes.fromhex(s["seccomp"]) if s["seccomp"] else None
    if privileged:
        caps, seccomp = security.all_caps(), None
    # exec and healthchecks run with umask 0022 (ExecSpec's default) whatever the
    # container's --umask: podman 4.3's exec does the same
    return ExecSpec(list(args), env=e, cwd=workdir or s["cwd"], user=s["user"] if user is None else user,
                    hostname=s["hostname"], terminal=tty, stdin=interactive, detach=detach, caps=caps,
                    added_caps=frozenset(s["added_caps"]), seccomp_bpf=seccomp, no_new_privs=s["no_new_privs"],
                    die_with_parent=die_with_parent, group_add=list(s.get("group_add") or []))


def running_pid(store: Store, rec: Record) -> int:
    """The host pid of the container's PID 1; an error unless it runs."""
    st = store.state(rec)
    if st.get("state") != "running" or not same_process(st.get("pid"), st.get("pid_start")):
        raise ContainerError(f"container {rec.name} is not running", hint=f"rl start {rec.name}")
    return st["pid"]


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
        from rootless.storage import fuse_overlayfs
        why = fuse_overlayfs.lost(pid, str(store.container_dir(rec.id) / "merged"))
        if why:
            raise ContainerError(f"container {rec.name} has lost its root filesystem: its storage daemon {why}",
                                 hint=f"restart the container: rl restart {rec.name}")
    spec = exec_spec(store, rec, args, **kw)
    if spec.detach:  # nothing of rl's stdio may keep its caller waiting
        null = os.open(os.devnull, os.O_RDWR)
        try:
            rexec.spawn(pid, spec, stdio=(null, null, null))
        finally:
            os.close(null)
        return 0
    return rexec.run(pid, spec)


# --- healthchecks
def record_health(store: Store, rec: Record, code: int, output: str, cfg, in_start_period: bool) -> dict:
    now = time.time()
    entry = {"Start": now, "End": now, "ExitCode": code, "Output": output[-4096:]}
    st = store.state(rec)
    h = policy.health_after(st.get("health"), code, cfg, in_start_period, entry)
    store.update_state(rec, health=h)
    return h


def healthcheck_run(paths: Paths, name: str) -> str:
    """`rl healthcheck run`: one check now; the resulting status."""
    from rootless.runtime import exec as rexec
    store = Store(paths)
    rec = store.lookup(name)
    from rootless.containers.run import RunRequest
    req = RunRequest(**rec.request)
    cfg = policy.health_config(req.health_cmd, req.health_interval, req.health_retries, req.health_start_period,
                               req.health_timeout, (rec.image_config or {}).get("Healthcheck"))
    if cfg is None:
        raise ContainerError(f"container {rec.name} has no defined healthcheck")
    pid = running_pid(store, rec)
    spec = exec_spec(store, rec, cfg.cmd, die_with_parent=True)
    code, output = _run_check(rexec, pid, spec, cfg.timeout)
    st = store.state(rec)
    started = st.get("started") or 0
    h = record_health(store, rec, code, output, cfg, time.time() - started < cfg.start_period)
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


# --- start, stop, kill, wait, rm
def start_detached(paths: Paths, rec: Record, **spawn_kw) -> None:
    """Start rec under a new monitor (spawn_kw: monitor.spawn's hold, winsize)."""
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
        monitor.spawn(paths, rec, **spawn_kw)


def run_detached(paths: Paths, req) -> Record:
    from rootless.containers import run as engine
    validate(req)
    rec = engine.create(paths, req)
    start_detached(paths, rec)
    return rec


def _stop_signal(rec: Record) -> int:
    req = rec.request
    return policy.parse_signal(req.get("stop_signal") or (rec.image_config or {}).get("StopSignal"), 15)


def _wait_inactive(store: Store, rec: Record, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if store.state(rec).get("state") not in ACTIVE:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


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
    return rec


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
    st = store.state(rec)
    if st.get("state") not in ACTIVE:
        return
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
            try:
                signame = signal.Signals(sig).name
            except ValueError:
                signame = str(sig)
            warn(f"StopSignal {signame} failed to stop container {rec.name} in {timeout:g} seconds, "
                 "resorting to SIGKILL")
    _signal(store.state(rec), signal.SIGKILL)
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
            os.kill(mon, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # a foreground `rl run` is left to finish: it reports the status to its caller
    deadline = time.monotonic() + 5
    while same_process(mon, st.get("monitor_start")) and time.monotonic() < deadline:
        time.sleep(0.01)


def kill(paths: Paths, name: str, sig: str | None = None) -> Record:
    store = Store(paths)
    rec = store.lookup(name, allow_damaged=True)
    n = policy.parse_signal(sig, signal.SIGKILL)
    st = store.state(rec)
    if st.get("state") != "running":
        raise ContainerError(f"container {rec.name} is not running", hint="rl ps -a shows its state")
    # as podman: a kill is the user's decision, like a stop; no restart policy
    # (always included) starts the container again after the exit it causes
    _mark_stop(store, rec, kill=True)
    _signal(st, n)
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
    while True:
        st = store.state(rec)
        health = (st.get("health") or {}).get("Status")
        if any(st.get("state") in WAIT_CONDITIONS[c] or health == c for c in conds):
            return st.get("exit_code") if st.get("exit_code") is not None else -1
        if not store.container_dir(rec.id).exists():
            code = store.exit_code_of_removed(rec.id)  # --rm: removed right after its exit
            if code is not None and any(c in ("stopped", "exited") for c in conds):
                return code
            raise ContainerError(f"container {rec.name} was removed")
        time.sleep(interval)


def remove(paths: Paths, name: str, force: bool = False) -> Record:
    store = Store(paths)
    rec = store.lookup(name, allow_damaged=True)
    if rec.damaged:
        return _remove_damaged(store, rec, force)
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
            _signal(st, signal.SIGKILL)
            _wait_inactive(store, rec, 10)
        _mark_stop(store, rec)
        _kill_monitor(store, rec, grace=FINISH_GRACE)
        store.remove(rec)
    return rec


def restart(paths: Paths, name: str, timeout: float | None = None) -> Record:
    rec = stop(paths, name, timeout)
    start_detached(paths, rec)
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
    return rec


def unpause(paths: Paths, name: str) -> Record:
    store = Store(paths)
    rec = store.lookup(name)
    with store.lock(rec):
        if store.state(rec).get("state") != "paused":
            raise ContainerError(f"container {rec.name} is not paused")
        _thaw(store, rec)
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
        from rootless.containers import logs
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
