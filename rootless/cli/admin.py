"""`rl events`, `rl system df`, `rl system reset` and `rl unshare`. Parsing
and rendering only: the engine is rootless.events and rootless.system."""

from __future__ import annotations

import sys

from rootless.cli.options import OPTIONS
from rootless.cli.table import LIST, REST, STR, Arg, Opt, command
from rootless.errors import ExitStatus, UsageError


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


# ---------------------------------------------------------------- events

def _truth(value, flag: str) -> bool:
    v = (value if value is not None else "true").strip().lower()
    if v in ("true", "1", "yes", "t"):
        return True
    if v in ("false", "0", "no", "f"):
        return False
    raise UsageError(f"invalid {flag} value {value!r}", hint=f"{flag}=true or {flag}=false")


def _when(text: str | None, flag: str) -> int | None:
    if not text:
        return None
    from rootless.containers.logs import since_value
    try:
        return int(since_value(text) * 1e9)
    except UsageError as e:
        raise UsageError(f"{flag}: {e.message}", hint=e.hint) from None


def _split(ns: int):
    import time
    secs, frac = divmod(ns, 1_000_000_000)
    t = time.localtime(secs)
    return t, (f".{frac:09d}".rstrip("0") if frac else "")


def go_time(ns: int) -> str:
    """Go's time.Time.String(): 2026-12-07 14:18:35.544478975 +0000 UTC (local zone)."""
    import time
    t, frac = _split(ns)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', t)}{frac} {time.strftime('%z', t)} {t.tm_zone or 'UTC'}"


def rfc3339(ns: int) -> str:
    """Go's RFC3339Nano in the local zone (Z for UTC)."""
    import time
    t, frac = _split(ns)
    off = t.tm_gmtoff or 0
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', t)}{frac}{zone}"


def human_line(ev: dict) -> str:
    """podman's default line for an event."""
    head = f"{go_time(ev['Time'])} {ev['Type']} {ev['Status']}"
    typ = ev["Type"]
    if typ in ("container", "pod"):
        parts = [f"image={ev.get('Image', '')}", f"name={ev.get('Name', '')}"]
        if ev.get("PodID"):
            parts.append(f"pod_id={ev['PodID']}")
        if ev.get("health_status"):
            parts.append(f"health_status={ev['health_status']}")
        parts += [f"{k}={v}" for k, v in sorted((ev.get("Attributes") or {}).items())]
        return f"{head} {ev.get('ID', '')} ({', '.join(parts)})"
    if typ == "image":
        return f"{head} {ev.get('ID', '')} {ev.get('Name', '')}"
    if typ == "network":
        return f"{head} {ev.get('ID', '')} (name={ev.get('Network') or ev.get('Name', '')})"
    if typ == "system" and not ev.get("Name"):
        return head
    return f"{head} {ev.get('Name', '')}"


def json_line(ev: dict) -> str:
    """podman 4.3's `events --format json` object (key order included)."""
    import json
    out: dict = {}
    if "ContainerExitCode" in ev:
        out["ContainerExitCode"] = ev["ContainerExitCode"]
    for k in ("ID", "Image", "Name", "Network", "Status"):
        if ev.get(k):
            out[k] = ev[k]
    out["Time"] = rfc3339(ev["Time"])
    out["Type"] = ev["Type"]
    if ev.get("health_status"):
        out["health_status"] = ev["health_status"]
    if ev.get("PodID"):
        out["PodID"] = ev["PodID"]
    out["Attributes"] = ev.get("Attributes") or ({} if ev["Type"] == "container" else None)
    return json.dumps(out, separators=(",", ":"))


def template_data(ev: dict) -> dict:
    """The fields a template sees, as podman's Event struct."""
    return {"ContainerExitCode": ev.get("ContainerExitCode"), "ID": ev.get("ID", ""), "Image": ev.get("Image", ""),
            "Name": ev.get("Name", ""), "Network": ev.get("Network", ""), "Status": ev["Status"],
            "Time": go_time(ev["Time"]), "Type": ev["Type"], "HealthStatus": ev.get("health_status", ""),
            "PodID": ev.get("PodID", ""),
            "Attributes": ev.get("Attributes") or ({} if ev["Type"] == "container" else None)}


@command("events",
         Opt("filters", "--filter", "-f", kind=LIST, help="KEY=VALUE: container, event, image, label, network, "
                                                          "pod, type, volume (repeatable)"),
         Opt("fmt", "--format", kind=STR, help="json, or a Go template ({{.Type}} {{.Status}} {{.Name}})"),
         Opt("since", "--since", kind=STR, help="events since this time (RFC3339, Unix time, or 10m back)"),
         Opt("until", "--until", kind=STR, help="events until this time (RFC3339, Unix time, or 10m back)"),
         Opt("stream", "--stream", kind=STR, flag_value="true",
             help="follow new events (the default); --stream=false lists the logged ones and ends"),
         Opt("no_trunc", "--no-trunc", kind=STR, flag_value="true", help="accepted: IDs are never truncated"))
def events_cmd(filters, fmt, since, until, stream, no_trunc) -> None:
    """Show rl's events (containers, images, volumes, networks, pods); follows new ones by default."""
    from rootless.events import reader as events
    follow = _truth(stream, "--stream")
    _truth(no_trunc, "--no-trunc")
    match = events.matcher(list(filters))
    t_since, t_until = _when(since, "--since"), _when(until, "--until")
    render = _renderer(fmt)
    paths = _paths()
    source = events.follow(paths, t_since, t_until, match) if follow else events.read(paths, t_since, t_until, match)
    out = sys.stdout
    for ev in source:
        out.write(render(ev))
        out.flush()


def _renderer(fmt):
    if not fmt:
        return lambda ev: human_line(ev) + "\n"
    if fmt.strip() == "json":
        return lambda ev: json_line(ev) + "\n"
    from rootless.cli.gotemplate import Template, normalize
    text, _ = normalize(fmt)
    tpl = Template(text)  # a bad template fails before anything is read

    end = "" if text.endswith("\n") else "\n"  # as podman: a newline after the format, not the output
    return lambda ev: tpl.render(template_data(ev)) + end


# ---------------------------------------------------------------- system df

def human_size(n: float) -> str:
    """go-units HumanSize: decimal units, 4 significant digits, no space (171.1MB, 0B)."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    n, i = float(n), 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000
        i += 1
    return f"{n:.4g}{units[i]}"


def _df_rows(summary: list[dict]) -> list[dict]:
    rows = []
    for s in summary:
        pct = round(s["RawReclaimable"] / s["RawSize"] * 100) if s["RawSize"] else 0
        rows.append({**s, "Size": human_size(s["RawSize"]),
                     "Reclaimable": f"{human_size(s['RawReclaimable'])} ({pct}%)"})
    return rows


@command("system df",
         Opt("fmt", "--format", kind=STR, help="json, or a Go template ({{.Type}} {{.Size}} {{.Reclaimable}})"),
         Opt("verbose", "--verbose", "-v", help="each image, container and volume"))
def df_cmd(fmt, verbose) -> None:
    """Show rl's disk usage: images, containers and local volumes."""
    from rootless import system
    from rootless.cli.gotemplate import render_rows
    if fmt and verbose:
        raise UsageError("cannot combine --format and --verbose", hint="rl system df --format json, or -v alone")
    report = system.df(_paths())
    if verbose:
        _df_verbose(report)
        return
    rows = _df_rows(system.df_summary(report))
    if fmt and fmt.strip() == "json":
        import json
        out = [{"Type": r["Type"], "Total": r["Total"], "Active": r["Active"], "TotalCount": r["Total"],
                "Size": r["RawSize"], "Reclaimable": r["RawReclaimable"]} for r in rows]
        print(json.dumps(out, indent=4))
        return
    sys.stdout.write(render_rows(fmt or "table {{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
                                 rows))


def _df_verbose(report: dict) -> None:
    import time
    from rootless.cli.gotemplate import tabwrite
    from rootless.images import render
    now = time.time()
    lines = ["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"]
    for i in report["Images"]:
        created = render.parse_time(i["Created"]) or now
        lines.append("\t".join([i["Repository"], i["Tag"], i["ID"][:12], render.human_duration(now - created),
                                human_size(i["Size"]), human_size(i["SharedSize"]), human_size(i["UniqueSize"]),
                                str(i["Containers"])]))
    print("Images space usage:\n")
    print(tabwrite("\n".join(lines)))
    lines = ["CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES"]
    for c in report["Containers"]:
        lines.append("\t".join([c["ID"][:12], c["Image"][:12], c["Command"], str(c["LocalVolumes"]),
                                human_size(c["Size"]), render.human_duration(now - c["Created"]), c["Status"],
                                c["Names"]]))
    print("\nContainers space usage:\n")
    print(tabwrite("\n".join(lines)))
    lines = ["VOLUME NAME\tLINKS\tSIZE"]
    for v in report["Volumes"]:
        lines.append("\t".join([v["Name"], str(v["Links"]), human_size(v["Size"])]))
    print("\nLocal Volumes space usage:\n")
    print(tabwrite("\n".join(lines)))


# ---------------------------------------------------------------- system reset

@command("system reset", Opt("force", "--force", "-f", help="do not prompt for confirmation"))
def reset_cmd(force) -> None:
    """Remove all containers, pods, images, volumes and networks, and rl's store."""
    from rootless import system
    from rootless.cli.prompt import confirm
    warning = ("WARNING! This will remove:\n" + "".join(f"        - {w}\n" for w in (
        "all containers", "all pods", "all images", "all networks", "all build cache", "all volumes")))
    if not force and not confirm(warning):
        return
    problems = system.reset(_paths())
    for p in problems:
        print(f"Error: {p}", file=sys.stderr)
    if problems:
        raise ExitStatus(125)


# ---------------------------------------------------------------- unshare

@command("unshare", Arg("command", REST, metavar="[COMMAND [ARG...]]"))
def unshare_cmd(command) -> None:
    """Run a command (default $SHELL) in rl's user namespace, with the ID mapping containers get."""
    from rootless import system
    code = system.unshare(_paths(), list(command or []))
    if code:
        raise ExitStatus(code)


# ---------------------------------------------------------------- checkpoint, restore

def _criu_refused(verb: str) -> None:
    # checkpoint/restore is CRIU's, and CRIU needs CAP_SYS_ADMIN in the initial user namespace
    # (or CAP_CHECKPOINT_RESTORE there): a rootless user has neither; podman refuses it rootless too
    raise UsageError(f"{verb} a container requires root: CRIU cannot run in a user namespace",
                     hint="rl stop and rl start keep the container's files; a running process cannot be saved")


@command("container checkpoint", Arg("containers", REST, metavar="[CONTAINER...]"))
def checkpoint_cmd(containers) -> None:
    """Checkpoint a running container (refused: CRIU needs root)."""
    _criu_refused("checkpointing")


@command("container restore", Arg("containers", REST, metavar="[CONTAINER...]"))
def restore_cmd(containers) -> None:
    """Restore a checkpointed container (refused: CRIU needs root)."""
    _criu_refused("restoring")
