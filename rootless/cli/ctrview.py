"""The terminal side of container commands: logs written to this process's
stdout/stderr, attach (raw mode, detach keys, resizing, signal forwarding),
and the foreground `run -it` / `start -ai` that attach through the monitor.
The data comes from the engine (rootless.containers.ops and friends)."""

from __future__ import annotations

import os
import sys
import time

from rootless.containers.records import ACTIVE, Store


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


def logs(paths, name: str, opts, *, timestamps: bool, prefix: str | None = None,
         color: int | None = None) -> None:
    """Write a container's log entries (ops.logs) to the stream each came
    from, as podman: `rl logs x 2>/dev/null` shows stdout alone; prefix:
    "name" or "id" before each line (several containers), color: the
    container's place on the command line (--color)."""
    from rootless.containers import logs as klog, ops
    batches = ops.logs(paths, name, opts)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    sys.stdout.flush()
    sys.stderr.flush()
    if prefix or color is not None:  # the container's name or short ID; each line in its colour (--color)
        rec = Store(paths).lookup(name)
        tag = ((rec.name if prefix == "name" else rec.id[:12]) + " " if prefix else "").encode()
        seq = b"" if color is None else b"\x1b[%dm" % _LOG_COLORS[color % len(_LOG_COLORS)]
        out, err = _Prefixed(out, tag, seq), _Prefixed(err, tag, seq)
    for batch in batches:
        klog.emit(batch, timestamps, out, err)


def logs_many(paths, names: list[str], opts, *, timestamps: bool, prefix: str, color: bool) -> None:
    """Several containers' logs as podman's: each line prefixed with its
    container's ID (prefix "id") or name, in its colour (--color); what was
    logged so far merged in time order, then (following) each new line as it
    comes from any of them."""
    import heapq
    import threading

    from rootless.containers import logs as klog, ops
    streams = [ops.logs(paths, n, opts) for n in names]  # a bad name or option: raised before any output
    store = Store(paths)
    sys.stdout.flush()
    sys.stderr.flush()
    outs = []
    for i, n in enumerate(names):
        rec = store.lookup(n)
        tag = (rec.name if prefix == "name" else rec.id[:12]).encode() + b" "
        seq = b"\x1b[%dm" % _LOG_COLORS[i % len(_LOG_COLORS)] if color else b""
        outs.append((_Prefixed(sys.stdout.buffer, tag, seq), _Prefixed(sys.stderr.buffer, tag, seq)))
    firsts = [next(g, []) for g in streams]
    # heapq.merge keeps each log's own order; ties go to the earlier container on the line
    for _, i, _, e in heapq.merge(*[[(e.time, i, k, e) for k, e in enumerate(b)] for i, b in enumerate(firsts)]):
        klog.emit([e], timestamps, *outs[i])
    if not opts.follow:
        return
    lock = threading.Lock()

    def follow(i: int) -> None:
        for batch in streams[i]:
            with lock:
                klog.emit(batch, timestamps, *outs[i])
    threads = [threading.Thread(target=follow, args=(i,), daemon=True) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


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
    from rootless.containers import detached, monitor
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


def foreground(paths, req, detach_keys: str | None, preserve_fds: int = 0) -> int:
    """`rl run` without -d (both parsers): the container's exit status. A
    bad --detach-keys is refused before anything is created; what the run
    --requires is started first (detached)."""
    import os

    from rootless.containers import detached, lifecycle
    if preserve_fds or detach_keys is None and not (req.tty and req.interactive and os.isatty(0)):
        # the common case imports nothing more (start latency); --preserve-fds: this process passes them
        return detached.run_foreground(paths, req, preserve_fds=preserve_fds)
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
