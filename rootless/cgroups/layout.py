"""Which cgroup hierarchy the host has, where this process sits in it, and
what is delegated to this user. The parsers take text (of
/proc/self/mountinfo, /proc/self/cgroup) so they are testable without the
machine they describe."""

from __future__ import annotations

import os
from pathlib import Path

from rootless.plain import field, record

ROOT = Path("/sys/fs/cgroup")


def layout_from_mountinfo(text: str) -> tuple[str, str | None]:
    """("v2" | "hybrid" | "v1" | "none", mount point of the v2 hierarchy)."""
    v2 = None
    v1 = False
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fstype = right.split(" ", 1)[0]
        point = left.split(" ")[4] if len(left.split(" ")) > 4 else ""
        point = point.replace("\\040", " ")
        if fstype == "cgroup2":
            # the one at /sys/fs/cgroup wins over a stray second mount
            if v2 is None or point == str(ROOT):
                v2 = point
        elif fstype == "cgroup":
            v1 = True
    if v2 and not v1:
        return "v2", v2
    if v2 and v1:
        return "hybrid", v2
    if v1:
        return "v1", None
    return "none", None


def own_cgroup(proc_cgroup_text: str) -> str | None:
    """The v2 path ("0::/...") of /proc/PID/cgroup, or None."""
    for line in proc_cgroup_text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def user_service(uid: int) -> str:
    return f"/user.slice/user-{uid}.slice/user@{uid}.service"


@record
class Host:
    """What the host offers this user for containers' cgroups."""
    layout: str                      # v2, hybrid, v1, none
    mount: str | None                # where the v2 hierarchy is mounted
    own: str | None                  # this process's v2 cgroup path
    uid: int
    user_service: str | None = None  # user@UID.service's path when it is this user's and writable
    service_controllers: list[str] = field(default_factory=list)
    own_delegated: bool = False      # own cgroup is a Delegate=yes unit's (or below one), ours to write
    own_controllers: list[str] = field(default_factory=list)
    bus: str | None = None           # the user's systemd bus socket, when there is one

    def path(self, cgroup: str) -> Path:
        return Path(self.mount or ROOT) / cgroup.lstrip("/")


def _controllers(d: Path) -> list[str]:
    try:
        return (d / "cgroup.controllers").read_text().split()
    except OSError:
        return []


def _ours(d: Path, uid: int) -> bool:
    try:
        return d.stat().st_uid == uid and os.access(d, os.W_OK) and os.access(d / "cgroup.procs", os.W_OK)
    except OSError:
        return False


def is_delegated(d: Path) -> bool:
    """systemd marks the cgroup of a Delegate=yes unit with an extended
    attribute (user.delegate from a user manager, trusted.delegate from the
    system one); a cgroup under user@.service without it belongs to systemd,
    and creating children there would fight it."""
    for name in ("user.delegate", "trusted.delegate"):
        try:
            if os.getxattr(d, name).strip(b"\0") in (b"1", b"yes", b"true"):
                return True
        except OSError:
            continue
    return False


def _unit_of(cgroup: str) -> str | None:
    """The deepest systemd unit (.service/.scope) named in a cgroup path
    below user@UID.service."""
    parts = cgroup.strip("/").split("/")
    for i, part in enumerate(parts):
        if part.startswith("user@") and part.endswith(".service"):
            below = [p for p in parts[i + 1:] if p.endswith((".service", ".scope"))]
            return below[-1] if below else None
    return None


def _delegated_root(own: str, mount: Path, uid: int, bus: str | None) -> bool:
    """own, or an ancestor of it below user@UID.service, is a Delegate=yes
    unit's cgroup, and own is ours to write. user@UID.service itself does not
    count: it is delegated to the user's systemd, not to rl."""
    here = mount / own.lstrip("/")
    if not _ours(here, uid):
        return False
    d = here
    while d != mount and d != d.parent:
        if d.name.startswith("user@") and d.name.endswith(".service"):
            break
        if is_delegated(d):
            return True
        d = d.parent
    else:
        return False
    # systemd before v253 marks only the system manager's delegations with
    # the xattr: ask the user's manager about the unit itself
    unit = _unit_of(own)
    return bool(unit and bus and unit_delegated(bus, unit))


def unit_delegated(bus: str, unit: str) -> bool:
    from rootless.cgroups import dbus
    iface = "org.freedesktop.systemd1." + ("Scope" if unit.endswith(".scope") else "Service")
    try:
        with dbus.Connection(bus, timeout=5) as conn:
            (path,) = conn.call(*dbus.SYSTEMD[:2], dbus.SYSTEMD[2], "GetUnit", "s", unit)
            (value,) = conn.call(dbus.SYSTEMD[0], path, "org.freedesktop.DBus.Properties", "Get", "ss",
                                 iface, "Delegate")
    except (OSError, dbus.DBusError, ValueError):
        return False
    return value == ("b", True)


def in_rl_scope(cgroup: str) -> bool:
    """Inside an rl-<id>.scope that systemd made for a container (its
    monitor leaf, on a restart)."""
    return any(p.startswith("rl-") and p.endswith(".scope") for p in cgroup.split("/"))


def user_bus() -> str | None:
    """The user's systemd/D-Bus socket: $DBUS_SESSION_BUS_ADDRESS when it is a
    unix path, else $XDG_RUNTIME_DIR/bus (where dbus-user-session puts it)."""
    addr = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    for part in addr.split(";"):
        if part.startswith("unix:"):
            for kv in part[5:].split(","):
                k, _, v = kv.partition("=")
                if k == "path" and os.path.exists(v):
                    return v
    rt = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    cand = os.path.join(rt, "bus")
    return cand if os.path.exists(cand) else None


def probe(mountinfo: str | None = None, proc_cgroup: str | None = None, uid: int | None = None) -> Host:
    """The real host (or the texts given)."""
    uid = os.getuid() if uid is None else uid
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            mountinfo = ""
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            proc_cgroup = ""
    layout, mount = layout_from_mountinfo(mountinfo)
    host = Host(layout=layout, mount=mount, own=own_cgroup(proc_cgroup), uid=uid)
    if layout != "v2" or not mount:
        return host
    m = Path(mount)
    svc = user_service(uid)
    if _ours(host.path(svc), uid):
        host.user_service = svc
        host.service_controllers = _controllers(host.path(svc))
    host.bus = user_bus()
    if host.own and host.own.endswith("/rl-supervisor"):
        # rl moved itself aside in a delegated cgroup before (a restart by a
        # container's monitor): the delegated cgroup is the one above
        host.own = host.own.rsplit("/", 1)[0]
    if host.own and in_rl_scope(host.own):
        return host  # a monitor inside its container's scope: systemd's, reused as it is
    if host.own and host.own != "/" and _delegated_root(host.own, m, uid, host.bus):
        host.own_delegated = True
        host.own_controllers = _controllers(host.path(host.own))
    return host


def mounted_layout() -> str:
    """"v2", "hybrid", "v1" or "none", from the filesystem type mounted at
    /sys/fs/cgroup (what `rl info` and `rl system check` report). Read from
    /proc/self/mountinfo: no command to run (`stat -f` would be one)."""
    fstype = _fstype(str(ROOT))
    if fstype == "cgroup2":
        return "v2"
    if os.path.isdir(ROOT / "unified") or fstype == "tmpfs":
        return "hybrid" if os.path.ismount(ROOT / "unified") else "v1"
    return "v1" if fstype else "none"


def _fstype(mountpoint: str) -> str:
    """The type of the last (topmost) mount at mountpoint, "" when none."""
    found = ""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) > 4 and fields[4] == mountpoint and right:
                    found = right.split()[0]
    except OSError:
        return ""
    return found


def delegation() -> tuple[bool, str, str | None]:
    """Can this user's containers get cgroups of their own: (yes, what was
    found, the fix when not). `rl system check` shows it; a container without
    a cgroup of its own (`rl stats`, `rl update`) names the fix."""
    kind = mounted_layout()
    if kind != "v2":
        return (False, f"cgroup {kind}: resource limits are unavailable to rootless containers (they need the "
                       "unified v2 hierarchy)",
                "boot with systemd.unified_cgroup_hierarchy=1 and run rl in a systemd user session")
    uid = os.getuid()
    own = ""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            own = line[3:]
    # A login shell sits in session-N.scope, which is never delegated; what
    # systemd delegates (and where rl's containers go) is user@UID.service.
    for where in (own, user_service(uid)):
        base = ROOT / where.lstrip("/")
        try:
            delegated = base.stat().st_uid == uid and os.access(base, os.W_OK)
            ctrls = (base / "cgroup.controllers").read_text().split()
        except OSError:
            continue
        if delegated and ctrls:
            name = Path(where).name or "/"
            return True, f"cgroup v2 via {name}, delegated controllers: {' '.join(ctrls)}", None
    return (False, f"cgroup v2, but neither {own or '/'} nor user@{uid}.service is delegated to this user",
            "loginctl enable-linger $USER and add Delegate=cpu cpuset io memory pids to "
            "user@.service (systemctl edit user@.service)")
