"""The namespace side of a container: runs as root of the fresh user
namespace (forked by userns.fork_userns with a new mount namespace). Mounts
the rootfs there - before the PID namespace exists, because fuse-overlayfs
daemonizes and a helper forked after unshare(CLONE_NEWPID) would become the
namespace's PID 1 - then unshares the rest, forks the container's PID 1,
forwards signals to it, and tears the storage down when it exits."""

from __future__ import annotations

import os
import signal

from rootless import linux, logconf, storage, tools
from rootless.errors import RuntimeSetupError
from rootless.linux import Clone, netdev
from rootless.linux.spawn import spawn
from rootless.runtime import child
from rootless.runtime.signals import FORWARDED_WINCH
from rootless.runtime.spec import Spec

log = logconf.logger(__name__)  # logging imported only if something is logged

FORWARDED = FORWARDED_WINCH


def _forward_to(pid: int) -> None:
    def handler(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    for sig in FORWARDED:
        signal.signal(sig, handler)


def _wait_for(pid: int) -> int:
    """Reap children (the fuse daemon is ours too, as subreaper) until pid
    exits; its status podman-style."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 125
        if got == pid:
            return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout


def _reap_all(timeout: float = 5.0) -> None:
    """Wait for helpers (the fuse daemon exits once unmounted); kill stragglers."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return
            except _Timeout:
                break
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    for pid in _children():
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _children() -> list[int]:
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children", "rb") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _reap_with_shim(spec: Spec, pid: int, unmount: bool) -> None:
    """A detached container's namespace side stays resident as long as the
    container: become rl-monitor's shim (same pid, a few hundred kB) rather
    than a Python process. Returns only if the exec failed."""
    args = [spec.reaper, "shim", "--pid", str(pid), "--ppid", str(os.getppid())]
    if unmount:
        st = spec.storage
        args += ["--umount", st.target]
        if spec.remove_storage:
            for d in (st.upper, st.work, st.target):
                args += ["--remove", d]
    # blocked across the exec: the shim unblocks them once it forwards them
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        tools.execve(spec.reaper, args)
    except OSError as e:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        log.warning(f"cannot run {spec.reaper}: {e.strerror}; waiting in rl instead")


def _pid1(spec: Spec, io: child.ChildIO, netns_ready_w: int, pid_w: int, unmount: bool = False) -> int:
    """Unshare the container's namespaces (owned by the current user
    namespace), fork its PID 1, forward signals, return its status."""
    flags = Clone.NEWPID if spec.cgroupns_host else Clone.NEWPID | Clone.NEWCGROUP
    if spec.netns and not spec.join_netns:
        flags |= Clone.NEWNET
    if spec.join_netns:  # --network container:X (we joined X's user namespace, which owns it)
        linux.setns_path(spec.join_netns, Clone.NEWNET)
    # a pod's IPC and UTS namespaces, held by its infra container (whose user namespace we joined)
    for kind, flag in (("ipc", Clone.NEWIPC), ("uts", Clone.NEWUTS)):
        if kind in spec.join_ns:
            linux.setns_path(spec.join_ns[kind], flag)
        elif not (kind == "uts" and spec.uts_host):  # --uts=host: the one rl runs in, left as it is
            flags |= flag
    linux.unshare(flags)
    if spec.netns and not spec.join_netns:
        netdev.link_up("lo")
    os.write(netns_ready_w, str(os.getpid()).encode())  # slirp4netns joins this process's netns
    os.close(netns_ready_w)
    if "uts" not in spec.join_ns and not spec.uts_host:  # a joined UTS namespace keeps the name its holder gave it
        linux.sethostname(spec.hostname)
    pid = os.fork()
    if pid == 0:
        child.run(spec, io)  # never returns
    os.close(io.err_w)
    if io.go_r is not None:
        os.close(io.go_r)
    if io.console is not None:
        io.console.close()
    _forward_to(pid)
    os.write(pid_w, str(pid).encode())
    os.close(pid_w)
    if spec.reaper:
        _reap_with_shim(spec, pid, unmount)
    code = _wait_for(pid)
    for sig in FORWARDED:
        signal.signal(sig, signal.SIG_IGN)
    return code


def _write_nested_maps(pid: int, maps: tuple[str, str]) -> None:
    # as root of the outer namespace we may write any map within it ourselves
    for name, text in zip(("uid_map", "gid_map"), maps):
        log.debug("write /proc/%d/%s: %s", pid, name, " ".join(text.split()))
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)


def _nested(spec: Spec, io: child.ChildIO, netns_ready_w: int, pid_w: int) -> int:
    """--userns=keep-id as podman does it: the storage stays mounted in the
    outer namespace (root = the user), the container gets a nested user
    namespace in which the user's own ID keeps its number."""
    go_r, go_w = os.pipe()

    def nested(reporter) -> int:
        os.close(go_w)
        linux.unshare(Clone.NEWUSER)
        reporter.ready()  # the outer side writes the maps and says go
        if os.read(go_r, 1) != b"1":
            return 125
        os.close(go_r)
        try:
            return _pid1(spec, io, netns_ready_w, pid_w)
        except OSError as e:
            child.report(io.err_w, 125, f"keep-id user namespace: {e.strerror or e}")
            return 125

    keep = {go_r, go_w, netns_ready_w, pid_w, io.err_w} | ({io.go_r} if io.go_r is not None else set()) | (
        {io.console.fileno()} if io.console is not None else set()) | set(range(3, 3 + spec.preserve_fds))
    try:
        helper = spawn(nested, name="the keep-id user namespace", keep_fds=keep, stdio=None,
                       death_signal=signal.SIGKILL, log_to_starter=True, error=RuntimeSetupError,
                       context="keep-id user namespace")
    finally:
        os.close(go_r)
    pid = helper.pid
    for fd in (netns_ready_w, pid_w, io.err_w):
        os.close(fd)
    if io.go_r is not None:
        os.close(io.go_r)
    if io.console is not None:
        io.console.close()
    try:
        _write_nested_maps(pid, spec.nested_maps)
        os.write(go_w, b"1")
    finally:
        os.close(go_w)
    if spec.reaper:
        _reap_with_shim(spec, pid, unmount=True)
    _forward_to(pid)
    return _wait_for(pid)


def main(spec: Spec, io: child.ChildIO, netns_ready_w: int, pid_w: int) -> int:
    """Body of the user-namespace child. Returns the container's exit status."""
    # its own session already (spawn's setsid): keyboard signals reach rl only, which forwards them once
    linux.set_child_subreaper()
    linux.set_name("rl-runtime")  # in ps: not to be taken for rl or its monitor
    driver = storage.driver(spec.storage.driver)
    st = spec.storage
    driver.mount(list(st.lower_dirs), st.upper, st.work, st.target, idmap=st.idmap)
    try:
        if spec.nested_maps:
            code = _nested(spec, io, netns_ready_w, pid_w)
        else:
            code = _pid1(spec, io, netns_ready_w, pid_w, unmount=True)
    finally:
        try:
            driver.unmount(st.target)
        finally:
            _reap_all()
    if spec.remove_storage:
        import shutil  # here: its import (fnmatch, re, the compressors) is ~3 ms every `rl run` paid
        for d in (st.upper, st.work, st.target):
            shutil.rmtree(d, ignore_errors=True)
    return code
