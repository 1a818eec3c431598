"""Resource-limit flags (podman's names and semantics) -> cgroup v2 files.
Pure functions: no file is read or written here except stat() of a device
for --device-read-bps."""

from __future__ import annotations

import os
import re
import stat

from rootless.errors import HostSetupError, UsageError
from rootless.plain import asdict, field, fields, record


class CgroupError(HostSetupError):
    """Limits were asked for that this host (or this user) cannot enforce."""


# podman's default where the pids controller is delegated
DEFAULT_PIDS_LIMIT = 2048
CPU_PERIOD = 100_000  # the kernel's default period (µs), as podman/crun use for --cpus

_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*", re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str, flag: str = "size") -> int:
    """"32m", "1g", "512k", "1.5g", "1024", "100MiB" -> bytes (binary
    units, as docker/podman's RAMInBytes)."""
    m = _SIZE_RE.fullmatch(str(text))
    if not m:
        raise UsageError(f"invalid {flag} {text!r}", hint="a number of bytes with an optional unit: 512k, 32m, 1g")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def cpus_to_max(cpus: float, period: int = CPU_PERIOD) -> str:
    """--cpus 0.5 -> "50000 100000" (cpu.max: quota period)."""
    if cpus <= 0:
        raise UsageError(f"invalid --cpus {cpus}", hint="a positive number of CPUs, e.g. 0.5")
    return f"{max(1000, round(cpus * period))} {period}"


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000), the
    conversion crun and podman use."""
    shares = min(max(int(shares), 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio weight (10..1000) -> io.weight (1..10000), as crun."""
    return 1 + ((int(weight) - 10) * 9999) // 990


@record
class Resources:
    """What the user asked for. None: not asked."""
    memory: int | None = None             # bytes
    memory_reservation: int | None = None
    memory_swap: int | None = None        # memory + swap, bytes; -1 unlimited
    cpus: float | None = None
    cpu_shares: int | None = None
    cpu_weight: int | None = None
    cpu_quota: int | None = None          # µs per period; -1 unlimited
    cpu_period: int | None = None         # µs
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None         # 0 or -1: unlimited
    blkio_weight: int | None = None
    device_read_bps: list[str] = field(default_factory=list)   # PATH:RATE
    device_write_bps: list[str] = field(default_factory=list)

    def requested(self) -> list[str]:
        """The flags the user gave, as --names."""
        out = []
        for f in fields(self):
            v = getattr(self, f.name)
            if v not in (None, []):
                out.append("--" + f.name.replace("_", "-"))
        return out

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, [])}

    @classmethod
    def from_dict(cls, d: dict | None) -> "Resources":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})


# flag dest -> parser; used by the CLI for run/create/update
def _int(flag):
    def conv(v):
        try:
            return int(v)
        except (TypeError, ValueError):
            raise UsageError(f"invalid {flag} {v!r}", hint="an integer") from None
    return conv


def _float(flag):
    def conv(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            raise UsageError(f"invalid {flag} {v!r}", hint="a number, e.g. 0.5") from None
    return conv


def _swap(v):
    return -1 if str(v).strip() == "-1" else parse_size(v, "--memory-swap")


def _cpuset(flag):
    def conv(v):
        if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", str(v)):
            raise UsageError(f"invalid {flag} {v!r}", hint="CPU numbers and ranges, e.g. 0-1,3")
        return str(v)
    return conv


PARSERS = {
    "memory": lambda v: parse_size(v, "--memory"),
    "memory_reservation": lambda v: parse_size(v, "--memory-reservation"),
    "memory_swap": _swap,
    "cpus": _float("--cpus"),
    "cpu_shares": _int("--cpu-shares"),
    "cpu_weight": _int("--cpu-weight"),
    "cpu_quota": _int("--cpu-quota"),
    "cpu_period": _int("--cpu-period"),
    "cpuset_cpus": _cpuset("--cpuset-cpus"),
    "cpuset_mems": _cpuset("--cpuset-mems"),
    "pids_limit": _int("--pids-limit"),
    "blkio_weight": _int("--blkio-weight"),
    "device_read_bps": list,
    "device_write_bps": list,
}


def parse(flags: dict) -> Resources:
    """CLI flag values (strings, lists, None) -> Resources; unknown keys are
    ignored so the whole flag dict may be passed."""
    out = Resources()
    for name, conv in PARSERS.items():
        v = flags.get(name)
        if v is None or v == [] or v == "":
            continue
        setattr(out, name, conv(v))
    validate(out)
    return out


def validate(r: Resources) -> None:
    if r.memory is not None and r.memory < 6 * (1 << 20):
        raise UsageError("minimum memory limit allowed is 6MB", hint="e.g. --memory 32m")
    if r.memory_swap not in (None, -1):
        if r.memory is None:
            raise UsageError("--memory-swap needs --memory", hint="--memory-swap is memory plus swap")
        if r.memory_swap < r.memory:
            raise UsageError("--memory-swap must be at least --memory", hint="--memory-swap is memory plus swap")
    if r.memory_reservation is not None and r.memory is not None and r.memory_reservation > r.memory:
        raise UsageError("--memory-reservation must be at most --memory")
    if r.cpus is not None and (r.cpu_quota is not None or r.cpu_period is not None):
        raise UsageError("--cpus conflicts with --cpu-quota/--cpu-period", hint="give one or the other")
    if r.cpu_shares is not None and r.cpu_weight is not None:
        raise UsageError("--cpu-shares conflicts with --cpu-weight", hint="give one or the other")
    if r.cpus is not None and r.cpus <= 0:
        raise UsageError(f"invalid --cpus {r.cpus}", hint="a positive number of CPUs, e.g. 0.5")
    if r.cpu_weight is not None and not 1 <= r.cpu_weight <= 10000:
        raise UsageError(f"invalid --cpu-weight {r.cpu_weight}", hint="1 to 10000")
    if r.cpu_period is not None and not 1000 <= r.cpu_period <= 1_000_000:
        raise UsageError(f"invalid --cpu-period {r.cpu_period}", hint="1000 to 1000000 µs")
    if r.cpu_quota is not None and r.cpu_quota != -1 and r.cpu_quota < 1000:
        raise UsageError(f"invalid --cpu-quota {r.cpu_quota}", hint="at least 1000 µs, or -1 for none")
    if r.blkio_weight is not None and not 10 <= r.blkio_weight <= 1000:
        raise UsageError(f"invalid --blkio-weight {r.blkio_weight}", hint="10 to 1000")
    for flag, items in (("--device-read-bps", r.device_read_bps), ("--device-write-bps", r.device_write_bps)):
        for item in items:
            _split_device_rate(item, flag)


def _split_device_rate(item: str, flag: str) -> tuple[str, int]:
    path, sep, rate = item.rpartition(":")
    if not sep or not path.startswith("/"):
        raise UsageError(f"invalid {flag} {item!r}", hint=f"{flag} /dev/sda:1mb")
    return path, parse_size(rate, flag)


def device_numbers(path: str, flag: str) -> str:
    try:
        st = os.stat(path)
    except OSError as e:
        raise UsageError(f"{flag} {path}: {e.strerror}") from None
    if not stat.S_ISBLK(st.st_mode):
        raise UsageError(f"{flag} {path}: not a block device")
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


# file -> controller that provides it
CONTROLLER_OF = {"memory.max": "memory", "memory.low": "memory", "memory.swap.max": "memory",
                 "cpu.max": "cpu", "cpu.weight": "cpu", "cpuset.cpus": "cpuset", "cpuset.mems": "cpuset",
                 "pids.max": "pids", "io.weight": "io", "io.bfq.weight": "io", "io.max": "io"}


def files(r: Resources, *, swap_accounting: bool = True, bfq: bool = False,
          devnum=device_numbers) -> list[tuple[str, str]]:
    """Resources -> [(cgroup v2 file, value)] in the order to write them.
    Only what was asked for (the pids default is the caller's business)."""
    out: list[tuple[str, str]] = []
    if r.memory_reservation is not None:
        out.append(("memory.low", str(r.memory_reservation)))
    if r.memory is not None:
        out.append(("memory.max", str(r.memory)))
        if r.memory_swap == -1:
            if swap_accounting:
                out.append(("memory.swap.max", "max"))
        elif r.memory_swap is not None:
            out.append(("memory.swap.max", str(r.memory_swap - r.memory)))
        elif swap_accounting:
            # podman/docker: without --memory-swap, swap may add as much again
            out.append(("memory.swap.max", str(r.memory)))
    elif r.memory_swap == -1 and swap_accounting:
        out.append(("memory.swap.max", "max"))
    if r.cpus is not None:
        out.append(("cpu.max", cpus_to_max(r.cpus)))
    elif r.cpu_quota is not None or r.cpu_period is not None:
        period = r.cpu_period or CPU_PERIOD
        quota = "max" if r.cpu_quota in (None, -1) else str(r.cpu_quota)
        out.append(("cpu.max", f"{quota} {period}"))
    if r.cpu_shares is not None:
        out.append(("cpu.weight", str(shares_to_weight(r.cpu_shares))))
    elif r.cpu_weight is not None:
        out.append(("cpu.weight", str(r.cpu_weight)))
    if r.cpuset_cpus is not None:
        out.append(("cpuset.cpus", r.cpuset_cpus))
    if r.cpuset_mems is not None:
        out.append(("cpuset.mems", r.cpuset_mems))
    if r.pids_limit is not None:
        out.append(("pids.max", "max" if r.pids_limit <= 0 else str(r.pids_limit)))
    if r.blkio_weight is not None:
        if bfq:
            out.append(("io.bfq.weight", str(r.blkio_weight)))
        else:
            out.append(("io.weight", f"default {blkio_to_io_weight(r.blkio_weight)}"))
    for flag, key, items in (("--device-read-bps", "rbps", r.device_read_bps),
                             ("--device-write-bps", "wbps", r.device_write_bps)):
        for item in items:
            path, rate = _split_device_rate(item, flag)
            out.append(("io.max", f"{devnum(path, flag)} {key}={rate}"))
    return out


def controllers_needed(pairs: list[tuple[str, str]]) -> list[str]:
    seen: list[str] = []
    for name, _ in pairs:
        c = CONTROLLER_OF[name]
        if c not in seen:
            seen.append(c)
    return seen
