"""Reading the event log (events/__init__.py writes it): `rl events`.

The log is opened without following a symlink and only when it is a regular
file of this user's; a line longer than MAX_LINE, or one that is not an
event of the expected shape, is skipped."""

from __future__ import annotations

import os
import time

from rootless.events import MAX_LINE, TYPES, log_dir


def _open(path: str) -> int | None:
    """The log for reading: no symlink followed, a regular file of this user's, else None."""
    import stat
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
        os.close(fd)
        return None
    return fd


class _Reader:
    """Complete lines from an fd, each at most MAX_LINE bytes (longer ones skipped)."""

    def __init__(self, fd: int):
        self.fd, self.buf, self.skipping = fd, b"", False

    def lines(self):
        while True:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return
            self.buf += chunk
            while True:
                nl = self.buf.find(b"\n")
                if nl < 0:
                    if len(self.buf) > MAX_LINE:  # an over-long line: dropped up to its end
                        self.buf, self.skipping = b"", True
                    break
                line, self.buf = self.buf[:nl], self.buf[nl + 1:]
                if self.skipping:
                    self.skipping = False
                    continue
                if len(line) <= MAX_LINE:
                    yield line


def _event(line: bytes) -> dict | None:
    import json
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    if not (isinstance(ev, dict) and isinstance(ev.get("Time"), int) and ev.get("Type") in TYPES
            and isinstance(ev.get("Status"), str)):
        return None
    for k in ("ID", "Name", "Image", "Network", "PodID", "health_status"):
        if not isinstance(ev.get(k, ""), str):
            return None
    attrs = ev.get("Attributes")
    if attrs is not None and not (isinstance(attrs, dict) and all(isinstance(v, str) for v in attrs.values())):
        return None
    if not isinstance(ev.get("ContainerExitCode", 0), int):
        return None
    return ev


def _selected(ev, since, until, match) -> bool:
    t = ev["Time"]
    return (since is None or t >= since) and (until is None or t <= until) and (match is None or match(ev))


def read(paths, since: int | None = None, until: int | None = None, match=None):
    """The events logged, oldest first (the rotated generation, then the
    current log); since/until in nanoseconds."""
    base = os.path.join(log_dir(paths), "events.log")
    for path in (base + ".1", base):
        fd = _open(path)
        if fd is None:
            continue
        try:
            for line in _Reader(fd).lines():
                ev = _event(line)
                if ev is not None and _selected(ev, since, until, match):
                    yield ev
        finally:
            os.close(fd)


def follow(paths, since: int | None = None, until: int | None = None, match=None, stop=None,
           interval: float = 0.1):
    """With since: the logged events from then on; then each new event as it
    is written (a rotation followed), until `until` has passed or stop()."""
    base = os.path.join(log_dir(paths), "events.log")
    if since is not None:
        old = _open(base + ".1")
        if old is not None:
            try:
                for line in _Reader(old).lines():
                    ev = _event(line)
                    if ev is not None and _selected(ev, since, until, match):
                        yield ev
            finally:
                os.close(old)
    fd, ident, reader = None, None, None
    first = True
    while True:
        if fd is None:
            fd = _open(base)
            if fd is not None:
                st = os.fstat(fd)
                ident = (st.st_dev, st.st_ino)
                reader = _Reader(fd)
                if first and since is None:  # only what comes from now on
                    os.lseek(fd, 0, os.SEEK_END)
            first = False
        if reader is not None:
            for line in reader.lines():
                ev = _event(line)
                if ev is not None and _selected(ev, since, until, match):
                    yield ev
        if until is not None and time.time_ns() > until:
            break
        if stop is not None and stop():
            break
        try:
            st = os.stat(base, follow_symlinks=False)
            now = (st.st_dev, st.st_ino)
        except OSError:
            now = None
        if fd is not None and now != ident:  # rotated: what is left of the old one, then the new
            for line in reader.lines():
                ev = _event(line)
                if ev is not None and _selected(ev, since, until, match):
                    yield ev
            os.close(fd)
            fd, reader = None, None
            continue
        time.sleep(interval)
    if fd is not None:
        os.close(fd)


# ---------------------------------------------------------------- filters

FILTERS = ("container", "event", "image", "label", "network", "pod", "type", "volume")


def matcher(filters: list[str]):
    """podman's `events --filter KEY=VALUE`: values of one key OR, keys AND.
    None when there is none; errors: errors.UsageError naming the filter."""
    from rootless.errors import UsageError
    by_key: dict[str, list[str]] = {}
    for f in filters:
        key, eq, value = f.partition("=")
        if not eq or not key:
            raise UsageError(f"invalid filter {f!r}", hint="use KEY=VALUE, KEY one of " + ", ".join(FILTERS))
        if key == "status":
            key = "event"
        if key not in FILTERS:
            raise UsageError(f"invalid filter {key!r} for events", hint="use one of " + ", ".join(FILTERS))
        if key == "type" and value not in TYPES:
            raise UsageError(f"invalid event type {value!r}", hint="use one of " + ", ".join(TYPES))
        by_key.setdefault(key, []).append(value)
    if not by_key:
        return None
    tests = [(_TEST[k], vs) for k, vs in by_key.items()]

    def match(ev: dict) -> bool:
        return all(any(test(ev, v) for v in vs) for test, vs in tests)
    return match


def _is(ev, typ, value) -> bool:
    """ev is of type typ and names value (its name, or its ID or a prefix of it)."""
    if ev["Type"] != typ:
        return False
    ident = ev.get("ID", "")
    return value == ev.get("Name", "") or (len(value) >= 3 and ident.startswith(value)) or value == ident


def _image(ev, value) -> bool:
    if ev["Type"] == "container":
        img = ev.get("Image", "")
        return value in (img, img.rsplit(":", 1)[0] if ":" in img.rsplit("/", 1)[-1] else img) or \
            img.endswith("/" + value) or img.endswith("/" + value + ":latest")
    if ev["Type"] == "image":
        name = ev.get("Name", "")
        return _is(ev, "image", value) or name.endswith("/" + value) or name.endswith("/" + value + ":latest")
    return False


def _label(ev, value) -> bool:
    attrs = ev.get("Attributes") or {}
    k, eq, v = value.partition("=")
    return k in attrs and (not eq or attrs[k] == v)


_TEST = {
    "container": lambda ev, v: _is(ev, "container", v),
    "event": lambda ev, v: ev["Status"] == v,
    "image": _image,
    "label": _label,
    "network": lambda ev, v: ev["Type"] == "network" and (v in (ev.get("Network", ""), ev.get("Name", ""))
                                                          or _is(ev, "network", v)),
    "pod": lambda ev, v: _is(ev, "pod", v) or (ev["Type"] == "container" and v and ev.get("PodID", "").startswith(v)),
    "type": lambda ev, v: ev["Type"] == v,
    "volume": lambda ev, v: _is(ev, "volume", v),
}
