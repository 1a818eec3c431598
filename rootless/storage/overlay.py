"""Kernel overlayfs mounted inside the user namespace (Linux >= 5.11) with
`userxattr`: opaque markers are read from user.overlay.*, whiteouts are
0/0 character devices - exactly the layer format."""

from __future__ import annotations

from rootless import linux
from rootless.errors import RuntimeSetupError


class KernelOverlay:
    name = "overlay"

    def mount(self, lower_dirs: list[str], upper: str, work: str, target: str,
              idmap: tuple[str, str] | None = None) -> None:
        if idmap:
            raise RuntimeSetupError(f"the {self.name} storage driver cannot present files under other IDs",
                                    hint="--userns=keep-id needs --storage-driver fuse-overlayfs")
        lower = ":".join(d.replace(":", "\\:") for d in reversed(lower_dirs))  # leftmost is top
        data = f"lowerdir={lower},upperdir={upper},workdir={work},userxattr"
        try:
            linux.mount("overlay", target, "overlay", 0, data)
        except OSError as e:
            raise RuntimeSetupError(f"cannot mount overlay on {target}: {e.strerror}",
                                    hint="needs Linux >= 5.11 and an upper filesystem with user xattrs; "
                                         "try --storage-driver fuse-overlayfs or vfs") from None

    def unmount(self, target: str) -> None:
        try:
            linux.umount2(target, linux.Umount.DETACH)
        except OSError:
            pass
