"""The per-container monitor: what conmon is to podman, one small process per
detached container, never a daemon for all of them.

`spawn` double-forks it from the CLI (own session, adopted by init or the
nearest subreaper) and returns once the container runs, or raises why it
could not start. The monitor then is the container's host side: it holds
the runtime's child (its death kills the container: parent-death signals all
the way down) and the network helpers, pumps the container's pipes or pty
into the log, serves `attach` on a unix socket, runs healthchecks, records
the exit status and applies the restart policy. It owns nothing else, so
when it is killed outright nothing survives it but its records, which
`Store.state` then reads as exited (the pid and start time no longer match).

A forked CLI costs less memory than a fresh interpreter: the modules it
needs are already loaded and its pages are shared until written."""

from __future__ import annotations

import os
import select
import signal
import socket
import time

from rootless.containers import logs, policy
from rootless.containers.records import Record, Store
from rootless.errors import ContainerError, RlError

STOP_MARK = "stop-requested"   # written by rl stop/kill: no restart after this exit


def _short_path(path: str) -> tuple[int, str]:
    """A unix socket path under 108 bytes, whatever the runroot: through an
    O_PATH fd of its directory."""
    dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
    return dfd, f"/proc/self/fd/{dfd}/{os.path.basename(path)}"


def connect(path: str) -> socket.socket:
    dfd, short = _short_path(path)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(short)
        return s
    finally:
        os.close(dfd)


def _close_fds_but(keep: int) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd != keep:
            try:
                os.close(fd)
            except OSError:
                pass


def spawn(paths, rec: Record) -> None:
    """Start rec detached under a new monitor; returns once its PID 1 runs."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 125
        try:
            os.close(r)
            _close_fds_but(w)  # a CLI lock inherited here would block every later command
            os.setsid()
            if os.fork() == 0:
                code = Monitor(paths, rec, w).main()
            else:
                code = 0
        except BaseException:  # noqa: BLE001 - a forked child must never return
            import traceback
            traceback.print_exc()  # into monitor.log once the monitor has its stdio
        os._exit(code)
    os.close(w)
    os.waitpid(pid, 0)
    # read up to the NUL: the runtime's forks hold copies of the pipe, so no EOF comes
    data = b""
    with os.fdopen(r, "rb", buffering=0) as f:
        while not data.endswith(b"\0"):
            chunk = f.read(4096)
            if not chunk:
                break
            data += chunk
    data = data.rstrip(b"\0")
    if data == b"ok":
        return
    if not data:
        raise ContainerError("the container monitor died before the container started",
                             hint=f"see {Store(paths).run_dir(rec.id) / 'monitor.log'}")
    code, message, hint = (data.decode("utf-8", "replace").split("\t", 2) + ["", ""])[:3]
    raise RlError(message, hint=hint or None, exit_code=int(code) if code.isdigit() else 125)


class Monitor:
    def __init__(self, paths, rec: Record, ready_w: int):
        from rootless.containers import run as engine
        self.engine = engine
        self.paths = paths
        self.store = Store(paths)
        self.rec = rec
        self.req = engine.RunRequest(**rec.request)
        self.rundir = self.store.run_dir(rec.id)
        self.ready_w: int | None = ready_w
        self.policy = policy.parse_restart(self.req.restart)
        self.health = policy.health_config(
            self.req.health_cmd, self.req.health_interval, self.req.health_retries, self.req.health_start_period,
            self.req.health_timeout, (rec.image_config or {}).get("Healthcheck"))
        self.log: logs.Writer | None = None
        self.clients: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.stdin_w: int | None = None

    # --- set-up -------------------------------------------------------------
    def _detach_stdio(self) -> None:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        log = os.open(self.rundir / "monitor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        self.null = null

    def _listen(self) -> None:
        path = str(self.rundir / "attach")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        dfd, short = _short_path(path)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(short)
            s.listen(8)
        finally:
            os.close(dfd)
        self.listener = s

    def _report_ready(self, payload: bytes) -> None:
        if self.ready_w is not None:
            try:
                os.write(self.ready_w, payload + b"\0")
            except OSError:
                pass
            os.close(self.ready_w)
            self.ready_w = None

    def main(self) -> int:
        os.umask(0o077)
        self._detach_stdio()
        from rootless.linux import set_name
        set_name("rl-monitor")  # what ps shows (podman's is conmon)
        # engine.start records us as the owner (pid + start time) before anything runs
        self.store.update_state(self.rec, restarts=0, health=None)
        try:
            os.unlink(self.rundir / STOP_MARK)
        except FileNotFoundError:
            pass
        if (self.req.log_driver or "k8s-file") != "none":
            self.log = logs.Writer(str(self.store.container_dir(self.rec.id) / "ctr.log"),
                                   _max_size(self.req.log_opt))
        self._listen()
        (self.rundir / "monitor.pid").write_text(f"{os.getpid()}\n")  # PIDFile= of generated units
        restarts = 0
        code = 0
        while True:
            try:
                code = self._run_once()
                reason = None
            except RlError as e:
                if self.ready_w is not None:  # the first start: the CLI reports it
                    self._report_ready(f"{e.exit_code}\t{e.message}\t{e.hint or ''}".encode())
                    self.store.update_state(self.rec, state="exited", exit_code=e.exit_code,
                                            finished=time.time(), pid=None, reason=e.message)
                    self._finish()
                    return e.exit_code
                code, reason = e.exit_code, e.message
            stopped = (self.rundir / STOP_MARK).exists()
            self._record_exit(code, reason)
            if not policy.should_restart(self.policy, code, restarts, stopped):
                break
            if not self._sleep(policy.backoff(restarts)):
                break
            restarts += 1
            self._record(restarts=restarts)
        self._finish()
        # a systemd service's main process (--sdnotify=conmon, a generated unit): a crash fails it (Restart=)
        from rootless.systemd import runhooks
        return 0 if stopped else runhooks.main_process_status(self.req, code)

    def _finish(self) -> None:
        if self.listener is not None:
            self.listener.close()
            try:
                os.unlink(self.rundir / "attach")
            except OSError:
                pass
        if self.req.rm:
            try:
                with self.store.lock(self.rec):
                    self.store.remove(self.rec)
            except (OSError, RlError):
                pass

    def _sleep(self, delay: float) -> bool:
        """The restart backoff; False when a stop came meanwhile."""
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if (self.rundir / STOP_MARK).exists():
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return not (self.rundir / STOP_MARK).exists()

    def _record(self, **changes) -> None:
        try:
            self.store.update_state(self.rec, **changes)
        except OSError:
            pass  # a full disk: Store.state tells the truth from our pid once we are gone

    def _record_exit(self, code: int, reason: str | None) -> None:
        changes = dict(state="exited", exit_code=code, finished=time.time(), pid=None)
        if reason:
            changes["reason"] = reason
        self._record(**changes)

    # --- one run of the container --------------------------------------------
    def _run_once(self) -> int:
        """One start of the container through the same engine.start as `rl
        run` (network helpers included: they belong to whoever runs it), with
        our pipes as its stdio and our loop as its supervisor."""
        self.pipes: dict[int, str] = {}
        self._close_after_fork: list[int] = []
        stdin_r = self.null
        self.stdin_w = None
        if self.req.tty:
            self.stdio = (self.null, self.null, self.null)  # the pty replaces them
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            self.pipes = {out_r: "stdout", err_r: "stderr"}
            if self.req.interactive:
                stdin_r, self.stdin_w = os.pipe()
                self._close_after_fork.append(stdin_r)
            self._close_after_fork += [out_w, err_w]
            self.stdio = (stdin_r, out_w, err_w)
        try:
            return self.engine.start(self.paths, self.rec, hooks=self)
        finally:
            for fd in list(self.pipes) + self._close_after_fork:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if self.stdin_w is not None:
                os.close(self.stdin_w)
                self.stdin_w = None

    def started(self, pid: int | None) -> None:
        """engine.start's hook: PID 1 runs (the engine recorded it)."""
        self.ctr_pid = pid
        self.started_at = time.time()
        self._record(health={"Status": "starting", "FailingStreak": 0, "Log": []} if self.health else None)
        self._report_ready(b"ok")

    def supervise(self, ns_pid: int, master: int | None) -> int:
        return self._supervise(ns_pid, master)

    def _supervise(self, ns_pid: int, master: int | None) -> int:
        """Pump output to the log and attached clients until the container's
        namespace side exits; its status."""
        from rootless.runtime import userns
        for fd in self._close_after_fork:
            os.close(fd)
        self._close_after_fork = []
        streams = dict(self.pipes)
        self.pipes = {}
        stdin_target = self.stdin_w
        if master is not None:
            streams[master] = "stdout"
            stdin_target = master if self.req.interactive else None
        pidfd = os.pidfd_open(ns_pid)
        hc = _HealthRun(self) if self.health else None
        try:
            while True:
                rlist = [pidfd, self.listener, *streams, *self.clients] + (hc.fds() if hc else [])
                timeout = hc.timeout() if hc else None
                try:
                    ready, _, _ = select.select(rlist, [], [], timeout)
                except InterruptedError:
                    continue
                for fd in ready:
                    if fd in streams:
                        if not self._pump(fd, streams[fd]):
                            del streams[fd]
                            if fd != master:
                                os.close(fd)
                    elif fd is self.listener:
                        conn, _ = self.listener.accept()
                        self.clients.append(conn)
                    elif fd in self.clients:
                        self._from_client(fd, stdin_target)
                if hc:
                    hc.step(ready)
                if pidfd in ready:
                    break
            for fd, name in list(streams.items()):
                os.set_blocking(fd, False)
                while self._pump(fd, name):
                    pass
                if fd != master:
                    os.close(fd)
            if master is not None:
                os.close(master)
            return userns.wait_status(ns_pid)
        finally:
            os.close(pidfd)
            if hc:
                hc.abort()
            for c in self.clients:
                c.close()
            self.clients = []

    def _pump(self, fd: int, stream: str) -> bool:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        except OSError:  # EIO: the pty's last slave closed
            return False
        if not data:
            return False
        if self.log is not None:
            self.log.write(stream, data)
        for c in list(self.clients):
            try:
                c.sendall(data)
            except OSError:
                self.clients.remove(c)
                c.close()
        return True

    def _from_client(self, conn: socket.socket, stdin_target: int | None) -> None:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.clients.remove(conn)
            conn.close()
            return
        if stdin_target is not None:
            try:
                os.write(stdin_target, data)
            except OSError:
                pass


class _HealthRun:
    """Healthchecks on their interval, as exec'd processes the loop watches."""

    def __init__(self, mon: Monitor):
        self.mon = mon
        self.cfg = mon.health
        self.due = time.monotonic() + self.cfg.interval
        self.proc: tuple[int, int, int, float, float] | None = None  # pid, pidfd, out_r, started, wall
        self.output = b""

    def fds(self) -> list[int]:
        return [self.proc[1], self.proc[2]] if self.proc else []

    def timeout(self) -> float:
        if self.proc:
            return max(0.0, self.proc[3] + self.cfg.timeout - time.monotonic())
        return max(0.0, self.due - time.monotonic())

    def step(self, ready) -> None:
        now = time.monotonic()
        if self.proc is None:
            if now >= self.due:
                self._start()
            return
        pid, pidfd, out_r, started, wall = self.proc
        if out_r in ready:
            try:
                self.output += os.read(out_r, 4096)[:4096]
            except OSError:
                pass
        if pidfd in ready:
            from rootless.runtime import userns
            self._done(userns.wait_status(pid))
        elif now > started + self.cfg.timeout:
            self.abort()
            self._done(1, timed_out=True)

    def _start(self) -> None:
        from rootless.containers import lifecycle
        from rootless.runtime import exec as rexec
        self.output = b""
        try:
            spec = lifecycle.exec_spec(self.mon.store, self.mon.rec, self.cfg.cmd, die_with_parent=True)
            r, w = os.pipe()
            try:
                pid, _ = rexec.spawn(self.mon.ctr_pid, spec, stdio=(self.mon.null, w, w))
            finally:
                os.close(w)
        except (RlError, OSError) as e:
            self._finish_record(1, str(e))
            return
        self.proc = (pid, os.pidfd_open(pid), r, time.monotonic(), time.time())

    def _done(self, code: int, timed_out: bool = False) -> None:
        if self.proc:
            pid, pidfd, out_r, _, _ = self.proc
            os.close(pidfd)
            os.close(out_r)
            self.proc = None
        text = self.output.decode(errors="replace")
        self._finish_record(code, "healthcheck timed out" if timed_out else text)

    def _finish_record(self, code: int, output: str) -> None:
        from rootless.containers import lifecycle
        lifecycle.record_health(self.mon.store, self.mon.rec, code, output, self.cfg,
                                time.time() - self.mon.started_at < self.cfg.start_period)
        self.due = time.monotonic() + self.cfg.interval

    def abort(self) -> None:
        if self.proc:
            pid, pidfd, out_r, _, _ = self.proc
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(pidfd)
            os.close(out_r)
            self.proc = None


def _max_size(opts: list[str]) -> int:
    for o in opts or []:
        k, _, v = o.partition("=")
        if k == "max-size":
            return logs.parse_size(v)
    return 0
