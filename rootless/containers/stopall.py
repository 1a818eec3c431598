"""Stopping every process of a PID namespace with signals, for a pause
where no cgroup freezer exists (copy.py's commit): who is in it, which of
them have stopped, and the passes that signal them until all have."""

from __future__ import annotations

import errno
import os
import time

from rootless import procfs


def members(target: str) -> dict[int, str]:
    """Host pid -> state letter of every process in the PID namespace target."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != target:
                continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                out[int(entry)] = f.read().rsplit(b")", 1)[1].split()[0].decode()
        except (OSError, IndexError):
            continue  # gone, or not ours to look at
    return out


def _children(pid: int) -> list[int]:
    try:
        return procfs.children(pid)
    except OSError:
        return []  # gone


def _held_by_vfork(pid: int, states: dict[int, str]) -> bool:
    """Whether pid waits (state D) for a vfork child that is itself stopped.
    A shell (dash vforks every command) may be stopped between its vfork
    and the child's exec: the parent then sleeps uninterruptibly until the
    child execs, which a stopped child never does, so it never reaches the
    stop. It cannot run either, so for a pause it counts as stopped."""
    from rootless.linux import syscalls
    for child in _children(pid):
        if states.get(child) in ("T", "t"):
            try:
                if syscalls.same_vm(pid, child):
                    return True
            except OSError:
                continue
    return False


def pending_stop(states: dict[int, str]) -> dict[int, str]:
    """Those of states (pid -> state letter) that have not stopped yet."""
    return {p: s for p, s in states.items()
            if s not in "TtZX" and not (s == "D" and _held_by_vfork(p, states))}


def signal_pass(members, sig: int, wait: bool) -> None:
    """Signal every process members() lists; with wait, until each one is
    stopped (members: () -> {pid: state letter})."""
    deadline = time.monotonic() + 30
    while True:
        pending = pending_stop(members()) if wait else members()
        if not pending:
            return
        if time.monotonic() > deadline:
            raise OSError(errno.ETIMEDOUT, f"processes {sorted(pending)} did not stop")
        for p in pending:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        if not wait:
            return
        time.sleep(0.005)
