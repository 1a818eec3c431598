"""Just enough D-Bus to ask the user's systemd for a transient scope: a
unix socket, EXTERNAL auth, method calls marshalled little-endian, replies
and errors read back (signals and other traffic skipped).

Why not a library: a D-Bus round trip is the whole job, jeepney/dbus-fast
would be a dependency for ~150 lines, and `systemd-run --scope` cannot adopt
a process that already exists (it runs a new command in the scope), while
the container's PID 1 must be moved before it execs. `busctl` can, but costs
a fork+exec per container (see the measurements in manager.py)."""

from __future__ import annotations

import os
import socket
import struct

from rootless.cgroups.resources import CgroupError

_ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "s": 4, "o": 4, "g": 1,
          "a": 4, "(": 8, "{": 8, "v": 1, "h": 4}
_FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q", "d": "d", "h": "I"}


class DBusError(Exception):
    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _one_type(sig: str, i: int) -> int:
    """Index just past the single complete type starting at sig[i]."""
    c = sig[i]
    if c == "a":
        return _one_type(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        i += 1
        while sig[i] != close:
            i = _one_type(sig, i)
        return i + 1
    return i + 1


def split_signature(sig: str) -> list[str]:
    out, i = [], 0
    while i < len(sig):
        j = _one_type(sig, i)
        out.append(sig[i:j])
        i = j
    return out


class _Writer:
    def __init__(self, start: int = 0):
        self.buf = bytearray()
        self.start = start  # alignment is relative to the message start

    def pad(self, n: int) -> None:
        while (self.start + len(self.buf)) % n:
            self.buf.append(0)

    def write(self, t: str, v) -> None:
        c = t[0]
        self.pad(_ALIGN[c])
        if c in _FIXED:
            self.buf += struct.pack("<" + _FIXED[c], int(v) if c != "d" else float(v))
        elif c in "so":
            data = v.encode()
            self.buf += struct.pack("<I", len(data)) + data + b"\0"
        elif c == "g":
            data = v.encode()
            self.buf += bytes([len(data)]) + data + b"\0"
        elif c == "v":
            sig, val = v
            self.write("g", sig)
            self.write(sig, val)
        elif c == "a":
            elem = t[1:]
            self.buf += b"\0\0\0\0"
            at = len(self.buf)
            self.pad(_ALIGN[elem[0]])
            begin = len(self.buf)
            items = v.items() if (elem[0] == "{" and isinstance(v, dict)) else v
            for item in items:
                self.write(elem, item)
            struct.pack_into("<I", self.buf, at - 4, len(self.buf) - begin)
        elif c in "({":
            for sub, val in zip(split_signature(t[1:-1]), v):
                self.write(sub, val)
        else:
            raise ValueError(f"D-Bus type {t!r} not supported")


class _Reader:
    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def align(self, n: int) -> None:
        self.pos = (self.pos + n - 1) // n * n

    def read(self, t: str):
        c = t[0]
        self.align(_ALIGN[c])
        if c in _FIXED:
            fmt = "<" + _FIXED[c]
            (v,) = struct.unpack_from(fmt, self.data, self.pos)
            self.pos += struct.calcsize(fmt)
            return bool(v) if c == "b" else v
        if c in "so":
            (n,) = struct.unpack_from("<I", self.data, self.pos)
            s = self.data[self.pos + 4:self.pos + 4 + n].decode("utf-8", "replace")
            self.pos += 4 + n + 1
            return s
        if c == "g":
            n = self.data[self.pos]
            s = self.data[self.pos + 1:self.pos + 1 + n].decode()
            self.pos += n + 2
            return s
        if c == "v":
            sig = self.read("g")
            return (sig, self.read(sig))
        if c == "a":
            (n,) = struct.unpack_from("<I", self.data, self.pos)
            self.pos += 4
            self.align(_ALIGN[t[1]])
            end = self.pos + n
            out = []
            while self.pos < end:
                out.append(self.read(t[1:]))
            return out
        if c in "({":
            return tuple(self.read(sub) for sub in split_signature(t[1:-1]))
        raise ValueError(f"D-Bus type {t!r} not supported")


def marshal_call(serial: int, dest: str, path: str, iface: str, member: str, sig: str = "",
                 args: tuple = ()) -> bytes:
    body = _Writer()
    for t, v in zip(split_signature(sig), args):
        body.write(t, v)
    fields = [(1, ("o", path)), (2, ("s", iface)), (3, ("s", member)), (6, ("s", dest))]
    if sig:
        fields.append((8, ("g", sig)))
    head = _Writer()
    for t, v in (("y", ord("l")), ("y", 1), ("y", 0), ("y", 1), ("u", len(body.buf)), ("u", serial)):
        head.write(t, v)
    head.write("a(yv)", fields)
    head.pad(8)
    return bytes(head.buf + body.buf)


def parse_message(data: bytes) -> tuple[int, dict, list, int] | None:
    """(type, header fields, body values, total length) of the first complete
    message in data, or None when more bytes are needed."""
    if len(data) < 16:
        return None
    if data[0:1] != b"l":
        raise CgroupError("D-Bus: big-endian messages are not supported")
    body_len, _serial, fields_len = struct.unpack_from("<III", data, 4)
    head_end = 16 + fields_len
    body_start = (head_end + 7) // 8 * 8
    total = body_start + body_len
    if len(data) < total:
        return None
    r = _Reader(data[:total], 12)
    fields = dict(r.read("a(yv)"))
    body = []
    sig = fields.get(8, ("g", ""))[1]
    if sig:
        r.pos = body_start
        body = [r.read(t) for t in split_signature(sig)]
    return data[1], {k: v[1] for k, v in fields.items()}, body, total


class Connection:
    """A connection to one bus (the user's systemd one)."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        self.serial = 0
        self.buf = b""
        try:
            self.sock.connect(path)
            self._auth()
            self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")
        except BaseException:
            self.sock.close()
            raise

    def _auth(self) -> None:
        uid = str(os.geteuid()).encode().hex()
        self.sock.sendall(b"\0AUTH EXTERNAL " + uid.encode() + b"\r\n")
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = self.sock.recv(256)
            if not chunk:
                raise ConnectionError("D-Bus closed during authentication")
            line += chunk
        if not line.startswith(b"OK "):
            raise ConnectionError(f"D-Bus refused authentication: {line.strip().decode(errors='replace')}")
        self.sock.sendall(b"BEGIN\r\n")

    def call(self, dest: str, path: str, iface: str, member: str, sig: str = "", *args):
        self.serial += 1
        serial = self.serial
        self.sock.sendall(marshal_call(serial, dest, path, iface, member, sig, args))
        while True:
            msg = parse_message(self.buf)
            if msg is None:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("D-Bus connection closed")
                self.buf += chunk
                continue
            mtype, fields, body, total = msg
            self.buf = self.buf[total:]
            if fields.get(5) != serial:
                continue  # a signal, or NameAcquired after Hello
            if mtype == 3:
                raise DBusError(fields.get(4, "error"), body[0] if body and isinstance(body[0], str) else "")
            return body

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


SYSTEMD = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")


def start_transient_scope(conn: Connection, unit: str, pids: list[int], description: str,
                          extra: list[tuple[str, tuple[str, object]]] = ()) -> str:
    """StartTransientUnit(unit, "fail", props, []) -> the job's object path."""
    props = [("Description", ("s", description)), ("PIDs", ("au", list(pids))), ("Delegate", ("b", True)),
             ("CollectMode", ("s", "inactive-or-failed")), *extra]
    (job,) = conn.call(*SYSTEMD, "StartTransientUnit", "ssa(sv)a(sa(sv))", unit, "fail", props, [])
    return job
