"""`rl pod ...`, as podman's: flags -> rootless.pods -> podman's output.
Each command is declared in the command table (cli/table.py) and is a thin
shell over rootless.pods."""

from __future__ import annotations

import json
import sys
import time
from typing import List, Optional

from rootless.cli.options import OPTIONS
from rootless.cli.table import FLOAT, INT, LIST, MANY, ONE, OPTIONAL, STR, Arg, Opt, command, group

group("pod", "Manage pods.")


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


@command("pod create",
         Arg("name_arg", OPTIONAL, metavar="[NAME]"),
         Opt("name", "--name", "-n", kind=STR, help="the pod's name"),
         Opt("label", "--label", "-l", kind=LIST, help="KEY=VALUE"),
         Opt("infra", "--infra", kind=STR, default="true", flag_value="true",
             help="an infra container holds the shared namespaces (default true)"),
         Opt("infra_name", "--infra-name", kind=STR, help="the infra container's name"),
         Opt("share", "--share", kind=STR, help='namespaces shared: ipc,net,uts (default) or ""'),
         Opt("share_parent", "--share-parent", kind=STR, default="true", flag_value="true",
             help="accepted as podman's; rl gives each container its own cgroup"),
         Opt("hostname", "--hostname", kind=STR, help="the pod's host name (default its name)"),
         Opt("add_host", "--add-host", kind=LIST, help="NAME:IP line added to /etc/hosts"),
         Opt("dns", "--dns", kind=LIST, help="DNS server"),
         Opt("dns_search", "--dns-search", kind=LIST, help="DNS search domain"),
         Opt("dns_option", "--dns-option", kind=LIST, help="resolv.conf option"),
         Opt("no_hosts", "--no-hosts", help="keep the image's /etc/hosts"),
         Opt("publish", "--publish", "-p", kind=LIST, help="[IP:][HOST_PORT:]PORT[/tcp|udp], on the pod"),
         Opt("network", "--network", "--net", kind=LIST, help="the pod's network (slirp4netns, NAME, ...)"),
         Opt("exit_policy", "--exit-policy", kind=STR, default="continue", help="continue or stop"),
         Opt("pod_id_file", "--pod-id-file", kind=STR, help="write the pod's ID to this file"),
         Opt("replace", "--replace", help="remove a pod of the same name first"))
def create(name_arg, name, label, infra, infra_name, share, share_parent, hostname, add_host, dns, dns_search,
           dns_option, no_hosts, publish, network, exit_policy, pod_id_file, replace) -> None:
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


@command("pod exists", Arg("pod", ONE))
def exists(pod) -> None:
    """Exit 0 when the pod exists, 1 when not."""
    from rootless.errors import ExitStatus
    from rootless.pods.store import PodStore
    if not PodStore(_paths()).exists(pod):
        raise ExitStatus(1)


@command("pod ps", "pod ls", "pod list",
         Opt("quiet", "--quiet", "-q", help="IDs only"),
         Opt("filter_", "--filter", "-f", kind=LIST, help="id=, name=, label=, status=, ctr-names=, ..."),
         Opt("fmt", "--format", kind=STR, help="json, or a Go template"),
         Opt("noheading", "--noheading", help="no header line"),
         Opt("no_trunc", "--no-trunc", help="full IDs"),
         Opt("ctr_names", "--ctr-names", help="the containers' names"),
         Opt("ctr_ids", "--ctr-ids", help="the containers' IDs"),
         Opt("ctr_status", "--ctr-status", help="the containers' states"),
         Opt("latest", "--latest", "-l", help="the most recently created pod"),
         Opt("sort", "--sort", kind=STR, default="created", help="created, id, name or number"))
def ps(quiet, filter_, fmt, noheading, no_trunc, ctr_names, ctr_ids, ctr_status, latest, sort) -> None:
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


@command("pod inspect",
         Arg("pods", MANY, metavar="POD..."),
         Opt("fmt", "--format", "-f", kind=STR, help="json (default) or a Go template"),
         Opt("latest", "--latest", "-l", help="the most recently created pod"))
def inspect(pods, fmt, latest) -> None:
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


_ALL = Opt("all_", "--all", "-a", help="every pod")
_PODS = Arg("pods", MANY, metavar="POD...")
_ID_FILE = Opt("pod_id_file", "--pod-id-file", kind=LIST, help="read the pod ID from this file")


@command("pod start", _PODS, _ALL, _ID_FILE)
def start(pods, all_, pod_id_file) -> None:
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


@command("pod stop", _PODS, _ALL,
         Opt("ignore", "--ignore", "-i", help="a missing pod is not an error"),
         Opt("time_", "--time", "-t", kind=FLOAT, help="seconds to wait before SIGKILL"),
         _ID_FILE)
def stop(pods, all_, ignore, time_, pod_id_file) -> None:
    """Stop pods: their containers, the infra last."""
    from rootless.pods import ops
    _each(_targets([*(pods or []), *_id_files(pod_id_file)], all_, "stop"),
          lambda n: ops.stop(_paths(), n, time_), ignore)


@command("pod restart", _PODS, _ALL)
def restart(pods, all_) -> None:
    """Stop and start pods again, in dependency order."""
    from rootless.pods import ops
    _each(_targets(pods, all_, "restart"), lambda n: ops.restart(_paths(), n))


@command("pod kill", _PODS, _ALL,
         Opt("signal_", "--signal", "-s", kind=STR, default="KILL", help="signal to send (name or number)"))
def kill(pods, all_, signal_) -> None:
    """Send a signal to the running containers of pods."""
    from rootless.pods import ops
    _each(_targets(pods, all_, "kill"), lambda n: ops.kill(_paths(), n, signal_))


@command("pod pause", _PODS, _ALL)
def pause(pods, all_) -> None:
    """Freeze every running container of pods."""
    from rootless.pods import ops
    _each(_targets(pods, all_, "pause"), lambda n: ops.pause(_paths(), n))


@command("pod unpause", _PODS, _ALL)
def unpause(pods, all_) -> None:
    """Thaw every paused container of pods."""
    from rootless.pods import ops
    _each(_targets(pods, all_, "unpause"), lambda n: ops.pause(_paths(), n, unpause=True))


@command("pod rm", _PODS,
         Opt("force", "--force", "-f", help="stop and remove running containers too"),
         _ALL,
         Opt("ignore", "--ignore", "-i", help="a missing pod is not an error"),
         Opt("time_", "--time", "-t", kind=FLOAT, help="seconds to wait before SIGKILL (with -f)"),
         _ID_FILE)
def rm(pods, force, all_, ignore, time_, pod_id_file) -> None:
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


@command("pod prune", Opt("force", "--force", "-f", help="do not ask"))
def prune(force) -> None:
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


@command("pod top", Arg("pod", ONE), Arg("descriptors", MANY))
def top(pod, descriptors) -> None:
    """The processes of a pod's running containers (podman's descriptors)."""
    from rootless.containers import ops
    from rootless.errors import ContainerError
    from rootless.images.render import table
    p, recs = _pod_members(pod, running=True)
    if not recs:
        raise ContainerError(f"pod {p.name} has no running containers", hint=f"rl pod start {p.name}")
    header, rows = None, []
    for rec in recs:
        header, more = ops.top(_paths(), rec.id, descriptors)
        rows += more
    print(table(rows, header))


@command("pod logs",
         Arg("pod", ONE),
         Opt("container", "--container", "-c", kind=STR, help="only this container of the pod"),
         Opt("follow", "--follow", "-f", help="keep printing while they run"),
         Opt("since", "--since", kind=STR, help="RFC3339 time, Unix time or duration (10m)"),
         Opt("until", "--until", kind=STR, help="RFC3339 time, Unix time or duration"),
         Opt("tail", "--tail", kind=INT, default=-1, help="the last N lines of each (-1: all)"),
         Opt("timestamps", "--timestamps", "-t", help="prefix each line with its time"),
         Opt("names", "--names", "-n", help="prefix with names, not IDs"),
         Opt("color", "--color", help="a colour per container"))
def logs(pod, container, follow, since, until, tail, timestamps, names, color) -> None:
    """The output of a pod's containers (not the infra's), each line prefixed as podman's."""
    from rootless.cli import ctrview
    from rootless.errors import ContainerNotFound
    p, recs = _pod_members(pod, running=False)
    recs = [r for r in recs if not (r.request or {}).get("pod_infra")]
    if container:
        recs = [r for r in recs if r.name == container or r.id.startswith(container)]
        if not recs:
            raise ContainerNotFound(f"container {container} is not in pod {p.name}")
    from rootless.containers.ops import LogOptions
    # the members' lines prefixed and merged in time order, as `rl logs A B` (and podman's pod logs)
    ctrview.logs_many(_paths(), [r.id for r in recs], LogOptions(since=since, until=until, tail=tail, follow=follow),
                      timestamps=timestamps, prefix="name" if names else "id", color=color)


@command("pod stats",
         Arg("pods", MANY, metavar="[POD...]"),
         _ALL,
         Opt("no_stream", "--no-stream", help="one sample, then exit"),
         Opt("no_reset", "--no-reset", help="accepted, as podman's"),
         Opt("fmt", "--format", kind=STR, help="json, or a table (default)"))
def stats(pods, all_, no_stream, no_reset, fmt) -> None:
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
