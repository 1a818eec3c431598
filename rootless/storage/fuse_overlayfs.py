"""fuse-overlayfs, run inside the user namespace so it sees the layers'
real (mapped) owners without any uid translation options. It daemonizes
once the mount is up; the namespace side reaps it as child subreaper."""

from __future__ import annotations

import subprocess

from rootless import linux, tools
from rootless.errors import RuntimeSetupError


def escape(path: str) -> str:
    # fuse-overlayfs splits lowerdir on ':' and options on ','
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


class FuseOverlayfs:
    name = "fuse-overlayfs"

    def mount(self, lower_dirs: list[str], upper: str, work: str, target: str) -> None:
        exe = tools.require("fuse-overlayfs", "the default storage driver mounts container rootfs with it")
        lower = ":".join(escape(d) for d in reversed(lower_dirs))  # fuse-overlayfs: leftmost is top
        opts = f"lowerdir={lower},upperdir={escape(upper)},workdir={escape(work)},fsync=0"
        res = subprocess.run([exe, "-o", opts, target], capture_output=True, text=True)
        if res.returncode != 0:
            detail = (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
            raise RuntimeSetupError(f"fuse-overlayfs failed to mount {target}: {detail}",
                                    hint="try --storage-driver overlay or vfs")

    def unmount(self, target: str) -> None:
        try:
            linux.umount2(target, linux.Umount.DETACH)
        except OSError:
            pass  # the namespace is going away; its last process takes the mount with it
