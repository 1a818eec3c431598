"""The container's filesystem world, built under the mounted rootfs before
pivot_root: /proc, /dev, /sys, /etc files, volumes, tmpfs, masks. Runs as
root of the user namespace, in PID 1's own mount namespace, where the
host's filesystem is still reachable: so no mount target is ever a path
string. Each is opened as an fd inside the rootfs (open_in_root), mounted
through /proc/self/fd/N and looked up again afterwards (Rootfs.mount); the
image's /proc, /sys and /dev must be real directories; masks are opened
under the procfs/sysfs fd without following symlinks."""

from __future__ import annotations

import errno
import os
import stat

from rootless import linux, logconf
from rootless.linux import Mount
from rootless.linux import syscalls as linux_sc
from rootless.runtime import copyup, users
from rootless.runtime.spec import BindMount, Spec

log = logconf.logger(__name__)  # logging imported only if something is logged

MASKED_PATHS = ("/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug",
                "/proc/scsi", "/proc/timer_list", "/proc/timer_stats", "/proc/interrupts",
                "/sys/firmware", "/sys/fs/selinux", "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"))
INIT_PATH = "/run/podman-init"  # where podman puts catatonit; scripts know it
NOSUID, NODEV, NOEXEC = Mount.NOSUID, Mount.NODEV, Mount.NOEXEC


def secure_join(root: str, path: str) -> str:
    """root + path with every symlink resolved as if root were / - as a
    string, which a rename after the call can redirect: never a mount
    target (open_in_root is), at most a path to read from."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:
            resolved.append(part)
            continue
        hops += 1
        if hops > 40:
            raise OSError(errno.ELOOP, f"too many symlinks resolving {path}", path)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p and p != "."] + parts
    return os.path.join(root, *resolved)


class UnsafeRootfs(Exception):
    """The rootfs (or a volume shared with another container) is arranged to
    point a mount outside the container: refused, nothing mounted."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_HOPS = 40
_openat2_works: bool | None = None  # None: not tried yet


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def _walk(rootfd: int, path: str, make: str | None) -> int:
    """open_in_root by hand: one component at a time, each opened O_PATH|
    O_NOFOLLOW relative to the fd of its parent (every fd held descends from
    rootfd), symlinks read from the link's own fd and resolved again from
    rootfd (absolute) or the parent (relative), ".." popping back towards,
    never past, rootfd. Missing components are created (make: "dir" or
    "file" for the last one) with mkdirat/openat(O_EXCL), which never follow
    a symlink, and then opened like any other."""
    stack: list[int] = []
    parts = _parts(path)
    hops = 0
    try:
        while parts:
            name = parts.pop(0)
            cur = stack[-1] if stack else rootfd
            if name == "..":
                if stack:
                    os.close(stack.pop())
                continue
            try:
                fd = os.open(name, _PATH_FLAGS, dir_fd=cur)
            except FileNotFoundError:
                if make is None:
                    raise
                hops += 1  # a component that keeps vanishing must not spin forever
                if hops > _MAX_HOPS:
                    raise OSError(errno.ELOOP, f"{path}: changed too often while being resolved", path) from None
                try:
                    if not parts and make == "file":
                        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                         0o644, dir_fd=cur))
                    else:
                        os.mkdir(name, 0o755, dir_fd=cur)
                except FileExistsError:
                    pass
                parts.insert(0, name)
                continue
            st = os.fstat(fd)
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                try:
                    if hops > _MAX_HOPS:
                        raise OSError(errno.ELOOP, f"{path}: too many symlinks", path)
                    target = os.readlink("", dir_fd=fd)  # the link we opened, not whatever has its name now
                finally:
                    os.close(fd)
                if target.startswith("/"):
                    while stack:
                        os.close(stack.pop())
                parts = _parts(target) + parts
                continue
            if parts and not stat.S_ISDIR(st.st_mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, f"{path}: not a directory: {name}", path)
            stack.append(fd)
        return stack.pop() if stack else os.dup(rootfd)
    finally:
        for fd in stack:
            os.close(fd)


def open_in_root(rootfd: int, path: str, make: str | None = None, *, use_openat2: bool = True) -> int:
    """An O_PATH fd of `path` inside the rootfs open at rootfd, every
    symlink (the last one too) and ".." resolved as if rootfd were /: the fd
    pins what was found, so a rename or symlink swapped in afterwards cannot
    redirect what is done with it. openat2(RESOLVE_IN_ROOT) where the kernel
    has it (5.6), the same walk by hand otherwise or to create what is
    missing (make: "dir"/"file", the type of the last component)."""
    global _openat2_works
    if use_openat2 and _openat2_works is not False:
        for _ in range(8):
            try:
                fd = linux_sc.openat2(rootfd, path.lstrip("/") or ".", os.O_PATH,
                                      linux_sc.RESOLVE_IN_ROOT | linux_sc.RESOLVE_NO_MAGICLINKS)
                _openat2_works = True
                return fd
            except OSError as e:
                if e.errno == errno.EAGAIN:  # a rename raced the lookup: try again
                    continue
                if e.errno in (errno.ENOSYS, errno.EPERM, errno.EINVAL) and not _openat2_works:
                    _openat2_works = False  # old kernel, or a seccomp filter that forbids it
                    break
                if e.errno == errno.ENOENT and make is not None:
                    break
                raise OSError(e.errno, f"{path}: {os.strerror(e.errno)}", path) from None
    return _walk(rootfd, path, make)


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def mount_id(fd: int) -> int:
    """The ID of the mount fd is on (/proc/self/fdinfo, the host's procfs:
    everything here runs before pivot_root)."""
    with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
        for line in f:
            if line.startswith(b"mnt_id:"):
                return int(line.split()[1])
    raise OSError(errno.ENOTSUP, "no mnt_id in /proc/self/fdinfo")


class Rootfs:
    """The rootfs being built, as a directory fd: every mount target is
    opened relative to it (open_in_root), mounted by its fd
    (/proc/self/fd/N, the inode that was checked), then looked up again to
    check the mount sits where the container will look for it."""

    def __init__(self, root: str):
        self.fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.root = os.readlink(fd_path(self.fd))  # as the kernel spells it (root may sit under a symlink)

    def close(self) -> None:
        os.close(self.fd)

    def _inside(self, fd: int, ctr_path: str) -> None:
        where = os.readlink(fd_path(fd))
        if where != self.root and not where.startswith(self.root.rstrip("/") + "/"):
            raise UnsafeRootfs(f"mount target {ctr_path} resolved outside the container's rootfs ({where})",
                               hint="a volume or the image changed while the container was being set up")

    def mount(self, ctr_path: str, source: str | None, fstype: str | None, flags: int, data: str | None = None,
              make: str | None = "dir", fd: int | None = None) -> int:
        """Mount on ctr_path (or on the already opened fd); returns an O_PATH
        fd of the new mount's root, for what follows (read-only, submounts)."""
        own = fd is None
        log.debug("rootfs mount: %s on %s (type %s)", source, ctr_path, fstype or "none")
        if own:
            fd = open_in_root(self.fd, ctr_path, make)
        try:
            self._inside(fd, ctr_path)
            below = mount_id(fd)
            where = os.readlink(fd_path(fd))
            try:
                linux.mount(source, fd_path(fd), fstype, flags, data)
            except OSError as e:
                raise OSError(e.errno, f"mount {fstype or source} on {ctr_path}: {os.strerror(e.errno)}",
                              ctr_path) from None
        finally:
            if own:
                os.close(fd)
        # the container's path must now lead to this mount, where the target was
        try:
            top = open_in_root(self.fd, ctr_path)
        except OSError:
            top = None
        if top is None or mount_id(top) == below or os.readlink(fd_path(top)) != where:
            if top is not None:
                os.close(top)
            raise UnsafeRootfs(f"mount target {ctr_path} was moved while it was being mounted",
                               hint="a volume shared with another container changed under it; run again")
        return top

    def bind(self, source: str, ctr_path: str, readonly: bool = False, recursive: bool = True,
             make: str | None = None) -> None:
        if make is None:
            make = "dir" if os.path.isdir(source) else "file"
        top = self.mount(ctr_path, source, None, Mount.BIND | (Mount.REC if recursive else 0), make=make)
        try:
            if readonly:
                linux.mount_setattr(fd_path(top), linux.MOUNT_ATTR_RDONLY, recursive=recursive)
        finally:
            os.close(top)

    def special_dir(self, name: str) -> int:
        """/proc, /sys or /dev of the image: an O_PATH fd of a real directory
        (created when missing). A symlink there would send the kernel's
        filesystems - and everything mounted under them - wherever the image
        points (runc: CVE-2019-16884, CVE-2019-19921): refused."""
        try:
            fd = os.open(name, _PATH_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            try:
                os.mkdir(name, 0o755, dir_fd=self.fd)
            except FileExistsError:
                pass
            fd = os.open(name, _PATH_FLAGS, dir_fd=self.fd)
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode):
            what = "a file"
            if stat.S_ISLNK(st.st_mode):
                what = f"a symlink (to {os.readlink('', dir_fd=fd)})"
            os.close(fd)
            raise UnsafeRootfs(f"the image's /{name} is {what}, not a directory: refused",
                               hint=f"/{name} must be a plain directory in the image (the kernel's filesystem "
                                    "is mounted there); rebuild the image without it")
        return fd


def _open_under(basefd: int, rel: str, ctr_path: str) -> int | None:
    """A masked or read-only path: opened under the fd of the /proc or /sys
    mount, one component at a time with O_NOFOLLOW and never leaving that
    mount on the way (the last component may be a mount point of its own).
    None when it does not exist; a symlink anywhere is refused, not followed."""
    base_mnt = mount_id(basefd)
    fds: list[int] = []
    try:
        cur = basefd
        parts = _parts(rel)
        for i, name in enumerate(parts):
            try:
                fd = os.open(name, _PATH_FLAGS, dir_fd=cur)
            except (FileNotFoundError, NotADirectoryError):
                return None
            fds.append(fd)
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise UnsafeRootfs(f"{ctr_path} is a symlink: refusing to mask it through it",
                                   hint="something replaced a kernel filesystem path; run again without it")
            if i < len(parts) - 1 and mount_id(fd) != base_mnt:
                raise UnsafeRootfs(f"{ctr_path} is not on the mount it belongs to: refusing to mask it",
                                   hint="a volume covers part of /proc or /sys")
            cur = fd
        return os.dup(fds[-1]) if fds else os.dup(basefd)
    finally:
        for fd in fds:
            os.close(fd)


def mount_proc(fs: Rootfs) -> int:
    """The container's procfs on the image's /proc directory; returns an fd
    of the new mount's root (masks are applied under it)."""
    fd = fs.special_dir("proc")
    try:
        return fs.mount("/proc", "proc", "proc", NOSUID | NODEV | NOEXEC, fd=fd)
    finally:
        os.close(fd)


def mount_dev(fs: Rootfs, console: bool = False, shm_size: int = 65536000) -> None:
    fd = fs.special_dir("dev")
    try:
        top = fs.mount("/dev", "tmpfs", "tmpfs", NOSUID | Mount.STRICTATIME, "mode=755,size=65536k", fd=fd)
    finally:
        os.close(fd)
    # a fresh tmpfs of ours: nothing else can rename in it, paths through its fd are exact
    dev = fd_path(top)
    try:
        for node in DEV_NODES:
            os.close(os.open(node, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644, dir_fd=top))
            linux.mount(f"/dev/{node}", f"{dev}/{node}", None, Mount.BIND)
        for name in ("pts", "shm", "mqueue"):
            os.mkdir(name, 0o755, dir_fd=top)
        linux.mount("devpts", f"{dev}/pts", "devpts", NOSUID | NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5")
        linux.mount("shm", f"{dev}/shm", "tmpfs", NOSUID | NODEV | NOEXEC, f"mode=1777,size={shm_size}")
        linux.mount("mqueue", f"{dev}/mqueue", "mqueue", NOSUID | NODEV | NOEXEC)
        for name, to in DEV_LINKS:
            os.symlink(to, name, dir_fd=top)
        if console:  # -t: the pty slave gets bound here once it exists
            os.close(os.open("console", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644, dir_fd=top))
    finally:
        os.close(top)


# podman's default sysctls: written when possible, never an error
_DEFAULT_SYSCTLS = ("net.ipv4.ping_group_range",)


def write_sysctls(proc_fd: int, values: dict[str, str]) -> UnsafeRootfs | None:
    """--sysctl NAME=VALUE through the container's own fresh procfs (proc_fd:
    its root): the network and IPC entries there are those of the
    namespaces this process is in, which the container's user namespace
    owns. The names were checked (rootless.containers.runextras). A failure
    is returned, not raised: PID 1 reports it once the network is up (dying
    before that makes slirp4netns's failure the one reported)."""
    try:
        _write_sysctls(proc_fd, values)
    except UnsafeRootfs as e:
        return e
    return None


def _write_sysctls(proc_fd: int, values: dict[str, str]) -> None:
    for name, value in values.items():
        path = f"{fd_path(proc_fd)}/sys/{name.replace('.', '/')}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            if name in _DEFAULT_SYSCTLS:
                continue
            why = "no such sysctl in the container's namespaces" if e.errno == errno.ENOENT else e.strerror
            raise UnsafeRootfs(f"--sysctl {name}={value}: {why}",
                               hint="net.*, fs.mqueue.* and kernel IPC sysctls this kernel has") from None
        try:
            os.write(fd, value.encode())
        except OSError as e:
            if name not in _DEFAULT_SYSCTLS:
                raise UnsafeRootfs(f"--sysctl {name}={value}: {e.strerror}",
                                   hint="a value the kernel takes for it (see /proc/sys/" + name.replace(".", "/") + ")"
                                   ) from None
        finally:
            os.close(fd)


def mount_sys(fs: Rootfs, own_netns: bool) -> int:
    fd = fs.special_dir("sys")
    try:
        if own_netns:
            try:
                return fs.mount("/sys", "sysfs", "sysfs", NOSUID | NODEV | NOEXEC | Mount.RDONLY, fd=fd)
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.EACCES):
                    raise
        # sysfs needs a network namespace we own; otherwise the host's, read-only
        top = fs.mount("/sys", "/sys", None, Mount.BIND | Mount.REC, fd=fd)
        linux.mount_setattr(fd_path(top), linux.MOUNT_ATTR_RDONLY, recursive=True)
        return top
    finally:
        os.close(fd)


def mask_paths(fs: Rootfs, proc_fd: int, sys_fd: int) -> None:
    """podman's masked paths (an empty read-only tmpfs on a directory,
    /dev/null on a file) and read-only paths, each opened under the fd of
    the procfs/sysfs mounted above: never through a symlink, never on
    another mount."""
    bases = {"proc": proc_fd, "sys": sys_fd}
    for path in MASKED_PATHS:
        top, _, rel = path.lstrip("/").partition("/")
        fd = _open_under(bases[top], rel, path)
        if fd is None:
            continue
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                linux.mount("tmpfs", fd_path(fd), "tmpfs", Mount.RDONLY | NOSUID | NODEV | NOEXEC, "size=0")
            else:
                linux.mount("/dev/null", fd_path(fd), None, Mount.BIND)
        finally:
            os.close(fd)
    for path in READONLY_PATHS:
        top, _, rel = path.lstrip("/").partition("/")
        fd = _open_under(bases[top], rel, path)
        if fd is None:
            continue
        try:
            below = mount_id(fd)
            linux.mount(fd_path(fd), fd_path(fd), None, Mount.BIND | Mount.REC)
            # the fd still names the mount below: look it up again to reach the bind on top
            new = _open_under(bases[top], rel, path)
            try:
                if new is None or mount_id(new) == below:
                    raise UnsafeRootfs(f"{path} moved while it was being made read-only")
                linux.mount_setattr(fd_path(new), linux.MOUNT_ATTR_RDONLY, recursive=True)
            finally:
                if new is not None:
                    os.close(new)
        finally:
            os.close(fd)


def mount_volumes(fs: Rootfs, spec: Spec) -> None:
    """Volumes, tmpfs and rl's /etc files. A volume may be shared with
    another running container, which can rename and swap symlinks in it
    while this runs (runc's CVE-2021-30465): each target is resolved by fd
    inside the rootfs, mounted through that fd, and checked afterwards."""
    copyup.prepare_volumes(fs.root, spec)  # new volumes: the image's content, owner and mode, before any mount hides them
    # parents before children, as podman sorts them: /a must not hide /a/b
    for b in sorted(spec.binds, key=lambda b: b.target.rstrip("/").count("/")):
        make = "dir" if os.path.isdir(b.source) else "file"
        top = fs.mount(b.target, b.source, None, Mount.BIND | Mount.REC, make=make)
        try:
            if b.readonly:
                linux.mount_setattr(fd_path(top), linux.MOUNT_ATTR_RDONLY, recursive=True)
            bind_options(fd_path(top), b)
        finally:
            os.close(top)
    if spec.readonly:
        # podman's --read-only-tmpfs default: the usual scratch dirs stay writable
        for path in ("/tmp", "/var/tmp", "/run"):
            if not any(t.target == path for t in spec.tmpfs):
                os.close(fs.mount(path, "tmpfs", "tmpfs", NOSUID | NODEV, "mode=1777"))
    for t in spec.tmpfs:
        flags, data = tmpfs_options(t.options)
        os.close(fs.mount(t.target, "tmpfs", "tmpfs", flags, data))
    bound = {os.path.normpath("/" + b.target.lstrip("/")) for b in spec.binds}
    for ctr_path, host_file in spec.etc_files.items():
        if os.path.normpath("/" + ctr_path.lstrip("/")) in bound:
            continue  # the user's own file wins (-v ./hosts:/etc/hosts), as in podman
        try:
            fd = open_in_root(fs.fd, ctr_path)
        except FileNotFoundError:
            fd = None
        else:
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            if is_dir:  # the image manages this one itself
                os.close(fd)
                continue
        try:
            top = fs.mount(ctr_path, host_file, None, Mount.BIND, make="file", fd=fd)
            os.close(top)
        finally:
            if fd is not None:
                os.close(fd)


_BIND_ATTRS = {"noexec": linux.MOUNT_ATTR_NOEXEC, "nosuid": linux.MOUNT_ATTR_NOSUID, "nodev": linux.MOUNT_ATTR_NODEV}
_PROPAGATION = {"shared": Mount.SHARED, "slave": Mount.SLAVE, "private": Mount.PRIVATE,
                "unbindable": Mount.UNBINDABLE}


def bind_options(target: str, b: BindMount) -> None:
    """-v ...:noexec,nosuid,nodev (exec, suid, dev clear them where the source
    mount allows) and a propagation mode, on the bind just made."""
    if b.attrs:
        set_ = sum(_BIND_ATTRS[a] for a in b.attrs if a in _BIND_ATTRS)
        clear = sum(_BIND_ATTRS["no" + a] for a in b.attrs if "no" + a in _BIND_ATTRS)
        linux.mount_setattr(target, set_, clear, recursive=True)
    if b.propagation:
        name = b.propagation[1:] if b.propagation.startswith("r") else b.propagation
        linux.mount(None, target, None, _PROPAGATION[name] | (Mount.REC if name != b.propagation else 0))


_FLAG_OPTS = {"ro": Mount.RDONLY, "nosuid": NOSUID, "nodev": NODEV, "noexec": NOEXEC, "noatime": Mount.NOATIME}
_CLEAR_OPTS = {"rw": Mount.RDONLY, "suid": NOSUID, "dev": NODEV, "exec": NOEXEC}


def tmpfs_options(options: str) -> tuple[int, str]:
    """"rw,size=64m,mode=1777,noexec" -> (mount flags, data) with podman's
    defaults nosuid,nodev unless overridden (podman does not add noexec)."""
    flags = NOSUID | NODEV
    data = []
    for opt in filter(None, options.split(",")):
        if opt in _FLAG_OPTS:
            flags |= _FLAG_OPTS[opt]
        elif opt in _CLEAR_OPTS:
            flags &= ~_CLEAR_OPTS[opt]
        else:
            data.append(opt)
    if not any(d.startswith("mode=") for d in data):
        data.append("mode=1777")
    return int(flags), ",".join(data)


USER_FILES = ("/etc/passwd", "/etc/group")


def _read_regular(fd: int | None, limit: int = 16 << 20) -> str:
    """The text of the regular file fd (O_PATH) points at; "" otherwise."""
    if fd is None or not stat.S_ISREG(os.fstat(fd).st_mode):
        return ""
    rd = os.open(fd_path(fd), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        return os.read(rd, limit).decode("utf-8", "replace")
    finally:
        os.close(rd)


def add_user_entries(fs: Rootfs, spec: Spec) -> None:
    """podman's /etc/passwd and /etc/group lines for a user the image does not
    know (users.entries: keep-id's host user, -u UID). Appended to the
    container's own files (useradd still works: it replaces the file), or,
    on a --read-only rootfs, written to a copy bound over the file (podman's
    way); a user's -v on /etc/passwd mounts later and wins."""
    if not (spec.user or spec.keep_id_user or spec.host_users):
        return
    fds: list[int | None] = []
    try:
        for path in USER_FILES:
            try:
                fds.append(open_in_root(fs.fd, path))
            except OSError:
                fds.append(None)
        texts = [_read_regular(fd) for fd in fds]
        # --passwd=false: nothing for -u's user (keep-id's host user is still added)
        lines = users.entries(spec.user if spec.passwd else "", texts[0], texts[1], spec.cwd, spec.keep_id_user,
                              passwd_entry=spec.passwd_entry)
        if spec.host_users:  # --hostuser
            lines = (lines[0] + users.host_user_lines(texts[0] + lines[0], spec.host_users, spec.cwd), lines[1])
        for i, path in enumerate(USER_FILES):
            line, fd = lines[i], fds[i]
            if not line or fd is None or not stat.S_ISREG(os.fstat(fd).st_mode):
                continue  # nothing to add, or no file rl should write to (never created: --rootfs is the user's)
            if texts[i] and not texts[i].endswith("\n"):
                line = "\n" + line
            if spec.user_files:
                out = os.open(spec.user_files[i], os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    os.write(out, (texts[i] + line).encode())
                finally:
                    os.close(out)
                top = fs.mount(path, spec.user_files[i], None, Mount.BIND, fd=fd)
                try:
                    linux.mount_setattr(fd_path(top), linux.MOUNT_ATTR_RDONLY, recursive=False)
                finally:
                    os.close(top)
                continue
            out = os.open(fd_path(fd), os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                os.write(out, line.encode())
            finally:
                os.close(out)
    finally:
        for fd in fds:
            if fd is not None:
                os.close(fd)


def build_rootfs(root: str, spec: Spec) -> UnsafeRootfs | None:
    """Everything under root, in an order where each step's mount point
    still exists and is writable (the rootfs turns read-only last). Every
    target is opened by fd inside the rootfs (see Rootfs); nothing is
    mounted through a path the image or a shared volume could redirect.
    Returns a --sysctl failure for PID 1 to report later (write_sysctls)."""
    deferred = None
    linux.mount(None, "/", None, Mount.REC | Mount.PRIVATE)
    linux.mount(root, root, None, Mount.BIND | Mount.REC)  # pivot_root needs a mount point
    fs = Rootfs(root)
    proc_fd = sys_fd = None
    try:
        proc_fd = mount_proc(fs)
        mount_dev(fs, console=spec.terminal, shm_size=spec.shm_size)
        sys_fd = mount_sys(fs, spec.netns)
        deferred = write_sysctls(proc_fd, spec.sysctls)  # before /proc/sys turns read-only
        add_user_entries(fs, spec)  # before volumes: a planted symlink can reach only the image's files
        mount_volumes(fs, spec)
        if spec.init:  # after volumes: a --read-only /run tmpfs must not hide it
            fs.bind(spec.init, INIT_PATH, readonly=True, recursive=False, make="file")
        if spec.masked:
            mask_paths(fs, proc_fd, sys_fd)
        if spec.readonly:
            linux.mount_setattr(fd_path(fs.fd), linux.MOUNT_ATTR_RDONLY, recursive=False)
    finally:
        for fd in (proc_fd, sys_fd):
            if fd is not None:
                os.close(fd)
        fs.close()
    return deferred


def pivot(root: str) -> None:
    """pivot_root(".", ".") stacks the old root on the new one; detaching it
    leaves the host's filesystem unreachable."""
    os.chdir(root)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.Umount.DETACH)
    os.chdir("/")
