"""`rl generate systemd`: a container's unit file in podman's form.

Without --new the unit starts and stops the existing container (Type=forking,
PIDFile= the monitor's pid). With --new the unit creates the container on
start from its recorded request and removes it on stop (Type=notify: the
monitor tells systemd READY=1 and its own pid once PID 1 runs, from inside
the service's cgroup, --cgroups=no-conmon)."""

from __future__ import annotations

import os
import shutil
import sys
import time

from rootless.errors import UsageError
from rootless.plain import record
from rootless.systemd.unitfile import (
    escape_specifiers,
    exec_line,
    pythonpath_env,
    render,
)

RESTART_POLICIES = ("no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always")
CIDFILE = "%t/%n.ctr-id"

# run flags the --new unit sets itself (podman drops them from the recorded command)
_DROPPED = {"detach", "rm", "name", "restart", "quiet", "cidfile", "replace", "sdnotify", "cgroups"}
# runflags dest -> RunRequest field where they differ
_FIELD = {"env_file": "env_files", "volume": "volumes"}


@record
class Options:
    new: bool = False
    use_name: bool = False
    restart_policy: str = "on-failure"
    restart_sec: int | None = None
    container_prefix: str = "container"
    separator: str = "-"
    stop_timeout: int | None = None
    header: bool = True


def rl_command() -> list[str]:
    """How this rl was invoked, as an absolute command for ExecStart."""
    arg0 = sys.argv[0] if sys.argv else ""
    if not arg0 or arg0.endswith(("__main__.py", "-c")) or os.path.basename(arg0).startswith("python"):
        return [sys.executable, "-m", "rootless"]
    if "/" not in arg0:
        return [shutil.which(arg0) or arg0]
    return [os.path.abspath(arg0)]


def run_args(request: dict, image: str) -> list[list[str]]:
    """The recorded request as `rl run` flag groups (one flag and its value
    each), then [IMAGE, COMMAND...]. Flags the unit sets itself are left out."""
    from rootless.containers import runflags
    groups: list[list[str]] = []
    resources = request.get("resources") or {}
    res_dests = {f.dest for f in runflags.RESOURCE_FLAGS}
    for f in runflags.FLAGS:
        if f.dest in _DROPPED:
            continue
        decl = next((d for d in f.decls if d.startswith("--")), f.decls[0])
        if f.dest in res_dests:
            value = resources.get(f.dest)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
        else:
            value = request.get(_FIELD.get(f.dest, f.dest))
        if f.dest == "label":  # recorded from the unit that started it: the new unit records its own
            value = [x for x in value or [] if not x.startswith("PODMAN_SYSTEMD_UNIT=")]
        if f.dest == "network":  # one recorded as its string; several as req.networks entries
            value = _network_values(request)
        value = _without_pod_derived(request, f.dest, value)
        if f.kind == runflags.OPTBOOL:  # recorded as a bool, true by default (--http-proxy)
            if value is False:
                groups.append([decl + "=false"])
            continue
        if value in (None, False, [], ""):
            continue
        if f.kind == runflags.BOOL:
            groups.append([decl])
        elif f.kind == runflags.LIST:
            groups.extend([decl, str(v)] for v in value)
        else:
            groups.append([decl, str(value)])
    groups.append([image, *(request.get("command") or [])])
    return groups


def _without_pod_derived(request: dict, dest: str, value):
    """A pod member's request holds what --pod derived at create (the infra's
    network, the pod's host name, the infra in --requires): `--pod` alone
    derives them again, and would refuse them given as flags."""
    infra = request.get("pod_infra_id")
    if not request.get("pod") or not infra:
        return value
    if dest == "network" and value in (f"container:{infra}", [f"container:{infra}"]):
        return None
    if dest == "hostname" and "uts" in (request.get("pod_share") or ()):
        return None
    if dest == "requires":
        return [r for r in value or [] if r != infra]
    return value


def _network_values(request: dict) -> list[str]:
    """--network as given: NAME[:alias=A,...,ip=IP] per network of a
    multi-network container, else the one value."""
    entries = request.get("networks") or []
    if entries:
        out = []
        for e in entries:
            opts = [f"alias={a}" for a in e.get("aliases") or []] + ([f"ip={e['ip']}"] if e.get("ip") else [])
            out.append(e["name"] + (":" + ",".join(opts) if opts else ""))
        return out
    value = request.get("network")
    return [value] if isinstance(value, str) and value else list(value or [])


def unit_name(rec, opts: Options) -> str:
    return f"{opts.container_prefix}{opts.separator}{rec.name if opts.use_name else rec.id}.service"


def _stop_timeout(rec, opts: Options) -> int:
    if opts.stop_timeout is not None:
        return opts.stop_timeout
    t = (rec.request or {}).get("stop_timeout")
    try:
        return int(float(t)) if t not in (None, "") else 10
    except ValueError:
        return 10


def generate(rec, run_dir: str, opts: Options, rl: list[str] | None = None, now: float | None = None) -> tuple[str, str]:
    """(unit file name, its text) for one container record."""
    if opts.restart_policy not in RESTART_POLICIES:
        raise UsageError(f"invalid --restart-policy {opts.restart_policy!r}", hint=", ".join(RESTART_POLICIES))
    env_extra = []
    if rl is None:
        rl = rl_command()
        if rl[1:] == ["-m", "rootless"]:
            env_extra = pythonpath_env()
    name = unit_name(rec, opts)
    ident = rec.name if opts.use_name else rec.id
    timeout = _stop_timeout(rec, opts)
    header = []
    if opts.header:
        from rootless import __version__
        header = [name, f"autogenerated by rl {__version__}",
                  time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(now))]
    unit = [f"Description=rl {name}",
            "Wants=network-online.target", "After=network-online.target",
            f"RequiresMountsFor={escape_specifiers(os.path.dirname(os.path.dirname(run_dir)))}"]
    service = ["Environment=PODMAN_SYSTEMD_UNIT=%n", *env_extra, f"Restart={opts.restart_policy}"]
    if opts.restart_sec is not None:
        service.append(f"RestartSec={opts.restart_sec}")
    service.append(f"TimeoutStopSec={timeout + 60}")
    if opts.new:
        req = rec.request or {}
        image = rec.image if req.get("rootfs") else (req.get("image") or rec.image)
        start = [[*rl, "run"], [f"--cidfile={CIDFILE}"], ["--cgroups=no-conmon"], ["--rm"], ["--sdnotify=conmon"],
                 ["--replace"], ["-d"], ["--name", rec.name], *run_args(req, image)]
        service += [
            exec_line("ExecStartPre", [["/bin/rm"], ["-f", CIDFILE]], raw=frozenset({1})),
            exec_line("ExecStart", start, raw=frozenset({1})),
            exec_line("ExecStop", [[*rl, "stop"], ["--ignore", "-t", str(timeout)], [f"--cidfile={CIDFILE}"]],
                      raw=frozenset({2})),
            exec_line("ExecStopPost", [[*rl, "rm"], ["-f"], ["--ignore", "-t", str(timeout)],
                                       [f"--cidfile={CIDFILE}"]], raw=frozenset({3})),
            "Type=notify", "NotifyAccess=all"]
    else:
        service += [
            exec_line("ExecStart", [[*rl, "start", ident]]),
            exec_line("ExecStop", [[*rl, "stop"], ["-t", str(timeout), ident]]),
            exec_line("ExecStopPost", [[*rl, "stop"], ["-t", str(timeout), ident]]),
            f"PIDFile={escape_specifiers(os.path.join(run_dir, 'monitor.pid'))}",
            "Type=forking"]
    return name, render([("Unit", unit), ("Service", service), ("Install", ["WantedBy=default.target"])], header)


def for_container(paths, name: str, opts: Options) -> tuple[str, str]:
    """`rl generate systemd NAME`: (unit file name, its text) for the container
    named or with that ID in the store at paths."""
    from rootless.containers.records import Store
    store = Store(paths)
    rec = store.lookup(name)
    return generate(rec, str(store.run_dir(rec.id)), opts)
