"""The rest of podman's `run`/`create` flags (issue 14): --ulimit, --shm-size,
--sysctl, --pull, --label-file, --annotation, --tz, --env-host,
--http-proxy, --expose, --oom-score-adj, --hostuser, --uts, --cgroupns,
--personality, --passwd, --passwd-entry. Pure functions: each
value checked with podman's syntax and turned into what the runtime needs;
a bad value is one UsageError naming the flag and the form it takes (exit
125). Light: `rl run` imports it for every container."""

from __future__ import annotations

import os

from rootless.errors import UsageError

# podman's (go-units) names -> resource's RLIMIT_* numbers, resolved lazily (resource is light, but
# keep the table readable without it)
RLIMIT_NUMBERS = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
                  "memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14,
                  "rttime": 15}  # Linux's RLIMIT_* (Python's resource module lacks RLIMIT_LOCKS)
ULIMIT_TYPES = tuple(sorted(RLIMIT_NUMBERS))
RLIM_INFINITY = (1 << 64) - 1   # what the kernel and /proc/self/limits call unlimited
DEFAULT_LIMIT = 1048576          # podman's nofile/nproc default, capped at rl's own hard limit rootless
DEFAULT_SHM = 65536000           # containers.conf's shm_size "65536k", which podman 4.3 reads in decimal units
PULL_POLICIES = ("always", "missing", "never", "newer")
PROXY_VARS = ("http_proxy", "https_proxy", "ftp_proxy", "no_proxy",
              "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY")
ZONEINFO = "/usr/share/zoneinfo"
# podman's namespaced sysctls: these names, and the prefixes below (net.* needs the container's own network)
IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
               "kernel.shmmni", "kernel.shm_rmid_forced")
SYSCTL_PREFIXES = ("net.", "fs.mqueue.")
# --personality's execution domains (linux/personality.h) rl applies
PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}
_ULIMIT_HINT = "--ulimit TYPE=SOFT[:HARD] with numbers (-1: unlimited), e.g. --ulimit nofile=1024:4096; " \
               "TYPE one of " + ", ".join(ULIMIT_TYPES)


def from_flags(f: dict) -> dict:
    """The parsed flags (either parser) -> RunRequest fields, each value
    checked now so a typo fails before any pull. f["label"] gets the
    --label-file labels in front (the --label ones win, as podman's)."""
    for item in f.get("ulimit") or []:
        parse_ulimit(item)
    if f.get("shm_size") is not None:
        parse_shm_size(f["shm_size"])
    for item in f.get("sysctl") or []:
        parse_sysctl(item)
    if f.get("pull") is not None and f["pull"].lower() not in PULL_POLICIES:
        raise UsageError(f"--pull {f['pull']}: unsupported pull policy", hint="--pull always, missing, never or newer")
    if f.get("label_file"):
        f["label"] = [*(item for path in f["label_file"] for item in read_label_file(path)), *(f.get("label") or [])]
    for item in f.get("annotation") or []:
        if not item.partition("=")[0] or "=" not in item:
            raise UsageError(f"--annotation {item!r}: annotations must be formatted KEY=VALUE")
    if f.get("tz"):
        timezone_file(f["tz"])
    expose = [p for item in f.get("expose") or [] for p in parse_expose(item)]
    uts = parse_ns_mode("--uts", f.get("uts"))
    if uts == "host" and f.get("hostname"):
        raise UsageError("invalid config provided: cannot set hostname when running in the host UTS namespace",
                         hint="drop --hostname, or --uts=host")
    return {"ulimit": list(f.get("ulimit") or []), "shm_size": f.get("shm_size"), "sysctl": list(f.get("sysctl") or []),
            "pull": f["pull"].lower() if f.get("pull") else None, "annotation": list(f.get("annotation") or []),
            "tz": f.get("tz") or None, "env_host": bool(f.get("env_host")),
            "http_proxy": parse_bool("--http-proxy", f.get("http_proxy"), True), "expose": expose,
            "oom_score_adj": parse_oom_score_adj(f.get("oom_score_adj")), "hostuser": list(f.get("hostuser") or []),
            "volumes_from": [check_volumes_from(v) for v in f.get("volumes_from") or []],
            "uts": uts, "cgroupns": parse_ns_mode("--cgroupns", f.get("cgroupns")),
            "personality": parse_personality(f.get("personality")),
            "rmi": bool(f.get("rmi")),
            "passwd": parse_bool("--passwd", f.get("passwd"), True), "passwd_entry": parse_passwd_entry(f.get("passwd_entry"))}


def preserve_fds(value: str | None, open_at_start) -> int:
    """--preserve-fds N: 0 when not given; each of fds 3..N+2 must be among
    open_at_start, the fds open when rl started: the caller's, passed to the
    container's command as they are (never one of rl's own), and never saved
    with the container."""
    if value is None or value == "":
        return 0
    if not value.strip().isdigit():
        raise UsageError(f"--preserve-fds {value}: not a number", hint="--preserve-fds N passes fds 3 to N+2")
    n = int(value)
    for fd in range(3, 3 + n):
        if fd not in open_at_start:
            raise UsageError(f"--preserve-fds {n}: file descriptor {fd} is not open",
                             hint=f"open fds 3 to {2 + n} for rl (e.g. 3<file), or pass fewer")
    return n


def parse_passwd_entry(value: str | None) -> str | None:
    """--passwd-entry: one line (a newline would write lines of the user's own choosing besides)."""
    if not value:
        return None
    if "\n" in value or "\r" in value or "\0" in value:
        raise UsageError("--passwd-entry: one line without newlines or NUL is expected",
                         hint="e.g. --passwd-entry '$USERNAME:x:$UID:$GID:$NAME:$HOME:/bin/bash'")
    return value


def parse_ns_mode(flag: str, value: str | None) -> str | None:
    """--uts / --cgroupns: None for private (the default), "host"; another
    container's or a path's namespace is refused with the reason."""
    if value is None or value == "private":
        return None
    if value == "host":
        return "host"
    kind = value.partition(":")[0]
    if kind in ("container", "ns") and value.partition(":")[2]:
        raise UsageError(f"{flag}={value} is not supported by rl: a container gets its own namespace or the "
                         "host's (a pod's containers share their infra's UTS namespace)",
                         hint=f"{flag}=private or {flag}=host")
    raise UsageError(f"{flag}: unrecognized namespace mode {value} passed", hint=f"{flag}=private or {flag}=host")


def parse_personality(value: str | None) -> str | None:
    """--personality: LINUX or LINUX32 (any case) -> its name; else refused
    (podman 4.3 hands any word to its runtime, runc 1.1 ignores them all)."""
    if value is None:
        return None
    name = value.strip().upper()
    if name not in PERSONALITIES:
        raise UsageError(f"--personality {value}: unknown execution domain", hint="--personality LINUX or LINUX32")
    return name


def parse_bool(flag: str, value, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise UsageError(f"{flag}={value}: expected true or false", hint=f"{flag} or {flag}=false")


# ---------------------------------------------------------------- --ulimit

def parse_ulimit(value: str) -> tuple[str, int, int] | None:
    """TYPE=SOFT[:HARD] -> (type, soft, hard) with -1 as unlimited, as
    podman 4.3 reads it; "host" -> None (rl's own limits)."""
    if value == "host":
        return None
    name, eq, limits = value.partition("=")
    if not eq or not name:
        raise UsageError(f"invalid --ulimit {value!r}: expected TYPE=SOFT[:HARD]", hint=_ULIMIT_HINT)
    if name not in ULIMIT_TYPES:
        raise UsageError(f"invalid --ulimit {value!r}: unknown type {name!r}", hint=_ULIMIT_HINT)
    soft_s, colon, hard_s = limits.partition(":")
    nums = []
    for part in (soft_s, hard_s if colon else soft_s):
        if not _integer(part.strip()):
            raise UsageError(f"invalid --ulimit {value!r}: {part!r} is not a number", hint=_ULIMIT_HINT)
        n = int(part)
        if n < -1:
            raise UsageError(f"invalid --ulimit {value!r}: {n} is below -1", hint=_ULIMIT_HINT)
        nums.append(RLIM_INFINITY if n == -1 else n)
    soft, hard = nums
    if soft > hard:
        raise UsageError(f"invalid --ulimit {value!r}: the soft limit is above the hard one",
                         hint="--ulimit TYPE=SOFT:HARD with SOFT <= HARD")
    return name, soft, hard


def rlimits(values: list[str], own=None) -> list[tuple[str, int, int]]:
    """The limits PID 1 sets: the --ulimit values, and podman's rootless
    defaults for those not given: nofile and nproc at 1048576, or rl's own
    hard limit where that is lower (soft = hard). `own(name)` gives rl's
    (soft, hard) (resource.getrlimit by default)."""
    if own is None:
        import resource

        def own(name):
            return resource.getrlimit(RLIMIT_NUMBERS[name])
    given = {}
    host = False
    for v in values:
        parsed = parse_ulimit(v)
        if parsed is None:
            host = True
        else:
            given[parsed[0]] = parsed
    out = list(given.values())  # podman's order: the given ones, then the defaults
    for name in ("nofile", "nproc"):
        if name in given:
            continue
        soft, hard = own(name)
        hard = RLIM_INFINITY if hard < 0 else hard
        if host and name == "nproc":
            continue  # --ulimit host: rl's own (podman's own process raised nofile's soft limit, not nproc's)
        top = hard if host else min(DEFAULT_LIMIT, hard)
        out.append((name, top, top))
    return out


def inspect_fields(req: dict) -> dict:
    """What podman's inspect shows of these flags: {"Annotations",
    "Timezone"} for Config, {"Ulimits", "ShmSize", "OomScoreAdj"} for
    HostConfig (the defaults as the container gets them)."""
    def flag(key, true="TRUE", false="FALSE"):
        return true if req.get(key) else false
    annotations = {"io.kubernetes.cri-o.TTY": flag("tty", "true", "false"),
                   "io.podman.annotations.autoremove": flag("rm"), "io.podman.annotations.init": flag("init"),
                   "io.podman.annotations.privileged": flag("privileged"),
                   "io.podman.annotations.publish-all": flag("publish_all")}
    for item in req.get("annotation") or []:
        k, _, v = item.partition("=")
        annotations[k] = v
    try:
        limits = [{"Name": "RLIMIT_" + n.upper(), "Soft": s, "Hard": h} for n, s, h in rlimits(req.get("ulimit") or [])]
        shm = parse_shm_size(req.get("shm_size"))
    except UsageError:  # a record from an older rl with a value it let pass: shown as nothing
        limits, shm = [], DEFAULT_SHM
    return {"Config": {"Annotations": dict(sorted(annotations.items())), "Timezone": req.get("tz") or ""},
            "HostConfig": {"Ulimits": limits, "ShmSize": shm, "OomScoreAdj": req.get("oom_score_adj") or 0,
                           "UTSMode": req.get("uts") or "private", "CgroupMode": req.get("cgroupns") or "private"}}


# ---------------------------------------------------------------- --shm-size

_SIZE = r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$"


def parse_shm_size(value: str | None) -> int:
    """podman's (go-units RAMInBytes) sizes: a number with an optional
    binary unit (b, k, m, g, t, p; "64m", "1.5g", "100k"); None: the
    default, 65536000 bytes; 0: no limit."""
    if value is None:
        return DEFAULT_SHM
    import re  # here: re's import is ~5 ms every command would pay (inspect renders through this module)
    m = re.match(_SIZE, value.strip())
    if not m:
        raise UsageError(f"invalid --shm-size {value!r}: not a size",
                         hint="--shm-size NUMBER[UNIT], UNIT b, k, m or g (e.g. --shm-size 256m)")
    try:
        number = float(m.group(1))
    except ValueError:
        raise UsageError(f"invalid --shm-size {value!r}: not a size",
                         hint="--shm-size NUMBER[UNIT], UNIT b, k, m or g (e.g. --shm-size 256m)") from None
    mult = 1024 ** ("kmgtp".index(m.group(2).lower()) + 1) if m.group(2) else 1
    return int(number * mult)


# ---------------------------------------------------------------- --sysctl

def parse_sysctl(value: str) -> tuple[str, str]:
    """NAME=VALUE, NAME one of podman's namespaced sysctls."""
    name, eq, val = value.partition("=")
    name = name.strip()
    if not eq or not name:
        raise UsageError(f"invalid --sysctl {value!r}: sysctl values must be in the form of KEY=VALUE",
                         hint="e.g. --sysctl net.ipv4.ip_unprivileged_port_start=0")
    parts = name.replace("/", ".").split(".")
    if any(p in ("", "..", ".") for p in parts) or not (name in IPC_SYSCTLS or name.startswith(SYSCTL_PREFIXES)):
        raise UsageError(f"--sysctl {name}: sysctl {name!r} is not allowed",
                         hint="only namespaced sysctls: net.*, fs.mqueue.*, " + ", ".join(IPC_SYSCTLS))
    return name, val


def sysctls(values: list[str], net_mode: str, defaults: bool = True) -> dict[str, str]:
    """NAME -> VALUE as PID 1 writes them, with podman's default
    net.ipv4.ping_group_range "0 0" on a network of the container's own.
    net.* needs the container's own network namespace: refused on the
    host's or another container's (podman's rule and words)."""
    out = {}
    own_net = net_mode not in ("host", "container")
    if defaults and own_net:
        out["net.ipv4.ping_group_range"] = "0 0"  # containers.conf default_sysctls
    for v in values:
        name, val = parse_sysctl(v)
        if name.startswith("net.") and not own_net:
            where = "host" if net_mode == "host" else "container"
            raise UsageError(f"sysctl {name}={val} can't be set since Network Namespace set to {where}",
                             hint="net.* sysctls need the container's own network (drop --network " + where + ")")
        out[name] = val
    return out


# ---------------------------------------------------------------- --label-file, --expose, --oom-score-adj

def read_label_file(path: str) -> list[str]:
    """KEY=VALUE lines (# comments and blank lines skipped; a line without
    "=" sets nothing, as podman's)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UsageError(f"--label-file {path}: {e.strerror}", hint="give a readable file of KEY=VALUE lines") from None
    out = []
    for line in lines:
        line = line.lstrip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key = line.partition("=")[0]
        if key != key.rstrip():
            raise UsageError(f"--label-file {path}: name {key!r} has white spaces, poorly formatted name",
                             hint="write KEY=VALUE with no space before the =")
        out.append(line)
    return out


def parse_expose(value: str) -> list[str]:
    """PORT[/PROTO] or FIRST-LAST[/PROTO] -> ["PORT/PROTO", ...]."""
    ports, _, proto = value.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise UsageError(f"invalid --expose {value!r}: unknown protocol {proto!r}", hint="PORT[/tcp|udp|sctp]")
    first, dash, last = ports.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise UsageError(f"invalid --expose {value!r}: not a port or a range", hint="--expose PORT[/PROTO] or FIRST-LAST")
    lo, hi = int(first), int(last) if dash else int(first)
    if not (0 < lo <= hi <= 65535):
        raise UsageError(f"invalid --expose {value!r}: ports are 1 to 65535, the first no higher than the last",
                         hint="--expose PORT[/PROTO] or FIRST-LAST")
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]


def _integer(text: str) -> bool:
    """What the pattern -?\\d+ matches whole (\\d: any Unicode decimal digit, as int() takes)."""
    return (text[1:] if text.startswith("-") else text).isdecimal()


def parse_oom_score_adj(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if not _integer(value.strip()):
        raise UsageError(f"invalid --oom-score-adj {value!r}: not a number", hint="an integer from -1000 to 1000")
    n = int(value)
    if not -1000 <= n <= 1000:
        raise UsageError(f"invalid --oom-score-adj {n}: out of range", hint="an integer from -1000 to 1000")
    return n


# ---------------------------------------------------------------- --tz, --env-host, --http-proxy

def timezone_file(tz: str) -> str:
    """The host file whose content becomes the container's /etc/localtime:
    "local", the host's own; else /usr/share/zoneinfo/NAME."""
    if tz == "local":
        path = os.path.realpath("/etc/localtime")
        if not os.path.isfile(path):
            raise UsageError("--tz local: the host has no /etc/localtime", hint="name a zone, e.g. --tz Europe/Paris")
        return path
    if tz.startswith("/") or ".." in tz.split("/") or not tz.strip():
        raise UsageError(f"--tz {tz}: not a time zone name", hint="an IANA name such as Europe/Paris, or local")
    path = os.path.join(ZONEINFO, tz)
    if not os.path.isfile(path):
        raise UsageError(f"--tz {tz}: unknown time zone (no {path})", hint="an IANA name such as Europe/Paris, or local")
    return path


def host_env(environ=None) -> list[str]:
    environ = os.environ if environ is None else environ
    return [f"{k}={v}" for k, v in environ.items()]


def proxy_env(environ=None) -> list[str]:
    """The proxy variables podman passes in by default (--http-proxy)."""
    environ = os.environ if environ is None else environ
    return [f"{k}={environ[k]}" for k in PROXY_VARS if k in environ]


def host_users(values: list[str]) -> list[dict]:
    """--hostuser NAME or UID -> the host's passwd entries (name, uid, gid,
    gecos); an unknown one is refused."""
    import pwd
    out = []
    for v in values:
        try:
            pw = pwd.getpwuid(int(v)) if v.isdigit() else pwd.getpwnam(v)
        except (KeyError, OverflowError):
            raise UsageError(f"--hostuser {v}: no such user on the host",
                             hint="a user name or UID of the host's /etc/passwd") from None
        out.append({"name": pw.pw_name, "uid": pw.pw_uid, "gid": pw.pw_gid,
                    "gecos": pw.pw_gecos.split(",")[0].replace(":", " ")})
    return out


# ---------------------------------------------------------------- --volumes-from

def check_volumes_from(item: str) -> str:
    name, sep, opts = item.partition(":")
    if not name or (sep and any(o not in ("ro", "rw", "z", "Z") for o in opts.split(","))):
        raise UsageError(f"--volumes-from {item!r}: expected CONTAINER[:ro|rw]",
                         hint="--volumes-from data, or --volumes-from data:ro")
    return item


def volumes_from(sources: list[tuple[str, list[str]]], own: list[str]) -> list[str]:
    """The -v specs --volumes-from adds: for each (option string, the source
    container's -v specs), every volume and bind mount at its destination,
    with ro/rw overridden when the option names one; a destination the new
    container mounts itself keeps its own (as podman)."""
    taken = {_destination(v) for v in own}
    out = []
    for opts, specs in sources:
        mode = next((o for o in opts.split(",") if o in ("ro", "rw")), None) if opts else None
        for spec in specs:
            dest = _destination(spec)
            if dest in taken:
                continue
            taken.add(dest)
            if mode:
                parts = spec.split(":")
                kept = [o for o in (parts[2].split(",") if len(parts) > 2 else []) if o and o not in ("ro", "rw")]
                spec = ":".join(parts[:2] + [",".join([*kept, mode])])
            out.append(spec)
    return out


def _destination(spec: str) -> str:
    import posixpath
    parts = spec.split(":")
    return posixpath.normpath(parts[1] if len(parts) > 1 else parts[0])
