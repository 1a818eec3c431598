"""The host side of `run`: fork the user-namespace side, map IDs, start the
network helper, hand stdio over (or pump a pty), forward signals, and
return the container's exit status. The choreography:

    rl (host)                      namespace side (userns root)   PID 1
    fork_userns ------------------> mount rootfs (fuse daemon)
                                    unshare pid/net/uts/ipc/cgroup
    <--- netns ready -------------- fork --------------------------> own mount ns, /proc, /dev, ...
    <--- PID 1's pid -------------- (right after the fork)
    cgroup: opts.cgroup.attach(pid)                                pivot_root
    start slirp4netns
    go ----------------------------------------------------------> (waits for network and cgroup)
    <--- pty master (-t) ---------------------------------------- drop privileges
    <--- error pipe EOF = exec'd -------------------------------- execve
    pump / wait     <--- status --- wait, unmount, reap
"""

from __future__ import annotations

import os
import signal
import socket

from rootless.errors import RlError, RuntimeSetupError
from rootless.linux import Clone, spawn
from rootless.plain import record
from rootless.runtime import child, parent, signals, tty, userns
from rootless.runtime.spec import Spec


@record
class RunOptions:
    # callable(netns_pid, userns_pid) -> network handle (close()) or None: the caller's network
    # start (rootless.network.start with the mode, state dir and checked ports), run
    # once the namespace exists, before PID 1 goes on; the runtime imports no network code
    start_network: object = None
    join_userns: str | None = None  # --network container:X: X's user namespace (/proc/PID/ns/user)
    stdio: tuple[int, int, int] | None = None  # the container's fds 0, 1, 2 (a monitor's pipes); None: rl's own
    # a detached container's monitor: callable(ns_pid, pty_master, network handle, cgroup placement)
    # that takes the running container over (it execs rl-monitor) instead of rl pumping and waiting
    supervise: object = None
    # rootless.cgroups.Placement or None: attach(pid) puts PID 1 in its cgroup
    # before it execs (limits bind from its first instruction), finish() after
    cgroup: object | None = None
    # a foreground run's log (rootless.containers.logs.Writer): rl relays the
    # container's output to its own stdout/stderr through pipes and logs it
    log: object = None


class _Forwarder:
    """rl's signal handlers: forward to the namespace side (which forwards to
    the container's PID 1); signals before it exists are delivered later."""

    SIGNALS = signals.FORWARDED

    def __init__(self, with_winch: bool):
        self.pid: int | None = None
        self.pending: list[int] = []
        sigs = self.SIGNALS + ((signal.SIGWINCH,) if with_winch else ())
        self.saved = {s: signal.signal(s, self._handle) for s in sigs}

    def _handle(self, sig, _frame) -> None:
        if self.pid is None:
            self.pending.append(sig)
            return
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def attach(self, pid: int) -> None:
        self.pid = pid
        for sig in self.pending:
            self._handle(sig, None)

    def restore(self) -> None:
        for s, h in self.saved.items():
            signal.signal(s, h)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        data = os.read(fd, 4096)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def collect_start(console_host, err_r: int) -> tuple[int | None, bytes]:
    """After a child was started: the pty master it sent over the console
    socket (with -t) and what its error pipe said. On a failure the master is
    closed already."""
    master = None
    if console_host is not None:
        _, fds, _, _ = socket.recv_fds(console_host, 16, 1)
        console_host.close()
        master = fds[0] if fds else None
    failure = _read_all(err_r)
    os.close(err_r)
    if failure and master is not None:
        os.close(master)
        master = None
    return master, failure


def _setup_error(raw: bytes) -> RlError:
    """What the error pipe said (spawn's frame, decoded there only) as an RlError."""
    e = spawn.error_of(raw)
    return RlError(e.message if e else "container setup failed", hint=e.hint if e else None,
                   exit_code=e.exit_code if e else 125)


report = child.report


def run(spec: Spec, opts: RunOptions, on_started=None) -> int:
    """Run the container to completion; its exit status (128+N if killed).
    Raises RlError (125/126/127) when it could not be started."""
    maps = userns.user_mappings()  # keep-id nests its own namespace inside this one
    err_r, err_w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid_r, pid_w = os.pipe()
    go_r = go_w = None
    if spec.wait_network or opts.cgroup is not None:
        go_r, go_w = os.pipe()
    console_host = console_ctr = None
    if spec.terminal:
        console_host, console_ctr = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    io = child.ChildIO(err_w=err_w, go_r=go_r, console=console_ctr)
    fwd = _Forwarder(with_winch=not spec.terminal)
    net = None
    pid = None
    stdio, pipes = opts.stdio, None
    if stdio is None and not spec.terminal:  # never rl's own fds (a terminal): pipes rl relays
        pipes = tty.Pipes(spec.stdin)
        stdio = pipes.child
    try:
        def ns_side() -> int:
            # spawn closed rl's ends (and every fd not kept below), put stdio on 0-2,
            # and pointed its log records at rl's stderr: never the container's
            try:
                return parent.main(spec, io, ready_w, pid_w)
            except RlError as e:
                report(err_w, e.exit_code, e.message, e.hint)
            except OSError as e:
                report(err_w, 125, e.strerror or str(e))
            return 125

        keep = {err_w, ready_w, pid_w} | ({go_r} if go_r is not None else set()) | (
            {console_ctr.fileno()} if console_ctr is not None else set()) | set(range(3, 3 + spec.preserve_fds))
        pid = userns.fork_userns(maps, ns_side, more_flags=Clone.NEWNS, join=opts.join_userns, keep_fds=keep,
                                 stdio=stdio, setsid=True, name="the container's namespace side")
        fwd.attach(pid)
        for fd in (err_w, ready_w, pid_w) + ((go_r,) if go_r is not None else ()):
            os.close(fd)
        if pipes is not None:
            pipes.close_child()
        if console_ctr is not None:
            console_ctr.close()
        holder = _read_all(ready_r)  # the pid whose network namespace is the container's
        os.close(ready_r)
        ctr_pid = b""
        if opts.cgroup is not None:
            # one read, not to EOF: PID 1 holds the pipe's write end until exec
            ctr_pid = os.read(pid_r, 64)
            if ctr_pid.isdigit():
                opts.cgroup.attach(int(ctr_pid))
        if go_w is not None:
            if spec.wait_network and holder.isdigit():
                # keep-id: the netns belongs to the nested user namespace; helpers
                # that become root of a namespace must do it in the outer one (pid's)
                net = (opts.start_network(int(holder), pid if spec.nested_maps else None)
                       if opts.start_network is not None else None)
            try:
                os.write(go_w, b"1")
            except BrokenPipeError:
                pass  # the namespace side failed; the error pipe says why
            os.close(go_w)
            go_w = None
        master, failure = collect_start(console_host, err_r)
        if failure:
            userns.wait_status(pid)
            pid = None
            raise _setup_error(failure)
        if not ctr_pid:
            # one read, not to EOF: rl's own --init stays PID 1 without an exec, holding
            # the pipe's write end for the container's lifetime (the relay must not wait)
            ctr_pid = os.read(pid_r, 64)
        os.close(pid_r)
        if on_started is not None:
            on_started(int(ctr_pid) if ctr_pid.isdigit() else None)
        if opts.supervise is not None:
            opts.supervise(pid, master, net, opts.cgroup)  # returns only by raising
        if master is not None:
            tty.pump(master, 0 if spec.stdin else None, 1, log=opts.log)
            os.close(master)
        elif pipes is not None:
            pipes.relay(pid, log=opts.log)
        code = userns.wait_status(pid)
        pid = None
        if opts.cgroup is not None:
            opts.cgroup.finish()
        return code
    except OSError as e:
        raise RuntimeSetupError(f"cannot start the container: {e.strerror or e}") from None
    finally:
        if go_w is not None:
            os.close(go_w)
        if pid is not None:  # failed half-way: nothing may outlive rl
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        if net is not None:
            net.close()
        if pipes is not None:
            pipes.close()
        if opts.log is not None:
            opts.log.close()
        fwd.restore()
