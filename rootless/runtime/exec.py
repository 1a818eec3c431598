"""`rl exec`: a new process inside a running container.

    rl (host) --fork--> A: non-dumpable, rl's environment and command line
                           blanked, its own session, only the fds it needs,
                           setns user (first: it grants the rights for the
                           rest), then mnt, pid, net, uts, ipc, cgroup
                           --fork--> B: a child of A, so inside the container's
                                     PID namespace (setns of a PID namespace
                                     only applies to children); a session of
                                     its own, user lookup, workdir, pty,
                                     caps/seccomp/no_new_privs, umask, exec
    A forwards signals to B, waits for it and exits with its status (or at
    once with -d: B is then adopted by the container's PID 1).

B is visible in the container until it execs, and is rl's Python: it is
non-dumpable (from A; the kernel checks CAP_SYS_PTRACE in the host's user
namespace, which the container never has), so /proc/B/environ, mem, fd and
exe are refused and it cannot be ptraced. Its stdio are pipes or /dev/null
(from the host) or, with -t, a pty of the container's devpts: never rl's
terminal. setsid() leaves the caller's session, so /dev/tty is ENXIO.

Nothing is imported after setns into the mount namespace: the container's
files would be on sys.path's paths."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import sys
import termios

from rootless import linux, tools
from rootless.errors import EXIT_CANNOT_INVOKE, EXIT_NOT_FOUND, EXIT_RL, ContainerError
from rootless.linux import Clone
from rootless.linux.spawn import spawn as linux_spawn
from rootless.plain import field, record
from rootless.runtime import child, security, signals, users
from rootless.runtime.spec import DEFAULT_PATH

# forwarded by A to B (rl forwards them to A: create._Forwarder)
FORWARDED = signals.FORWARDED

NAMESPACES = (("user", Clone.NEWUSER), ("mnt", Clone.NEWNS), ("pid", Clone.NEWPID), ("net", Clone.NEWNET),
              ("uts", Clone.NEWUTS), ("ipc", Clone.NEWIPC), ("cgroup", Clone.NEWCGROUP))


@record
class ExecSpec:
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    group_add: list[str] = field(default_factory=list)  # the container's --group-add
    user: str = ""
    hostname: str = ""
    terminal: bool = False
    stdin: bool = False
    detach: bool = False
    caps: frozenset[str] = frozenset()
    added_caps: frozenset[str] = frozenset()
    seccomp_bpf: bytes | None = None
    no_new_privs: bool = False
    die_with_parent: bool = False  # healthchecks: never outlive the monitor
    umask: int = 0o022             # podman's for exec, whatever rl's caller has
    rlimits: list = field(default_factory=list)  # the container's (name, soft, hard), as podman's exec
    oom_score_adj: int | None = None  # the container's --oom-score-adj
    personality: int | None = None  # the container's --personality


def _open_namespaces(pid: int) -> list[tuple[int, int]]:
    from rootless.runtime import init
    pid = init.namespace_pid(pid)
    out = []
    for name, flag in NAMESPACES:
        path = f"/proc/{pid}/ns/{name}"
        try:
            if os.stat(path).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue  # shared with rl (--network host): nothing to join
            out.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag))
        except OSError as e:
            for fd, _ in out:
                os.close(fd)
            raise ContainerError(f"cannot join the container's namespaces: {path}: {e.strerror}",
                                 hint="is the container still running? rl ps") from None
    return out


def _inside(spec: ExecSpec, err_w: int, console: socket.socket | None, mask) -> None:
    """Process B: already in every namespace. Never returns."""
    code, message = EXIT_RL, "exec failed"
    try:
        os.setsid()  # never in the caller's session: no controlling terminal, /dev/tty is ENXIO
        for sig in range(1, signal.NSIG):
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                try:
                    signal.signal(sig, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # A blocked FORWARDED around the fork
        creds = users.resolve(spec.user, users.read_text("/etc/passwd"), users.read_text("/etc/group"),
                              spec.group_add)
        env = dict(spec.env)
        env.setdefault("PATH", DEFAULT_PATH)
        env.setdefault("HOME", creds.home)
        if spec.hostname:
            env.setdefault("HOSTNAME", spec.hostname)
        if spec.terminal:
            env.setdefault("TERM", "xterm")
        try:  # exec never creates its directory (podman/runc: 127, as for a missing command)
            os.chdir(spec.cwd)
        except OSError as e:
            raise child.Failed(EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_CANNOT_INVOKE,
                               f'chdir to cwd ("{spec.cwd}"): {e.strerror}') from None
        if spec.terminal:
            master, slave = os.openpty()  # the container's devpts: its /dev/pts shows it
            socket.send_fds(console, [b"p"], [master])
            os.close(master)
            console.close()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.close(slave)
        os.umask(spec.umask)
        child._set_rlimits(spec.rlimits)
        if spec.personality is not None:  # the container's --personality, as its PID 1 got it
            linux.personality(spec.personality)
        security.apply(bounding=spec.caps, uid=creds.uid, gid=creds.gid, groups=creds.groups,
                       added=spec.added_caps, seccomp_bpf=spec.seccomp_bpf, no_new_privs=spec.no_new_privs)
        if not spec.die_with_parent:
            linux.set_pdeathsig(0)  # apply() set it for PID 1; an exec'd process may outlive rl exec
        path = child.find_executable(spec.args[0], env["PATH"])
        child._close_inherited_fds()
        tools.execve(path, spec.args, env)
    except child.Failed as e:
        code, message = e.code, e.message
    except users.UnknownUser as e:
        message = str(e)
    except OSError as e:
        code = EXIT_CANNOT_INVOKE if e.errno in (errno.EACCES, errno.ENOEXEC) else (
            EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_RL)
        message = e.strerror or str(e)
    except BaseException as e:  # noqa: BLE001 - a forked child must never return
        message = f"{type(e).__name__}: {e}"
    try:
        child.report(err_w, code, message)
    finally:
        os._exit(code)


def spawn(target: int, spec: ExecSpec, stdio: tuple[int, int, int] | None = None) -> tuple[int, int | None]:
    """Start spec's command in the container whose PID 1 is `target`, with
    stdio (pipes, /dev/null: /dev/null for all three when None) as its fds 0,
    1, 2. Returns (pid of A, pty master or None) once the command has exec'd;
    raises RlError (126/127/125) when it could not. A's exit status is the
    command's; signals sent to A reach the command."""
    nsfds = _open_namespaces(target)
    err_r, err_w = os.pipe()
    null = None
    if stdio is None:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        stdio = (null, null, null)
    console_host = console_ctr = None
    if spec.terminal:
        console_host, console_ctr = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def outer(reporter) -> int:
        """A (spawn made it non-dumpable, set its session, its death signal,
        its stdio and closed every fd but `keep` before this runs)."""
        # before anything of the container can reach us: nothing of rl's environment to read
        linux.blank_exec_strings("rl-exec")
        linux.set_name("rl-exec")
        for fd, flag in nsfds:
            linux.setns(fd, flag)
            os.close(fd)
        sys.meta_path.clear()  # the container's files are where sys.path points now
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        b = os.fork()
        if b == 0:
            reporter.close()  # A's, not B's: B's failures go to err_w
            _inside(spec, err_w, console_ctr, mask)
        os.close(err_w)
        if console_ctr is not None:
            console_ctr.close()
        if spec.detach:
            reporter.ready(str(b))
            return 0

        def forward(sig, _frame):
            try:
                os.kill(b, sig)
            except ProcessLookupError:
                pass
        for sig in FORWARDED:
            signal.signal(sig, forward)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        reporter.ready(str(b))  # rl forwards signals to A from now on: A forwards them to B
        while True:
            try:
                _, status = os.waitpid(b, 0)
                break
            except InterruptedError:
                continue
        return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

    console_fd = console_ctr.fileno() if console_ctr is not None else None
    keep = {err_w, *(fd for fd, _ in nsfds)} | ({console_fd} if console_fd is not None else set())
    if spec.oom_score_adj is not None:
        # the container's OOM score adjustment, inherited from here: the helpers below are
        # non-dumpable, so their /proc files are not the user's to write (raising rl exec's own is harmless)
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(spec.oom_score_adj))
        except OSError:
            pass  # below this process's own: run refused it already
    try:
        # rl's other fds (the relay's ends, locks) stay with rl; A's log records go to rl's stderr
        helper = linux_spawn(outer, name="the exec helper", setsid=True, stdio=stdio, keep_fds=keep,
                             death_signal=signal.SIGKILL if spec.die_with_parent else None, dumpable=False,
                             log_to_starter=True, error=ContainerError, context="cannot enter the container")
    except BaseException:
        os.close(err_r)
        if console_host is not None:
            console_host.close()
        raise
    finally:
        for fd, _ in nsfds:
            os.close(fd)
        os.close(err_w)
        if null is not None:
            os.close(null)
        if console_ctr is not None:
            console_ctr.close()
    a = helper.pid
    from rootless.runtime.create import _setup_error, collect_start
    master, failure = collect_start(console_host, err_r)
    if failure:
        os.waitpid(a, 0)
        raise _setup_error(failure)
    return a, master


def run(target: int, spec: ExecSpec) -> int:
    """Attached exec: the command's exit status. Its stdio are a pty (-t,
    pumped to rl's terminal) or pipes rl relays; rl's own fds never reach it.
    SIGINT, SIGTERM... sent to rl are forwarded to the command."""
    from rootless.runtime import tty, userns
    from rootless.runtime.create import _Forwarder
    fwd = _Forwarder(with_winch=False)
    pipes = None
    try:
        if spec.terminal:
            pid, master = spawn(target, spec)
            fwd.attach(pid)
            tty.pump(master, 0 if spec.stdin else None, 1)
            os.close(master)
        else:
            pipes = tty.Pipes(spec.stdin)
            try:
                pid, _ = spawn(target, spec, pipes.child)
            finally:
                pipes.close_child()
            fwd.attach(pid)
            pipes.relay(pid)
        return userns.wait_status(pid)
    finally:
        if pipes is not None:
            pipes.close()
        fwd.restore()
