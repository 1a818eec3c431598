"""What `rl run`/`create` do for systemd units: --cidfile, --replace,
--sdnotify, --cgroups. Called by containers.run at fixed points; nothing
here prints."""

from __future__ import annotations

import os

from rootless.errors import UsageError

SDNOTIFY = ("conmon", "ignore")
CGROUPS = ("enabled", "no-conmon", "split", "disabled")


def validate(req) -> None:
    for label in req.label or []:
        if not label or label.startswith("="):  # KEY alone is an empty value, as podman's
            raise UsageError(f"invalid --label {label!r}", hint="KEY=VALUE or KEY")
    from rootless.containers.policy import parse_restart
    restart = parse_restart(req.restart)  # checked on foreground runs too: a typo is never ignored
    if req.rm and restart.name != "no":
        raise UsageError('the --rm option conflicts with --restart, when the restartPolicy is not "" and "no"',
                         hint="drop --rm, or --restart")
    if req.sdnotify not in (None, "", *SDNOTIFY):
        hint = "conmon (rl's monitor reports READY=1) or ignore"
        if req.sdnotify == "container":
            raise UsageError("--sdnotify=container is not supported yet", hint=hint)
        raise UsageError(f"invalid --sdnotify {req.sdnotify!r}", hint=hint)
    if req.cgroups not in (None, "", *CGROUPS):
        raise UsageError(f"invalid --cgroups {req.cgroups!r}", hint=", ".join(CGROUPS))
    if req.cgroups == "disabled" and req.resources:
        raise UsageError("resource limits need a cgroup, and --cgroups=disabled gives none",
                         hint="drop --cgroups=disabled or the limits")
    if req.cidfile and os.path.exists(req.cidfile):
        raise UsageError(f"container ID file {req.cidfile} already exists",
                         hint=f"remove it first: rm {req.cidfile}")


def before_create(paths, req) -> None:
    """Checks, then --replace: a container of the same name goes first."""
    validate(req)
    unit = os.environ.get("PODMAN_SYSTEMD_UNIT")
    if unit and not any(x.startswith("PODMAN_SYSTEMD_UNIT=") for x in req.label):
        req.label = [*req.label, f"PODMAN_SYSTEMD_UNIT={unit}"]  # as podman: rl auto-update restarts it
    if req.replace and req.name:
        from rootless.containers import lifecycle
        from rootless.errors import ContainerNotFound
        try:
            lifecycle.remove(paths, req.name, force=True)
        except ContainerNotFound:
            pass


def after_create(req, rec) -> None:
    if req.cidfile:
        try:
            fd = os.open(req.cidfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise UsageError(f"container ID file {req.cidfile} already exists") from None
        except OSError as e:
            raise UsageError(f"cannot write the container ID file {req.cidfile}: {e.strerror}") from None
        with os.fdopen(fd, "w") as f:
            f.write(rec.id)


def in_unit(env=None) -> bool:
    """Started by a unit rl generated (PODMAN_SYSTEMD_UNIT=%n, as podman's)."""
    return bool((os.environ if env is None else env).get("PODMAN_SYSTEMD_UNIT"))


def monitor_stays(req, env=None) -> bool:
    """--cgroups=no-conmon/split, or by default when a generated unit starts
    it: the monitor stays in its caller's cgroup (the service's, whose main
    process it becomes: systemd supervises only pids of its own cgroup);
    PID 1 alone moves into the container's scope."""
    return req.cgroups in ("no-conmon", "split") or (req.cgroups in (None, "") and in_unit(env))


def main_process_status(req, code: int, env=None) -> int:
    """The monitor's own exit status: the container's when it is a unit's
    main process (a crash fails the unit: Restart= applies), else 0."""
    return code if req.sdnotify == "conmon" or in_unit(env) else 0


def ready(req, main_pid: int) -> None:
    """--sdnotify=conmon: PID 1 runs; tell systemd, naming the monitor (this
    process) the service's main process."""
    if req.sdnotify == "conmon":
        notify(f"MAINPID={main_pid}\nREADY=1")


def notify(message: str, env: dict | None = None) -> bool:
    """sd_notify(3): one datagram to $NOTIFY_SOCKET (a path, or @abstract).
    False when there is no socket to tell."""
    addr = (env if env is not None else os.environ).get("NOTIFY_SOCKET")
    if not addr or addr[0] not in "/@":
        return False
    if addr[0] == "@":
        addr = "\0" + addr[1:]
    import socket  # here: rl rm and stop read --cidfile through this module, and never notify
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        try:
            s.connect(addr)
            s.sendall(message.encode())
        except OSError:
            return False
    return True


def read_cidfile(path: str) -> str:
    try:
        with open(path) as f:
            cid = f.read().strip()
    except FileNotFoundError:
        from rootless.errors import ContainerNotFound
        raise ContainerNotFound(f"container ID file {path} does not exist") from None
    except OSError as e:
        raise UsageError(f"cannot read the container ID file {path}: {e.strerror}") from None
    if not cid:
        from rootless.errors import ContainerNotFound
        raise ContainerNotFound(f"container ID file {path} is empty")
    return cid
