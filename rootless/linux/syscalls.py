"""All of rl's ctypes code: thin, typed wrappers over the syscalls Python's
os module lacks (3.11 has no os.unshare/os.setns). Every wrapper raises
OSError(errno, "<op> <what>: <strerror>", path) and retries EINTR, so callers
never see "Unknown error -1"."""

from __future__ import annotations

import ctypes
import enum
import errno
import os

from rootless import logconf

# each namespace step at --log-level debug (lazy %-arguments: nothing is
# formatted, nothing imported, when debug is off; after a pivot_root too)
log = logconf.logger(__name__)  # logging imported only if something is logged

_libc = ctypes.CDLL(None, use_errno=True)


class Clone(enum.IntFlag):
    NEWNS = 0x00020000
    NEWCGROUP = 0x02000000
    NEWUTS = 0x04000000
    NEWIPC = 0x08000000
    NEWUSER = 0x10000000
    NEWPID = 0x20000000
    NEWNET = 0x40000000


class Mount(enum.IntFlag):
    RDONLY = 1
    NOSUID = 2
    NODEV = 4
    NOEXEC = 8
    SYNCHRONOUS = 16
    REMOUNT = 32
    MANDLOCK = 64
    DIRSYNC = 128
    NOSYMFOLLOW = 256
    NOATIME = 1024
    NODIRATIME = 2048
    BIND = 4096
    MOVE = 8192
    REC = 16384
    SILENT = 32768
    UNBINDABLE = 1 << 17
    PRIVATE = 1 << 18
    SLAVE = 1 << 19
    SHARED = 1 << 20
    RELATIME = 1 << 21
    STRICTATIME = 1 << 24


class Umount(enum.IntFlag):
    FORCE = 1
    DETACH = 2
    EXPIRE = 4
    NOFOLLOW = 8


# mount_setattr(2) attributes
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
AT_RECURSIVE = 0x8000
AT_FDCWD = -100

_SYSCALL_NR = {
    "x86_64": {"pivot_root": 155, "mount_setattr": 442, "setns": 308, "capget": 125, "capset": 126, "kcmp": 312},
    "aarch64": {"pivot_root": 41, "mount_setattr": 442, "setns": 268, "capget": 90, "capset": 91, "kcmp": 272},
}[os.uname().machine]  # platform.machine(), without importing platform

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def _check(ret: int, op: str, path: str | None = None) -> int:
    if ret == -1:
        err = ctypes.get_errno()
        what = f"{op} {path}" if path else op
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def _call(fn, op: str, path: str | None, *args) -> int:
    while True:
        ret = fn(*args)
        if ret == -1 and ctypes.get_errno() == errno.EINTR:
            continue
        return _check(ret, op, path)


def _b(s: str | bytes | None) -> bytes | None:
    if s is None:
        return None
    return s if isinstance(s, bytes) else os.fsencode(s)


_NS_NAMES = ((0x10000000, "user"), (0x00020000, "mount"), (0x20000000, "pid"), (0x40000000, "network"),
             (0x04000000, "uts"), (0x08000000, "ipc"), (0x02000000, "cgroup"))


def ns_names(flags: int) -> str:
    """CLONE_NEW* flags as podman names the namespaces: "user, mount, pid"."""
    return ", ".join(name for bit, name in _NS_NAMES if int(flags) & bit) or "none"


def unshare(flags: int) -> None:
    log.debug("unshare namespaces: %s", ns_names(flags))
    _call(_libc.unshare, "unshare", None, ctypes.c_int(int(flags)))


def setns(fd: int, nstype: int = 0, what: str | None = None) -> None:
    log.debug("setns into the %s namespace %s", ns_names(nstype) if nstype else "any", what or f"(fd {fd})")
    _call(_libc.setns, "setns", None, ctypes.c_int(fd), ctypes.c_int(int(nstype)))


def setns_path(path: str, nstype: int = 0) -> None:
    """Join the namespace a /proc/PID/ns/KIND file names (the fd closed either way)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd, nstype, path)
    finally:
        os.close(fd)


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    log.debug("mount %s on %s (type %s, flags %#x%s)", source, target, fstype or "none", int(flags),
              f", {data}" if data else "")
    _call(_libc.mount, f"mount {fstype or source or ''}".rstrip() + " on", str(target),
          _b(source), _b(target), _b(fstype), ctypes.c_ulong(int(flags)), _b(data))


def umount2(target: str, flags: int = 0) -> None:
    _call(_libc.umount2, "umount", str(target), _b(target), ctypes.c_int(int(flags)))


def pivot_root(new_root: str, put_old: str) -> None:
    log.debug("pivot_root into %s (old root on %s)", new_root, put_old)
    _call(_libc.syscall, "pivot_root", str(new_root), ctypes.c_long(_SYSCALL_NR["pivot_root"]),
          _b(new_root), _b(put_old))


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(path: str, attr_set: int, attr_clr: int = 0, recursive: bool = True) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    _call(_libc.syscall, "mount_setattr", str(path), ctypes.c_long(_SYSCALL_NR["mount_setattr"]),
          ctypes.c_int(AT_FDCWD), _b(path), ctypes.c_uint(flags), ctypes.byref(attr),
          ctypes.c_size_t(ctypes.sizeof(attr)))


# openat2(2) and close_range(2): numbers shared by every architecture (Linux 5.6 / 5.9)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
CLOSE_RANGE_CLOEXEC = 1 << 2


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): path resolved relative to dirfd under the RESOLVE_* rules
    (e.g. RESOLVE_IN_ROOT: symlinks and ".." never leave dirfd). ENOSYS on
    kernels before 5.6; EAGAIN when a concurrent rename or mount made the
    kernel give up (retry)."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    return _call(_libc.syscall, "openat2", str(path), ctypes.c_long(437), ctypes.c_int(dirfd), _b(path),
                 ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    """close_range(2) on [first, last]; with CLOSE_RANGE_CLOEXEC the fds are
    marked close-on-exec instead of closed (Linux 5.11; ENOSYS/EINVAL before)."""
    _call(_libc.syscall, "close_range", None, ctypes.c_long(436), ctypes.c_uint(first), ctypes.c_uint(last),
          ctypes.c_uint(flags))


KCMP_VM = 1


def same_vm(pid1: int, pid2: int) -> bool:
    """kcmp(2) KCMP_VM: whether the two processes share one address space
    (as a vfork child does with its parent until it execs). OSError when the
    caller may not inspect both (ptrace read access) or they are gone."""
    return _call(_libc.syscall, "kcmp", None, ctypes.c_long(_SYSCALL_NR["kcmp"]), ctypes.c_int(pid1),
                 ctypes.c_int(pid2), ctypes.c_int(KCMP_VM), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0


def sethostname(name: str) -> None:
    raw = name.encode()
    _call(_libc.sethostname, "sethostname", name, raw, ctypes.c_size_t(len(raw)))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _call(_libc.prctl, f"prctl({option})", None, ctypes.c_int(option), ctypes.c_ulong(arg2),
                 ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5))


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def personality(persona: int) -> int:
    """personality(2): the execution domain, kept across execve (PER_LINUX32,
    8: uname -m reports a 32-bit machine, as `setarch i686` does); the previous one."""
    return _call(_libc.personality, "personality", None, ctypes.c_ulong(persona))


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_dumpable(on: bool) -> None:
    """Off: /proc/PID/{environ,mem,fd,exe,ns} and ptrace refused to anyone
    without CAP_SYS_PTRACE in the user namespace the process was exec'd in
    (a host process's: the host's), until the next execve. runc's nsexec does
    this before joining a container's namespaces."""
    prctl(PR_SET_DUMPABLE, 1 if on else 0)


def blank_exec_strings(title: str) -> None:
    """Zero the environment strings the kernel placed at execve (what
    /proc/PID/environ reads) and write title over the argument strings (what
    /proc/PID/cmdline and ps read), as setproctitle does; libc's environ is
    emptied too. Python's own copies (os.environ, sys.argv) are untouched.
    Reads /proc/self/stat: call it where /proc is one rl mounted or the host's."""
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    # fields 48-51 (arg_start, arg_end, env_start, env_end); this list starts at field 3
    arg_start, arg_end, env_start, env_end = (int(x) for x in fields[45:49])
    _libc.clearenv()
    if 0 < env_start < env_end:
        ctypes.memset(env_start, 0, env_end - env_start)
    if 0 < arg_start < arg_end:
        raw = title.encode()[:arg_end - arg_start - 1]
        ctypes.memset(arg_start, 0, arg_end - arg_start)
        ctypes.memmove(arg_start, raw, len(raw))


# --- capabilities ---------------------------------------------------------
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread, as 64-bit masks."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _call(_libc.syscall, "capget", None, ctypes.c_long(_SYSCALL_NR["capget"]), ctypes.byref(hdr), data)
    join = lambda f: getattr(data[0], f) | (getattr(data[1], f) << 32)  # noqa: E731
    return join("effective"), join("permitted"), join("inheritable")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        data[i].effective = (effective >> (32 * i)) & 0xFFFFFFFF
        data[i].permitted = (permitted >> (32 * i)) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> (32 * i)) & 0xFFFFFFFF
    _call(_libc.syscall, "capset", None, ctypes.c_long(_SYSCALL_NR["capset"]), ctypes.byref(hdr), data)


def cap_bound_drop(cap: int) -> None:
    prctl(PR_CAPBSET_DROP, cap)


def cap_bound_has(cap: int) -> bool:
    return prctl(PR_CAPBSET_READ, cap) == 1


def cap_ambient_raise(cap: int) -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)


def cap_ambient_clear() -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def set_keepcaps(on: bool = True) -> None:
    """Keep permitted capabilities across setuid() away from 0 (for --user
    with --cap-add: the caps are re-raised afterwards)."""
    prctl(PR_SET_KEEPCAPS, 1 if on else 0)


def cap_last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except OSError:
        return 40


# --- seccomp ----------------------------------------------------------------
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_load_bpf(program: bytes) -> None:
    """Install a classic-BPF seccomp program (8-byte sock_filter entries, as
    libseccomp's export_bpf writes them) on the calling thread. Needs
    no_new_privs or CAP_SYS_ADMIN in the current user namespace."""
    if not program or len(program) % 8:
        raise OSError(errno.EINVAL, "seccomp: malformed BPF program")
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))


def set_name(name: str) -> None:
    """The calling thread's name (comm, shown by ps/top), at most 15 bytes."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _call(_libc.prctl, "prctl(PR_SET_NAME)", None, ctypes.c_int(PR_SET_NAME), buf, ctypes.c_ulong(0),
          ctypes.c_ulong(0), ctypes.c_ulong(0))
