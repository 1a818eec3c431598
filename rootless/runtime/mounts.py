"""The container's filesystem world, built under the mounted rootfs before
pivot_root: /proc, /dev, /sys, /etc files, volumes, tmpfs, masks. Runs as
root of the user namespace, in PID 1's own mount namespace."""

from __future__ import annotations

import errno
import os

from rootless import linux
from rootless.linux import Mount
from rootless.runtime import copyup
from rootless.runtime.spec import BindMount, Spec

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
    """root + path with every symlink resolved as if root were / (an image
    cannot point a mount target outside its rootfs)."""
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


def make_target(path: str, is_dir: bool) -> None:
    """A mount point: a directory or an empty file, created when missing."""
    if os.path.lexists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if is_dir:
        os.mkdir(path, 0o755)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def bind(source: str, target: str, readonly: bool = False, recursive: bool = True) -> None:
    linux.mount(source, target, None, Mount.BIND | (Mount.REC if recursive else 0))
    if readonly:
        linux.mount_setattr(target, linux.MOUNT_ATTR_RDONLY, recursive=recursive)


def mount_proc(root: str) -> None:
    target = secure_join(root, "/proc")  # an image's /proc -> / symlink must stay inside
    make_target(target, True)
    linux.mount("proc", target, "proc", NOSUID | NODEV | NOEXEC)


def mount_dev(root: str, console: bool = False) -> None:
    dev = secure_join(root, "/dev")
    make_target(dev, True)
    linux.mount("tmpfs", dev, "tmpfs", NOSUID | Mount.STRICTATIME, "mode=755,size=65536k")
    for node in DEV_NODES:
        make_target(os.path.join(dev, node), False)
        bind(f"/dev/{node}", os.path.join(dev, node), recursive=False)
    for name in ("pts", "shm", "mqueue"):
        os.mkdir(os.path.join(dev, name), 0o755)
    linux.mount("devpts", os.path.join(dev, "pts"), "devpts", NOSUID | NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5")
    linux.mount("shm", os.path.join(dev, "shm"), "tmpfs", NOSUID | NODEV | NOEXEC, "mode=1777,size=65536k")
    linux.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", NOSUID | NODEV | NOEXEC)
    for name, to in DEV_LINKS:
        os.symlink(to, os.path.join(dev, name))
    if console:  # -t: the pty slave gets bound here once it exists
        make_target(os.path.join(dev, "console"), False)


def mount_sys(root: str, own_netns: bool) -> None:
    target = secure_join(root, "/sys")
    make_target(target, True)
    if own_netns:
        try:
            linux.mount("sysfs", target, "sysfs", NOSUID | NODEV | NOEXEC | Mount.RDONLY)
            return
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EACCES):
                raise
    # sysfs needs a network namespace we own; otherwise the host's, read-only
    bind("/sys", target, readonly=True)


def mask_paths(root: str) -> None:
    for path in MASKED_PATHS:
        full = os.path.join(root, path.lstrip("/"))
        if os.path.isdir(full) and not os.path.islink(full):
            linux.mount("tmpfs", full, "tmpfs", Mount.RDONLY | NOSUID | NODEV | NOEXEC, "size=0")
        elif os.path.exists(full):
            bind("/dev/null", full, recursive=False)
    for path in READONLY_PATHS:
        full = os.path.join(root, path.lstrip("/"))
        if os.path.exists(full):
            bind(full, full, readonly=True)


def mount_volumes(root: str, spec: Spec) -> None:
    copyup.prepare_volumes(root, spec)  # new volumes: the image's content, owner and mode, before any mount hides them
    # parents before children, as podman sorts them: /a must not hide /a/b
    for b in sorted(spec.binds, key=lambda b: b.target.rstrip("/").count("/")):
        target = secure_join(root, b.target)
        make_target(target, os.path.isdir(b.source))
        bind(b.source, target, readonly=b.readonly)
        bind_options(target, b)
    if spec.readonly:
        # podman's --read-only-tmpfs default: the usual scratch dirs stay writable
        for path in ("/tmp", "/var/tmp", "/run"):
            if not any(t.target == path for t in spec.tmpfs):
                target = secure_join(root, path)
                make_target(target, True)
                linux.mount("tmpfs", target, "tmpfs", NOSUID | NODEV, "mode=1777")
    for t in spec.tmpfs:
        target = secure_join(root, t.target)
        make_target(target, True)
        flags, data = tmpfs_options(t.options)
        linux.mount("tmpfs", target, "tmpfs", flags, data)
    for ctr_path, host_file in spec.etc_files.items():
        target = secure_join(root, ctr_path)
        if os.path.islink(target) or os.path.isdir(target):
            continue  # the image manages this one itself (as podman leaves a symlinked resolv.conf)
        make_target(target, False)
        bind(host_file, target, recursive=False)


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


def build_rootfs(root: str, spec: Spec) -> None:
    """Everything under root, in an order where each step's mount point
    still exists and is writable (the rootfs turns read-only last)."""
    linux.mount(None, "/", None, Mount.REC | Mount.PRIVATE)
    linux.mount(root, root, None, Mount.BIND | Mount.REC)  # pivot_root needs a mount point
    mount_proc(root)
    mount_dev(root, console=spec.terminal)
    mount_sys(root, spec.netns)
    mount_volumes(root, spec)
    if spec.init:  # after volumes: a --read-only /run tmpfs must not hide it
        target = secure_join(root, INIT_PATH)
        make_target(target, False)
        bind(spec.init, target, readonly=True, recursive=False)
    if spec.masked:
        mask_paths(root)
    if spec.readonly:
        linux.mount_setattr(root, linux.MOUNT_ATTR_RDONLY, recursive=False)


def pivot(root: str) -> None:
    """pivot_root(".", ".") stacks the old root on the new one; detaching it
    leaves the host's filesystem unreachable."""
    os.chdir(root)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.Umount.DETACH)
    os.chdir("/")
