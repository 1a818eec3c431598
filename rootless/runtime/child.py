"""The container's PID 1 before it becomes the command: builds the rootfs,
pivots into it, drops privileges and execs.

After pivot_root the container's files sit where rl's own sys.path points,
so nothing may be imported from then on: every module used here is imported
at the top, and sys.meta_path is emptied before the pivot so a stray lazy
import fails loudly instead of running a file the image planted."""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import signal
import socket
import stat
import sys
import termios

from rootless import linux, tools
from rootless.linux import spawn
from rootless.linux import syscalls as linux_sc
from rootless.errors import EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND, EXIT_RL
from rootless.plain import record
from rootless.runtime import init, mounts, security, users
from rootless.runtime.spec import DEFAULT_PATH, Spec


@record
class ChildIO:
    err_w: int                 # setup failures: one spawn frame (report); EOF at exec means success
    go_r: int | None           # the parent writes one byte once the network is up
    console: socket.socket | None  # -t: the pty master goes back to the host side here


def report(fd: int, code: int, message: str, hint: str | None = None) -> None:
    """Setup failure -> the error pipe (closed then), in spawn's one frame format."""
    spawn.report(fd, code, message, hint)


class Failed(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def find_executable(cmd: str, path_env: str) -> str:
    """execvp's search, by hand, inside the container: 127 when nothing is
    found, 126 when only non-executable candidates are."""
    if not cmd:
        raise Failed(EXIT_NOT_FOUND, "no command specified")
    candidates = [cmd] if "/" in cmd else [os.path.join(d or ".", cmd) for d in path_env.split(":")]
    denied = None
    for c in candidates:
        try:
            st = os.stat(c)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and os.access(c, os.X_OK):
            return c
        denied = denied or c
    if denied:
        raise Failed(EXIT_CANNOT_INVOKE, f"{denied}: permission denied")
    if "/" in cmd:
        raise Failed(EXIT_NOT_FOUND, f"{cmd}: no such file or directory")
    raise Failed(EXIT_NOT_FOUND, f"executable file `{cmd}` not found in $PATH: No such file or directory")


def _stdio(spec: Spec, io: ChildIO) -> None:
    if spec.terminal:
        master, slave = os.openpty()  # from the container's own devpts instance
        socket.send_fds(io.console, [b"p"], [master])
        os.close(master)
        io.console.close()
        linux.mount(os.ttyname(slave), "/dev/console", None, linux.Mount.BIND)  # as podman
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):  # -t without -i: still a terminal, rl just sends it nothing (podman)
            os.dup2(slave, fd)
        os.close(slave)
    elif not spec.stdin:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    if not spec.terminal:
        try:
            os.setsid()  # a session and process group of its own, as runc's init: PGID 1 inside (rl top)
        except PermissionError:
            pass  # already a group leader


def _open_fds() -> list[int]:
    """The fds above 2 open now, listed from the host's /proc (call it before
    pivot_root or setns: the container's /proc could be made to lie)."""
    return [int(name) for name in os.listdir("/proc/self/fd") if int(name) > 2]


def _close_inherited_fds(listed: list[int] | None = None, preserve: int = 0) -> None:
    """Whatever rl's caller left open (a directory fd of the host would be a
    way out) must not reach the container: every fd above 2 closes at exec,
    but the `preserve` fds from 3 on that --preserve-fds passes on purpose.
    close_range(CLOSE_RANGE_CLOEXEC) does it in the kernel (5.11); before
    that, the fds `listed` on the host, or every fd number up to the limit,
    never a listing of the container's /proc."""
    for fd in range(3, 3 + preserve):
        os.set_inheritable(fd, True)
    try:
        linux_sc.close_range(3 + preserve, 0xFFFFFFFF, linux_sc.CLOSE_RANGE_CLOEXEC)
        return
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EINVAL, errno.EPERM):
            raise
    if listed is None:
        listed = range(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    for fd in listed:
        if fd < 3 + preserve:
            continue
        try:
            os.set_inheritable(fd, False)
        except OSError:
            pass  # not open (any more)


def _workdir(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except FileNotFoundError:
        try:
            os.makedirs(cwd, 0o755)  # podman creates a missing WorkingDir
            os.chdir(cwd)
        except OSError as e:
            raise Failed(EXIT_RL, f"workdir {cwd}: {e.strerror}") from None
    except OSError as e:
        raise Failed(EXIT_CANNOT_INVOKE, f"workdir {cwd}: {e.strerror}") from None


def _chown_tree(top: str, uid: int, gid: int) -> None:
    """-v SRC:DST:U, done here because only now is the user known (from the
    container's own passwd); as root of the user namespace the chown lands on
    the host files as the mapped IDs."""
    try:
        os.lchown(top, uid, gid)
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), uid, gid)
    except OSError as e:
        raise Failed(EXIT_RL, f"volume {top} (:U): chown to {uid}:{gid}: {e.strerror}") from None


_RLIM_INFINITY = (1 << 64) - 1
_RLIMIT_NUMBERS = {"cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
                   "memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14,
                   "rttime": 15}


def _set_rlimits(limits) -> None:
    """--ulimit and podman's defaults. The hard limits rl itself has are a
    ceiling rootless (raising one needs CAP_SYS_RESOURCE on the host): the
    error says so, with podman's status for it (126)."""
    for name, soft, hard in limits:
        own = resource.getrlimit(_RLIMIT_NUMBERS[name])[1]
        try:
            resource.setrlimit(_RLIMIT_NUMBERS[name], tuple(-1 if v == _RLIM_INFINITY else v for v in (soft, hard)))
        except (OSError, ValueError):
            shown = "unlimited" if own == -1 else own
            raise Failed(EXIT_CANNOT_INVOKE, f"--ulimit {name}={_limit(soft)}:{_limit(hard)}: a rootless container "
                         f"cannot raise a hard limit above the user's own ({name} {shown}); give at most that, "
                         f"or raise the user's limit (limits.conf, systemd LimitNOFILE=)") from None


def _limit(v: int) -> str:
    return "-1" if v == _RLIM_INFINITY else str(v)


def _oom_score_adj(value: int | None) -> None:
    """--oom-score-adj: raising it is anyone's right; going below the
    user's own needs CAP_SYS_RESOURCE on the host (podman's runc fails the
    same way, 126)."""
    if value is None:
        return
    try:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(value))
        except PermissionError:
            # a non-dumpable PID 1 (started by the monitor): its /proc files belong to the host's root,
            # not to the user. Dumpable for this one write: nothing else runs in its PID namespace yet
            linux.set_dumpable(True)
            try:
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write(str(value))
            finally:
                linux.set_dumpable(False)
    except OSError:
        try:
            with open("/proc/self/oom_score_adj") as f:
                own = f.read().strip()
        except OSError:
            own = "?"
        raise Failed(EXIT_CANNOT_INVOKE, f"--oom-score-adj {value}: a rootless container cannot go below the "
                     f"user's own OOM score adjustment ({own}); give {own} or more") from None


def _after_pivot(spec: Spec, io: ChildIO, host_fds: list[int] | None = None, deferred=None) -> None:
    if io.go_r is not None:
        if os.read(io.go_r, 1) != b"1":
            raise Failed(EXIT_RL, "network setup failed")
        os.close(io.go_r)
        # the host may have moved us into the container's cgroup meanwhile: a
        # cgroup namespace rooted there shows the container "0::/", as podman's
        if not spec.cgroupns_host:
            linux.unshare(linux.Clone.NEWCGROUP)
    # failures found before the network was up are reported now: dying earlier would leave the
    # host side reporting slirp4netns's failure (its namespace gone) instead of the reason
    if deferred is not None:
        raise deferred
    _oom_score_adj(spec.oom_score_adj)  # the container's own procfs: /proc/self is PID 1
    try:
        creds = users.resolve(spec.user, users.read_text("/etc/passwd"), users.read_text("/etc/group"),
                              spec.group_add)
    except users.UnknownUser as e:
        raise Failed(EXIT_RL, str(e)) from None
    for b in spec.binds:
        if b.chown:
            _chown_tree(b.target, creds.uid, creds.gid)
    env = dict(spec.env)
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOME", creds.home)
    env.setdefault("HOSTNAME", spec.hostname)
    env.setdefault("container", "rl")
    env.setdefault("TERM", "xterm")  # with or without -t, as podman
    _workdir(spec.cwd)
    _stdio(spec, io)
    _set_rlimits(spec.rlimits)
    if spec.personality is not None:  # before seccomp, which may not allow it; inherited by --init's child
        linux.personality(spec.personality)
    security.apply(bounding=spec.caps, uid=creds.uid, gid=creds.gid, groups=creds.groups,
                   added=spec.added_caps, seccomp_bpf=spec.seccomp_bpf, no_new_privs=spec.no_new_privs)
    path = find_executable(spec.args[0], env["PATH"])
    _close_inherited_fds(host_fds, spec.preserve_fds)
    os.umask(spec.umask)  # the container's, never the one rl's caller or the monitor (077) runs with
    args = spec.args
    if spec.init:
        path, args = mounts.INIT_PATH, [mounts.INIT_PATH, "--", *spec.args]
    elif spec.own_init:
        init.prepare()  # before the command exists: rl's Python stays PID 1, it must expose nothing
        main_pid = os.fork()
        if main_pid:
            os.close(io.err_w)  # the command (our child) reports its own exec failure
            init.serve(main_pid)  # never returns
    try:
        tools.execve(path, args, env)
    except OSError as e:
        code = EXIT_CANNOT_INVOKE if e.errno in (errno.EACCES, errno.ENOEXEC, errno.EISDIR) else (
            EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_RL)
        raise Failed(code, f"{args[0]}: {e.strerror}") from None


def run(spec: Spec, io: ChildIO) -> None:
    """Never returns: execs the command or exits with 125/126/127 after
    writing why to the error pipe."""
    code, message, hint = EXIT_RL, "container setup failed", None
    try:
        os.umask(0o022)  # mount points rl makes in the rootfs: podman's modes, not the monitor's 077
        linux.set_pdeathsig(signal.SIGKILL)  # the namespace side died: so does the container
        for sig in range(1, signal.NSIG):
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                try:  # Python ignores SIGPIPE/SIGXFSZ; an ignored signal would survive exec
                    signal.signal(sig, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
        linux.unshare(linux.Clone.NEWNS)  # our own mount ns: pivot_root must not move the fuse daemon
        host_fds = _open_fds()  # still the host's /proc
        deferred = mounts.build_rootfs(spec.storage.target, spec)
        sys.meta_path.clear()  # from here on an import is an error, never container code
        sys.path_importer_cache.clear()
        mounts.pivot(spec.storage.target)
        _after_pivot(spec, io, host_fds, deferred)
    except Failed as e:
        code, message = e.code, e.message
    except mounts.UnsafeRootfs as e:
        message, hint = e.message, e.hint
    except OSError as e:
        message = e.strerror or str(e)
        if e.filename and str(e.filename) not in message:
            message = f"{e.filename}: {message}"
    except BaseException as e:  # noqa: BLE001 - a forked child must never return
        message = f"{type(e).__name__}: {e}"
    try:
        report(io.err_w, code, message, hint)
    finally:
        os._exit(code)
