"""Rootfs drivers behind one small protocol. Every method runs as root of
the container's user namespace, in its own mount namespace.

Layer on-disk format (the unpacker writes exactly this): a whiteout is a
character device 0/0 with the deleted entry's name; an opaque directory
carries the xattrs user.overlay.opaque=y and user.fuseoverlayfs.opaque=y."""

from __future__ import annotations

import os

from rootless import tools
from rootless.errors import UsageError
from rootless.fsutil import atomic_write, make_dirs

TYPE_CHECKING = False  # typing is not imported: `rl run` pays for every import
if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

NAMES = ("fuse-overlayfs", "overlay", "vfs")


class Driver:
    """What a storage driver provides (a protocol: the drivers do not derive from it)."""
    name: str

    def mount(self, lower_dirs: list[str], upper: str, work: str, target: str,
              idmap: tuple[str, str] | None = None) -> None:
        """Stack lower_dirs (bottom to top) under upper and mount on target.
        idmap: (uidmapping, gidmapping) "presented:on-disk:count:..." to show
        files under other IDs (only fuse-overlayfs can)."""

    def unmount(self, target: str) -> None:
        ...


def driver(name: str) -> Driver:
    if name == "fuse-overlayfs":
        from rootless.storage.fuse_overlayfs import FuseOverlayfs
        return FuseOverlayfs()
    if name == "overlay":
        from rootless.storage.overlay import KernelOverlay
        return KernelOverlay()
    if name == "vfs":
        from rootless.storage.vfs import Vfs
        return Vfs()
    raise UsageError(f"unknown storage driver {name!r}", hint=f"one of: {', '.join(NAMES)}")


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        parts = os.uname().release.split(".")  # platform.release(), without importing platform
        return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)
    except (ValueError, IndexError):
        return False


def probe() -> str:
    """The best driver this host offers: fuse-overlayfs when it and
    /dev/fuse work, else kernel overlay (unprivileged since 5.11), else vfs."""
    if tools.find("fuse-overlayfs"):
        try:
            os.close(os.open("/dev/fuse", os.O_RDWR))
            return "fuse-overlayfs"
        except OSError:
            pass
    if _kernel_at_least(5, 11):
        return "overlay"
    return "vfs"


def choose(requested: str | None, root: Path) -> str:
    """--storage-driver wins; else the probe's answer, cached under the
    storage root so it is taken once (and a store keeps its driver)."""
    if not requested:
        from rootless import config
        requested = config.storage_conf().driver  # storage.conf's driver, mapped to rl's names
    if requested:
        if requested not in NAMES:
            raise UsageError(f"unknown storage driver {requested!r}", hint=f"one of: {', '.join(NAMES)}")
        return requested
    cache = root / "storage-driver"
    try:
        name = cache.read_text().strip()
        if name in NAMES:
            return name
    except OSError:
        pass
    name = probe()
    try:
        make_dirs(root)  # 0700: the storage root is private (config.ensure_root)
        atomic_write(cache, name + "\n", mode=None)
    except OSError:
        pass
    return name
