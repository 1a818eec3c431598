"""`rl pod ...`, as podman's: flags -> rootless.pods -> podman's output.
Each command is a thin typer declaration over a plain function below it
(easy to move to the command table)."""

from __future__ import annotations

import json
import sys
import time
from typing import List, Optional

import typer

from rootless.cli.options import OPTIONS
from rootless.cli.typerapp import app

pod_app = typer.Typer(help="Manage pods.", no_args_is_help=True)
app.add_typer(pod_app, name="pod")


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


def _bool(value: str, flag: str) -> bool:
    v = value.lower()
    if v in ("true", "1", "yes", ""):
        return True
    if v in ("false", "0", "no"):
        return False
    from rootless.errors import UsageError
    raise UsageError(f"invalid {flag} value {value!r}", hint=f"{flag}=true or {flag}=false")


def _labels(items: List[str]) -> dict:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def _each(names: List[str], fn, ignore: bool = False) -> None:
    """fn(name) for each pod, printing its ID; every failure reported, the last raised."""
    from rootless.errors import RlError
    from rootless.pods.store import PodNotFound
    errors = []
    for n in names:
        try:
            print(fn(n).id)
        except PodNotFound:
            if not ignore:
                errors.append(sys.exc_info()[1])
        except RlError as e:
            errors.append(e)
    for e in errors[:-1]:
        print(f"Error: {e.message}", file=sys.stderr)
    if errors:
        raise errors[-1]


def _targets(names: Optional[List[str]], all_: bool, verb: str) -> List[str]:
    from rootless.errors import UsageError
    from rootless.pods.store import PodStore
    if all_:
        return [p.id for p in PodStore(_paths()).all()]
    if not names:
        raise UsageError(f"pod {verb} needs a pod", hint=f"rl pod {verb} NAME, or --all")
    return list(names)


@pod_app.command("create")
def create(
    name_arg: Optional[str] = typer.Argument(None, metavar="[NAME]"),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="the pod's name"),
    label: List[str] = typer.Option([], "--label", "-l", help="KEY=VALUE"),
    infra: str = typer.Option("true", "--infra", is_flag=False, flag_value="true",
                              help="an infra container holds the shared namespaces (default true)"),
    infra_name: Optional[str] = typer.Option(None, "--infra-name", help="the infra container's name"),
    share: Optional[str] = typer.Option(None, "--share", help='namespaces shared: ipc,net,uts (default) or ""'),
    share_parent: str = typer.Option("true", "--share-parent", is_flag=False, flag_value="true",
                                     help="accepted as podman's; rl gives each container its own cgroup"),
    hostname: Optional[str] = typer.Option(None, "--hostname", help="the pod's host name (default its name)"),
    add_host: List[str] = typer.Option([], "--add-host", help="NAME:IP line added to /etc/hosts"),
    dns: List[str] = typer.Option([], "--dns", help="DNS server"),
    dns_search: List[str] = typer.Option([], "--dns-search", help="DNS search domain"),
    dns_option: List[str] = typer.Option([], "--dns-option", help="resolv.conf option"),
    no_hosts: bool = typer.Option(False, "--no-hosts", help="keep the image's /etc/hosts"),
    publish: List[str] = typer.Option([], "--publish", "-p", help="[IP:][HOST_PORT:]PORT[/tcp|udp], on the pod"),
    network: List[str] = typer.Option([], "--network", "--net", help="the pod's network (slirp4netns, NAME, ...)"),
    exit_policy: str = typer.Option("continue", "--exit-policy", help="continue or stop"),
    pod_id_file: Optional[str] = typer.Option(None, "--pod-id-file", help="write the pod's ID to this file"),
    replace: bool = typer.Option(False, "--replace", help="remove a pod of the same name first"),
) -> None:
    """Create a pod (and its infra container); prints its ID."""
    create_pod(name=name or name_arg, labels=_labels(label), infra=_bool(infra, "--infra"), infra_name=infra_name,
               share=share, share_parent=_bool(share_parent, "--share-parent"), hostname=hostname,
               add_host=add_host, dns=dns, dns_search=dns_search, dns_option=dns_option, no_hosts=no_hosts,
               publish=publish, network=network, exit_policy=exit_policy, pod_id_file=pod_id_file,
               replace=replace)


def create_pod(*, pod_id_file: str | None, replace: bool, name: str | None, **kw) -> None:
    from rootless.pods import ops
    from rootless.pods.store import PodStore
    paths = _paths()
    if replace and name and PodStore(paths).exists(name):
        ops.remove(paths, name, force=True)
    pod = ops.create(paths, name=name, create_command=["rl", *sys.argv[1:]],
                     storage_driver=OPTIONS.storage_driver, **kw)
    if pod_id_file:
        from rootless import fsutil
        fsutil.atomic_write(pod_id_file, pod.id, 0o644)
    print(pod.id)


@pod_app.command("exists")
def exists(pod: str = typer.Argument(...)) -> None:
    """Exit 0 when the pod exists, 1 when not."""
    from rootless.errors import ExitStatus
    from rootless.pods.store import PodStore
    if not PodStore(_paths()).exists(pod):
        raise ExitStatus(1)


@pod_app.command("ps")
@pod_app.command("ls")
@pod_app.command("list")
def ps(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="IDs only"),
    filter_: List[str] = typer.Option([], "--filter", "-f", help="id=, name=, label=, status=, ctr-names=, ..."),
    fmt: Optional[str] = typer.Option(None, "--format", help="json, or a Go template"),
    noheading: bool = typer.Option(False, "--noheading", help="no header line"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="full IDs"),
    ctr_names: bool = typer.Option(False, "--ctr-names", help="the containers' names"),
    ctr_ids: bool = typer.Option(False, "--ctr-ids", help="the containers' IDs"),
    ctr_status: bool = typer.Option(False, "--ctr-status", help="the containers' states"),
    latest: bool = typer.Option(False, "--latest", "-l", help="the most recently created pod"),
    sort: str = typer.Option("created", "--sort", help="created, id, name or number"),
) -> None:
    """List pods."""
    list_pods(quiet=quiet, filters=filter_, fmt=fmt, noheading=noheading, trunc=not no_trunc,
              ctr_names=ctr_names, ctr_ids=ctr_ids, ctr_status=ctr_status, latest=latest, sort=sort)


PS_HEADERS = {"ID": "POD ID", "Name": "NAME", "Status": "STATUS", "Created": "CREATED", "InfraID": "INFRA ID",
              "NumberOfContainers": "# OF CONTAINERS", "ContainerIds": "IDS", "ContainerNames": "NAMES",
              "ContainerStatuses": "STATUS", "Labels": "LABELS", "Networks": "NETWORKS", "Cgroup": "CGROUP"}


def _pod_rows(paths):
    from rootless.pods import ops
    from rootless.pods.store import PodStore
    for pod in PodStore(paths).all():
        recs = ops.members(paths, pod)
        sts = ops.states(paths, recs)
        yield pod, recs, sts, ops.status(sts)


def list_pods(*, quiet, filters, fmt, noheading, trunc, ctr_names, ctr_ids, ctr_status, latest, sort) -> None:
    from rootless.errors import UsageError
    from rootless.pods import views
    views.check_filters(filters)
    if sort not in ("created", "id", "name", "number"):
        raise UsageError(f"invalid --sort {sort!r}", hint="created, id, name or number")
    paths = _paths()
    rows = [r for r in _pod_rows(paths) if views.matches(*r, filters)]
    key = {"created": lambda r: -r[0].created, "id": lambda r: r[0].id, "name": lambda r: r[0].name,
           "number": lambda r: len(r[1])}[sort]
    rows.sort(key=key)
    if latest:
        rows = sorted(rows, key=lambda r: -r[0].created)[:1]
    if quiet:
        for pod, *_ in rows:
            print(pod.id[:12] if trunc else pod.id)
        return
    if fmt in ("json", "{{json .}}"):
        print(json.dumps([views.ps_json(*r) for r in rows], indent=4))
        return
    now = time.time()
    fields = [views.ps_fields(*r, now, trunc) for r in rows]
    if fmt:
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, fields, names=PS_HEADERS, heading=not noheading))
        return
    cols = ["ID", "Name", "Status", "Created", "InfraID"]
    if ctr_ids:
        cols.append("ContainerIds")
    if ctr_names:
        cols.append("ContainerNames")
    if ctr_status:
        cols.append("ContainerStatuses")
    if not (ctr_ids or ctr_names or ctr_status):
        cols.append("NumberOfContainers")
    from rootless.images.render import table
    text = table([[str(f[c]) for c in cols] for f in fields], [PS_HEADERS[c] for c in cols])
    if noheading:
        text = "\n".join(text.split("\n")[1:])
    if text:
        print(text)


@pod_app.command("inspect")
def inspect(
    pods: List[str] = typer.Argument(None, metavar="POD..."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="json (default) or a Go template"),
    latest: bool = typer.Option(False, "--latest", "-l", help="the most recently created pod"),
) -> None:
    """Show pods' configuration and state (one pod: an object, several: a list, as podman 4)."""
    inspect_pods(pods or [], fmt, latest)


def inspect_pods(names: List[str], fmt: Optional[str], latest: bool) -> None:
    from rootless.errors import UsageError
    from rootless.pods import ops, views
    from rootless.pods.store import PodStore
    paths = _paths()
    store = PodStore(paths)
    if latest:
        names = [p.id for p in store.all()[:1]]
    if not names:
        raise UsageError("pod inspect needs a pod", hint="rl pod inspect NAME")
    out = []
    for n in names:
        pod = store.lookup(n)
        recs = ops.members(paths, pod)
        sts = ops.states(paths, recs)
        out.append(views.inspect(pod, recs, sts, ops.status(sts)))
    if fmt and fmt != "json":
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, out))
        return
    print(json.dumps(out[0] if len(out) == 1 else out, indent=5))


@pod_app.command("start")
def start(
    pods: List[str] = typer.Argument(None, metavar="POD..."),
    all_: bool = typer.Option(False, "--all", "-a", help="every pod"),
    pod_id_file: List[str] = typer.Option([], "--pod-id-file", help="read the pod ID from this file"),
) -> None:
    """Start pods: the infra container first, then the others (what each requires first)."""
    from rootless.pods import ops
    _each(_targets([*(pods or []), *_id_files(pod_id_file)], all_, "start"), lambda n: ops.start(_paths(), n))


def _id_files(files: List[str]) -> List[str]:
    out = []
    for f in files:
        try:
            with open(f) as fh:
                out.append(fh.read().strip())
        except OSError as e:
            from rootless.errors import UsageError
            raise UsageError(f"--pod-id-file {f}: {e.strerror}") from None
    return out


@pod_app.command("stop")
def stop(
    pods: List[str] = typer.Argument(None, metavar="POD..."),
    all_: bool = typer.Option(False, "--all", "-a", help="every pod"),
    ignore: bool = typer.Option(False, "--ignore", "-i", help="a missing pod is not an error"),
    time_: Optional[float] = typer.Option(None, "--time", "-t", help="seconds to wait before SIGKILL"),
    pod_id_file: List[str] = typer.Option([], "--pod-id-file", help="read the pod ID from this file"),
) -> None:
    """Stop pods: their containers, the infra last."""
    from rootless.pods import ops
    _each(_targets([*(pods or []), *_id_files(pod_id_file)], all_, "stop"),
          lambda n: ops.stop(_paths(), n, time_), ignore)


@pod_app.command("restart")
def restart(
    pods: List[str] = typer.Argument(None, metavar="POD..."),
    all_: bool = typer.Option(False, "--all", "-a", help="every pod"),
) -> None:
    """Stop and start pods again, in dependency order."""
    from rootless.pods import ops
    _each(_targets(pods, all_, "restart"), lambda n: ops.restart(_paths(), n))


@pod_app.command("kill")
def kill(
    pods: List[str] = typer.Argument(None, metavar="POD..."),
    all_: bool = typer.Option(False, "--all", "-a", help="every pod"),
    signal_: str = typer.Option("KILL", "--signal", "-s", help="signal to send (name or number)"),
) -> None:
    """Send a signal to the running containers of pods."""
    from rootless.pods import ops
    _each(_targets(pods, all_, "kill"), lambda n: ops.kill(_paths(), n, signal_))


@pod_app.command("pause")
def pause(
    pods: List[str] = typer.Argument(None, metavar="POD..."),
    all_: bool = typer.Option(False, "--all", "-a", help="every pod"),
) -> None:
    """Freeze every running container of pods."""
    from rootless.pods import ops
    _each(_targets(pods, all_, "pause"), lambda n: ops.pause(_paths(), n))


@pod_app.command("unpause")
def unpause(
    pods: List[str] = typer.Argument(None, metavar="POD..."),
    all_: bool = typer.Option(False, "--all", "-a", help="every pod"),
) -> None:
    """Thaw every paused container of pods."""
    from rootless.pods import ops
    _each(_targets(pods, all_, "unpause"), lambda n: ops.pause(_paths(), n, unpause=True))


@pod_app.command("rm")
def rm(
    pods: List[str] = typer.Argument(None, metavar="POD..."),
    force: bool = typer.Option(False, "--force", "-f", help="stop and remove running containers too"),
    all_: bool = typer.Option(False, "--all", "-a", help="every pod"),
    ignore: bool = typer.Option(False, "--ignore", "-i", help="a missing pod is not an error"),
    time_: Optional[float] = typer.Option(None, "--time", "-t", help="seconds to wait before SIGKILL (with -f)"),
    pod_id_file: List[str] = typer.Option([], "--pod-id-file", help="read the pod ID from this file"),
) -> None:
    """Remove pods and their containers."""
    from rootless.pods import ops
    names = [*(pods or []), *_id_files(pod_id_file)]
    if all_:
        names = _targets(None, True, "rm")
    elif not names:
        _targets(None, False, "rm")
    def rm_one(n):
        from rootless.pods.store import PodNotFound
        try:
            return ops.remove(_paths(), n, force=force, timeout=time_)
        except PodNotFound as e:
            e.exit_code = 1  # podman's status for a pod that is not there
            raise
    _each(names, rm_one, ignore)


@pod_app.command("prune")
def prune(force: bool = typer.Option(False, "--force", "-f", help="do not ask")) -> None:
    """Remove every pod none of whose containers runs."""
    from rootless.pods import ops
    if not force:
        from rootless.cli.prompt import confirm
        if not confirm("WARNING! This will remove all stopped/exited pods.."):
            return
    for pid in ops.prune(_paths()):
        print(pid)


def _pod_members(name: str, running: bool):
    from rootless.containers.records import Store
    from rootless.pods import ops
    from rootless.pods.store import PodStore
    paths = _paths()
    pod = PodStore(paths).lookup(name)
    recs = ops.members(paths, pod)
    if running:
        store = Store(paths)
        recs = [r for r in recs if store.state(r).get("state") == "running"]
    return pod, recs


@pod_app.command("top")
def top(pod: str = typer.Argument(...), descriptors: List[str] = typer.Argument(None)) -> None:
    """The processes of a pod's running containers (podman's descriptors)."""
    from rootless.cli import ctrview
    from rootless.containers import top as ctop
    from rootless.containers.execsettings import running_pid
    from rootless.containers.records import Store
    from rootless.errors import ContainerError
    from rootless.images.render import table
    descs = ctop.parse_descriptors(descriptors or [])
    p, recs = _pod_members(pod, running=True)
    if not recs:
        raise ContainerError(f"pod {p.name} has no running containers", hint=f"rl pod start {p.name}")
    store = Store(_paths())
    rows = []
    for rec in recs:
        pid1 = running_pid(store, rec)
        snap = ctop.Snapshot(pid1)
        members = set(ctrview._members(pid1))
        rows += [r for r in (ctop.process_row(pid, descs, snap, members) for pid in sorted(members)) if r is not None]
    print(table(rows, ctop.header(descs)))


@pod_app.command("logs")
def logs(
    pod: str = typer.Argument(...),
    container: Optional[str] = typer.Option(None, "--container", "-c", help="only this container of the pod"),
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing while they run"),
    since: Optional[str] = typer.Option(None, "--since", help="RFC3339 time, Unix time or duration (10m)"),
    until: Optional[str] = typer.Option(None, "--until", help="RFC3339 time, Unix time or duration"),
    tail: int = typer.Option(-1, "--tail", help="the last N lines of each (-1: all)"),
    timestamps: bool = typer.Option(False, "--timestamps", "-t", help="prefix each line with its time"),
    names: bool = typer.Option(False, "--names", "-n", help="prefix with names, not IDs"),
    color: bool = typer.Option(False, "--color", help="a colour per container"),
) -> None:
    """The output of a pod's containers (not the infra's), each line prefixed as podman's."""
    from rootless.cli import ctrview
    from rootless.errors import ContainerNotFound
    p, recs = _pod_members(pod, running=False)
    recs = [r for r in recs if not (r.request or {}).get("pod_infra")]
    if container:
        recs = [r for r in recs if r.name == container or r.id.startswith(container)]
        if not recs:
            raise ContainerNotFound(f"container {container} is not in pod {p.name}")
    for i, rec in enumerate(recs):
        ctrview.logs(_paths(), rec.id, follow=follow and len(recs) == 1, since=since, until=until, tail=tail,
                     timestamps=timestamps, prefix="name" if names else "id", color=i if color else None)


@pod_app.command("stats")
def stats(
    pods: Optional[List[str]] = typer.Argument(None, metavar="[POD...]"),
    all_: bool = typer.Option(False, "--all", "-a", help="every pod"),
    no_stream: bool = typer.Option(False, "--no-stream", help="one sample, then exit"),
    no_reset: bool = typer.Option(False, "--no-reset", help="accepted, as podman's"),
    fmt: Optional[str] = typer.Option(None, "--format", help="json, or a table (default)"),
) -> None:
    """Resource usage of pods' running containers (their cgroups), as `rl stats`."""
    from rootless.cli import cgroups as cgcli
    from rootless.pods.store import PodStore
    names = pods or ([] if not all_ else [p.id for p in PodStore(_paths()).all()])
    if not names:
        names = [p.id for p in PodStore(_paths()).all()]
    ids = [r.id for n in names for r in _pod_members(n, running=True)[1]]
    if not ids:
        return
    cgcli.stats_cmd(containers=ids, no_stream=no_stream, fmt=fmt, interval=1.0)
