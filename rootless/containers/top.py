"""`rl top CONTAINER [DESCRIPTOR...]`: podman's format descriptors (ps(1)'s
AIX descriptors plus capabilities, seccomp and the host side, as podman's
psgo has them), read from /proc. User and group names come from the
container's own /etc/passwd and /etc/group, opened inside its root (symlinks
and ".." never leave it) and read bounded; durations print as Go's
time.Duration does, as podman's ELAPSED and TIME."""

from __future__ import annotations

import datetime
import errno
import json
import os
import stat
import time

from rootless.errors import UsageError
from rootless.linux import syscalls as sc

DEFAULT = ("user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args")

# normal name, AIX code, header: podman's table
DESCRIPTORS = (
    ("pcpu", "%C", "%CPU"), ("group", "%G", "GROUP"), ("groups", "", "GROUPS"), ("ppid", "%P", "PPID"),
    ("user", "%U", "USER"), ("uid", "", "UID"), ("args", "%a", "COMMAND"), ("comm", "%c", "COMMAND"),
    ("rgroup", "%g", "RGROUP"), ("nice", "%n", "NI"), ("pid", "%p", "PID"), ("pgid", "%r", "PGID"),
    ("etime", "%t", "ELAPSED"), ("ruser", "%u", "RUSER"), ("time", "%x", "TIME"), ("tty", "%y", "TTY"),
    ("vsz", "%z", "VSZ"), ("capamb", "", "AMBIENT CAPS"), ("capinh", "", "INHERITED CAPS"),
    ("capprm", "", "PERMITTED CAPS"), ("capeff", "", "EFFECTIVE CAPS"), ("capbnd", "", "BOUNDING CAPS"),
    ("seccomp", "", "SECCOMP"), ("label", "", "LABEL"), ("hpid", "", "HPID"), ("huser", "", "HUSER"),
    ("huid", "", "HUID"), ("hgroup", "", "HGROUP"), ("hgroups", "", "HGROUPS"), ("rss", "", "RSS"),
    ("state", "", "STATE"), ("stime", "", "STIME"),
)
_BY_NAME = {d[0]: d for d in DESCRIPTORS}
_BY_CODE = {d[1]: d for d in DESCRIPTORS if d[1]}

NAMES_MAX = 1 << 20  # an image's passwd/group larger than this is not read (names show as numbers)


def parse_descriptors(args: list[str]) -> list[str]:
    """Separate arguments or one comma-separated list, normal names or AIX codes."""
    out = []
    for arg in args or []:
        for d in arg.split(","):
            d = d.strip()
            if not d:
                continue
            hit = _BY_NAME.get(d) or _BY_CODE.get(d)
            if hit is None:
                raise UsageError(f"'{d}': unknown descriptor",
                                 hint="descriptors: " + ", ".join(sorted(_BY_NAME)))
            out.append(hit[0])
    return out or list(DEFAULT)


def header(descs: list[str]) -> list[str]:
    return [_BY_NAME[d][2] for d in descs]


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(): 0s, 10ms, 1.5µs, 3.13s, 2h5m38.737137571s."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000_000:
        unit, div = ("µs", 1000) if ns < 1_000_000 else ("ms", 1_000_000)
        return sign + _frac(ns, div) + unit
    total_s, frac_ns = divmod(ns, 1_000_000_000)
    h, rem = divmod(total_s, 3600)
    m, s = divmod(rem, 60)
    secs = _frac(s * 1_000_000_000 + frac_ns, 1_000_000_000) + "s"
    if h:
        return f"{sign}{h}h{m}m{secs}"
    if m:
        return f"{sign}{m}m{secs}"
    return sign + secs


def _frac(value: int, div: int) -> str:
    whole, part = divmod(value, div)
    if not part:
        return str(whole)
    digits = len(str(div)) - 1
    return f"{whole}.{str(part).rjust(digits, '0').rstrip('0')}"


def go_time(epoch: float) -> str:
    """Go's time.Time.String() in local time: 2026-12-07 04:40:01.37 +0000 UTC."""
    dt = datetime.datetime.fromtimestamp(epoch).astimezone()
    ns = round((epoch - int(epoch)) * 1e9)
    frac = f".{str(ns).rjust(9, '0').rstrip('0')}" if ns else ""
    return f"{dt:%Y-%m-%d %H:%M:%S}{frac} {dt:%z} {dt.tzname()}"


def parse_names(text: str) -> dict[int, str]:
    """passwd/group lines: NAME:x:ID:..., the first name for an ID wins (as getpwuid)."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        f = line.split(":")
        if len(f) >= 3 and f[0] and f[2].isdigit():
            out.setdefault(int(f[2]), f[0])
    return out


def read_in_root(rootfd: int, path: str, limit: int = NAMES_MAX) -> str:
    """A file of the container's, resolved inside its root (RESOLVE_IN_ROOT:
    an image's symlink never reaches a host file), at most `limit` bytes
    (more: not read at all), a regular file only; '' when unreadable."""
    try:
        fd = sc.openat2(rootfd, path.lstrip("/"), os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY,
                        sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
    except OSError:
        return ""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return ""
        data = os.read(fd, limit + 1)
        return "" if len(data) > limit else data.decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def names_inside(pid1: int) -> tuple[str, str]:
    """The container's /etc/passwd and /etc/group, read by a child that
    joined its user and mount namespaces (the host side cannot read through a
    fuse-overlayfs rootfs mounted in another user namespace), each opened
    inside the container's root and bounded. Nothing is imported or executed
    in there: the child only opens, reads and writes to a pipe. ('', '') when
    that fails: names show as numbers."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(r)
            for kind, flag in (("user", sc.Clone.NEWUSER), ("mnt", sc.Clone.NEWNS)):
                sc.setns_path(f"/proc/{pid1}/ns/{kind}", flag)
            root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            data = json.dumps([read_in_root(root, "/etc/passwd"), read_in_root(root, "/etc/group")]).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001 - nothing to report but "no names"
            pass
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    try:
        while chunk := os.read(r, 1 << 16):
            chunks.append(chunk)
            if sum(map(len, chunks)) > 8 * NAMES_MAX:
                break
    finally:
        os.close(r)
        os.waitpid(child, 0)
    try:
        passwd, group = json.loads(b"".join(chunks) or b'["", ""]')
        return str(passwd), str(group)
    except (ValueError, TypeError):
        return "", ""


def _map_in(host_id: int, idmap) -> int | None:
    for inside, outside, count in idmap:
        if outside <= host_id < outside + count:
            return inside + host_id - outside
    return None


def _caps(mask_hex: str) -> str:
    from rootless.runtime import security
    mask = int(mask_hex, 16)
    last = security.last_cap()
    if last >= 0 and mask == (1 << (last + 1)) - 1:
        return "full"
    names = sorted(security.CAPS[i] if i < len(security.CAPS) else f"CAP_{i}"
                   for i in range(64) if mask >> i & 1)
    return ",".join(names) or "none"


def _tty(tty_nr: int) -> str:
    if tty_nr == 0:
        return "?"
    major, minor = (tty_nr >> 8) & 0xFFF, (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if 136 <= major <= 143:
        return f"pts/{(major - 136) * 256 + minor}"
    if major == 4 and minor < 64:
        return f"tty{minor}"
    if major == 5 and minor == 1:
        return "console"
    return "?"


class Snapshot:
    """What the descriptors need of the container: its PID 1's ID maps and
    the names in its /etc/passwd and /etc/group."""

    def __init__(self, pid1: int):
        self.pid1 = pid1
        self.uid_map = _read_map(f"/proc/{pid1}/uid_map")
        self.gid_map = _read_map(f"/proc/{pid1}/gid_map")
        passwd, group = names_inside(pid1)
        self.users = parse_names(passwd)
        self.groups = parse_names(group)
        self.hz = os.sysconf("SC_CLK_TCK")
        self.boot_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        self.now = time.time()

    def user(self, host_uid: int) -> str:
        uid = _map_in(host_uid, self.uid_map)
        if uid is None:
            return _overflow("uid")
        return self.users.get(uid, str(uid))

    def group(self, host_gid: int) -> str:
        gid = _map_in(host_gid, self.gid_map)
        if gid is None:
            return _overflow("gid")
        return self.groups.get(gid, str(gid))


def _overflow(kind: str) -> str:
    try:
        with open(f"/proc/sys/fs/overflow{kind}") as f:
            return f.read().strip()
    except OSError:
        return "65534"


def _read_map(path: str) -> list[tuple[int, int, int]]:
    try:
        with open(path) as f:
            return [tuple(int(x) for x in line.split()) for line in f if line.strip()]
    except OSError:
        return []


def _host_name(uid: int, group: bool = False) -> str:
    import grp
    import pwd
    try:
        return grp.getgrgid(uid).gr_name if group else pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def process_row(pid: int, descs: list[str], snap: Snapshot, members: set[int]) -> list[str] | None:
    """One process's cells, or None when it is gone meanwhile."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        status = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                status[k] = v.strip()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None
    comm = raw[raw.find(b"(") + 1:raw.rfind(b")")].decode(errors="replace")
    fields = raw[raw.rfind(b")") + 2:].split()
    uids = [int(x) for x in status.get("Uid", "0 0 0 0").split()]
    gids = [int(x) for x in status.get("Gid", "0 0 0 0").split()]
    ppid_host = int(fields[1])
    cpu_ns = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // snap.hz
    start_ns = int(fields[19]) * 1_000_000_000 // snap.hz
    elapsed_ns = max(0, snap.boot_ns - start_ns)
    args = [a.decode(errors="replace") for a in argv]
    while args and args[-1] == "":
        args.pop()

    def nspid(p: int) -> str:
        if p == pid:
            return status.get("NSpid", str(pid)).split()[-1]
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        return line.split()[-1]
        except OSError:
            pass
        return "0"

    out = []
    for d in descs:
        if d == "pcpu":
            v = f"{100 * cpu_ns / elapsed_ns:.3f}" if elapsed_ns else "0.000"
        elif d == "user":
            v = snap.user(uids[1])
        elif d == "ruser":
            v = snap.user(uids[0])
        elif d == "uid":
            u = _map_in(uids[1], snap.uid_map)
            v = str(u) if u is not None else _overflow("uid")
        elif d == "group":
            v = snap.group(gids[1])
        elif d == "rgroup":
            v = snap.group(gids[0])
        elif d == "groups":
            v = ",".join(snap.group(int(g)) for g in status.get("Groups", "").split())
        elif d == "pid":
            v = nspid(pid)
        elif d == "ppid":
            v = nspid(ppid_host) if ppid_host in members else "0"
        elif d == "pgid":
            v = status.get("NSpgid", fields[2].decode()).split()[-1]
        elif d == "args":
            v = " ".join(args) if args and args[0] else f"[{status.get('Name', comm)}]"
        elif d == "comm":
            v = comm
        elif d == "nice":
            v = fields[16].decode()
        elif d == "etime":
            v = go_duration(elapsed_ns)
        elif d == "time":
            v = go_duration(cpu_ns)
        elif d == "stime":
            v = go_time(snap.now - elapsed_ns / 1e9)
        elif d == "tty":
            v = _tty(int(fields[4]))
        elif d == "vsz":
            v = str(int(fields[20]) // 1024)
        elif d == "rss":
            v = (status.get("VmRSS") or "0").split()[0]
        elif d == "state":
            v = (status.get("State") or "?").split()[0]
        elif d in ("capamb", "capinh", "capprm", "capeff", "capbnd"):
            key = {"capamb": "CapAmb", "capinh": "CapInh", "capprm": "CapPrm", "capeff": "CapEff",
                   "capbnd": "CapBnd"}[d]
            v = _caps(status.get(key, "0"))
        elif d == "seccomp":
            v = {"0": "disabled", "1": "strict", "2": "filter"}.get(status.get("Seccomp", ""), "?")
        elif d == "label":
            v = _label(pid)
        elif d == "hpid":
            v = str(pid)
        elif d == "huser":
            v = _host_name(uids[1])
        elif d == "huid":
            v = str(uids[1])
        elif d == "hgroup":
            v = _host_name(gids[1], group=True)
        elif d == "hgroups":
            v = ",".join(status.get("Groups", "").split())
        else:  # pragma: no cover - parse_descriptors admits only the table's
            v = "?"
        out.append(v)
    return out


def _label(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/attr/current", "rb") as f:
            return f.read().rstrip(b"\0\n").decode(errors="replace") or "?"
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT, errno.EACCES, errno.EPERM):
            return "?"
        raise
