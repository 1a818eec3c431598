"""cp, export, diff and commit: file work on a container's root filesystem.

Every side that touches container files runs as root of a user namespace
with the container's own ID mapping, so ownership is carried over exactly
(a file of the container's UID 1000 lands on the host as subordinate ID
1000+N, the user's own files appear as root inside):

    running container: fork, setns into PID 1's user (+ mount) namespace;
                       its root is the container's root
    stopped container: a fresh mapped user + mount namespace mounts the
                       rootfs as `rl run` would, then chroots into it

Between the two sides of a copy flows a tar stream. Nothing is imported
after entering a container's mount namespace, and tarfile's user-name
lookups are switched off there (NSS would load the image's libraries)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
import tarfile

from rootless.config import Paths
from rootless.containers import stopall
from rootless.containers.records import Record, Store, same_process
from rootless.errors import ContainerError, UsageError
from rootless.linux import syscalls  # before any side enters a container: nothing is imported there

_PSEUDO = ("proc", "sys", "dev")  # kernel file systems: never exported


def _container(store: Store, rec: Record) -> int | None:
    st = store.state(rec)
    if st.get("state") == "running" and same_process(st.get("pid"), st.get("pid_start")):
        return st["pid"]
    return None


def _join(pid: int, mount: bool) -> None:
    from rootless import linux
    from rootless.runtime.init import namespace_pid
    pid = namespace_pid(pid)  # rl's built-in init is non-dumpable: its /proc/1/ns is closed to us
    for name, flag in (("user", linux.Clone.NEWUSER), ("mnt", linux.Clone.NEWNS)):
        if name == "mnt" and not mount:
            continue
        linux.setns_path(f"/proc/{pid}/ns/{name}", flag)


def _mount_rootfs(rec: Record, store: Store) -> None:
    """Stopped: mount the container's rootfs here and chroot into it."""
    from rootless import storage
    cdir = store.container_dir(rec.id)
    drv = storage.driver(rec.driver)
    drv.mount(list(rec.layers), str(cdir / "diff"), str(cdir / "work"), str(cdir / "merged"))
    os.chroot(str(cdir / "merged"))
    os.chdir("/")


def _side(store: Store, rec: Record, pid: int | None, in_container: bool, body, close_fd: int | None = None,
          err_fd: int = 2) -> int:
    """Fork a process that enters the right namespaces and runs body();
    returns its pid (exit 0 on success, 125 with the message on err_fd).
    close_fd: the other side's end of the pipe (held here, it would hide EOF)."""
    def main() -> int:
        if close_fd is not None:
            os.close(close_fd)
        tarfile.pwd = tarfile.grp = None  # numeric IDs only: no NSS inside the container
        if pid is None and in_container:
            _mount_rootfs(rec, store)
        if in_container:
            sys.meta_path.clear()
        body()
        return 0

    if pid is not None:
        child = os.fork()
        if child == 0:
            code = 125
            try:
                _join(pid, in_container)
                code = main()
            except BaseException as e:  # noqa: BLE001 - a forked child must never return
                _say(e, err_fd)
            finally:
                os._exit(code)
        return child
    from rootless.linux import Clone
    from rootless.runtime import userns

    def guarded() -> int:
        try:
            return main()
        except BaseException as e:  # noqa: BLE001
            _say(e, err_fd)
            return 125
    return userns.fork_userns(userns.user_mappings(), guarded, more_flags=Clone.NEWNS)


def _sides(store: Store, rec: Record, pid: int | None, sides) -> str | None:
    """Run each (in_container, body, close_fd) side and wait for all; the
    first failing side's message (the one that failed first in the stream:
    the producer's, before a consumer's "unexpected end"), or None. The
    user sees that one line, not one per process."""
    started = []
    for in_container, body, close_fd in sides:
        r, w = os.pipe()
        started.append((_side(store, rec, pid, in_container, body, close_fd=close_fd, err_fd=w), r))
        os.close(w)
    for _, _, close_fd in sides:
        if close_fd is not None:
            os.close(close_fd)
    from rootless.runtime import userns
    failed = []
    for child, r in started:
        code = userns.wait_status(child)
        with os.fdopen(r, "rb") as f:
            msg = f.read(8192).decode(errors="replace").strip()
        if code:
            failed.append(msg or f"exit status {code}")
    # a producer whose reader gave up only says "Broken pipe": the reader's reason is the one
    return next((m for m in failed if "Broken pipe" not in m), failed[0] if failed else None)


def _say(e: BaseException, fd: int = 2) -> None:
    msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    if isinstance(e, OSError) and e.filename:
        msg = f"{e.filename}: {msg}"
    try:
        os.write(fd, (msg if fd != 2 else f"Error: {msg}\n").encode()[:4096])
    except OSError:
        pass


# --- reading a tree without following what someone else may swap -------------
#
# A tree rl reads may be changed while it reads it by someone it must not
# trust: a container swapping a file of a shared volume (cp host->container)
# or of its upper dir (commit) for a symlink to one of the user's host files.
# So every entry is looked at relative to its directory's fd, opened with
# O_NOFOLLOW, and used only if the inode opened is the one lstat saw; a
# symlink is recorded as a symlink (its target is data, never followed).

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_O_PATHDIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_SWAPPED = (errno.ELOOP, errno.ENOENT, errno.ENOTDIR, errno.ENXIO, errno.EINVAL)
_TYPES = {stat.S_IFREG: tarfile.REGTYPE, stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
          stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE}


def _lstat_open(dfd: int, name: str) -> tuple[os.stat_result, int | None, str] | None:
    """(stat, fd, symlink target) of dfd/name, None when it is gone. A
    directory or regular file comes with an fd opened without following a
    symlink and checked to be the very inode lstat saw; swapped in between,
    the entry is looked at again (a symlink is then taken as a symlink)."""
    for _ in range(8):
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        fmt = stat.S_IFMT(st.st_mode)
        try:
            if fmt == stat.S_IFLNK:
                return st, None, os.readlink(name, dir_fd=dfd)
            if fmt not in (stat.S_IFREG, stat.S_IFDIR):
                return st, None, ""
            flags = (_O_DIR if fmt == stat.S_IFDIR else os.O_RDONLY | os.O_CLOEXEC)
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dfd)
        except OSError as e:
            if e.errno in _SWAPPED:
                continue  # replaced between lstat and open/readlink: look again
            raise
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) == (st.st_dev, st.st_ino) and stat.S_IFMT(fst.st_mode) == fmt:
            return fst, fd, ""
        os.close(fd)
    raise OSError(errno.EAGAIN, f"{name}: kept changing while it was read")


def _tarinfo(st: os.stat_result, arcname: str, linkname: str = "") -> tarfile.TarInfo | None:
    kind = _TYPES.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        return None  # a socket: tar has no type for it
    ti = tarfile.TarInfo(arcname)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime
    ti.uname = ti.gname = ""  # numeric IDs only: names mean nothing across the namespaces
    if kind == tarfile.REGTYPE:
        ti.size = st.st_size
    elif kind == tarfile.SYMTYPE:
        ti.linkname = linkname
    elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return ti


class _TarTree:
    """Writes entries read by _lstat_open into a tar stream; a second name
    of an inode becomes a hard link, as tar does."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar, self.inodes = tar, {}

    def entry(self, st: os.stat_result, fd: int | None, link: str, arcname: str) -> None:
        ti = _tarinfo(st, arcname, link)
        if ti is None:
            return
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            if key in self.inodes:
                ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, self.inodes[key], 0
                self.tar.addfile(ti)
                return
            self.inodes[key] = arcname
        if ti.isreg():
            with open(fd, "rb", closefd=False) as f:
                self.tar.addfile(ti, f)
        else:
            self.tar.addfile(ti)

    def add_at(self, dfd: int, name: str, arcname: str, descend=None) -> bool:
        """dfd/name and (a directory, when descend(arcname) allows) all below it."""
        got = _lstat_open(dfd, name)
        if got is None:
            return False
        st, fd, link = got
        try:
            self.entry(st, fd, link, arcname)
            if fd is not None and stat.S_ISDIR(st.st_mode):
                self._below(fd, arcname, descend)
        finally:
            if fd is not None:
                os.close(fd)
        return True

    def _below(self, fd: int, arcname: str, descend) -> None:
        if descend is not None and not descend(arcname):
            return
        for child in sorted(os.listdir(fd)):
            self.add_at(fd, child, os.path.join(arcname, child), descend)

    def add_path(self, path: str, arcname: str, descend=None) -> None:
        """path as named by the user: its directories resolve as the OS does
        (inside a container: inside its root); the entry itself and all below
        it are read as above."""
        head, tail = os.path.split(path)
        if tail in ("", ".", ".."):  # a directory named by its own path: it is the tree
            fd = os.open(path or ".", _O_DIR)
            try:
                st = os.fstat(fd)
                self.entry(st, fd, "", arcname)
                self._below(fd, arcname, descend)
            finally:
                os.close(fd)
            return
        pfd = os.open(head or ".", _O_DIR)
        try:
            if not self.add_at(pfd, tail, arcname, descend):
                raise FileNotFoundError(errno.ENOENT, "no such file or directory", path)
        finally:
            os.close(pfd)


# --- writing a tree without following a symlink someone planted -------------
#
# The destination is one directory fd; every member is created relative to
# its parent, which is opened beneath that fd with openat2(RESOLVE_BENEATH |
# RESOLVE_NO_SYMLINKS) (one O_NOFOLLOW component at a time before Linux 5.6):
# a symlink on the way (planted in an earlier copy, or swapped in by a
# container sharing the directory as a volume, CVE-2018-15664's race) is
# refused, never followed. An existing non-directory is unlinked before the
# member is created (O_EXCL); attributes go through the new fd (fchown,
# fchmod, futimens) or *at(AT_SYMLINK_NOFOLLOW), never through a path.

_RESOLVE = syscalls.RESOLVE_BENEATH | syscalls.RESOLVE_NO_SYMLINKS | syscalls.RESOLVE_NO_MAGICLINKS
_HAVE_OPENAT2 = [True]


def _open_beneath(root: int, rel: str, flags: int) -> int:
    """rel (relative, no '..') opened beneath the directory fd root without
    following any symlink (the last component included)."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts:
        return os.open(".", flags, dir_fd=root)
    if ".." in parts:
        raise OSError(errno.EXDEV, f"{rel}: leads outside the destination")
    if _HAVE_OPENAT2[0]:
        try:
            return syscalls.openat2(root, "/".join(parts), flags | os.O_NOFOLLOW, _RESOLVE)
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise
            _HAVE_OPENAT2[0] = False
    return _open_components(root, parts, flags)


def _open_components(root: int, parts: list[str], flags: int) -> int:
    """The walk openat2 does, by hand: each directory opened O_NOFOLLOW
    relative to the previous one's fd."""
    cur = root
    try:
        for part in parts[:-1]:
            nxt = os.open(part, _O_PATHDIR | os.O_NOFOLLOW, dir_fd=cur)
            if cur != root:
                os.close(cur)
            cur = nxt
            if not stat.S_ISDIR(os.fstat(cur).st_mode):  # O_PATH|O_NOFOLLOW may hand back the symlink itself
                raise OSError(errno.ELOOP, f"{part}: a symlink")
        fd = os.open(parts[-1], flags | os.O_NOFOLLOW, dir_fd=cur)
        if flags & os.O_DIRECTORY and not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.ELOOP, f"{parts[-1]}: a symlink")
        return fd
    finally:
        if cur != root:
            os.close(cur)


def _member_name(name: str) -> str:
    """A member's path relative to the destination ('.' is the destination
    itself), or a refusal for anything that would leave it."""
    norm = os.path.normpath(name) if name else "."
    if name.startswith("/") or norm == ".." or norm.startswith("../"):
        raise OSError(errno.EPERM, f"refusing {name!r}: outside the destination")
    return norm


def _owner(target, uid: int, gid: int, **at) -> None:
    try:
        os.chown(target, uid, gid, **at)
    except OSError as e:  # an ID the namespace does not map: tar keeps the file, as before
        if e.errno not in (errno.EINVAL, errno.EPERM):
            raise


class _Extractor:
    def __init__(self, root: int, tar: tarfile.TarFile) -> None:
        self.root, self.tar, self.dirs = root, tar, []

    def member(self, m: tarfile.TarInfo) -> None:
        name = _member_name(m.name)
        if name == ".":
            if not m.isdir():
                raise OSError(errno.EPERM, f"refusing {m.name!r}: not a directory")
            self.dirs.append((name, m))
            return
        head, base = os.path.split(name)
        try:
            pfd = _open_beneath(self.root, head, _O_PATHDIR)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR):
                raise OSError(e.errno, f"refusing {m.name!r}: a symlink or non-directory on its way "
                                       "inside the destination (never followed)") from None
            raise
        try:
            if m.isdir():
                self._mkdir(pfd, base, name)
                self.dirs.append((name, m))
                return
            self._clear(pfd, base, name)
            if m.isreg():
                self._file(pfd, base, m)
            elif m.issym():
                os.symlink(m.linkname, base, dir_fd=pfd)
                self._attrs_at(pfd, base, m)
            elif m.islnk():
                self._link(pfd, base, m)
            elif m.ischr() or m.isblk() or m.isfifo():
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
                os.mknod(base, kind | (m.mode & 0o777), os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
                self._attrs_at(pfd, base, m)
            else:
                raise OSError(errno.EINVAL, f"{m.name}: unsupported member type {m.type!r}")
        finally:
            os.close(pfd)

    def _mkdir(self, pfd: int, base: str, name: str) -> None:
        for _ in range(8):
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
                return
            except FileExistsError:
                pass
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                return
            os.unlink(base, dir_fd=pfd)  # a file or a symlink where the directory goes: replaced, not followed
        raise OSError(errno.EEXIST, f"{name}: kept being replaced while it was created")

    @staticmethod
    def _clear(pfd: int, base: str, name: str) -> None:
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise OSError(errno.EISDIR, f"cannot overwrite directory {name!r} with a non-directory")
        os.unlink(base, dir_fd=pfd)

    def _file(self, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
        try:
            src = self.tar.extractfile(m)
            with open(fd, "wb", closefd=False) as out:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
            _owner(fd, m.uid, m.gid)  # before the mode: chown clears set-ID bits
            os.chmod(fd, m.mode & 0o7777)
            os.utime(fd, (m.mtime, m.mtime))
        finally:
            os.close(fd)

    def _link(self, pfd: int, base: str, m: tarfile.TarInfo) -> None:
        target = _member_name(m.linkname)
        thead, tbase = os.path.split(target)
        tfd = _open_beneath(self.root, thead, _O_PATHDIR)
        try:
            os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)

    @staticmethod
    def _attrs_at(pfd: int, base: str, m: tarfile.TarInfo) -> None:
        _owner(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        os.utime(base, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)

    def finish(self) -> None:
        """Directories' owners, modes and times last (writing into one changes
        its time; a read-only one would refuse its content), deepest first,
        each through an fd opened beneath the destination."""
        for name, m in reversed(self.dirs):
            fd = _open_beneath(self.root, name, _O_DIR)
            try:
                _owner(fd, m.uid, m.gid)
                os.chmod(fd, m.mode & 0o7777)
                os.utime(fd, (m.mtime, m.mtime))
            finally:
                os.close(fd)


def _produce(path: str, fd: int, arcname: str):
    def body() -> None:
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _TarTree(tar).add_path(path, arcname)
    return body


def _consume(dest_dir: str, rename: str | None, fd: int):
    def body() -> None:
        os.umask(0)  # modes land exactly as recorded (a fifo's has no fd to fchmod)
        root = os.open(dest_dir, _O_DIR)  # named by the user: resolved as the OS does; nothing below it is
        try:
            with os.fdopen(fd, "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
                ex = _Extractor(root, tar)
                for m in tar:
                    if rename is not None:
                        m.name = _renamed(m.name, rename)
                        if m.islnk():
                            m.linkname = _renamed(m.linkname, rename)
                    ex.member(m)
                ex.finish()
        finally:
            os.close(root)
    return body


def _renamed(name: str, rename: str) -> str:
    head, sep, tail = name.partition("/")
    return rename + sep + tail


def _split(arg: str) -> tuple[str | None, str]:
    name, sep, path = arg.partition(":")
    if sep and name and not name.startswith(("/", ".")):
        return name, path or "/"
    return None, arg


def _wait(pids: list[int]) -> int:
    from rootless.runtime import userns
    codes = [userns.wait_status(p) for p in pids]
    return max(codes)


def cp(paths: Paths, src: str, dst: str) -> None:
    """`rl cp CTR:PATH HOSTPATH` or `rl cp HOSTPATH CTR:PATH`; `-` as the
    host side is a tar stream on stdout (of CTR:PATH) or from stdin
    (extracted into the directory CTR:PATH), as podman."""
    (sname, spath), (dname, dpath) = _split(src), _split(dst)
    if (sname is None) == (dname is None):
        raise UsageError("cp copies between a container and the host",
                         hint="rl cp CONTAINER:PATH HOST_PATH, or rl cp HOST_PATH CONTAINER:PATH")
    store = Store(paths)
    rec = store.lookup(sname or dname)
    pid = _container(store, rec)
    if dst == "-" or src == "-":
        return _cp_stream(store, rec, pid, spath if dst == "-" else dpath, dst == "-", f"{src} {dst}")
    if dname is None:
        dpath = os.path.abspath(dpath)
    else:
        spath = os.path.abspath(spath)
        if not os.path.lexists(spath):
            raise ContainerError(f"{src}: no such file or directory")
    # the destination decides the name: into an existing directory, or as dpath itself
    dest_is_dir = dpath.endswith("/")
    r, w = os.pipe()
    base = os.path.basename(spath.rstrip("/")) or "."
    dest_dir, rename = (dpath, None) if dest_is_dir else (os.path.dirname(dpath) or "/", os.path.basename(dpath))
    if dname is None and os.path.isdir(dpath):
        dest_dir, rename = dpath, None

    def consumer_body():
        nonlocal dest_dir, rename
        if dname is not None and os.path.isdir(dpath):  # decided inside the container
            dest_dir, rename = dpath, None
        _consume(dest_dir, rename, r)()
    err = _sides(store, rec, pid, [(sname is not None, _produce(spath, w, base), r),
                                   (dname is not None, consumer_body, w)])
    if err:
        raise ContainerError(f"cp {src} {dst}: {err}")


def _cp_stream(store: Store, rec: Record, pid: int | None, path: str, out: bool, what: str) -> None:
    if out:
        if os.isatty(1):
            raise UsageError("refusing to write a tar archive to a terminal", hint="redirect stdout")
        sys.stdout.flush()
        base = os.path.basename(path.rstrip("/")) or "."
        err = _sides(store, rec, pid, [(True, _produce(path, 1, base), None)])  # the child's own fd 1
    else:
        if os.isatty(0):
            raise UsageError("refusing to read a tar archive from a terminal", hint="redirect stdin")
        err = _sides(store, rec, pid, [(True, _consume(path, None, 0), None)])
    if err:
        raise ContainerError(f"cp {what}: {err}")


def export(paths: Paths, name: str, out_fd: int) -> None:
    """The container's whole filesystem as a tar stream on out_fd."""
    store = Store(paths)
    rec = store.lookup(name)
    pid = _container(store, rec)

    def body() -> None:
        os.chdir("/")
        with os.fdopen(os.dup(out_fd), "wb") as f, tarfile.open(fileobj=f, mode="w|",
                                                                 format=tarfile.PAX_FORMAT) as tar:
            tree = _TarTree(tar)
            root = os.open("/", _O_DIR)
            try:
                for entry in sorted(os.listdir(root)):
                    tree.add_at(root, entry, entry, descend=lambda arc: arc.split("/", 1)[0] not in _PSEUDO)
            finally:
                os.close(root)
    child = _side(store, rec, pid, True, body)
    if _wait([child]):
        raise ContainerError(f"export of {rec.name} failed (see the message above)")


def diff(paths: Paths, name: str) -> list[tuple[str, str]]:
    """podman diff: (A|C|D, path) from the container's upper layer."""
    from rootless.runtime import userns
    store = Store(paths)
    rec = store.lookup(name)
    return userns.run_in_userns(_diff, str(store.container_dir(rec.id) / "diff"), list(rec.layers))


def _diff(upper: str, lowers: list[str]) -> list[tuple[str, str]]:
    out = []
    for dirpath, dirs, files in os.walk(upper):
        for n in sorted(dirs + files):
            if n.startswith(".wh."):
                continue  # the overlay drivers' own markers (opaque directories), not container files
            full = os.path.join(dirpath, n)
            rel = "/" + os.path.relpath(full, upper)
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(("D", rel))
            elif any(os.path.lexists(os.path.join(low, rel.lstrip("/"))) for low in lowers):
                out.append(("C", rel))
            else:
                out.append(("A", rel))
    return sorted(out, key=lambda x: x[1])


def commit(paths: Paths, name: str, reference: str | None, message: str | None = None,
           pause: bool = True, changes: list[str] | None = None) -> str:
    """podman commit: the container's image with one more layer, its upper
    dir (the changes) in OCI form, and its command and environment as the
    config. A --rootfs container has no image to add to, and vfs keeps no
    changes apart from the image (its upper dir is a whole copy): those are
    squashed into a one-layer image (the export, imported) instead.
    A running container is paused while its files are read (podman's
    --pause, default true): the image is one moment of it, not a mix."""
    from rootless.containers.run import RunRequest
    from rootless.images import ops
    from rootless.runtime import userns
    store = Store(paths)
    rec = store.lookup(name)
    req = RunRequest(**rec.request)
    from rootless.containers import commitcfg
    cfg = commitcfg.apply_changes(commitcfg.from_container(rec.image_config, rec.request, rec.command), changes)
    with _paused(store, rec, pause):
        if not req.rootfs and rec.driver != "vfs":
            upper = str(store.container_dir(rec.id) / "diff")

            def write(blob) -> tuple[str, int]:
                return userns.run_in_userns(_write_layer, upper, str(blob))
            img = ops.commit_layer(paths, list(rec.layers), rec.image, write, cfg, reference, message)
            if img is not None:
                return img.id
        return _squash(paths, rec, cfg, reference, message)


@contextlib.contextmanager
def _paused(store: Store, rec: Record, pause: bool):
    """The container stopped for the block when it runs and pause is asked:
    frozen through its cgroup where it has one (as `rl pause`), else every
    process of it stopped with SIGSTOP (see _signal_all), continued after.
    One already paused by the user stays so."""
    pid = _container(store, rec) if pause else None
    if pid is None:
        yield
        return
    from rootless.containers import lifecycle
    with store.lock(rec):
        if store.state(rec).get("state") == "paused":
            yield
            return
        try:
            cgroup = lifecycle._freezer(store, rec)
        except ContainerError:
            cgroup = None
        if cgroup is not None:
            lifecycle._freeze(cgroup, True)
            try:
                yield
            finally:
                lifecycle._freeze(cgroup, False)
            return
        _signal_all(rec, pid, signal.SIGSTOP)
        try:
            yield
        finally:
            _signal_all(rec, pid, signal.SIGCONT)


def _signal_all(rec: Record, pid: int, sig: int) -> None:
    """Send sig to every process of the container (those in its PID
    namespace) and, for SIGSTOP, wait until each one is stopped.

    Without a cgroup (no delegated cgroup v2, as on hosts without a systemd
    user session) there is no freezer; rootless podman then refuses to pause,
    and so its commit fails unless given --pause=false. rl stops the
    processes instead: the same effect for a commit (nothing in the
    container runs while its files are read), seen by the container only as
    a stop and a continue (a shell's job control may notice). A process that
    forks while the others are being stopped is caught by the next pass; a
    stopped process cannot fork, so the passes end.

    The work is done by a child that joins the container's user namespace:
    there it may signal (CAP_KILL) and inspect (/proc/PID/ns/pid) processes
    running as the container's other IDs, which the user itself may not."""
    from rootless.runtime import userns
    target = os.readlink(f"/proc/{pid}/ns/pid")
    if target == os.readlink("/proc/self/ns/pid"):
        raise ContainerError(f"cannot pause {rec.name}: it shares rl's PID namespace",
                             hint=f"rl commit --pause=false {rec.name}")
    child = os.fork()
    if child == 0:
        code = 125
        try:
            _join(pid, mount=False)
            stopall.signal_pass(lambda: stopall.members(target), sig, wait=sig == signal.SIGSTOP)
            code = 0
        except BaseException as e:  # noqa: BLE001 - a forked child must never return
            _say(e)
        finally:
            os._exit(code)
    if userns.wait_status(child):
        what = "stop" if sig == signal.SIGSTOP else "continue"
        raise ContainerError(f"could not {what} the processes of {rec.name} (see the message above)",
                             hint=f"rl commit --pause=false {rec.name} reads it without pausing")


def _squash(paths: Paths, rec: Record, cfg: dict, reference: str | None, message: str | None) -> str:
    import tempfile
    from rootless.images import ops
    with tempfile.NamedTemporaryFile(dir=str(paths.root), prefix=".commit-", suffix=".tar") as tmp:
        export(paths, rec.id, tmp.fileno())
        tmp.flush()
        img = ops.import_tarball(paths, tmp.name, reference, message=message, changes=cfg)
    return img.id


OPAQUE_XATTRS = ("user.overlay.opaque", "user.fuseoverlayfs.opaque", "trusted.overlay.opaque")
OPAQUE_MARKER = ".wh..wh..opq"


def layer_entries(rel: str, mode: int, rdev: int, opaque: bool) -> list[tuple[str, bool]]:
    """What a layer tar holds for one entry of an overlay upper dir (rel: its
    path there), as (name, as_is): as_is -> the entry itself, else an empty
    regular file (an OCI whiteout). The overlay drivers mark a deletion with
    a 0/0 character device of the deleted name (OCI: `.wh.NAME`) and a
    directory that hides the lower ones' content with an opaque xattr (OCI:
    `DIR/.wh..wh..opq` beside its entries). `.wh.*` files (fuse-overlayfs's
    own whiteouts where mknod is refused) already are the OCI form."""
    if stat.S_ISCHR(mode) and rdev == 0:
        head, base = os.path.split(rel)
        return [(os.path.join(head, ".wh." + base), False)]
    if opaque and stat.S_ISDIR(mode):
        return [(rel, True), (os.path.join(rel, OPAQUE_MARKER), False)]
    return [(rel, True)]


def _is_opaque(fd: int) -> bool:
    for attr in OPAQUE_XATTRS:
        try:
            if os.getxattr(fd, attr) == b"y":
                return True
        except OSError:  # absent, or trusted.* (unreadable in a user namespace)
            continue
    return False


class _Hashing:
    """A write-only file that hashes what passes through it."""

    def __init__(self, f) -> None:
        import hashlib
        self.f, self.h, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.h.update(data)
        self.size += len(data)
        return self.f.write(data)


def _write_layer(upper: str, dest: str) -> tuple[str, int]:
    """Runs as root of a user namespace with the container's mapping, so
    files show the container's own IDs: the upper dir as an OCI layer tar
    in dest; returns its (digest, size). The upper dir is the container's
    to change, even while it is read (commit --pause=false): it is read
    relative to directory fds, never through a symlink (_lstat_open), so
    a file swapped for a link to one of the user's files is never followed."""
    tarfile.pwd = tarfile.grp = None  # numeric IDs: host names mean nothing for container IDs
    root = os.open(upper, _O_DIR | os.O_NOFOLLOW)
    try:
        with open(dest, "wb") as f:
            out = _Hashing(f)
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _layer_dir(_TarTree(tar), root, "")
    finally:
        os.close(root)
    return "sha256:" + out.h.hexdigest(), out.size


def _layer_dir(tree: _TarTree, dfd: int, rel_dir: str) -> None:
    for name in sorted(os.listdir(dfd)):
        got = _lstat_open(dfd, name)
        if got is None:
            continue
        st, fd, link = got
        try:
            rel = os.path.join(rel_dir, name) if rel_dir else name
            is_dir = fd is not None and stat.S_ISDIR(st.st_mode)
            for arc, as_is in layer_entries(rel, st.st_mode, st.st_rdev, is_dir and _is_opaque(fd)):
                if as_is:
                    tree.entry(st, fd, link, arc)
                elif not _exists_at(fd if arc.endswith("/" + OPAQUE_MARKER) else dfd, os.path.basename(arc)):
                    ti = tarfile.TarInfo(arc)  # a marker may be there already
                    ti.mtime = int(st.st_mtime)
                    tree.tar.addfile(ti)
            if is_dir and not (not rel_dir and name in _PSEUDO):  # kernel file systems' mount points: not the container's
                _layer_dir(tree, fd, rel)
        finally:
            if fd is not None:
                os.close(fd)


def _exists_at(dfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dfd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False
