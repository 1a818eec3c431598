"""Pod operations: create (with its infra container), join a container to a
pod at create, and the lifecycle of all a pod's containers together. Plain
arguments in, records and plain data out; errors are rootless.errors types;
nothing prints.

The infra container is an ordinary rl container: rl's own skeleton root
filesystem (PodStore.infra_rootfs: mount points only) with the host's
statically linked catatonit bound in read-only, running `catatonit -P`
(pause: it sleeps, reaps and exits on SIGTERM), as podman's pause image does
(which podman builds locally around the same catatonit). No image and no
registry are involved. It holds the pod's network (with its published ports),
IPC and UTS namespaces; a member joins them at start (the network through
--network container:INFRA, IPC and UTS through RunRequest.pod_share) and lists
the infra in --requires, so that starting a member starts the infra first."""

from __future__ import annotations

import os

from rootless import tools
from rootless.config import Paths
from rootless.containers.records import ACTIVE, Record, Store
from rootless.errors import ContainerError, ContainerNotFound, ContainerRunning, RlError, UsageError
from rootless.pods.store import Pod, PodNotFound, PodStore

NAMESPACES = ("cgroup", "ipc", "net", "pid", "uts")  # what podman accepts in --share
SUPPORTED = ("ipc", "net", "uts")                    # what rl's pods share
DEFAULT_SHARE = "ipc,net,uts"


def parse_share(value: str | None, infra: bool) -> list[str]:
    """--share as podman reads it: comma-separated kinds, "none" or "" for
    nothing; None is the default (ipc,net,uts, or nothing without an infra)."""
    if value is None:
        value = DEFAULT_SHARE if infra else ""
    out: list[str] = []
    for kind in (k.strip() for k in value.split(",")):
        if kind in ("", "none"):
            continue
        if kind not in NAMESPACES:
            raise UsageError(f"invalid kernel namespace to share: {kind}. "
                             "Options are: cgroup, ipc, net, pid, uts or none")
        if kind not in SUPPORTED:
            raise UsageError(f"--share {kind}: rl's pods share the ipc, net and uts namespaces only",
                             hint="--share ipc,net,uts (the default), a subset, or none")
        if kind not in out:
            out.append(kind)
    if out and not infra:
        raise UsageError(f"cannot set share({','.join(out)}) namespaces without an infra container",
                         hint="drop --infra=false, or add --share= (as podman-compose does)")
    return sorted(out)


def _catatonit() -> str:
    path = tools.find("catatonit")
    if not path:
        raise UsageError("a pod's infra container runs catatonit, which is not installed",
                         hint="install catatonit (apt-get install catatonit), or create the pod without one: "
                              "rl pod create --infra=false --share=")
    return path


def create(paths: Paths, *, name: str | None = None, labels: dict | None = None, infra: bool = True,
           share: str | None = None, hostname: str | None = None, add_host: list | None = None,
           dns: list | None = None, dns_search: list | None = None, dns_option: list | None = None,
           publish: list | None = None, network: list | None = None, no_hosts: bool = False,
           share_parent: bool = True, infra_name: str | None = None, exit_policy: str = "continue",
           create_command: list | None = None, storage_driver: str | None = None) -> Pod:
    """Record a pod and create (not start) its infra container."""
    kinds = parse_share(share, infra)
    if exit_policy == "stop":  # podman's stop ends the infra with the last container; rl has no such watcher
        raise UsageError("--exit-policy stop is not supported by rl: the pod's infra container keeps running "
                         "after its last container exits", hint="--exit-policy continue (the default), then "
                                                                "rl pod stop POD")
    if exit_policy != "continue":
        raise UsageError(f"invalid --exit-policy {exit_policy!r}", hint="continue or stop")
    netopts = (publish, add_host, dns, dns_search, dns_option, network, hostname, no_hosts)
    if not infra and any(netopts):
        raise UsageError("the network, DNS, host name and port options of a pod need its infra container",
                         hint="drop --infra=false (podman refuses them too)")
    if infra and "net" not in kinds and any((publish, add_host, dns, dns_search, dns_option, network)):
        raise UsageError("a pod's network options need --share to include net",
                         hint="--share ipc,net,uts (the default)")
    store = PodStore(paths)
    pid = os.urandom(32).hex()
    pname = name or _generated_name(store)
    catatonit = _catatonit() if infra else None
    pod = Pod(pid, pname, labels=dict(labels or {}), infra=infra, share=kinds, hostname=hostname or "",
              add_host=list(add_host or []), dns=list(dns or []), dns_search=list(dns_search or []),
              dns_option=list(dns_option or []), publish=list(publish or []), network=list(network or []),
              no_hosts=no_hosts, share_parent=share_parent, exit_policy=exit_policy,
              create_command=list(create_command or []))
    store.create(pod)
    if not infra:
        _event(paths, pod, "create")
        return pod
    try:
        rec = _create_infra(paths, store, pod, catatonit, infra_name, storage_driver)
    except BaseException:
        store.remove(pod)
        raise
    pod.infra_id, pod.infra_name = rec.id, rec.name
    store.save(pod)
    _event(paths, pod, "create")
    return pod


def _event(paths: Paths, pod: Pod, status: str) -> None:
    from rootless import events  # here: the commands that emit nothing never load it
    events.emit(paths, "pod", status, id=pod.id, name=pod.name)


def _generated_name(store: PodStore) -> str:
    from rootless.containers.records import _ADJ, _NOUN
    import random
    for _ in range(100):
        name = f"{random.choice(_ADJ)}_{random.choice(_NOUN)}"
        if not store.exists(name):
            return name
    return os.urandom(6).hex()


def _create_infra(paths: Paths, store: PodStore, pod: Pod, catatonit: str, infra_name: str | None,
                  storage_driver: str | None) -> Record:
    from rootless.containers import run as engine
    nets = pod.network
    from rootless import network
    # on a user network the pod answers to its own name too (the infra's alias)
    aliases = [pod.name] if nets and network.parse(nets[0]).mode == "bridge" else []
    req = engine.RunRequest(
        image=str(store.infra_rootfs()), rootfs=True, command=["/catatonit", "-P"],
        name=infra_name or f"{pod.short_id}-infra",
        hostname=(pod.hostname or pod.name) if "uts" in pod.share else None,
        volumes=[f"{catatonit}:/catatonit:ro"],
        network=None if not nets else nets[0] if len(nets) == 1 else list(nets),
        publish=list(pod.publish), dns=list(pod.dns), dns_search=list(pod.dns_search),
        dns_option=list(pod.dns_option), add_host=list(pod.add_host), no_hosts=pod.no_hosts,
        network_alias=aliases, storage_driver=storage_driver, label=[f"{k}={v}" for k, v in pod.labels.items()],
        pod=pod.id, pod_infra=True, pod_share=list(pod.share), stop_signal="TERM", stop_timeout="10")
    return engine.create(paths, req)


def attach_request(paths: Paths, req, storage_driver: str | None = None) -> None:
    """`run/create --pod NAME|new:NAME`: the request made a member of the pod
    (checked as podman checks it): its ID, the namespaces it joins from the
    infra container, which it also --requires (started first)."""
    if not req.pod:
        return
    if req.pod_infra:
        return  # the infra container itself (created by create() above)
    store = PodStore(paths)
    if req.pod.startswith("new:"):
        name = req.pod[4:]
        if not name:
            raise UsageError("--pod new: needs a name", hint="--pod new:NAME")
        if store.exists(name):
            raise ContainerError(f'the pod name "{name}" is already in use',
                                 hint=f"--pod {name} joins it")
        _check_member(req, Pod("", name, share=parse_share(None, True), infra=True))
        pod = create(paths, name=name, storage_driver=storage_driver)
    else:
        pod = store.lookup(req.pod)
        _check_member(req, pod)
    req.pod, req.pod_share = pod.id, list(pod.share)
    if not pod.infra:
        req.pod_share = []
        return
    req.pod_infra_id = pod.infra_id
    own_network = req.network not in (None, [])
    if "net" in pod.share and not own_network:
        req.network = f"container:{pod.infra_id}"
    elif own_network:
        req.pod_share = [k for k in req.pod_share if k != "net"]
    if "uts" in pod.share:
        req.hostname = pod.hostname or pod.name
    if pod.infra_id not in (req.requires or []):
        req.requires = [*(req.requires or []), pod.infra_id]


def _check_member(req, pod: Pod) -> None:
    """podman's refusals (its words) for a container joining a pod."""
    net = "net" in pod.share and req.network in (None, [])
    if net and (req.publish or req.publish_all):
        raise UsageError("invalid config provided: published or exposed ports must be defined when the pod is "
                         "created: network cannot be configured when it is shared with a pod",
                         hint=f"publish them on the pod: rl pod create -p ... {pod.name}")
    if net and req.add_host:
        raise UsageError("invalid config provided: extra host entries must be specified on the pod: network "
                         "cannot be configured when it is shared with a pod",
                         hint="rl pod create --add-host NAME:IP ...")
    if req.userns == "keep-id" and pod.share:
        # keep-id nests a user namespace of its own, from which the infra's namespaces cannot be joined
        raise UsageError(f"--userns=keep-id in pod {pod.name}, which shares namespaces: not supported by rl",
                         hint="run it outside the pod, or in a pod created with --share=")
    if "uts" in pod.share and req.hostname:
        raise UsageError("invalid config provided: cannot set hostname when joining the pod UTS namespace: "
                         "invalid configuration", hint="set it on the pod: rl pod create --hostname NAME")
    if req.network not in (None, []) and any(k in pod.share for k in ("ipc", "uts")):
        from rootless import network
        first = req.network[0] if isinstance(req.network, list) else req.network
        mode = network.parse(first).mode
        if mode in ("bridge", "container"):
            # the user network's namespace and the infra's IPC/UTS belong to different user namespaces
            raise UsageError(f"--network {first} in pod {pod.name}, which shares its ipc/uts namespaces: "
                             "rl cannot join both", hint="give the pod the network instead: "
                                                         "rl pod create --network NAME, then --pod without --network")


# --- members and state

def members(paths: Paths, pod: Pod) -> list[Record]:
    """The pod's containers, infra first, then oldest first (start order)."""
    out = [r for r in Store(paths).all(damaged=False) if (r.request or {}).get("pod") == pod.id]
    out.sort(key=lambda r: (not (r.request or {}).get("pod_infra"), r.created))
    return out


def states(paths: Paths, recs: list[Record]) -> list[str]:
    store = Store(paths)
    return [store.state(r).get("state", "created") for r in recs]


def status(ctr_states: list[str]) -> str:
    """podman's pod status from its containers' states."""
    n = len(ctr_states)
    count = {s: ctr_states.count(s) for s in set(ctr_states)}
    running = count.get("running", 0) + count.get("starting", 0) + count.get("stopping", 0)
    stopped = count.get("exited", 0) + count.get("stopped", 0)
    if n == 0 or count.get("created", 0) == n:
        return "Created"
    if running == n:
        return "Running"
    if running:
        return "Degraded"
    if count.get("paused", 0) == n:
        return "Paused"
    if stopped == n:
        return "Exited"
    if stopped:
        return "Stopped"
    return "Created"


# --- lifecycle: every container of the pod, the infra first up and last down

def start(paths: Paths, name: str) -> Pod:
    from rootless.containers import detached
    pod = PodStore(paths).lookup(name)
    errors = []
    for rec in members(paths, pod):  # detached.start_detached starts what each --requires first
        try:
            detached.start_detached(paths, rec)
        except RlError as e:
            errors.append(e)
    _raise_first(errors)
    _event(paths, pod, "start")
    return pod


def stop(paths: Paths, name: str, timeout: float | None = None) -> Pod:
    from rootless.containers import lifecycle
    pod = PodStore(paths).lookup(name)
    _event(paths, pod, "stop")
    errors = []
    for rec in reversed(members(paths, pod)):
        try:
            lifecycle.stop(paths, rec.id, timeout)
        except ContainerNotFound:
            continue
        except RlError as e:
            errors.append(e)
    _raise_first(errors)
    return pod


def restart(paths: Paths, name: str, timeout: float | None = None) -> Pod:
    stop(paths, name, timeout)
    return start(paths, name)


def kill(paths: Paths, name: str, sig: str | None = None) -> Pod:
    from rootless.containers import lifecycle
    pod = PodStore(paths).lookup(name)
    store = Store(paths)
    live = [r for r in reversed(members(paths, pod)) if store.state(r).get("state") == "running"]
    if not live:
        raise ContainerError(f"pod {pod.name} has no running containers to signal", hint="rl pod start " + pod.name)
    for rec in live:
        try:
            lifecycle.kill(paths, rec.id, sig or "KILL")
        except ContainerError:
            continue  # it exited meanwhile
    _event(paths, pod, "kill")
    return pod


def pause(paths: Paths, name: str, unpause: bool = False) -> Pod:
    from rootless.containers import lifecycle
    pod = PodStore(paths).lookup(name)
    store = Store(paths)
    want = "paused" if unpause else "running"
    errors = []
    for rec in members(paths, pod):
        if store.state(rec).get("state") != want:
            continue
        try:
            (lifecycle.unpause if unpause else lifecycle.pause)(paths, rec.id)
        except RlError as e:
            errors.append(e)
    _raise_first(errors)
    _event(paths, pod, "unpause" if unpause else "pause")
    return pod


def remove(paths: Paths, name: str, force: bool = False, timeout: float | None = None) -> Pod:
    """The pod and all its containers. Without force a pod with a running
    container is refused whole (nothing removed)."""
    from rootless.containers import lifecycle
    pods = PodStore(paths)
    pod = pods.lookup(name)
    recs = members(paths, pod)
    store = Store(paths)
    if not force:
        busy = [r.name for r in recs if store.state(r).get("state") in ACTIVE]
        if busy:
            raise ContainerRunning(f"pod {pod.name} has running containers ({', '.join(busy)})",
                                   hint=f"stop it first (rl pod stop {pod.name}), or: rl pod rm -f {pod.name}")
    elif timeout is not None:
        stop(paths, pod.id, timeout)
    from rootless import volumes
    for rec in reversed(recs):  # members, then the infra (which holds their namespaces)
        try:
            lifecycle.remove(paths, rec.id, force=True, pod_infra=True)
        except ContainerNotFound:
            continue
        volumes.remove_anonymous(paths, (rec.request or {}).get("anon_volumes"))
    pods.remove(pod)
    _event(paths, pod, "remove")
    return pod


def remove_with_infra(paths: Paths, force: bool = False) -> list[RlError]:
    """`rm --all`: as podman's, every pod with an infra container goes with
    its containers (a pod without one stays); the failures, one per pod."""
    errors: list[RlError] = []
    for pod in PodStore(paths).all():
        if pod.infra:
            try:
                remove(paths, pod.id, force=force)
            except RlError as e:
                errors.append(e)
    return errors


def prune(paths: Paths) -> list[str]:
    """Every pod none of whose containers runs (podman: stopped and exited pods)."""
    out = []
    store = Store(paths)
    for pod in PodStore(paths).all():
        if any(store.state(r).get("state") in ACTIVE for r in members(paths, pod)):
            continue
        try:
            remove(paths, pod.id)
            out.append(pod.id)
        except (RlError, PodNotFound):
            continue
    return out


def _raise_first(errors: list[RlError]) -> None:
    if errors:
        raise errors[0]

