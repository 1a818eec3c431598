"""A running container's usage read back from its cgroup (rl stats), and
its limits changed in place (rl update)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rootless.cgroups import layout, manager
from rootless.cgroups.resources import CgroupError, Resources, controllers_needed, files
from rootless.plain import record


def locate(state_dir: str | Path, pid: int | None) -> str | None:
    """The container's cgroup (v2 path): recorded at start, else PID 1's own."""
    try:
        info = json.loads((Path(state_dir) / "cgroup.json").read_text())
        if info.get("cgroup") and info.get("running", True):
            return info["cgroup"]
    except (OSError, ValueError):
        pass
    if pid:
        try:
            return layout.own_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
        except OSError:
            return None
    return None


def oom_killed(state_dir: str | Path) -> bool:
    try:
        return bool(json.loads((Path(state_dir) / "cgroup.json").read_text()).get("oom_killed"))
    except (OSError, ValueError):
        return False


def _read(p: Path) -> str:
    try:
        return p.read_text().strip()
    except OSError:
        return ""


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _kv(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def io_bytes(io_stat: str) -> tuple[int, int]:
    """io.stat lines "8:0 rbytes=N wbytes=N rios=..." -> (read, written)."""
    r = w = 0
    for line in io_stat.splitlines():
        for item in line.split()[1:]:
            k, _, v = item.partition("=")
            if k == "rbytes" and v.isdigit():
                r += int(v)
            elif k == "wbytes" and v.isdigit():
                w += int(v)
    return r, w


def net_bytes(net_dev: str) -> tuple[int, int]:
    """/proc/PID/net/dev (the container's network namespace) -> (rx, tx), lo excluded."""
    rx = tx = 0
    for line in net_dev.splitlines()[2:]:
        name, _, rest = line.partition(":")
        cols = rest.split()
        if name.strip() == "lo" or len(cols) < 9:
            continue
        rx += int(cols[0])
        tx += int(cols[8])
    return rx, tx


@record
class Sample:
    cpu_usec: int
    at: float
    mem_usage: int
    mem_limit: int | None      # None: unlimited
    pids: int
    pids_limit: int | None
    block_read: int
    block_write: int
    net_rx: int
    net_tx: int
    oom_kills: int


def sample(cg: Path, pid: int | None = None) -> Sample:
    mem = _kv(_read(cg / "memory.stat"))
    usage = _int(_read(cg / "memory.current")) or 0
    # as docker/podman: the page cache that could be dropped is not "usage"
    usage = max(0, usage - mem.get("inactive_file", 0))
    br, bw = io_bytes(_read(cg / "io.stat"))
    rx = tx = 0
    if pid:
        try:
            rx, tx = net_bytes(Path(f"/proc/{pid}/net/dev").read_text())
        except OSError:
            pass
    return Sample(cpu_usec=_kv(_read(cg / "cpu.stat")).get("usage_usec", 0), at=time.monotonic(),
                  mem_usage=usage, mem_limit=_int(_read(cg / "memory.max")),
                  pids=_int(_read(cg / "pids.current")) or 0, pids_limit=_int(_read(cg / "pids.max")),
                  block_read=br, block_write=bw, net_rx=rx, net_tx=tx, oom_kills=manager.oom_kills(cg))


def host_memory() -> int:
    for line in _read(Path("/proc/meminfo")).splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_percent(a: Sample, b: Sample) -> float:
    """Share of one CPU used between two samples (podman: 100% = one CPU)."""
    wall = (b.at - a.at) * 1e6
    return 100.0 * (b.cpu_usec - a.cpu_usec) / wall if wall > 0 else 0.0


def report(cg_path: str, pid: int | None, interval: float = 0.5) -> dict:
    """One container's stats as podman's `stats --format json` fields."""
    cg = layout.probe().path(cg_path) if not cg_path.startswith("/sys/") else Path(cg_path)
    a = sample(cg, pid)
    time.sleep(interval)
    b = sample(cg, pid)
    limit = b.mem_limit or host_memory()
    return {
        "cpu_percent": round(cpu_percent(a, b), 2),
        "cpu_usec": b.cpu_usec,
        "mem_usage": b.mem_usage,
        "mem_limit": limit,
        "mem_percent": round(100.0 * b.mem_usage / limit, 2) if limit else 0.0,
        "pids": b.pids,
        "pids_limit": b.pids_limit,
        "block_read": b.block_read,
        "block_write": b.block_write,
        "net_rx": b.net_rx,
        "net_tx": b.net_tx,
        "oom_kills": b.oom_kills,
        "cgroup": cg_path,
    }


def update(cg_path: str, res: Resources) -> list[tuple[str, str]]:
    """Write new limits into a running container's cgroup; what was written."""
    asked = res.requested()
    if not asked:
        raise CgroupError("nothing to update", hint="give a limit, e.g. rl update --memory 256m CONTAINER")
    host = layout.probe()
    cg = host.path(cg_path)
    if not cg.is_dir():
        raise CgroupError(f"the container's cgroup {cg_path} is gone", hint="is the container still running?")
    avail = set(_read(cg / "cgroup.controllers").split())
    writes = files(res, swap_accounting=(cg / "memory.swap.max").exists(), bfq=(cg / "io.bfq.weight").exists())
    if res.memory is not None and res.memory_swap is None:
        # podman update --memory alone leaves the swap limit as it was
        writes = [w for w in writes if w[0] != "memory.swap.max"]
    missing = [c for c in controllers_needed(writes) if c not in avail]
    if missing:
        raise CgroupError(f"cannot apply {', '.join(asked)}: the {' '.join(missing)} controller is not enabled "
                          f"for {cg_path}", hint=manager.DROPIN_HINT)
    manager.apply_limits(cg, writes)
    return writes


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.4g}{unit}"
        n /= 1000
    return f"{n}"


def table_row(ident: str, name: str, s: dict) -> list[str]:
    return [ident[:12], name, f"{s['cpu_percent']:.2f}%",
            f"{_human(s['mem_usage'])} / {_human(s['mem_limit'])}", f"{s['mem_percent']:.2f}%",
            f"{_human(s['net_rx'])} / {_human(s['net_tx'])}",
            f"{_human(s['block_read'])} / {_human(s['block_write'])}",
            f"{s['pids']}" + (f" / {s['pids_limit']}" if s.get("pids_limit") else "")]


HEADER = ["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET IO", "BLOCK IO", "PIDS"]

