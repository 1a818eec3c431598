"""Rendering of container commands that print more than a line: ps, inspect,
logs, attach, top. Kept apart from the typer declarations so that they stay
readable; no typer here."""

from __future__ import annotations

import json
import os
import sys
import time

from rootless.containers import logs as klog, views
from rootless.containers.records import ACTIVE, Store


PS_HEADERS = {"ID": "CONTAINER ID", "CreatedHuman": "CREATED", "CreatedAt": "CREATED AT", "RunningFor": "CREATED"}


def ps(paths, *, all_: bool, quiet: bool, size: bool, filters: list[str], fmt: str | None, last: int,
       trunc: bool, pod: bool = False) -> None:
    views.check_filters(filters)
    store = Store(paths)
    pod_names = _pod_names(paths, filters) if pod or fmt or any(f.startswith("pod=") for f in filters) else {}
    if pod_names:
        filters = [_pod_filter(f, pod_names) for f in filters]
    now = time.time()
    rows = []
    for rec in store.all():  # newest first
        st = _storage_checked(store, rec, store.state(rec))
        if not all_ and last < 0 and st.get("state") not in ACTIVE and not filters:
            continue
        if filters and not views.matches(rec, st, filters):
            continue
        rows.append((rec, st))
    if last >= 0:
        rows = rows[:last]
    if quiet:
        for rec, _ in rows:
            print(rec.id[:12] if trunc else rec.id)
        return
    if fmt in ("json", "{{json .}}"):
        print(json.dumps([views.ps_json(rec, st, now, store.run_dir(rec.id), pod_names.get(rec.request.get("pod"), ""))
                          for rec, st in rows], indent=4))
        return
    from rootless.images.render import table
    if fmt:
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, [views.ps_row_fields(
            rec, st, now, trunc, store.run_dir(rec.id), size=_size(store.container_dir(rec.id) / "diff") if size else "",
            pod_name=pod_names.get(rec.request.get("pod"), "")) for rec, st in rows], names=PS_HEADERS))
        return
    header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    if size:
        header.append("SIZE")
    if pod:
        header += ["POD ID", "PODNAME"]
    out = []
    for rec, st in rows:
        f = views.ps_row_fields(rec, st, now, trunc, store.run_dir(rec.id))
        row = [f["ID"], f["Image"], f["Command"], f["Created"], f["Status"], f["Ports"], f["Names"]]
        if size:
            row.append(_size(store.container_dir(rec.id) / "diff"))
        if pod:
            pid = rec.request.get("pod") or ""
            row += [pid[:12] if trunc else pid, pod_names.get(pid, "")]
        out.append(row)
    print(table(out, header))


def _pod_names(paths, filters: list[str]) -> dict:
    """{pod ID: name} (ps --pod, templates, --filter pod=); {} without pods."""
    from rootless.pods.store import PodStore
    return {p.id: p.name for p in PodStore(paths).all()}


def _pod_filter(f: str, pod_names: dict) -> str:
    """--filter pod=NAME|ID -> pod=ID (views.matches compares IDs)."""
    k, _, v = f.partition("=")
    if k != "pod":
        return f
    by_name = [pid for pid, name in pod_names.items() if name == v]
    return f"pod={by_name[0]}" if by_name else f


def _storage_checked(store, rec, st: dict) -> dict:
    """A running container whose fuse-overlayfs died shows as unhealthy with
    the reason (its processes run on, but nothing new can be read or run)."""
    if st.get("state") == "running" and rec.driver == "fuse-overlayfs":
        from rootless.storage import fuse_overlayfs
        why = fuse_overlayfs.lost(st.get("pid"), str(store.container_dir(rec.id) / "merged"))
        if why:
            return dict(st, health={**(st.get("health") or {}), "Status": f"unhealthy: {why}"})
    return st


def _size(path) -> str:
    """The writable layer's size as the user can see it (directories a
    container made private are counted as far as readable)."""
    from rootless.images.render import human_size
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return human_size(total)


def inspect_obj(store, rec) -> dict:
    """One container's `inspect` object (podman's shape)."""
    return views.inspect(rec, store.state(rec), {"log": str(store.container_dir(rec.id) / "ctr.log"),
                                                 "run_dir": store.run_dir(rec.id),
                                                 "volumes": store.paths.root / "volumes", "paths": store.paths})


def inspect(paths, names: list[str], fmt: str | None) -> None:
    from rootless.errors import ContainerNotFound
    store = Store(paths)
    out = []
    missing = None
    for name in names:
        try:
            rec = store.lookup(name)
        except ContainerNotFound as e:
            missing = e
            continue
        out.append(inspect_obj(store, rec))
    if fmt and fmt != "json":
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, out))
    else:
        print(json.dumps(out, indent=4))
    if missing is not None:
        raise missing


class _Prefixed:
    """A binary stream whose every line starts with a prefix and, with a colour, is wrapped in it
    (podman's logs of several containers, and --color)."""

    def __init__(self, raw, prefix: bytes, color: bytes = b""):
        self.raw, self.prefix, self.color, self.at_start = raw, prefix, color, True

    def write(self, data: bytes) -> None:
        out = []
        for piece in data.splitlines(keepends=True):
            if self.at_start:
                out.append(self.color + self.prefix)
            self.at_start = piece.endswith(b"\n")
            out.append(piece[:-1] + b"\x1b[0m\n" if self.at_start and self.color else piece)
        self.raw.write(b"".join(out))

    def flush(self) -> None:
        self.raw.flush()


# podman's colours for `logs --color`, by the container's place on the command line
_LOG_COLORS = (37, 31, 33, 34, 35, 36, 32)


def logs(paths, name: str, *, follow: bool, since: str | None, until: str | None, tail: int,
         timestamps: bool, prefix: str | None = None, color: int | None = None) -> None:
    t_since = klog.since_value(since) if since else None  # checked first, as podman: a typo is named
    t_until = klog.since_value(until) if until else None
    store = Store(paths)
    rec = store.lookup(name)
    if (rec.request.get("log_driver") or "k8s-file") == "none":
        from rootless.errors import ContainerError
        raise ContainerError(f"container {rec.name} has --log-driver none: nothing was logged")
    journald = rec.request.get("log_driver") == "journald"
    if journald:
        entries, current = klog.journal_read(rec.id)
    else:
        path = str(store.container_dir(rec.id) / "ctr.log")
        entries, current = klog.read(path, keep_open=True)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    sys.stdout.flush()
    sys.stderr.flush()
    if prefix or color is not None:  # the container's name or short ID; each line in its colour (--color)
        tag = ((rec.name if prefix == "name" else rec.id[:12]) + " " if prefix else "").encode()
        seq = b"" if color is None else b"\x1b[%dm" % _LOG_COLORS[color % len(_LOG_COLORS)]
        out, err = _Prefixed(out, tag, seq), _Prefixed(err, tag, seq)
    # each record to the stream it came from, as podman: `rl logs x 2>/dev/null` shows stdout alone
    klog.emit(klog.select(entries, t_since, t_until, tail if tail >= 0 else None), timestamps, out, err)
    if not follow:
        if current and not journald:
            current.close()
        return

    def active() -> bool:
        return store.container_dir(rec.id).exists() and store.state(rec).get("state") in ACTIVE
    more = klog.journal_follow(rec.id, active, current) if journald else klog.follow(path, active, current)
    for e in more:
        if t_until is not None and e.time > t_until:
            break
        klog.emit([e], timestamps, out, err)


DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def detach_sequence(keys: str) -> bytes:
    """podman's --detach-keys: comma-separated keys, each a single character
    or ctrl-X (X a letter or one of @ [ \\ ] ^ _); "" disables detaching."""
    from rootless.errors import UsageError
    if keys == "":
        return b""
    seq = b""
    for k in keys.split(","):
        if len(k) == 1 and k.isascii():
            seq += k.encode()
        elif len(k) == 6 and k.lower().startswith("ctrl-") and (k[5].isascii() and k[5].isalpha()
                                                                or k[5] in "@[\\]^_"):
            seq += bytes([ord(k[5].upper()) & 0x1F])
        else:
            raise UsageError(f"invalid detach keys {keys!r}: {k!r} is not a key",
                             hint='a comma-separated list of ctrl-<x> (a-z, @, [, \\, ], ^, _) or '
                                  'single characters, e.g. "ctrl-p,ctrl-q"; "" disables detaching')
    return seq


class DetachKeys:
    """Scans typed input for the detach sequence, holding back a partial
    match until the sequence is decided (as podman): feed() returns what the
    container gets now, and .detached once the whole sequence was typed."""

    def __init__(self, seq: bytes):
        self.seq = seq
        self.held = b""
        self.detached = False

    def feed(self, data: bytes) -> bytes:
        if not self.seq:
            return data
        out = bytearray()
        for i in range(len(data)):
            cur = self.held + data[i:i + 1]
            if self.seq.startswith(cur):
                self.held = cur
                if cur == self.seq:
                    self.detached = True
                    self.held = b""
                    return bytes(out)  # what was typed after the keys is not sent
                continue
            # not the sequence: the held keys go in after all; a tail of them may start it again
            keep = next((n for n in range(min(len(cur), len(self.seq) - 1), 0, -1)
                         if self.seq.startswith(cur[-n:])), 0)
            out += cur[:len(cur) - keep]
            self.held = cur[len(cur) - keep:]
        return bytes(out)


class _Resizer:
    """This terminal's size to the container's pty (through the monitor's
    FIFO): now, and on every SIGWINCH while attached."""

    def __init__(self, fifo):
        import signal
        try:
            self.fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self.fd = None  # a container started before rl had the channel
            return
        self.send()
        self.saved = signal.signal(signal.SIGWINCH, lambda *_: self.send())

    def send(self) -> None:
        try:
            size = os.get_terminal_size(0)
            os.write(self.fd, f"{size.lines} {size.columns}\n".encode())
        except OSError:
            pass

    def close(self) -> None:
        if self.fd is not None:
            import signal
            signal.signal(signal.SIGWINCH, self.saved)
            os.close(self.fd)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


class _Output:
    """Where attach writes: once a write fails (the terminal hung up, a
    closed pipe) output is dropped, and attach goes on until the container
    exits: the log keeps everything."""

    def __init__(self):
        self.gone = False

    def write(self, fd: int, data: bytes) -> None:
        if self.gone:
            return
        try:
            _write_all(fd, data)
        except OSError:
            self.gone = True


PROXIED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")


def attach(paths, name: str, *, stdin: bool, detach_keys: str, sig_proxy: bool = True, sock=None) -> int:
    """Pump the monitor's socket to this terminal until the container exits
    (its status) or the detach keys are typed (0). A -t container gets this
    terminal in raw mode (Ctrl-C is a key for its pty); for one without -t
    the terminal stays as it is and, with sig_proxy, the signals rl receives
    (Ctrl-C's SIGINT, ...) are forwarded to the container, as podman's.
    sock: a callable that connects (the foreground `run -it`/`start -ai`,
    whose monitor holds the output for it): the signals rl receives (a closed
    terminal's SIGHUP, a SIGTERM) go to the container even with -t, as
    they did when rl's own process was the container's host side."""
    import select
    import signal
    import termios
    import tty as ttymod
    from rootless.containers import monitor
    from rootless.containers.execsettings import running_pid
    from rootless.containers.records import same_process
    from rootless.errors import ContainerError
    keys = DetachKeys(detach_sequence(detach_keys))  # a bad sequence is refused before anything
    store = Store(paths)
    rec = store.lookup(name)
    foreground = sock is not None
    if not foreground:
        running_pid(store, rec)
        try:
            sock = monitor.connect(str(store.run_dir(rec.id) / "attach"))
        except OSError as e:
            raise ContainerError(f"cannot attach to {rec.name}: {e.strerror}",
                                 hint="only containers started detached (-d, rl start) can be attached") from None
    is_tty = bool(rec.request.get("tty"))
    proxied = {}
    if sig_proxy and (not is_tty or foreground):
        def forward(sig, _frame):
            st = store.state(rec)
            if same_process(st.get("pid"), st.get("pid_start")):
                try:
                    os.kill(st["pid"], sig)
                except ProcessLookupError:
                    pass
        for nm in PROXIED:
            proxied[getattr(signal, nm)] = signal.signal(getattr(signal, nm), forward)
    if callable(sock):  # the foreground run's: connected once the signals are ours to forward
        try:
            sock = sock()
        except BaseException:
            for sig, old in proxied.items():
                signal.signal(sig, old)
            raise
    frames = monitor.Frames(monitor.attach_framed(store.run_dir(rec.id)))
    saved = None
    fds = [sock]
    resize = None
    if stdin:
        fds.append(0)
        if os.isatty(0) and is_tty:
            saved = termios.tcgetattr(0)
            ttymod.setraw(0)
            resize = _Resizer(store.run_dir(rec.id) / monitor.WINSZ)
    out = _Output()
    try:
        while True:
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    for fd, chunk in frames.rest():
                        out.write(fd, chunk)
                    break
                for fd, chunk in frames.feed(data):  # each stream to its own fd, as podman's attach
                    out.write(fd, chunk)
            if 0 in ready:
                try:
                    data = os.read(0, 4096)
                except OSError:  # EIO: the terminal hung up
                    data = b""
                if not data:
                    fds.remove(0)
                    continue
                send = keys.feed(data)
                if send:
                    sock.sendall(send)
                if keys.detached:
                    break
    finally:
        sock.close()
        for sig, old in proxied.items():
            signal.signal(sig, old)
        if resize is not None:
            resize.close()
        if saved is not None:
            try:
                termios.tcsetattr(0, termios.TCSADRAIN, saved)
            except termios.error:
                pass  # the terminal is gone
    if keys.detached:
        print()
        return 0
    from rootless.containers import lifecycle
    return lifecycle.wait(paths, rec.id, ["stopped"])


def top(paths, name: str, descriptors: list[str] | None = None) -> None:
    """ps of the container's processes, podman's format descriptors (default
    `user pid ppid pcpu etime tty time args`): PIDs and IDs as the container
    sees them, names from its own /etc/passwd and /etc/group."""
    from rootless.containers import top as ctop
    from rootless.containers.execsettings import running_pid
    from rootless.images.render import table
    descs = ctop.parse_descriptors(descriptors or [])  # a bad descriptor before anything else
    store = Store(paths)
    rec = store.lookup(name)
    pid1 = running_pid(store, rec)
    snap = ctop.Snapshot(pid1)
    members = set(_members(pid1))
    rows = [r for r in (ctop.process_row(pid, descs, snap, members) for pid in sorted(members)) if r is not None]
    print(table(rows, ctop.header(descs)))


def _members(pid1: int) -> list[int]:
    """Every process in PID 1's PID namespace: its descendants and what exec
    started (whose parent may live outside), found by the namespace itself."""
    from rootless.runtime.init import namespace_pid
    try:  # rl's built-in init is non-dumpable: its ns links are closed to us, not its command's
        ns = os.readlink(f"/proc/{namespace_pid(pid1)}/ns/pid")
    except OSError:
        return [pid1]
    out = [pid1]
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == ns and int(name) != pid1:
                    out.append(int(name))
            except OSError:
                continue
    return sorted(out)


def _status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def attaches_through_monitor(req, interactive: bool | None = None) -> bool:
    """Foreground `run -it` / `start -ai` on a terminal runs under the monitor,
    as podman's does under conmon, so that the detach keys leave it running.
    Everything else keeps rl's in-process host side: without -i no keys can
    be typed; without a terminal there is no one to detach; a unit's
    --sdnotify=conmon (MAINPID is this process) and --cgroups=split (or a
    generated unit's default) need the CLI's own process to hold the
    container."""
    from rootless.containers import runhooks
    wants_stdin = req.interactive if interactive is None else interactive
    return bool(req.tty and req.interactive and wants_stdin and not req.detach and os.isatty(0)
                and req.sdnotify != "conmon" and not runhooks.monitor_stays(req))


def start_attached(paths, rec, detach_keys: str | None) -> int:
    """Start rec under its monitor with output held for us, attach this
    terminal, and return the container's status (0 once detached). With
    --rm, return only once the monitor removed it."""
    from rootless.containers import detached, lifecycle, monitor
    from rootless.containers.records import same_process
    detach_sequence(DEFAULT_DETACH_KEYS if detach_keys is None else detach_keys)  # refused before the start
    try:
        size = os.get_terminal_size(0)
        winsize = (size.lines, size.columns)
    except OSError:
        winsize = None
    store = Store(paths)
    hold_r, hold_w = os.pipe()
    held = [hold_w]

    def connect():
        # bound before the start, so this connects at once; the monitor releases the output to it
        try:
            return monitor.connect(str(store.run_dir(rec.id) / "attach"))
        finally:
            os.close(held.pop())
    try:
        try:
            detached.start_detached(paths, rec, hold=hold_r, winsize=winsize)
        finally:
            os.close(hold_r)
        st = store.state(rec)
        owner = (st.get("monitor"), st.get("monitor_start"))
        code = attach(paths, rec.id, stdin=True, sig_proxy=True, sock=connect,
                      detach_keys=DEFAULT_DETACH_KEYS if detach_keys is None else detach_keys)
    finally:
        if held:
            os.close(held.pop())
    restart = (rec.request.get("restart") or "no").partition(":")[0]
    detached = code == 0 and store.container_dir(rec.id).exists() and store.state(rec).get("state") in ACTIVE
    if not detached and restart == "no":
        # what `rl run` did before returning: the network released, the exit recorded, --rm done
        while owner[0] and same_process(owner[0], owner[1]):
            time.sleep(0.02)
    return code


def foreground(paths, req, detach_keys: str | None) -> int:
    """`rl run` without -d (both parsers): the container's exit status. A
    bad --detach-keys is refused before anything is created; what the run
    --requires is started first (detached)."""
    import os

    from rootless.containers import detached, lifecycle
    if detach_keys is None and not (req.tty and req.interactive and os.isatty(0)):
        return detached.run_foreground(paths, req)  # the common case imports nothing more (start latency)
    if detach_keys is not None:
        detach_sequence(detach_keys)
    if not attaches_through_monitor(req):
        return detached.run_foreground(paths, req)
    lifecycle.validate(req)
    from rootless.containers import run as engine
    rec = engine.create(paths, req)
    if req.requires:
        detached.start_requirements(paths, rec)
    return start_attached(paths, rec, detach_keys)
