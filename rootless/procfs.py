"""What /proc says about a process: plain file reads (no ctypes, so `rl ps` stays light)."""

from __future__ import annotations

import os


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


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("PPid:"))


def _mounter_side(pid1: int) -> list[int]:
    """PID 1's parent, and with --userns=keep-id its grandparent too: there
    the parent is the process that entered the nested user namespace (same
    mount namespace), and the daemon is a child of the outer namespace side
    that mounted the rootfs before nesting."""
    parent = _ppid(pid1)
    out = [parent]
    grand = _ppid(parent)
    try:
        if grand > 1 and os.readlink(f"/proc/{grand}/ns/mnt") == os.readlink(f"/proc/{parent}/ns/mnt"):
            out.append(grand)
    except OSError:
        pass
    return out


def children(pid: int) -> list[int]:
    """The children of every thread of pid (OSError when it is gone)."""
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
            out += [int(c) for c in f.read().split()]
    return out


def fuse_lost(pid1: int | None, merged: str) -> str | None:
    """Why a running container's fuse-overlayfs rootfs is gone, or None.
    The daemon is a child of the namespace side (PID 1's parent, or its
    grandparent with keep-id), whose mount namespace holds the mount: a
    daemon killed or crashed leaves the mount in place (answering ENOTCONN
    inside, EACCES to this user outside the namespace), the container
    running on, and every exec failing as if the program were missing. So:
    the mount is there, its daemon is not."""
    if not pid1:
        return None
    try:
        sides = _mounter_side(pid1)
        target = merged.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011") \
            .replace("\n", "\\012")
        with open(f"/proc/{sides[0]}/mountinfo") as f:
            mounted = any(ln.split()[4] == target and ln.split(" - ", 1)[1].startswith("fuse")
                          for ln in f if " - " in ln)
        if not mounted:
            return None  # not the layout this knows: say nothing rather than guess
        for child in [c for side in sides for c in children(side)]:
            try:
                with open(f"/proc/{child}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:][:1]
            if comm.startswith("fuse-overlayfs") and state != "Z":
                return None
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    return "fuse-overlayfs died"
