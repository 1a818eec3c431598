"""fuse-overlayfs, run inside the user namespace so it sees the layers'
real (mapped) owners without any uid translation options.

It runs in the foreground as a direct child of the namespace side with a
parent-death signal: were that side killed, the daemon would otherwise keep
its mount namespace alive forever. Readiness is the mount appearing."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time

from rootless import linux, tools
from rootless.errors import RuntimeSetupError

READY_TIMEOUT = 10.0


def escape(path: str) -> str:
    # fuse-overlayfs splits lowerdir on ':' and options on ','
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def _die_with_parent() -> None:
    linux.set_pdeathsig(signal.SIGKILL)


class FuseOverlayfs:
    name = "fuse-overlayfs"

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def mount(self, lower_dirs: list[str], upper: str, work: str, target: str,
              idmap: tuple[str, str] | None = None) -> None:
        exe = tools.require("fuse-overlayfs", "the default storage driver mounts container rootfs with it")
        lower = ":".join(escape(d) for d in reversed(lower_dirs))  # fuse-overlayfs: leftmost is top
        opts = f"lowerdir={lower},upperdir={escape(upper)},workdir={escape(work)},fsync=0"
        if idmap:
            opts += f",uidmapping={idmap[0]},gidmapping={idmap[1]}"
        before = os.stat(target).st_dev
        log = tempfile.TemporaryFile()
        self.proc = tools.popen([exe, "-f", "-o", opts, target], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + READY_TIMEOUT
        delay = 0.0002
        while os.stat(target).st_dev == before:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._stop()
                log.seek(0)
                lines = log.read().decode(errors="replace").strip().splitlines()
                detail = lines[-1] if lines else "no mount appeared"
                raise RuntimeSetupError(f"fuse-overlayfs failed to mount {target}: {detail}",
                                        hint="try --storage-driver overlay or vfs")
            time.sleep(delay)
            delay = min(delay * 2, 0.005)
        log.close()

    def _stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc = None

    def unmount(self, target: str) -> None:
        try:
            linux.umount2(target, linux.Umount.DETACH)
        except OSError:
            pass  # the namespace is going away; its last process takes the mount with it
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)  # unmounted: the daemon exits on its own
            except subprocess.TimeoutExpired:
                pass
            self._stop()


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


def lost(pid1: int | None, merged: str) -> str | None:
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
        children: list[str] = []
        for side in sides:
            for task in os.listdir(f"/proc/{side}/task"):
                with open(f"/proc/{side}/task/{task}/children") as f:
                    children += f.read().split()
        for child in children:
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
