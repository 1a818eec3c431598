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
