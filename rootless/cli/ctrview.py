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
       trunc: bool) -> None:
    views.check_filters(filters)
    store = Store(paths)
    now = time.time()
    rows = []
    for rec in store.all():  # newest first
        st = store.state(rec)
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
        print(json.dumps([views.ps_json(rec, st, now, store.run_dir(rec.id)) for rec, st in rows], indent=4))
        return
    from rootless.images.render import table
    if fmt:
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, [views.ps_row_fields(
            rec, st, now, trunc, store.run_dir(rec.id), size=_size(store.container_dir(rec.id) / "diff") if size else "")
            for rec, st in rows], names=PS_HEADERS))
        return
    header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    if size:
        header.append("SIZE")
    out = []
    for rec, st in rows:
        f = views.ps_row_fields(rec, st, now, trunc, store.run_dir(rec.id))
        row = [f["ID"], f["Image"], f["Command"], f["Created"], f["Status"], f["Ports"], f["Names"]]
        if size:
            row.append(_size(store.container_dir(rec.id) / "diff"))
        out.append(row)
    print(table(out, header))


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
                                                 "volumes": store.paths.root / "volumes"})


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


def logs(paths, name: str, *, follow: bool, since: str | None, until: str | None, tail: int,
         timestamps: bool) -> None:
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
    out = sys.stdout.buffer
    out.write(klog.render(klog.select(entries, t_since, t_until, tail if tail >= 0 else None), timestamps))
    out.flush()
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
        out.write(klog.render([e], timestamps))
        out.flush()


def _detach_sequence(keys: str) -> bytes:
    seq = b""
    for k in keys.split(","):
        k = k.strip().lower()
        if k.startswith("ctrl-") and len(k) == 6:
            seq += bytes([ord(k[5]) & 0x1F])
        elif len(k) == 1:
            seq += k.encode()
    return seq


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


def attach(paths, name: str, *, stdin: bool, detach_keys: str) -> int:
    """Pump the monitor's socket to this terminal until the container exits
    (its status) or the detach keys are typed (0)."""
    import select
    import termios
    import tty as ttymod
    from rootless.containers import monitor
    from rootless.containers.lifecycle import running_pid
    from rootless.errors import ContainerError
    store = Store(paths)
    rec = store.lookup(name)
    running_pid(store, rec)
    try:
        sock = monitor.connect(str(store.run_dir(rec.id) / "attach"))
    except OSError as e:
        raise ContainerError(f"cannot attach to {rec.name}: {e.strerror}",
                             hint="only containers started detached (-d, rl start) can be attached") from None
    seq = _detach_sequence(detach_keys)
    saved = None
    fds = [sock]
    resize = None
    if stdin:
        fds.append(0)
        if os.isatty(0):
            saved = termios.tcgetattr(0)
            ttymod.setraw(0)
            if rec.request.get("tty"):
                resize = _Resizer(store.run_dir(rec.id) / monitor.WINSZ)
    typed = b""
    detached = False
    try:
        while True:
            ready, _, _ = select.select(fds, [], [])
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 4096)
                if not data:
                    fds.remove(0)
                    continue
                combined = typed + data
                at = combined.find(seq) if seq else -1
                if at >= 0:  # what came before the keys still goes in
                    if at > len(typed):
                        sock.sendall(combined[len(typed):at])
                    detached = True
                    break
                sock.sendall(data)
                typed = combined[-(len(seq) - 1):] if len(seq) > 1 else b""
    finally:
        sock.close()
        if resize is not None:
            resize.close()
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
    if detached:
        print()
        return 0
    from rootless.containers import lifecycle
    return lifecycle.wait(paths, rec.id, ["stopped"])


def top(paths, name: str, descriptors: list[str] | None = None) -> None:
    """ps of the container's processes, podman's format descriptors (default
    `user pid ppid pcpu etime tty time args`): PIDs and IDs as the container
    sees them, names from its own /etc/passwd and /etc/group."""
    from rootless.containers import top as ctop
    from rootless.containers.lifecycle import running_pid
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
    try:
        ns = os.readlink(f"/proc/{pid1}/ns/pid")
    except OSError:
        return [pid1]
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == ns:
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
