"""The kernel interface: syscalls Python lacks, as typed wrappers.

Only this package uses ctypes (see syscalls.py)."""

from rootless.linux.syscalls import (  # noqa: F401
    AT_RECURSIVE, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
    Clone, Mount, Umount, cap_ambient_clear, cap_ambient_raise, cap_bound_drop, cap_bound_has,
    capget, capset, mount, mount_setattr, pivot_root, prctl, set_child_subreaper,
    set_no_new_privs, set_pdeathsig, sethostname, setns, setns_path, umount2, unshare, set_keepcaps, cap_last_cap,
    seccomp_load_bpf, set_name,
)
from rootless.linux.syscalls import blank_exec_strings, personality, set_dumpable  # noqa: F401



def close_fds_except(keep) -> None:
    """Close every fd above 2 but those in keep (a long-lived forked helper
    holding its starter's locks or pipes would block or hang its callers):
    close_range(2) over the gaps (Linux 5.9), else one close per entry of
    /proc/self/fd."""
    import errno
    import os

    from rootless.linux import syscalls as _syscalls
    kept = sorted({fd for fd in keep if fd > 2})
    try:
        lo = 3
        for fd in kept:
            if lo < fd:
                _syscalls.close_range(lo, fd - 1)
            lo = fd + 1
        _syscalls.close_range(lo)
        return
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
            raise
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in kept:
            try:
                os.close(fd)
            except OSError:
                pass  # the fd listdir itself used, already closed
