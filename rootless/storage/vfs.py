"""vfs: no union filesystem at all. The layers are copied, bottom to top,
into the container's upper dir once (whiteouts and opaque dirs applied),
and that tree is bind-mounted on target. Slow to create, works anywhere."""

from __future__ import annotations

import os
import shutil
import stat

from rootless import linux
from rootless.errors import RuntimeSetupError

OPAQUE_XATTRS = ("user.overlay.opaque", "user.fuseoverlayfs.opaque")
DONE = ".rl-vfs-complete"  # beside upper: the copy finished


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    for name in os.listxattr(src, follow_symlinks=False):
        if name in OPAQUE_XATTRS:
            continue
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
        except OSError:
            pass
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def apply_layer(src: str, dst: str, links: dict) -> None:
    """Copy one layer dir over dst with overlay semantics."""
    for entry in os.scandir(src):
        s, d = entry.path, os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        if is_whiteout(st):
            _remove(d)
            continue
        if stat.S_ISDIR(st.st_mode):
            if os.path.lexists(d) and (not os.path.isdir(d) or os.path.islink(d) or is_opaque(s)):
                _remove(d)
            if not os.path.lexists(d):
                os.mkdir(d, 0o700)
            apply_layer(s, d, links)
            _copy_meta(s, d, st)
            continue
        _remove(d)
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            os.link(links[key], d)  # keep hard links hard
            continue
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s), d)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(s, d, follow_symlinks=False)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(d)
        else:
            os.mknod(d, st.st_mode, st.st_rdev)
        _copy_meta(s, d, st)
        if st.st_nlink > 1:
            links[key] = d


class Vfs:
    name = "vfs"

    def mount(self, lower_dirs: list[str], upper: str, work: str, target: str,
              idmap: tuple[str, str] | None = None) -> None:
        if idmap:
            raise RuntimeSetupError(f"the {self.name} storage driver cannot present files under other IDs",
                                    hint="--userns=keep-id needs --storage-driver fuse-overlayfs")
        done = os.path.join(work, DONE)
        if not os.path.exists(done):
            links: dict = {}
            for layer in lower_dirs:
                apply_layer(layer, upper, links)
                _copy_meta(layer, upper, os.lstat(layer))  # the root directory's own mode/owner
            os.close(os.open(done, os.O_CREAT | os.O_WRONLY, 0o600))
        linux.mount(upper, target, None, linux.Mount.BIND | linux.Mount.REC)

    def unmount(self, target: str) -> None:
        try:
            linux.umount2(target, linux.Umount.DETACH)
        except OSError:
            pass
