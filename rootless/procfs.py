"""What /proc says about a process: plain file reads (no ctypes, so `rl ps` stays light)."""

from __future__ import annotations


def start_time(pid: int, *, zombie: bool = False) -> int | None:
    """The process's start time (clock ticks since boot, /proc/PID/stat
    field 22): with the pid it names one process, never a recycled pid.
    None when it is gone, or (unless zombie) has finished and awaits its reaping."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    if not zombie and fields[:1] == [b"Z"]:
        return None  # a zombie has finished: not an owner any more
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None
