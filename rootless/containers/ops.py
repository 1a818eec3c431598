"""The container engine's read side and composite operations, for any face
(the CLI, compose, kube, a REST API): plain arguments in, plain data out
(records, podman-shaped dicts, rows, iterators of log entries), typed
errors; nothing here prints, exits or knows about terminals.

The rest of the engine API is where the work is done: `run.create`,
`detached.run_detached` / `run_foreground` / `start_detached` / `restart`,
`lifecycle.stop` / `kill` / `wait` / `remove` / `pause` / `unpause` /
`rename` / `prune` / `exec_` / `validate`, `health.healthcheck_run`,
`copy.cp` / `export` / `diff` / `commit`."""

from __future__ import annotations

import os
import time

from rootless.config import Paths
from rootless.containers.records import ACTIVE, Record, Store
from rootless.errors import ContainerNotFound, UsageError
from rootless.pathlite import Path
from rootless.plain import Fields


# ------------------------------------------------------------------ ps

# the options and rows below are plain classes, not dataclasses: every
# container command paid for importing dataclasses and building them

class PsOptions(Fields):
    FIELDS = ("all", "filters", "last", "size", "pod_names")

    def __init__(self, all: bool = False, filters: list[str] | None = None, last: int = -1, size: bool = False,
                 pod_names: dict | None = None):
        self.all = all                    # not only running ones
        self.filters = [] if filters is None else filters  # podman's KEY=VALUE (views.FILTER_KEYS)
        self.last = last                  # the N most recently created (-1: no limit)
        self.size = size                  # measure each writable layer
        # {pod ID: name}, from the pods layer above (which imports this one):
        # the PodName field, and `pod=NAME` filters as well as `pod=ID`
        self.pod_names = {} if pod_names is None else pod_names


class Listed(Fields):
    """One container as ps sees it: its record, its state (a dead
    fuse-overlayfs shown as unhealthy), where its runtime files are, and
    the size of its writable layer (bytes; None unless asked)."""
    FIELDS = ("record", "state", "run_dir", "size", "pod_name")

    def __init__(self, record: Record, state: dict, run_dir: Path, size: int | None = None, pod_name: str = ""):
        self.record = record
        self.state = state
        self.run_dir = run_dir
        self.size = size
        self.pod_name = pod_name


def ps(paths: Paths, opts: PsOptions | None = None) -> list[Listed]:
    """The containers `rl ps` lists, newest first. A malformed filter is
    refused (UsageError) before anything is read."""
    from rootless.containers import views  # here: rl inspect IMAGE looks for a container first, through ops
    opts = opts or PsOptions()
    views.check_filters(opts.filters)
    filters = [_pod_filter(f, opts.pod_names) for f in opts.filters]
    store = Store(paths)
    out = []
    for rec in store.all():  # newest first
        st = storage_checked(store, rec, store.state(rec))
        if not opts.all and opts.last < 0 and st.get("state") not in ACTIVE and not filters:
            continue
        if filters and not views.matches(rec, st, filters):
            continue
        out.append(Listed(rec, st, store.run_dir(rec.id), pod_name=opts.pod_names.get(rec.request.get("pod"), "")))
    if opts.last >= 0:
        out = out[:opts.last]
    if opts.size:
        for item in out:
            item.size = layer_size(store.container_dir(item.record.id) / "diff")
    return out


def _pod_filter(f: str, pod_names: dict) -> str:
    """pod=NAME -> pod=ID (views.matches compares IDs)."""
    k, _, v = f.partition("=")
    if k != "pod":
        return f
    by_name = [pid for pid, name in pod_names.items() if name == v]
    return f"pod={by_name[0]}" if by_name else f


def ps_json(listed: list[Listed], now: float | None = None) -> list[dict]:
    """`ps --format json`: podman's objects."""
    from rootless.containers import views  # here: rl inspect IMAGE looks for a container first, through ops
    now = time.time() if now is None else now
    return [views.ps_json(x.record, x.state, now, x.run_dir, x.pod_name) for x in listed]


def ps_fields(item: Listed, now: float, trunc: bool = True, size: str = "") -> dict:
    """The fields a ps template names ({{.ID}}, {{.Status}} ...); size: as
    the face renders Listed.size."""
    from rootless.containers import views  # here: rl inspect IMAGE looks for a container first, through ops
    return views.ps_row_fields(item.record, item.state, now, trunc, item.run_dir, size=size, pod_name=item.pod_name)


def storage_checked(store: Store, rec: Record, st: dict) -> dict:
    """A running container whose fuse-overlayfs died shows as unhealthy with
    the reason (its processes run on, but nothing new can be read or run)."""
    if st.get("state") == "running" and rec.driver == "fuse-overlayfs":
        from rootless import procfs  # not storage.fuse_overlayfs: rl ps would import tools, ctypes, subprocess
        why = procfs.fuse_lost(st.get("pid"), str(store.container_dir(rec.id) / "merged"))
        if why:
            return dict(st, health={**(st.get("health") or {}), "Status": f"unhealthy: {why}"})
    return st


def layer_size(path) -> int:
    """A writable layer's size in bytes as the user can see it (directories a
    container made private are counted as far as readable)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


MATCH_KEYS = ("restart-policy", "name", "id")


def matching(paths: Paths, filters: list[str]) -> list[str]:
    """IDs of the containers matching every KEY=VALUE of start/stop's
    --filter (the keys rl-restart.service needs): restart-policy, name, id
    (a prefix)."""
    want = []
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq or k not in MATCH_KEYS:
            raise UsageError(f"invalid --filter {f!r}", hint="restart-policy=always, name=NAME or id=ID")
        want.append((k, v))

    def value(rec, k):
        if k == "restart-policy":
            return ((rec.request or {}).get("restart") or "no").partition(":")[0]
        return rec.name if k == "name" else rec.id
    return [r.id for r in Store(paths).all()
            if all(value(r, k) == v or (k == "id" and r.id.startswith(v)) for k, v in want)]


def all_ids(paths: Paths) -> list[str]:
    """Every container's ID, newest first (the --all of stop, kill, rm)."""
    return [r.id for r in Store(paths).all()]


# ------------------------------------------------------------------ inspect

def inspect(paths: Paths, name: str) -> dict:
    """One container's `inspect` object, podman's shape; ContainerNotFound."""
    store = Store(paths)
    return _inspect(store, store.lookup(name))


def inspect_if_container(paths: Paths, name: str) -> dict | None:
    """`rl inspect NAME` (any object kind): the container's object, or None
    when NAME names no container. A damaged one raises: it exists."""
    from rootless.errors import ContainerDamaged, ContainerError
    store = Store(paths)
    try:
        rec = store.lookup(name)
    except ContainerDamaged:
        raise  # it exists: say what is wrong with it, not "no such object"
    except ContainerError:
        return None
    return _inspect(store, rec)


def _inspect(store: Store, rec: Record) -> dict:
    from rootless.containers import views  # here: rl inspect IMAGE looks for a container first, through ops
    return views.inspect(rec, store.state(rec), {"log": str(store.container_dir(rec.id) / "ctr.log"),
                                                 "run_dir": store.run_dir(rec.id),
                                                 "volumes": store.paths.root / "volumes", "paths": store.paths})


# ------------------------------------------------------------------ logs

class LogOptions(Fields):
    FIELDS = ("since", "until", "tail", "follow")

    def __init__(self, since: str | None = None, until: str | None = None, tail: int = -1, follow: bool = False):
        self.since = since    # RFC3339 time, Unix time or duration (10m)
        self.until = until
        self.tail = tail      # the last N lines (-1: all)
        self.follow = follow  # go on while the container runs


def logs(paths: Paths, name: str, opts: LogOptions | None = None):
    """A container's output as batches of logs.Entry (each with its stream,
    time and text): first everything selected so far, then, following, each
    new entry as it comes. Errors (a bad --since, no such container, a
    --log-driver none) are raised before the first batch."""
    from rootless.containers import logs as klog
    from rootless.errors import ContainerError
    opts = opts or LogOptions()
    t_since = klog.since_value(opts.since) if opts.since else None  # checked first, as podman: a typo is named
    t_until = klog.since_value(opts.until) if opts.until else None
    store = Store(paths)
    rec = store.lookup(name)
    driver = rec.request.get("log_driver") or "k8s-file"
    if driver == "none":
        raise ContainerError(f"container {rec.name} has --log-driver none: nothing was logged")
    journald = driver == "journald"
    if journald:
        entries, current = klog.journal_read(rec.id)
        path = None
    else:
        path = str(store.container_dir(rec.id) / "ctr.log")
        entries, current = klog.read(path, keep_open=True)
    first = klog.select(entries, t_since, t_until, opts.tail if opts.tail >= 0 else None)
    return _log_batches(store, rec, first, current, path, t_until, opts.follow)


def _log_batches(store, rec, first, current, path, t_until, follow):
    from rootless.containers import logs as klog
    try:
        yield first
        if not follow:
            return

        def active() -> bool:
            return store.container_dir(rec.id).exists() and store.state(rec).get("state") in ACTIVE
        more = klog.journal_follow(rec.id, active, current) if path is None else klog.follow(path, active, current)
        current = None  # follow() owns it now
        for e in more:
            if t_until is not None and e.time > t_until:
                break
            yield [e]
    finally:
        if current is not None and path is not None:
            current.close()


# ------------------------------------------------------------------ top

def top(paths: Paths, name: str, descriptors: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """ps of a running container's processes with podman's format
    descriptors (default `user pid ppid pcpu etime tty time args`): the
    header and the rows, PIDs and IDs as the container sees them, names
    from its own /etc/passwd and /etc/group."""
    from rootless.containers import top as ctop
    from rootless.containers.execsettings import running_pid
    descs = ctop.parse_descriptors(descriptors or [])  # a bad descriptor before anything else
    store = Store(paths)
    rec = store.lookup(name)
    pid1 = running_pid(store, rec)
    snap = ctop.Snapshot(pid1)
    members = set(_members(pid1))
    rows = [r for r in (ctop.process_row(pid, descs, snap, members) for pid in sorted(members)) if r is not None]
    return ctop.header(descs), rows


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


# ------------------------------------------------------------------ rm, diff

def check_exist(paths: Paths, names: list[str]) -> None:
    """rm without --ignore, as podman: a typo among the names removes
    nothing (ContainerNotFound with exit status 1)."""
    store = Store(paths)
    for n in names:
        try:
            store.lookup(n, allow_damaged=True)
        except ContainerNotFound as e:
            e.exit_code = 1
            raise


def remove(paths: Paths, name: str, *, force: bool = False, volumes: bool = False,
           timeout: float | None = None) -> Record | None:
    """`rm`: with force and a timeout, stop first with that timeout (podman's
    -t); then processes, mounts, helpers, record and storage; with volumes,
    the container's anonymous volumes (named ones stay). The removed record."""
    from rootless.containers import lifecycle
    if force and timeout is not None:
        lifecycle.stop(paths, name, timeout)
    rec = lifecycle.remove(paths, name, force=force)
    if volumes and rec:
        from rootless import volumes as vols
        vols.remove_anonymous(paths, (rec.request or {}).get("anon_volumes"))
    return rec


def remove_leftovers(paths: Paths) -> None:
    """What an interrupted removal left behind (rm --all --force)."""
    Store(paths).remove_leftovers()


def diff_report(changes: list[tuple[str, str]]) -> dict:
    """`diff --format json`: podman's {"changed": [...], "added": [...],
    "deleted": [...]}, empty kinds left out (changes: copy.diff's)."""
    out = {"changed": [p for k, p in changes if k == "C"], "added": [p for k, p in changes if k == "A"],
           "deleted": [p for k, p in changes if k == "D"]}
    return {k: v for k, v in out.items() if v}


def read_cidfiles(names: list[str], cidfiles: list[str], ignore: bool) -> list[str]:
    """CONTAINER names plus the IDs in --cidfile files (a missing file:
    skipped with ignore)."""
    from rootless.containers.runhooks import read_cidfile
    out = list(names or [])
    for path in cidfiles:
        try:
            out.append(read_cidfile(path))
        except ContainerNotFound:
            if not ignore:
                raise
    return out
