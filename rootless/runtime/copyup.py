"""A new volume gets what the image has where it is mounted, as podman's
(libpod's mountNamedVolume and fixVolumePermissions):

- copy-up: a volume that was never populated, mounted on a directory the
  image fills, receives that directory's content with owners, modes, times,
  symlinks, hard links and extended attributes; once done it is marked
  (NeedsCopyUp false in volume.json) and no later container copies again.
  `:nocopy` opts out for one mount; a volume that is not empty is never
  copied into.
- ownership: a new volume takes the image directory's owner and mode (or,
  where the image has no such directory, the container user's IDs), so a
  `USER 1000` image can write to its volume.

Runs in PID 1 as root of the user namespace, after the rootfs is mounted and
before any volume is (the image's directory is still visible), so owners land
on the mapped IDs. Every path in the image is resolved inside the rootfs
(symlinks as if the rootfs were /) one component at a time from directory
file descriptors with O_NOFOLLOW, and the copy itself works only through
descriptors: an image's symlink can point neither the source nor the
destination outside the rootfs or the volume.

Nothing here may be imported after pivot_root (runtime/child.py): it is
imported with mounts at the top."""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from rootless import jsonio
from rootless.runtime import users

O_PATH = getattr(os, "O_PATH", 0o10000000)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
META = "volume.json"
# overlay drivers' own attributes and what a user namespace may not set
_SKIP_XATTR = ("trusted.", "user.overlay.", "user.fuseoverlayfs.", "security.selinux")
_MAX_LINK_FDS = 512


class _Resolved:
    """An image path resolved inside the rootfs: an O_PATH fd and its stat."""

    def __init__(self, fd: int):
        self.fd = fd
        self.st = os.fstat(fd)

    # reopened through the descriptor's /proc link (itself a link, so no
    # O_NOFOLLOW): the object resolved, never a name looked up again
    def open_dir(self) -> int:
        return os.open(f"/proc/self/fd/{self.fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def read(self) -> bytes:
        fd = os.open(f"/proc/self/fd/{self.fd}", os.O_RDONLY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def close(self) -> None:
        os.close(self.fd)


def resolve_in_root(root_fd: int, path: str) -> _Resolved | None:
    """path inside the tree at root_fd, each symlink resolved as if root_fd
    were / (an absolute target restarts at root_fd, .. never climbs above it);
    None when a component is missing or a non-directory is walked through."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    stack = [os.open(".", O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root_fd)]
    hops = 0
    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            if not stat.S_ISDIR(os.fstat(stack[-1]).st_mode):
                return None
            try:
                fd = os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            except (FileNotFoundError, NotADirectoryError):
                return None
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                target = os.readlink("", dir_fd=fd)  # the link the fd holds, not a name looked up again
                os.close(fd)
                hops += 1
                if hops > 40:
                    raise OSError(errno.ELOOP, f"too many symlinks resolving {path} in the image")
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            stack.append(fd)
        return _Resolved(stack.pop())
    finally:
        for fd in stack:
            os.close(fd)


# ------------------------------------------------------------------ the copy

class _Copier:
    def __init__(self):
        self.links: dict[tuple[int, int], int] = {}  # (dev, ino) of a source -> O_PATH fd of its copy

    def close(self) -> None:
        for fd in self.links.values():
            os.close(fd)
        self.links.clear()

    def tree(self, src: int, dst: int) -> None:
        """Every entry of directory src into directory dst (both fds)."""
        for name in os.listdir(src):
            st = os.stat(name, dir_fd=src, follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                os.mkdir(name, 0o700, dir_fd=dst)
                s = os.open(name, _DIR, dir_fd=src)
                try:
                    d = os.open(name, _DIR, dir_fd=dst)
                    try:
                        self.tree(s, d)
                        _attributes(s, d, st)
                    finally:
                        os.close(d)
                finally:
                    os.close(s)
            elif stat.S_ISREG(mode):
                self.file(src, dst, name, st)
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
                _own(lambda u, g: os.chown(name, u, g, dir_fd=dst, follow_symlinks=False), st)
                os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
            elif stat.S_ISFIFO(mode):
                os.mkfifo(name, 0o600, dir_fd=dst)
                fd = os.open(name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
                try:
                    _own(lambda u, g: os.chown(f"/proc/self/fd/{fd}", u, g), st)
                    os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(mode))
                    os.utime(f"/proc/self/fd/{fd}", ns=(st.st_atime_ns, st.st_mtime_ns))
                finally:
                    os.close(fd)
            # device nodes cannot be made in a user namespace, sockets belong to a process: skipped

    def file(self, src: int, dst: int, name: str, st: os.stat_result) -> None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            try:
                os.link(f"/proc/self/fd/{self.links[key]}", name, dst_dir_fd=dst, follow_symlinks=True)
                return
            except OSError:
                pass  # a copy of its own, then
        s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
        try:
            d = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dst)
            try:
                left = st.st_size
                while left > 0:
                    n = os.sendfile(d, s, None, min(left, 1 << 30))
                    if n == 0:
                        break
                    left -= n
                _attributes(s, d, st)
                if st.st_nlink > 1 and len(self.links) < _MAX_LINK_FDS:
                    self.links[key] = os.open(f"/proc/self/fd/{d}", O_PATH | os.O_CLOEXEC)
            finally:
                os.close(d)
        finally:
            os.close(s)


def _own(chown, st: os.stat_result) -> None:
    try:
        chown(st.st_uid, st.st_gid)
    except OSError as e:
        if e.errno != errno.EINVAL:  # an ID this namespace does not map (the overflow ID): keep ours
            raise


def _attributes(s: int, d: int, st: os.stat_result) -> None:
    """Owner, extended attributes, mode, times of fd d from source fd s, in
    the order that keeps them: chown clears set-id bits and file capabilities."""
    _own(lambda u, g: os.fchown(d, u, g), st)
    try:
        names = os.listxattr(s)
    except OSError:
        names = []
    for attr in names:
        if attr.startswith(_SKIP_XATTR):
            continue
        try:
            os.setxattr(d, attr, os.getxattr(s, attr))
        except OSError:
            pass  # one a user namespace may not set, or the volume's filesystem does not take
    os.fchmod(d, stat.S_IMODE(st.st_mode))
    os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))


# ------------------------------------------------------------------ the volume's state

def _load(vol_fd: int) -> dict:
    try:
        fd = os.open(META, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=vol_fd)
    except FileNotFoundError:
        return {}
    with os.fdopen(fd, "rb") as f:
        try:
            data = jsonio.loads(f.read().decode("utf-8"))
        except ValueError:
            return {}
    return data if isinstance(data, dict) else {}


def _save(vol_fd: int, meta: dict) -> None:
    tmp = f".{META}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=vol_fd)
    try:
        owner = os.fstat(vol_fd)
        try:
            os.fchown(fd, owner.st_uid, owner.st_gid)  # the user's, also from a keep-id namespace
        except OSError:
            pass
        os.write(fd, jsonio.dumps(meta).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, META, src_dir_fd=vol_fd, dst_dir_fd=vol_fd)


# ------------------------------------------------------------------ entry points

def prepare_volumes(root: str, spec) -> None:
    """Before any volume is mounted: copy-up and ownership for each named
    volume in spec.binds (host directories are left as they are)."""
    vols = [b for b in spec.binds if b.volume]
    if not vols:
        return
    root_fd = os.open(root, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    creds: list = []

    def container_ids() -> tuple[int, int] | None:
        if not creds:
            creds.append(_container_ids(root_fd, spec.user))
        return creds[0]
    try:
        for b in vols:
            try:
                prepare_volume(root_fd, b, container_ids)
            except OSError as e:
                raise OSError(e.errno, f"volume {b.volume} on {b.target}: {e.strerror or e}") from None
    finally:
        os.close(root_fd)


def _container_ids(root_fd: int, user: str) -> tuple[int, int] | None:
    def text(path: str) -> str:
        r = resolve_in_root(root_fd, path)
        if r is None:
            return ""
        try:
            return r.read().decode("utf-8", "replace") if stat.S_ISREG(r.st.st_mode) else ""
        finally:
            r.close()
    try:
        c = users.resolve(user, text("/etc/passwd"), text("/etc/group"))
    except users.UnknownUser:
        return None  # reported after the pivot, where the user is resolved for good
    return c.uid, c.gid


def prepare_volume(root_fd: int, b, container_ids) -> None:
    vol_fd = os.open(os.path.dirname(b.source), _DIR)
    try:
        fcntl.flock(vol_fd, fcntl.LOCK_EX)  # two containers starting on one new volume: one copies
        meta = _load(vol_fd)
        data_fd = os.open(os.path.basename(b.source), _DIR, dir_fd=vol_fd)
        src = resolve_in_root(root_fd, b.target)
        if src is not None and src.st.st_dev != os.fstat(root_fd).st_dev:
            src.close()  # /proc, /dev, /sys mounted by rl already: not the image's, never copied
            src = None
        try:
            _copy_up(vol_fd, data_fd, meta, src, b)
            _fix_owner(vol_fd, data_fd, meta, src, b, container_ids)
        finally:
            os.close(data_fd)
            if src is not None:
                src.close()
    finally:
        os.close(vol_fd)  # and the lock with it


def _copy_up(vol_fd: int, data_fd: int, meta: dict, src: _Resolved | None, b) -> None:
    if not (b.copy and meta.get("NeedsCopyUp")):
        return
    if src is None or not stat.S_ISDIR(src.st.st_mode):
        return
    sfd = src.open_dir()
    try:
        if not os.listdir(sfd) or os.listdir(data_fd):
            return  # nothing to copy; or something put data there already: never mixed in
        meta.update(NeedsCopyUp=False, CopiedUp=True)
        _save(vol_fd, meta)
        copier = _Copier()
        try:
            copier.tree(sfd, data_fd)
        finally:
            copier.close()
    finally:
        os.close(sfd)


def _fix_owner(vol_fd: int, data_fd: int, meta: dict, src: _Resolved | None, b, container_ids) -> None:
    if not meta.get("NeedsChown"):
        return
    if not meta.get("CopiedUp") and os.listdir(data_fd):
        meta["NeedsChown"] = False  # someone's data: its owners stay
        _save(vol_fd, meta)
        return
    ids = container_ids()
    if meta.get("CopiedUp"):
        meta["NeedsChown"] = False
    meta["CopiedUp"] = False
    _save(vol_fd, meta)
    if ids is not None:
        os.fchown(data_fd, *ids)
    if b.chown or src is None:
        return  # :U gives the whole tree to the user after the pivot
    st = src.st
    _own(lambda u, g: os.fchown(data_fd, u, g), st)
    if (st.st_uid, st.st_gid) == (0, 0) and meta.get("NeedsChown"):
        meta["NeedsChown"] = False  # root's: sticky, as podman
        _save(vol_fd, meta)
    os.fchmod(data_fd, stat.S_IMODE(st.st_mode))
    os.utime(data_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
