"""Container logs in podman's k8s-file format, one record a line:

    2024-05-01T10:00:00.123456789+00:00 stdout F a complete line
    2024-05-01T10:00:00.123456789+00:00 stdout P a partial li

F ends a line, P is a piece of one still being written (what a read
returned without a newline). rl-monitor (C) writes them and rotates the
file; this module reads them. format_chunk is the writer's rule in Python:
the reader's tests build their input with it."""

from __future__ import annotations

import os
import time

from rootless.errors import UsageError
from rootless.plain import Fields


def timestamp(t: float | None = None) -> str:
    """RFC3339Nano in UTC, with podman's explicit offset."""
    ns = time.time_ns() if t is None else int(t * 1e9)
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}+00:00"


def format_chunk(stream: str, data: bytes, ts: str) -> bytes:
    """One read's worth of output -> log records."""
    out = []
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and not line:
            break  # the data ended with a newline
        flag = b"P" if last else b"F"
        out.append(b"%s %s %s %s\n" % (ts.encode(), stream.encode(), flag, line))
    return b"".join(out)


class Entry(Fields):
    """One log record (not a dataclass: `rl logs` makes 10,000 of them, and
    importing dataclasses cost more than reading them)."""
    FIELDS = ("time", "stamp", "stream", "partial", "text")

    def __init__(self, time: float, stamp: str, stream: str, partial: bool, text: bytes):
        self.time = time
        self.stamp = stamp
        self.stream = stream
        self.partial = partial
        self.text = text


def parse_time(stamp: str) -> float:
    """RFC3339(Nano) -> epoch seconds (any offset)."""
    # a log's lines share their second and offset: those are worked out once
    # per second (a dict lookup, not calendar.timegm, for each of 10,000 lines)
    if len(stamp) > 19 and stamp[10] == "T" and stamp[19] in ".Z+-":
        tail = stamp[19:]
        if tail[0] == ".":
            end = len(tail) - 1 if tail[-1] == "Z" else max(tail.rfind("+"), tail.rfind("-"), 0) or len(tail)
            frac, tz = tail[1:end], tail[end:]
        else:
            frac, tz = "", tail
        key = stamp[:19] + tz
        whole = _SECONDS.get(key)
        if whole is None:
            if len(_SECONDS) > 4096:
                _SECONDS.clear()  # `logs -f` for days: a second is not asked for again
            whole = _SECONDS[key] = _seconds(key)
        base, off = whole
        return base + float(f"0.{frac or 0}") - off  # the same sum, in the same order, as _seconds' callers
    base, frac, off = _parts(stamp)
    return base + float(f"0.{frac or 0}") - off


_SECONDS: dict[str, tuple[int, int]] = {}


def _seconds(stamp: str) -> tuple[int, int]:
    """A stamp without its fraction -> (timegm of its clock, its offset in seconds)."""
    base, frac, off = _parts(stamp)
    return base, off


def _parts(stamp: str) -> tuple[int, str, int]:
    """RFC3339 -> (timegm of date and clock, the fraction's digits, the offset in seconds)."""
    date, _, rest = stamp.partition("T")
    tz_at = max(rest.rfind("+"), rest.rfind("-"))
    if rest.endswith("Z"):
        clock, off = rest[:-1], 0
    elif tz_at > 0:
        clock, tz = rest[:tz_at], rest[tz_at:]
        hh, _, mm = tz[1:].partition(":")
        off = (int(hh) * 3600 + int(mm or 0) * 60) * (1 if tz[0] == "+" else -1)
    else:
        clock, off = rest, 0
    whole, _, frac = clock.partition(".")
    y, mo, d = (int(x) for x in date.split("-"))
    h, mi, s = (int(x) for x in whole.split(":"))
    if not (1 <= mo <= 12 and 1 <= d <= 31 and 0 <= h <= 23 and 0 <= mi <= 59 and 0 <= s <= 60):
        raise ValueError(f"time out of range: {stamp}")  # timegm would roll 25:00 into the next day
    import calendar
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)), frac, off


def parse_line(line: bytes) -> Entry | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp = parts[0].decode()
    try:
        t = parse_time(stamp)
    except ValueError:
        return None
    return Entry(t, stamp, parts[1].decode(), parts[2] == b"P", parts[3] if len(parts) > 3 else b"")


def since_value(text: str, now: float | None = None) -> float:
    """--since/--until: RFC3339, a Unix time, or a duration back from now (10m, 1h30m).
    Anything else is a UsageError naming the value and the forms accepted."""
    try:
        return _since_value(text, time.time() if now is None else now)
    except (ValueError, KeyError, IndexError, OverflowError):
        raise UsageError(f"invalid time value {text!r}",
                         hint="use RFC3339 (2024-05-01T10:00:00Z or 2024-05-01), a Unix time (1714557600) "
                              "or a duration back from now (10m, 1h30m)") from None


def _since_value(text: str, now: float) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    if text and text[-1] in "smh" and "T" not in text and "-" not in text:
        total, num = 0.0, ""
        for ch in text:
            if ch.isdigit() or ch == ".":
                num += ch
            else:
                total += float(num) * {"s": 1, "m": 60, "h": 3600}[ch]
                num = ""
        return now - total
    if "T" not in text:
        text += "T00:00:00Z"
    return parse_time(text)


def render(entries, timestamps: bool = False) -> bytes:
    """Entries -> what `rl logs` prints: partial pieces joined to their line."""
    out = []
    for e in entries:
        if timestamps and not getattr(e, "_cont", False):
            out.append(e.stamp.encode() + b" ")
        out.append(e.text + (b"" if e.partial else b"\n"))
    return b"".join(out)


def emit(entries, timestamps: bool, out, err) -> None:
    """Write entries to the stream each came from, as podman does: stdout's
    lines to out, stderr's to err (binary files; both flushed)."""
    run, stream = [], None
    for e in entries:
        if e.stream != stream and run:
            dest = err if stream == "stderr" else out
            dest.write(render(run, timestamps))
            dest.flush()
            run = []
        stream = e.stream
        run.append(e)
    if run:
        dest = err if stream == "stderr" else out
        dest.write(render(run, timestamps))
        dest.flush()


def select(entries: list[Entry], since: float | None = None, until: float | None = None,
           tail: int | None = None) -> list[Entry]:
    picked = [e for e in entries if (since is None or e.time >= since) and (until is None or e.time <= until)]
    if tail is not None and tail >= 0:
        # --tail counts whole lines: a line is its partial pieces plus the final F
        ends = [i for i, e in enumerate(picked) if not e.partial]
        if tail == 0:
            return []
        if len(ends) > tail:
            picked = picked[ends[-tail - 1] + 1:]
    return picked


def read(path: str, keep_open: bool = False):
    """Every entry (the rotated file first). keep_open: also return the
    current file, positioned after what was read, for follow()."""
    out = []
    current = None
    for p in (path + ".1", path):
        try:
            f = open(p, "rb")
        except FileNotFoundError:
            continue
        data = f.read()
        if p == path and keep_open:
            complete = data.rfind(b"\n") + 1  # a record still being written is follow()'s
            f.seek(complete)
            data = data[:complete]
            current = f
        else:
            f.close()
        for line in data.split(b"\n"):
            e = parse_line(line)
            if e is not None:
                out.append(e)
    return (out, current) if keep_open else out


def parse_size(text: str) -> int:
    """--log-opt max-size: 10mb, 512k, 1g, or bytes."""
    t = text.strip().lower().rstrip("b")
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def follow(path: str, active, f=None, poll: float = 0.1):
    """Yield entries appended to path while active() is true (then the rest),
    across rotations (a new inode at path); f: the file already read this far."""
    ino = os.fstat(f.fileno()).st_ino if f is not None else None
    buf = b""
    while True:
        if f is None:
            try:
                f = open(path, "rb")
                ino = os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                if not active():
                    return
                time.sleep(poll)
                continue
        chunk = f.read(65536)
        if chunk:
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                e = parse_line(line)
                if e is not None:
                    yield e
            continue
        try:
            rotated = os.stat(path).st_ino != ino
        except FileNotFoundError:
            rotated = True
        if rotated:
            f.close()
            f = None
            continue
        if not active():
            # one more read: the monitor's last lines may land after our check
            chunk = f.read()
            if not chunk:
                f.close()
                return
            buf += chunk
            continue
        time.sleep(poll)


# --- --log-driver journald: rl-monitor sends each line to the journal with
# podman's fields; rl logs reads them back through journalctl
JOURNAL_SOCKET = "/run/systemd/journal/socket"


def journald_available() -> bool:
    from rootless import tools
    return os.path.exists(JOURNAL_SOCKET) and tools.find("journalctl") is not None


def journal_fields(cid: str, name: str) -> list[str]:
    """What every entry of the container carries (podman's journald driver's
    fields): journalctl CONTAINER_NAME=web finds them."""
    return [f"CONTAINER_ID={cid[:12]}", f"CONTAINER_ID_FULL={cid}", f"CONTAINER_NAME={name}",
            f"SYSLOG_IDENTIFIER={name}"]


def journal_entry(obj: dict) -> Entry | None:
    """One `journalctl -o json` object -> an Entry."""
    msg = obj.get("MESSAGE")
    if isinstance(msg, list):  # not valid UTF-8: journalctl gives the bytes
        text = bytes(msg)
    elif isinstance(msg, str):
        text = msg.encode()
    else:
        return None
    t = int(obj.get("__REALTIME_TIMESTAMP", "0")) / 1e6
    return Entry(t, timestamp(t), "stderr" if str(obj.get("PRIORITY")) == "3" else "stdout",
                 obj.get("CONTAINER_PARTIAL_MESSAGE") == "true", text)


def journal_read(cid: str, after: str | None = None) -> tuple[list[Entry], str | None]:
    """The container's entries (after a cursor), and the last cursor."""
    import json

    from rootless import tools
    argv = ["journalctl", "--no-pager", "--all", "-o", "json", f"CONTAINER_ID_FULL={cid}"]
    if after:
        argv += ["--after-cursor", after]
    res = tools.run(argv, capture_output=True, text=True)
    out, cursor = [], after
    for line in res.stdout.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        cursor = obj.get("__CURSOR", cursor)
        e = journal_entry(obj)
        if e is not None:
            out.append(e)
    return out, cursor


def journal_follow(cid: str, active, cursor: str | None, poll: float = 0.25):
    """Entries appended after cursor while active() is true (then the rest)."""
    while True:
        live = active()
        entries, cursor = journal_read(cid, cursor)
        yield from entries
        if not live:
            return
        time.sleep(poll)



# --- the writer's side in Python: a foreground `rl run` (and `start -a`)
# logs what it relays to the terminal, with rl-monitor's rules


class Writer:
    """k8s-file records (rotation at max_size to PATH.1, one old file kept,
    whole records or none) or journal entries, one per line."""

    def __init__(self, driver: str, path: str | None = None, max_size: int = 0,
                 fields: list[str] | None = None):
        self.driver = driver
        self.path = path
        self.max = max_size
        self.fd = -1
        self.size = 0
        self.sock = None
        self.fields = b"".join(f.encode() + b"\n" for f in fields or [])
        if driver == "k8s-file" and path:
            self._open()
        elif driver == "journald":
            self._connect()

    def _open(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                              0o600)
            self.size = os.fstat(self.fd).st_size
        except OSError:
            self.fd, self.size = -1, 0

    def _connect(self) -> None:
        import socket
        try:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self.sock.connect(JOURNAL_SOCKET)
        except OSError:
            self.sock = None

    def write(self, stream: str, data: bytes) -> None:
        if not data:
            return
        if self.driver == "journald":
            self._journal(stream, data)
        elif self.fd >= 0:
            self._append(format_chunk(stream, data, timestamp()))

    def _append(self, records: bytes) -> None:
        if self.max > 0 and self.size > 0 and self.size + len(records) > self.max:
            os.close(self.fd)
            try:
                os.rename(self.path, self.path + ".1")
            except OSError:
                pass
            self._open()
            if self.fd < 0:
                return
        done = 0
        try:
            while done < len(records):
                done += os.write(self.fd, records[done:])
        except OSError:  # a full disk loses log lines, never the container
            if done:
                try:
                    os.ftruncate(self.fd, self.size)
                except OSError:
                    pass
            return
        self.size += len(records)

    def _journal(self, stream: str, data: bytes) -> None:
        if self.sock is None:
            return
        pieces = data.split(b"\n")
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            if last and not piece:
                break
            head = b"PRIORITY=%d\n%sMESSAGE\n" % (3 if stream == "stderr" else 6,
                                                   b"CONTAINER_PARTIAL_MESSAGE=true\n" if last else b"")
            msg = self.fields + head + len(piece).to_bytes(8, "little") + piece + b"\n"
            try:
                self.sock.send(msg, socket_flags())
            except OSError:
                pass  # a busy journal loses lines, never the container

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def socket_flags() -> int:
    import socket
    return socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL


def writer_for(request: dict, cid: str, name: str, log_path: str) -> Writer | None:
    """The container's log as its --log-driver/--log-opt say; None for none."""
    driver = request.get("log_driver") or "k8s-file"
    if driver == "none":
        return None
    if driver == "journald":
        return Writer("journald", fields=journal_fields(cid, name))
    size = 0
    for o in request.get("log_opt") or []:
        k, _, v = o.partition("=")
        if k == "max-size":
            try:
                size = parse_size(v)
            except ValueError:
                pass
    return Writer("k8s-file", log_path, size)
