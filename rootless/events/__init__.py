"""The event log: what `rl events` reads, written by the engine.

Writing (`emit`, and `container` for a container's record) is one
`O_APPEND` write of one JSON line to `$root/events/events.log`: no lock, no
fsync, no import beyond rl's own small JSON writer (jsonio, loaded on every
path that emits). Appends of one write each are never interleaved on a local
file system. A failure to write is never the command's failure: the event is
lost, the command goes on. At MAX_SIZE the writer that notices renames the
log to `events.log.1` (the one older generation kept) under an flock, so two
writers never rotate twice.

Reading (`read`, `follow`) opens without following a symlink, takes only a
regular file of this user's, skips lines longer than MAX_LINE and lines that
are not an event, so a damaged or planted log cannot make the reader
misbehave. An event is a dict in podman 4.3's JSON shape (ID, Image, Name,
Network, Status, Time, Type, ContainerExitCode, PodID, health_status,
Attributes), with Time as integer nanoseconds since the epoch.

    emit(paths, type, status, id=, name=, image=, attributes=, exit_code=, pod_id=, health=, network=)
    container(paths, rec, status, exit_code=None, health="")

The reader is events/reader.py (only `rl events` imports it):

    reader.read(paths, since=None, until=None, match=None) -> iterator of events (oldest first)
    reader.follow(paths, since=None, until=None, match=None, stop=None) -> the same, then new ones as written
    reader.matcher(filters) -> predicate over events (podman's --filter; UsageError on a bad one)
"""

from __future__ import annotations

import os
import time

MAX_SIZE = 1 << 20   # rotate at 1 MiB (podman's events_logfile_max_size default)
MAX_LINE = 1 << 16   # a longer line is skipped by the reader; the writer cuts attributes to stay below it
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC

TYPES = ("container", "image", "volume", "network", "pod", "system")


def log_dir(paths) -> str:
    return os.path.join(str(paths.root), "events")


def emit(paths, type: str, status: str, *, id: str = "", name: str = "", image: str = "",
         attributes: dict | None = None, exit_code: int | None = None, pod_id: str = "", health: str = "",
         network: str = "") -> None:
    """Append one event; never raises."""
    try:
        from rootless import jsonio
        ev = {"Time": time.time_ns(), "Type": type, "Status": status}
        for k, v in (("ID", id), ("Name", name), ("Image", image), ("Network", network), ("PodID", pod_id),
                     ("health_status", health)):
            if v:
                ev[k] = str(v)
        if exit_code is not None:
            ev["ContainerExitCode"] = int(exit_code)
        if attributes:
            ev["Attributes"] = {str(k): str(v) for k, v in attributes.items()}
        line = jsonio.dumps(ev, separators=(",", ":")) + "\n"
        if len(line) >= MAX_LINE:  # labels too big for one line: the event without them
            ev.pop("Attributes", None)
            line = jsonio.dumps(ev, separators=(",", ":")) + "\n"
        _append(log_dir(paths), line.encode())
    except (OSError, ValueError, TypeError):
        pass


def container(paths, rec, status: str, exit_code: int | None = None, health: str = "") -> None:
    """A container's event from its record (name, image, labels, pod)."""
    try:
        req = rec.request or {}
        attrs = rec.labels() if not getattr(rec, "damaged", "") else {}
        emit(paths, "container", status, id=rec.id, name=rec.name,
             image=getattr(rec, "image_name", "") or rec.image or "", attributes=attrs,
             exit_code=exit_code, pod_id=req.get("pod") or "", health=health)
    except (AttributeError, TypeError, ValueError):
        pass


def _append(directory: str, data: bytes) -> None:
    path = os.path.join(directory, "events.log")
    try:
        fd = os.open(path, _FLAGS, 0o600)
    except FileNotFoundError:
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        fd = os.open(path, _FLAGS, 0o600)
    try:
        os.write(fd, data)
        if os.fstat(fd).st_size > MAX_SIZE:
            _rotate(fd, path)
    finally:
        os.close(fd)


def _rotate(fd: int, path: str) -> None:
    """The log is over MAX_SIZE: it becomes events.log.1, unless another
    writer rotated it meanwhile (path no longer names this file)."""
    import fcntl
    lock = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return
        mine = os.fstat(fd)
        if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
            os.rename(path, path + ".1")
    finally:
        os.close(lock)
