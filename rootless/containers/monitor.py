"""The per-container monitor: what conmon is to podman, one small process per
detached container, never a daemon for all of them.

`spawn` double-forks it from the CLI (own session, adopted by init or the
nearest subreaper) and returns once the container runs, or raises why it
could not start. The monitor is the container's host side: it holds the
runtime's child (its death kills the container: parent-death signals all
the way down) and the network helpers, pumps the container's pipes or pty
into the log, serves `attach` on a unix socket, runs healthchecks, records
the exit status and applies the restart policy. It owns nothing else, so
when it is killed outright nothing survives it but its records, which
`Store.state` then reads as exited (the pid and start time no longer match).

One process, two programs, one pid throughout. The forked CLI does the
start (everything `rl run` does), then execs rl-monitor (C, rootless/libexec)
for the container's lifetime: a Python process costs ~10 MB per container
(bench/lifecycle), rl-monitor a few hundred kB. When the container exits,
rl-monitor execs this module again (`monitor_main resume`), which records
the exit, releases the network and cgroup, and restarts the container
(back into rl-monitor) or ends. Healthchecks are `monitor_main health`
processes rl-monitor starts on their interval."""

from __future__ import annotations

import os
import sys
import time

from rootless import fsutil, jsonio
from rootless.containers import policy
from rootless.containers.records import EXIT_FILE, KILL_MARK, STOP_MARK, Record, Store, write_json
from rootless.errors import ContainerError, RlError

# What the exit path (`monitor_main resume`, rl-monitor's way back once the
# container exited) imports is kept small: `rl stop` waits for it to record
# the exit, so its start-up is the stop's. The start path's modules (the run
# engine, the runtime's signal set, the spawn helper, sockets, ctypes, the
# log drivers) are imported where the start uses them; tests/unit/
# test_fast_imports.py keeps it so.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import socket

    from rootless.linux.spawn import Reporter

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_DEPENDENCIES = ("pyroute2", "pyseccomp", "zstandard")

# rl-monitor's way back into Python (`resume`, `health`): an isolated
# interpreter (-I: neither its cwd, PYTHONPATH, the user's site-packages nor
# any PYTHON* variable counts) started in /, which takes the rootless package
# from the directory this process has it from (the first of the directories
# its arguments list after their count: that one, then those of rl's
# dependencies, appended after the interpreter's own paths so that they
# shadow nothing). Nothing on a path another user or a container could write
# is imported, and a checkout run with PYTHONPATH (the tests) or a
# pip-installed rl both work. `rl stop` waits for this interpreter to record
# the exit: it imports nothing (no json, runpy or importlib.util) before rl's
# own modules.
_BOOT = ("import sys\n"
         "n = int(sys.argv[1]); roots = sys.argv[2:2 + n]; del sys.argv[1:2 + n]\n"
         "sys.path.insert(0, roots[0])\n"
         "import rootless\n"  # the package from roots[0] alone, whatever else site-packages holds
         "del sys.path[0]\n"
         "sys.path.extend(r for r in roots if r not in sys.path)\n"
         "from rootless.containers.monitor_main import main\n"
         "main()\n")


def _import_roots() -> list[str]:
    """Where this process finds rootless, then rl's dependencies."""
    import importlib.util
    roots = [_PACKAGE_PARENT]
    for name in _DEPENDENCIES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or not os.path.isabs(spec.origin):
            continue
        where = os.path.dirname(spec.origin)
        if spec.submodule_search_locations is not None:  # a package: its parent directory
            where = os.path.dirname(where)
        if where not in roots:
            roots.append(where)
    return roots


def python_entry() -> list[str]:
    """The command line of `monitor_main` (append resume/health and its arguments)."""
    roots = _import_roots()
    return [sys.executable, "-I", "-c", _BOOT, str(len(roots)), *roots]


def _short_path(path: str) -> tuple[int, str]:
    """A unix socket path under 108 bytes, whatever the runroot: through an
    O_PATH fd of its directory."""
    dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
    return dfd, f"/proc/self/fd/{dfd}/{os.path.basename(path)}"


def connect(path: str) -> socket.socket:
    import socket
    dfd, short = _short_path(path)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(short)
        return s
    finally:
        os.close(dfd)


def spawn(paths, rec: Record, *, hold: int | None = None, winsize: tuple[int, int] | None = None) -> None:
    """Start rec detached under a new monitor; returns once its PID 1 runs.
    hold: the read end of a pipe whose write end the caller keeps until its
    attach client connected (rl-monitor --hold; both ends stay the caller's);
    winsize: (rows, cols) for a -t container's pty before anything reads it."""
    from rootless import tools
    from rootless.linux.spawn import SpawnError
    from rootless.linux.spawn import spawn as spawn_helper
    tools.monitor()  # built (once) before the fork: a missing compiler is the CLI's clear error
    Store(paths).claim_run_dir(rec)  # before Monitor() takes its run dir
    hint = f"see {Store(paths).run_dir(rec.id) / 'monitor.log'}"

    def monitor(rep) -> int:
        try:
            return Monitor(paths, rec, rep, hold=hold, winsize=winsize).main()
        except RlError:
            raise  # the CLI says it
        except BaseException:  # noqa: BLE001 - a bug: its traceback goes to monitor.log
            import logging
            logging.getLogger(__name__).exception("the monitor failed")  # into monitor.log once the monitor has its stdio
            rep.fail(ContainerError("the container monitor died before the container started", hint=hint))
            return 125

    try:
        # own session, adopted by init: the CLI returns while the monitor stays
        # hold: the CLI's pipe end rl-monitor --hold watches (kept across the fd sweep)
        spawn_helper(monitor, name="the container monitor", double_fork=True, setsid=True, stdio=None,
                     keep_fds=() if hold is None else (hold,))
    except SpawnError as e:
        if e.died:
            raise ContainerError("the container monitor died before the container started", hint=hint) from None
        raise RlError(e.message, hint=e.hint, exit_code=e.exit_code) from None


class _Request:
    """rec.request read as the RunRequest it was made from, without building
    one (request.py's dataclass costs the exit path dataclasses and inspect):
    a field the record holds is its value; a field it lacks (a record an
    older rl wrote) is RunRequest's default, from a RunRequest built then."""
    __slots__ = ("_fields", "_full")

    def __init__(self, fields: dict):
        self._fields = fields
        self._full = None

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._fields[name]
        except KeyError:
            pass
        if self._full is None:
            from rootless.containers.request import RunRequest
            self._full = RunRequest(**self._fields)
        return getattr(self._full, name)


class Monitor:
    def __init__(self, paths, rec: Record, reporter: Reporter | None, hold: int | None = None,
                 winsize: tuple[int, int] | None = None):
        self.paths = paths
        self.store = Store(paths)
        self.rec = rec
        self.req = _Request(rec.request)
        self.rundir = self.store.run_dir(rec.id)
        self.reporter = reporter  # the first start's: tells the CLI the container runs, or why not
        self.policy = policy.parse_restart(self.req.restart)
        self.health = policy.health_config(
            self.req.health_cmd, self.req.health_interval, self.req.health_retries, self.req.health_start_period,
            self.req.health_timeout, (rec.image_config or {}).get("Healthcheck"))
        self.listener: socket.socket | None = None
        self.hold = hold  # the first start only: a restart is nobody's to wait for
        self.winsize = winsize
        self.winsz_fd: int | None = None

    # --- set-up -------------------------------------------------------------
    def _detach_stdio(self) -> None:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        log = os.open(self.rundir / "monitor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)

    def _listen(self) -> None:
        import socket
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

    def _reporting(self) -> bool:
        return self.reporter is not None and not self.reporter.sent

    def main(self) -> int:
        """The first start, in the process forked from the CLI."""
        os.umask(0o077)
        self._detach_stdio()
        from rootless import linux, tools
        linux.set_name("rl-monitor")  # what ps shows (podman's is conmon)
        self.binary = tools.monitor()  # spawn() built it already
        # engine.start records us as the owner (pid + start time) before anything runs
        self.store.update_state(self.rec, restarts=0, health=None)
        try:
            os.unlink(self.rundir / STOP_MARK)
        except FileNotFoundError:
            pass
        fsutil.atomic_write(self.rundir / "monitor.pid", f"{os.getpid()}\n")  # PIDFile= of generated units
        return self._start(0)

    def _start(self, restarts: int) -> int:
        """Start the container; in rl-monitor once it runs (no return). A
        failed start returns the monitor's exit status, or a restart after it."""
        while True:
            try:
                self._listen()
                self._run_once(restarts)
            except RlError as e:
                if self._reporting():  # the first start: the CLI reports it
                    self.reporter.fail(e)
                    self.store.update_state(self.rec, state="exited", exit_code=e.exit_code,
                                            finished=time.time(), pid=None, reason=e.message)
                    self._finish()
                    return e.exit_code
                self._record_exit(e.exit_code, e.message)
                again = self._after_exit(e.exit_code, restarts)
                if again is None:
                    return self._end(e.exit_code)
                restarts = again

    def resume(self, state: dict, code: int) -> int:
        """rl-monitor's exit command: the container exited with code."""
        try:
            self._release(state)
        finally:
            net = state.get("net") or {}
            if any(net.values()):  # helpers, fds or a user network to let go of (none: network.py not imported)
                from rootless import network
                network.release(net)
            _reap_zombies()
        from rootless import events
        events.container(self.paths, self.rec, "died", exit_code=code)  # before `wait` can see the exit
        self._record_exit(code, None)
        again = self._after_exit(code, int(state.get("restarts") or 0))
        if again is None:
            return self._end(code)
        from rootless import tools
        self.binary = tools.monitor()
        return self._start(again)

    def _release(self, state: dict) -> None:
        oom = False
        if state.get("cgroup"):
            from rootless.cgroups import manager
            oom = bool(manager.finish_recorded(str(self.rundir)).get("oom_killed"))
        self._record(oom_killed=oom)

    def _after_exit(self, code: int, restarts: int) -> int | None:
        """The restart policy: the next restart count, or None to end."""
        stopped = (self.rundir / STOP_MARK).exists()
        if not policy.should_restart(self.policy, code, restarts, stopped):
            return None
        if not self._sleep(policy.backoff(restarts)):
            return None
        self._record(restarts=restarts + 1)
        return restarts + 1

    def _end(self, code: int) -> int:
        # before _finish: --rm removes the mark with the rest
        try:
            stopped = (self.rundir / STOP_MARK).read_bytes()[:8] != KILL_MARK
        except OSError:
            stopped = False
        self._finish()
        # a systemd service's main process (--sdnotify=conmon, a generated unit): a crash fails it
        # (Restart=), and so does `rl kill`; `rl stop` (the unit's ExecStop) ends it cleanly
        from rootless.containers import runhooks
        return 0 if stopped else runhooks.main_process_status(self.req, code)

    def _finish(self) -> None:
        try:
            os.unlink(self.rundir / "attach")
        except OSError:
            pass
        if self.req.rm:
            try:
                # not forever: a holder (rl rm, rl start) waits for this monitor to
                # end, and removes or starts the container itself
                with self.store.lock(self.rec, timeout=2.0):
                    self.store.remove(self.rec)
                from rootless import volumes
                volumes.remove_anonymous(self.store.paths, self.req.anon_volumes)
                if self.req.rmi and not self.req.rootfs:  # run -d --rmi (an older record: False)
                    from rootless.containers.run import remove_image
                    remove_image(self.store.paths, self.req.image)
            except (OSError, RlError):  # TimeoutError included
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
    def _run_once(self, restarts: int) -> None:
        """One start of the container through the same engine.start as `rl
        run` (network helpers included: they belong to whoever runs it),
        with our pipes as its stdio; supervise() takes over once it runs."""
        self.restarts = restarts
        self.pipes: dict[str, int] = {}
        self._close_after_fork: list[int] = []
        null = os.open(os.devnull, os.O_RDWR)
        self._close_after_fork.append(null)
        stdin_r = null
        self.stdin_w = None
        if self.req.tty:
            self.stdio = (null, null, null)  # the pty replaces them
            # before the start: an attach client (the foreground `run -it`) may connect as soon
            # as PID 1 runs, and its first size must find the channel
            self.winsz_fd = _winsz_fifo(self.rundir)
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            self.pipes = {"--out": out_r, "--err": err_r}
            if self.req.interactive:
                stdin_r, self.stdin_w = os.pipe()
                self._close_after_fork.append(stdin_r)
            self._close_after_fork += [out_w, err_w]
            self.stdio = (stdin_r, out_w, err_w)
        try:
            from rootless.containers import run as engine
            engine.start(self.paths, self.rec, hooks=self)
        finally:  # reached only when the start failed
            for fd in [*self.pipes.values(), *self._close_after_fork] + ([self.stdin_w] if self.stdin_w else []) \
                    + ([self.winsz_fd] if self.winsz_fd is not None else []):
                try:
                    os.close(fd)
                except OSError:
                    pass
            if self.listener is not None:
                self.listener.close()
                self.listener = None
        raise ContainerError("the container's start returned without a monitor")

    def started(self, pid: int | None) -> None:
        """engine.start's hook: PID 1 runs (the engine recorded it)."""
        self._record(health={"Status": "starting", "FailingStreak": 0, "Log": []} if self.health else None)
        if self._reporting():
            self.reporter.ready()

    def reaper(self) -> str:
        """The namespace side's shim (engine.start puts it in the spec)."""
        return self.binary

    def _argv(self, ns_pid: int, master: int | None, state_path) -> tuple[list[str], list[int]]:
        """rl-monitor's command line, and the fds it must inherit."""
        entry = python_entry()
        args = [self.binary, "monitor", "--pid", str(ns_pid)]
        keep = [*self.pipes.values()]
        for flag, fd in self.pipes.items():
            args += [flag, str(fd)]
        if master is not None:
            winsz = self.winsz_fd if self.winsz_fd is not None else _winsz_fifo(self.rundir)
            if self.winsize:
                import fcntl
                import struct
                import termios
                try:
                    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", *self.winsize, 0, 0))
                except OSError:
                    pass
            args += ["--pty", str(master), "--winsz", str(winsz)]
            keep += [master, winsz]
            if self.req.interactive:
                args += ["--stdin", str(master)]
        elif self.stdin_w is not None:
            args += ["--stdin", str(self.stdin_w)]
            keep.append(self.stdin_w)
        if self.listener is not None:
            args += ["--attach", str(self.listener.fileno())]
            keep.append(self.listener.fileno())
            if self.hold is not None:
                args += ["--hold", str(self.hold)]
                keep.append(self.hold)
        driver = self.req.log_driver or "k8s-file"
        if driver == "k8s-file":
            args += ["--log", str(self.store.container_dir(self.rec.id) / "ctr.log"),
                     "--log-max", str(_max_size(self.req.log_opt))]
        elif driver == "journald":
            args.append("--journald")
            from rootless.containers import logs
            for field in logs.journal_fields(self.rec.id, self.rec.name):
                args += ["--journal-field", field]
        if self.health:
            args += ["--health-interval-ms", str(max(1, int(self.health.interval * 1000))),
                     # the check bounds itself by --health-timeout; this only ends a hung one
                     "--health-limit-ms", str(int((self.health.timeout + 30) * 1000))]
            for a in [*entry, "health", str(state_path)]:
                args += ["--health-arg", a]
        args += ["--exit-file", str(self.rundir / EXIT_FILE), "--", *entry, "resume", str(state_path)]
        return args, keep

    def supervise(self, ns_pid: int, master: int | None, net, cgroup) -> int:
        """engine.start's hook once the container runs: exec rl-monitor,
        handing it the container's stdio, the attach socket and a way back."""
        from rootless import network
        for fd in self._close_after_fork:
            os.close(fd)
        self._close_after_fork = []
        state = {"root": str(self.paths.root), "runroot": str(self.paths.runroot), "id": self.rec.id,
                 "restarts": self.restarts, "net": network.handover(net), "cgroup": cgroup is not None,
                 ATTACH_FRAMED: True}
        path = self.rundir / "monitor.json"
        write_json(path, state)
        args, keep = self._argv(ns_pid, master, path)
        for fd in keep:
            os.set_inheritable(fd, True)
        # not the CLI's directory (it may be unmounted while the container runs, and
        # its files are nobody's to trust), nor one rl or a container writes in
        os.chdir("/")
        env = dict(os.environ)
        sys.stdout.flush()
        sys.stderr.flush()
        # what rl-monitor forwards to the container, blocked across the exec: none
        # finds the default action (death) before its handlers are in
        import signal

        from rootless import tools
        from rootless.runtime.parent import FORWARDED
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        try:
            tools.execve(self.binary, args, env)
        except OSError as e:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            raise ContainerError(f"cannot run the container monitor {self.binary}: {e.strerror}") from None


def entry(argv: list[str]) -> int:
    """`monitor_main resume STATE STATUS` (the container exited) or `health
    STATE` (one healthcheck), from rl-monitor (see python_entry)."""
    from rootless.config import Paths
    from rootless.pathlite import Path
    what, state_path = argv[0], argv[1]
    state = jsonio.loads(fsutil.read_private(state_path))  # never through a symlink
    paths = Paths(Path(state["root"]), Path(state["runroot"]))
    if what == "health":
        from rootless.containers import health
        try:
            status = health.healthcheck_run(paths, state["id"])
        except RlError:
            return 1
        return 0 if status == "healthy" else 1
    rec = Store(paths).lookup(state["id"], allow_damaged=True)
    if rec.damaged:  # its config.json is gone: no restart policy to apply; let go of the network
        from rootless import network
        network.release(state.get("net") or {})
        return 125
    mon = Monitor(paths, rec, None)
    mon.binary = ""
    return mon.resume(state, int(argv[2]))


# rl-monitor frames what it sends to attach clients with its stream (1 stdout,
# 2 stderr, then a 32-bit big-endian length); a monitor.json without this key
# is an older rl-monitor's (a container started before an upgrade): raw bytes
ATTACH_FRAMED = "attach_framed"


def attach_framed(rundir) -> bool:
    try:
        return bool(jsonio.loads(fsutil.read_private(rundir / "monitor.json")).get(ATTACH_FRAMED))
    except (OSError, ValueError, RlError):
        return True


class Frames:
    """Splits the framed attach stream: feed(bytes) -> [(fd, bytes)], the fd
    1 or 2 each chunk belongs to; what arrives unframed (an older monitor)
    goes to 1 as it is."""

    def __init__(self, framed: bool = True):
        self.framed = framed
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if not self.framed:
            return [(1, data)] if data else []
        self.buf += data
        out = []
        while len(self.buf) >= 5:
            size = int.from_bytes(self.buf[1:5], "big")
            if len(self.buf) < 5 + size:
                break
            out.append((2 if self.buf[0] == 2 else 1, self.buf[5:5 + size]))
            self.buf = self.buf[5 + size:]
        return [(fd, chunk) for fd, chunk in out if chunk]

    def rest(self) -> list[tuple[int, bytes]]:
        """At end of input: a chunk the monitor cut short (it drops a client
        that does not keep up) is given as far as it came."""
        if len(self.buf) > 5:
            return [(2 if self.buf[0] == 2 else 1, self.buf[5:])]
        return []


WINSZ = "winsz"  # a FIFO: `rl attach` writes "ROWS COLS" lines, rl-monitor sizes the pty


def _winsz_fifo(rundir) -> int:
    """The resize channel of a -t container, opened read-write so that it
    never reads end-of-file between attaches."""
    path = rundir / WINSZ
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)


def _reap_zombies() -> None:
    """rl-monitor waits for the container alone; what else exited is reaped here."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _max_size(opts: list[str]) -> int:
    for o in opts or []:
        k, _, v = o.partition("=")
        if k == "max-size":
            from rootless.containers import logs
            return logs.parse_size(v)
    return 0
