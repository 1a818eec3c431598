"""Files and directories that only this user can reach, on a host other
users share.

rl trusts what it reads back from its runtime directory (state, exit
statuses, the seccomp filters it compiled) and keeps containers' data under
its storage root. A directory another local user created, or can write, or a
symlink planted in rl's place, would let that user feed rl its state or a
container its seccomp filter. So: directories are created 0700 and an
existing one must be a real directory of this user's that nobody else could
have written into; files are created with O_EXCL|O_NOFOLLOW and read back
only when they are regular files of this user's, never through a symlink.
Stdlib only: the runtime (after fork, before exec) may use it."""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from rootless.errors import RlError
from rootless.pathlite import Path

_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeDirectory(RlError):
    """A directory rl would trust is not safely this user's."""


def _others_may_enter(st: os.stat_result) -> bool:
    return st.st_uid != os.getuid() or bool(st.st_mode & 0o011)


def make_dirs(path: str | os.PathLike, mode: int = 0o700) -> Path:
    """mkdir -p where every level created gets mode (os.makedirs gives the
    intermediate levels the umask's default, e.g. 0755)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and not p.is_symlink() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            os.mkdir(p, mode)
        except FileExistsError:
            pass
    return path


def private_dir(path: str | os.PathLike, *, create: bool = True, what: str = "runtime directory",
                instead: str = "use another directory") -> Path:
    """path as a directory only this user can write: created 0700 (a symlink
    in its place is never followed), or an existing real directory owned by
    this user that is not writable by group or others. One that is merely
    readable by others is tightened to 0700 (nobody else could have put
    anything in it). Anything else raises UnsafeDirectory with the reason
    and the fix: remove it, or `instead`. With create=False a missing
    directory raises FileNotFoundError."""
    path = Path(path)
    uid = os.getuid()

    def hint() -> str:
        try:
            mine = os.lstat(path).st_uid == uid
        except OSError:
            mine = True
        gone = f"remove it (rm -rf {path})" if mine else f"ask its owner or root to remove {path}"
        return f"{gone}, or {instead}"

    parent = path.parent
    if create:
        if not os.path.lexists(parent):
            make_dirs(parent)
        try:
            os.mkdir(path, 0o700)  # never follows a symlink planted at path
        except FileExistsError:
            pass
    try:
        pst = os.stat(parent)
    except OSError:
        pst = None
    if pst is not None and pst.st_mode & 0o002 and not pst.st_mode & stat.S_ISVTX:
        # anyone could rename rl's directory away and put theirs in its place
        raise UnsafeDirectory(f"{what} {path}: its parent {parent} is writable by every user and not sticky",
                              hint=instead)
    try:
        fd = os.open(path, _NOFOLLOW_DIR)
    except OSError as e:
        if e.errno == errno.ENOENT and not create:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path)) from None
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = "a symbolic link" if os.path.islink(path) else "not a directory"
            raise UnsafeDirectory(f"{what} {path} is {kind}: rl never follows one there (another user may have "
                                  "planted it)", hint=hint()) from None
        raise UnsafeDirectory(f"{what} {path}: {e.strerror}", hint=hint()) from None
    try:
        st = os.fstat(fd)
        if st.st_uid != uid:
            raise UnsafeDirectory(f"{what} {path} belongs to uid {st.st_uid}, not to you (uid {uid}): another user "
                                  "may have created it to read or feed rl's state", hint=hint())
        if st.st_mode & 0o022 and (pst is None or _others_may_enter(pst)):
            raise UnsafeDirectory(f"{what} {path} is writable by other users (mode {stat.S_IMODE(st.st_mode):04o}): "
                                  "it may hold files they planted", hint=hint())
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return path


def read_private(path: str | os.PathLike, limit: int = 1 << 20) -> bytes:
    """The content of a state file rl wrote: a regular file of this user's
    (in a directory private_dir checked), opened without following a symlink (OSError otherwise, as for a missing
    file), at most limit bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if st.st_uid != os.getuid():
            raise OSError(errno.EPERM, "not your file", str(path))
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def record_files(directory: str | os.PathLike) -> list[str]:
    """The names of the JSON records in directory, sorted: NAME.json, never
    a dot-file (atomic_write's temporary); [] when there is no directory."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.endswith(".json") and not n.startswith("."))


def atomic_write(path: str | os.PathLike, data: bytes | str, mode: int | None = 0o600, *,
                 fsync: bool = False) -> None:
    """Replace path with data: a reader sees the old file or the new, never
    half of one. The temporary file is created O_EXCL|O_NOFOLLOW (never
    written through something planted in its place). A failure (a full
    disk) raises OSError naming path, leaves the old file and removes the
    temporary one. mode: exactly these bits whatever the umask; None: as
    open() would (0666 less the umask). fsync: the data is on disk before
    the rename (store records that must survive a crash)."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o666 if mode is None else mode)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)  # exactly mode: a monitor's umask 077 must not turn 0644 into 0600
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as e:  # a full disk, or ^C: no temporary file left behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise


class locked:
    """`with locked(path):` an flock on path (created 0600, never through
    a symlink), exclusive or shared, held until the block ends; with
    timeout, TimeoutError when another holder keeps it that long. A class,
    not a contextlib generator: contextlib's import is ~4 ms of every command."""

    def __init__(self, path: str | os.PathLike, shared: bool = False, timeout: float | None = None):
        self.path, self.shared, self.timeout = path, shared, timeout
        self._fd = -1

    def __enter__(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        how = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        try:
            if self.timeout is None:
                fcntl.flock(fd, how)  # EINTR retried by Python (PEP 475)
            else:
                import time
                deadline = time.monotonic() + self.timeout
                while True:
                    try:
                        fcntl.flock(fd, how | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"{self.path} is held by another rl command") from None
                        time.sleep(0.02)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def __exit__(self, *exc) -> None:
        os.close(self._fd)
        self._fd = -1
