"""`rl network connect` / `disconnect`: a container joins or leaves a user
network. The record changes (the next start uses it); a running container
also gets (or loses) its ethN, address and names at once, as podman's."""

from __future__ import annotations

from rootless.config import Paths
from rootless.containers.records import Store, write_json
from rootless.containers.run import RunRequest, user_networks
from rootless.errors import ContainerError, RuntimeSetupError, UsageError
from rootless.network import networks, random_mac, usernet
from rootless.plain import asdict


def _save(store: Store, rec, req: RunRequest, joined: list[tuple[str, list[str], str | None]]) -> None:
    """joined (name, aliases, ip) into the request: one network in podman's
    single form (network, network_alias, ip), several as req.networks."""
    if len(joined) == 1:
        name, aliases, ip = joined[0]
        req.network, req.network_alias, req.ip, req.networks = name, list(aliases), ip, []
    elif joined:
        req.network, req.network_alias, req.ip = joined[0][0], [], None
        req.networks = [{"name": n, "aliases": list(a), "ip": ip} for n, a, ip in joined]
    else:  # off its last network: only lo, as podman leaves it
        req.network, req.network_alias, req.ip, req.networks, req.mac_address = "none", [], None, [], None
    rec.request = asdict(req)
    write_json(store.container_dir(rec.id) / "config.json", rec.to_dict())


def _running_pid(store: Store, rec) -> int | None:
    st = store.state(rec)
    if st.get("state") not in ("running", "paused") or not st.get("pid"):
        return None
    from rootless.runtime.init import namespace_pid
    return namespace_pid(int(st["pid"]))


def connect(paths: Paths, container: str, net_name: str, aliases: list[str], ip: str | None) -> None:
    store = Store(paths)
    rec = store.lookup(container)
    net = networks.load(paths, net_name)  # an unknown network: its clear error
    with store.lock(rec):
        rec = store.load(rec.id)
        req = RunRequest(**rec.request)
        joined = user_networks(req)
        if not joined:
            mode = (req.network or "slirp4netns").partition(":")[0]
            raise ContainerError(f'container {rec.name} uses --network {mode}: "{mode}" is not supported by '
                                 "network connect", hint="only a container on user networks joins another")
        if any(name == net.name for name, _, _ in joined):
            raise ContainerError(f'container {rec.id} is already connected to network "{net.name}": '
                                 "network is already connected")
        pid = _running_pid(store, rec)
        if pid is not None:
            live = usernet.memberships(paths, rec.id)
            pinner = usernet.pinner_pid(paths)
            if not live or pinner is None:
                raise ContainerError(f"container {rec.name} is running but not on its networks",
                                     hint="restart it, then connect")
            owner = next(iter(live.values())).get("owner")
            mac = random_mac()
            addr = usernet.reserve(paths, net, rec.id, [rec.name, *aliases], ip, owner=owner, mac=mac)
            try:
                usernet.attach(paths, net, pinner, pid, addr, rec.id, mac=mac, default_route=False)
            except BaseException:
                usernet.leave(paths, net.name, rec.id)
                raise
            mine = next((m for m in live.values() if m.get("hosts")), None)
            if mine:
                usernet.publish_hosts(paths, net.name, rec.id, mine["hosts"], mine["base"])
            else:
                usernet.publish_hosts(paths, net.name)
        elif ip:
            import ipaddress
            try:
                if ipaddress.ip_address(ip) not in ipaddress.ip_network(net.subnet):
                    raise UsageError(f"--ip {ip} is not a host address of network {net.name} ({net.subnet})")
            except ValueError:
                raise UsageError(f"--ip {ip!r}: not an IP address") from None
        _save(store, rec, req, [*joined, (net.name, list(aliases), ip)])


def disconnect(paths: Paths, container: str, net_name: str, force: bool = False) -> None:
    store = Store(paths)
    rec = store.lookup(container)
    with store.lock(rec):
        rec = store.load(rec.id)
        req = RunRequest(**rec.request)
        joined = user_networks(req)
        if not any(name == net_name for name, _, _ in joined):
            if not networks.exists(paths, net_name):
                networks.load(paths, net_name)  # its "no such network" error
            raise ContainerError(f"container {rec.id} is not connected to network {net_name}: "
                                 "network is not connected")
        pid = _running_pid(store, rec)
        if pid is not None and net_name in usernet.memberships(paths, rec.id):
            pinner = usernet.pinner_pid(paths)
            try:
                if pinner is not None:
                    usernet.detach_link(paths, pinner, rec.id, net_name)
            except RuntimeSetupError:
                if not force:
                    raise
            finally:
                usernet.leave(paths, net_name, rec.id)
        _save(store, rec, req, [j for j in joined if j[0] != net_name])
