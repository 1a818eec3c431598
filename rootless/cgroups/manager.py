"""Where a container's processes go and who creates that cgroup.

    systemd   the user's systemd (reached on $XDG_RUNTIME_DIR/bus) creates a
              transient scope rl-<id>.scope with Delegate=yes under
              user@UID.service; what rl writes below it systemd leaves alone
    cgroupfs  rl already runs in a delegated cgroup (a unit with
              Delegate=yes): rl makes the container's cgroup itself
    none      nothing delegated: no cgroup, and limits are refused

Inside the scope (podman keeps conmon and the container apart the same way):

    rl-<id>.scope/            Delegate=yes; controllers enabled for its children
        monitor/              rl itself: holds the scope open after the
                              container exits so memory.events can still
                              be read (an empty scope is removed at once)
        container/            the container's PID 1 and everything it forks;
                              the limits are written here

Why a D-Bus call and not `systemd-run --user --scope`: systemd-run can only
start a new command in a scope, and the container's PID 1 already exists
(it must be moved before it execs, so a fork bomb is limited from its first
instruction). Measured in the TCG guest from an ssh session, scope created
until the process is in it, 10 runs each (median, min-max): this module's
stdlib D-Bus call 245 ms (156-311); `busctl --user call ...
StartTransientUnit` (fork+exec) 302 ms (253-588); `systemd-run --user --scope
true` 375 ms (305-815). Most of it is systemd's job and, for a process in a
login session, the system manager moving it; jeepney would add a dependency
and its own import for the same round trip."""

from __future__ import annotations

import errno
import json
import os
import pwd
import time
from pathlib import Path

from rootless import fsutil, logconf
from rootless.cgroups import layout
from rootless.cgroups.resources import (CONTROLLER_OF, DEFAULT_PIDS_LIMIT, CgroupError, Resources,
                                        controllers_needed, files)
from rootless.plain import field, record

log = logconf.logger(__name__)  # logging imported only if something is logged

MANAGERS = ("systemd", "cgroupfs", "none")
ENABLE = ("cpuset", "cpu", "io", "memory", "pids")  # what rl enables below the container's group
DROPIN_HINT = ("as root: mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\n"
               "Delegate=cpu cpuset io memory pids\\n' > /etc/systemd/system/user@.service.d/delegate.conf"
               " && systemctl daemon-reload, then log in again")


@record
class Plan:
    manager: str                          # systemd, cgroupfs, none
    host: layout.Host
    writes: list[tuple[str, str]] = field(default_factory=list)
    controllers: list[str] = field(default_factory=list)  # available to the container's group
    explicit: bool = False                # the user asked for limits (failures are errors)


def _why_not(host: layout.Host, asked: list[str]) -> CgroupError:
    what = ", ".join(asked)
    try:
        user = pwd.getpwuid(host.uid).pw_name
    except KeyError:
        user = str(host.uid)
    if host.layout in ("v1", "hybrid"):
        return CgroupError(
            f"cannot apply {what}: this host mounts cgroups as {host.layout} (v1 controllers) and rootless "
            "limits need the unified cgroup v2 hierarchy delegated by systemd",
            hint="boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2), then: "
                 f"loginctl enable-linger {user}; or run without {what}")
    if host.layout == "none":
        return CgroupError(f"cannot apply {what}: no cgroup filesystem is mounted",
                           hint=f"mount cgroup2 on /sys/fs/cgroup, or run without {what}")
    if host.bus is None or host.user_service is None:
        return CgroupError(
            f"cannot apply {what}: no systemd user session for {user} (no user bus at "
            f"{os.environ.get('XDG_RUNTIME_DIR') or '/run/user/' + str(host.uid)}/bus) and rl is not in a "
            "delegated cgroup",
            hint=f"loginctl enable-linger {user} and log in again (dbus-user-session installed), "
                 "or run rl in a unit with Delegate=yes")
    return CgroupError(f"cannot apply {what}: no cgroup is delegated to {user}", hint=DROPIN_HINT)


def choose(host: layout.Host, forced: str | None = None) -> str:
    """The manager for this host: RL_CGROUP_MANAGER (or forced) wins when it
    can work. A delegated cgroup of rl's own (a unit with Delegate=yes) is
    preferred to a new scope: containers started by a unit then stay inside
    that unit, its limits and its lifetime."""
    forced = forced or os.environ.get("RL_CGROUP_MANAGER") or None
    if forced and forced not in MANAGERS:
        raise CgroupError(f"unknown cgroup manager {forced!r}", hint="systemd, cgroupfs or none")
    if forced == "none" or host.layout != "v2":
        return "none"
    if forced == "cgroupfs":
        return "cgroupfs" if host.own_delegated else "none"
    if host.own_delegated and forced != "systemd":
        return "cgroupfs"
    if host.bus and host.user_service:
        return "systemd"
    return "none"


# podman warns and runs without a limit it cannot apply; rl refuses (a limit
# that silently does not apply is worse) unless the user opts in to podman's way
LIMITS_ENV = "RL_CGROUP_LIMITS"   # "warn": run without what cannot be enforced, saying so on stderr
ANYWAY_HINT = f"or run without the limits, as podman does: {LIMITS_ENV}=warn rl run ..."


def best_effort() -> bool:
    return os.environ.get(LIMITS_ENV, "").strip().lower() == "warn"


def _unenforceable(err: CgroupError, warn: bool) -> None:
    """Refuse (the default), or with RL_CGROUP_LIMITS=warn say what is not applied."""
    if not best_effort():
        err.hint = f"{err.hint}; {ANYWAY_HINT}" if err.hint else ANYWAY_HINT
        raise err
    if warn:
        log.warning(f"{err.message}; running without {'them' if ', ' in err.message.split(':')[0] else 'it'} "
                    f"({LIMITS_ENV}=warn)")


def plan(res: Resources, host: layout.Host | None = None, forced: str | None = None, warn: bool = False) -> Plan:
    """Decide before anything is created; a CgroupError (exit 125) when
    limits were asked for that cannot be enforced here (with RL_CGROUP_LIMITS=warn:
    the plan without them, and with warn a line on stderr saying so)."""
    host = host or layout.probe()
    asked = res.requested()
    mgr = choose(host, forced)
    if mgr == "none":
        if asked:
            _unenforceable(_why_not(host, asked), warn)
        return Plan("none", host)
    avail = host.own_controllers if mgr == "cgroupfs" else host.service_controllers
    base = host.path(host.own if mgr == "cgroupfs" else host.user_service)
    writes = files(res, swap_accounting=(base / "memory.swap.max").exists() or "memory" not in avail,
                   bfq=(base / "io.bfq.weight").exists())
    missing = [c for c in controllers_needed(writes) if c not in avail]
    if missing:
        flags = [f for f in asked if any(CONTROLLER_OF.get(n) in missing for n, _ in files(_only(res, f)))]
        where = "rl's cgroup" if mgr == "cgroupfs" else f"user@{host.uid}.service"
        _unenforceable(CgroupError(f"cannot apply {', '.join(flags or asked)}: the {' and '.join(missing)} controller"
                                   f"{'s are' if len(missing) > 1 else ' is'} not delegated to {where} "
                                   f"(delegated: {' '.join(avail) or 'none'})",
                                   hint=DROPIN_HINT if mgr == "systemd" else
                                   "give the unit running rl Delegate=cpu cpuset io memory pids"), warn)
        writes = [(n, v) for n, v in writes if CONTROLLER_OF.get(n) not in missing]
    if res.pids_limit is None and "pids" in avail:
        writes.append(("pids.max", str(DEFAULT_PIDS_LIMIT)))
    return Plan(mgr, host, writes, list(avail), explicit=bool(asked))


def _only(res: Resources, flag: str) -> Resources:
    name = flag[2:].replace("-", "_")
    r = Resources()
    setattr(r, name, getattr(res, name))
    if name == "memory_swap":
        r.memory = res.memory
    return r


# ------------------------------------------------------------------ applying

def write(path: Path, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        hint = None
        if e.errno == errno.EINVAL and path.name.startswith("cpuset."):
            hint = f"allowed here: {_read(path.parent / 'cpuset.cpus.effective') or '?'}"
        raise CgroupError(f"cannot set {path.name} to {value!r} in {path.parent}: {e.strerror}", hint=hint) from None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def apply_limits(cg: Path, writes: list[tuple[str, str]]) -> None:
    for name, value in writes:
        write(cg / name, value)


def enable_controllers(cg: Path, wanted: list[str]) -> None:
    have = set(_read(cg / "cgroup.controllers").split())
    on = set(_read(cg / "cgroup.subtree_control").split())
    todo = [c for c in ENABLE if c in wanted and c in have and c not in on]
    if todo:
        write(cg / "cgroup.subtree_control", " ".join("+" + c for c in todo))


def _cgroup_of(pid: int) -> str | None:
    try:
        return layout.own_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None


class Placement:
    """Given to the runtime: attach(pid) is called with the container's PID 1
    (a host PID) after it is forked and before it execs; finish() after it
    exited. The runtime knows nothing else about cgroups."""

    def __init__(self, p: Plan, cid: str, state_dir: str | None = None, name: str = ""):
        self.plan = p
        self.cid = cid
        self.name = name or cid[:12]
        self.state_dir = Path(state_dir) if state_dir else None
        self.unit = f"rl-{cid}.scope"
        self.cgroup: str | None = None  # the container's own cgroup (v2 path)
        self.group: str | None = None   # the scope (systemd) / rl-<id> (cgroupfs)
        self.oom_killed = False         # set by finish(): the kernel OOM-killed a process of it
        self.move_owner = True          # False (--cgroups=no-conmon): the monitor stays in its unit's cgroup

    # -- attach
    def attach(self, pid: int) -> None:
        try:
            if self.plan.manager == "systemd":
                self._systemd(pid)
            else:
                self._cgroupfs(pid)
        except CgroupError:
            if self.plan.explicit:
                raise
            self.cgroup = None  # only rl's default pids limit was at stake: run unlimited
            return
        self._record()

    def _systemd(self, pid: int) -> None:
        from rootless.cgroups import dbus  # only this manager talks D-Bus
        host = self.plan.host
        me = os.getpid()
        mine = _cgroup_of(me) or ""
        if mine.endswith(f"/{self.unit}/monitor"):
            # a restart by the same monitor: the scope is still ours, and PID 1
            # (forked below the monitor) is already inside it
            self._fill(mine.rsplit("/", 1)[0], me, pid)
            return
        try:
            with dbus.Connection(host.bus) as conn:
                dbus.start_transient_scope(conn, self.unit, [me, pid] if self.move_owner else [pid],
                                           f"rl container {self.name}")
        except dbus.DBusError as e:
            hint = "journalctl --user -n 20 shows why"
            if e.name.endswith("UnitExists"):
                hint = f"a stale scope of this container is still there: systemctl --user stop {self.unit}"
            raise CgroupError(f"systemd could not create {self.unit}: {e.message or e.name}", hint=hint) from None
        except OSError as e:
            raise CgroupError(f"cannot reach the user's systemd on {host.bus}: {e.strerror or e}",
                              hint="systemctl --user status; loginctl enable-linger $USER") from None
        # The reply comes when the job is queued; the moves happen when it runs,
        # and a process outside user@UID.service (a login session's) is moved
        # by the system manager on the user manager's asynchronous request:
        # wait until both are in.
        deadline = time.monotonic() + 10
        while True:
            where = _cgroup_of(pid)
            if where and where.endswith("/" + self.unit) and (not self.move_owner or _cgroup_of(me) == where):
                break
            if time.monotonic() > deadline:
                raise CgroupError(f"systemd did not move the container into {self.unit} (it is in {where})",
                                  hint="journalctl --user -n 20 shows why")
            time.sleep(0.001)
        self._fill(where, me, pid)

    def _fill(self, where: str, me: int, pid: int) -> None:
        """The scope's two leaves, its controllers, the container's limits."""
        self.group = where
        g = self.plan.host.path(where)
        for leaf in ("monitor", "container"):
            (g / leaf).mkdir(exist_ok=True)
        if self.move_owner:
            write(g / "monitor" / "cgroup.procs", str(me))
        write(g / "container" / "cgroup.procs", str(pid))
        enable_controllers(g, self.plan.controllers)
        self.cgroup = f"{where}/container"
        apply_limits(g / "container", self.plan.writes)

    def _cgroupfs(self, pid: int) -> None:
        """rl's own cgroup D is delegated. The container gets D/rl-<id>;
        every process left in D moves to D/rl-supervisor, because a cgroup
        that hands controllers to its children may hold no processes."""
        host = self.plan.host
        d = host.path(host.own)
        _sweep(d)
        g = d / f"rl-{self.cid}"
        sup = d / "rl-supervisor"
        g.mkdir(exist_ok=True)
        sup.mkdir(exist_ok=True)
        write(g / "cgroup.procs", str(pid))
        for _ in range(5):  # processes forked meanwhile land in D: move them too
            for p in _read(d / "cgroup.procs").split():
                try:
                    write(sup / "cgroup.procs", p)
                except CgroupError:
                    pass  # exited meanwhile
            try:
                enable_controllers(d, self.plan.controllers)
                break
            except CgroupError as e:
                err = e
        else:
            raise CgroupError(f"cannot enable controllers below {host.own}: {err.message}",
                              hint="run rl as the only process of its Delegate=yes unit") from None
        self.group = self.cgroup = f"{host.own}/rl-{self.cid}"
        apply_limits(g, self.plan.writes)

    def _record(self) -> None:
        if self.state_dir is None or self.cgroup is None:
            return
        info = {"manager": self.plan.manager, "cgroup": self.cgroup, "group": self.group,
                "unit": self.unit if self.plan.manager == "systemd" else None}
        _write_json(self.state_dir / "cgroup.json", info)

    # -- after the container exited
    def finish(self) -> dict:
        """{"oom_killed": bool}; recorded in the state dir for inspect."""
        if self.cgroup is None:
            return {"oom_killed": False}
        cg = self.plan.host.path(self.cgroup)
        oom = self.oom_killed = oom_kills(cg) > 0
        try:
            cg.rmdir()  # a restart starts from fresh counters (memory.events)
        except OSError:
            pass  # a straggler (a daemon the container left); cgroupfs: the next run sweeps it
        if self.state_dir is not None and self.state_dir.exists():
            try:
                info = json.loads((self.state_dir / "cgroup.json").read_text())
            except (OSError, ValueError):
                info = {}
            info.update(oom_killed=oom, running=False)
            _write_json(self.state_dir / "cgroup.json", info)
        return {"oom_killed": oom}


def finish_recorded(state_dir: str) -> dict:
    """Placement.finish() for the placement recorded in state_dir's
    cgroup.json: the detached monitor's, which exec'd in between."""
    try:
        info = json.loads((Path(state_dir) / "cgroup.json").read_text())
    except (OSError, ValueError):
        return {"oom_killed": False}
    if not info.get("cgroup") or not info.get("running", True):
        return {"oom_killed": bool(info.get("oom_killed"))}
    p = Placement(Plan(info.get("manager") or "cgroupfs", layout.probe()), "", state_dir)
    p.cgroup = info["cgroup"]
    return p.finish()


def _sweep(d: Path) -> None:
    """Empty rl-<id> cgroups left by killed rl processes."""
    try:
        children = list(d.glob("rl-*"))
    except OSError:
        return
    for c in children:
        if c.name != "rl-supervisor" and "populated 0" in _read(c / "cgroup.events"):
            try:
                c.rmdir()
            except OSError:
                pass


def oom_kills(cg: Path) -> int:
    for line in _read(cg / "memory.events").splitlines():
        k, _, v = line.partition(" ")
        if k == "oom_kill" and v.strip().isdigit():
            return int(v)
    return 0


def _write_json(path: Path, data: dict) -> None:
    try:
        fsutil.atomic_write(path, json.dumps(data), mode=None)
    except OSError:
        pass


def placement(res: Resources, cid: str, state_dir: str | None = None, name: str = "",
              forced: str | None = None) -> Placement | None:
    """The runtime's cgroup step for one container, or None when it gets no
    cgroup (manager none and nothing asked for)."""
    p = plan(res, forced=forced)
    if p.manager == "none":
        return None
    return Placement(p, cid, state_dir, name)
