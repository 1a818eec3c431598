"""The user-network engine API: what `rl network ...` (and any other face:
compose, kube, a REST service) calls. Functions take the store's Paths and
plain arguments, return plain data (Network records, podman-shaped dicts,
lists of names) and raise rootless.errors types; they never print.

    create(paths, name, subnet, gateway, driver, labels) -> Network
    ls(paths, filters) -> [Network]           podman's name/id/driver/label filters
    inspect(paths, names) -> [dict]           podman's `network inspect` shape + live members
    exists(paths, name) -> bool
    members(paths, name) -> [container name]  running containers on the network
    remove(paths, name, force) -> bool        refuses one in use; False: missing and force
    prune(paths) -> [name]                    every network no running container uses

The configuration files are network/networks.py's; the live members (who is
on a network now) are network/usernet.py's."""

from __future__ import annotations

from rootless.config import Paths
from rootless.errors import ContainerError, UsageError
from rootless.network import networks

FILTER_KEYS = ("name", "id", "driver", "label", "label!")


def create(paths: Paths, name: str, subnet: str | None = None, gateway: str | None = None,
           driver: str = "bridge", labels: dict | None = None) -> networks.Network:
    if driver != "bridge":
        raise UsageError(f"--driver {driver}: only bridge is supported")
    net = networks.create(paths, name, subnet, gateway, labels or {})
    from rootless import events  # here: the commands that emit nothing never load it
    events.emit(paths, "network", "create", id=net.id, name=net.name, network=net.name)
    return net


def members(paths: Paths, name: str) -> list[str]:
    """Running containers on a network (their first names, from the live members file)."""
    from rootless.network import usernet  # the running side (ctypes, locks): not for `network ls`
    return usernet.member_names(paths, name)


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    """KEY=VALUE filters grouped by key (a UsageError for an unknown one)."""
    by_key: dict[str, list[str]] = {}
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq or k not in FILTER_KEYS:
            raise UsageError(f"invalid filter {f!r}", hint="name=, id=, driver=, label=KEY[=VALUE]")
        by_key.setdefault(k, []).append(v)
    return by_key


def _matches(n: networks.Network, k: str, v: str) -> bool:
    import re

    def label_ok() -> bool:
        key, eq, val = v.partition("=")
        return key in n.labels and (not eq or n.labels[key] == val)
    if k == "name":
        return re.search(v, n.name) is not None
    if k == "id":
        return n.id.startswith(v)
    if k == "driver":
        return n.driver == v
    return label_ok() if k == "label" else not label_ok()


def ls(paths: Paths, filters: list[str] = ()) -> list[networks.Network]:
    """User networks, filtered as podman's `network ls`: name (regex), id
    (prefix), driver, label (KEY or KEY=VALUE), label!; one key's values OR
    together, different keys AND."""
    by_key = parse_filters(list(filters))
    return [n for n in networks.all_networks(paths)
            if all(any(_matches(n, k, v) for v in vals) for k, vals in by_key.items())]


def inspect(paths: Paths, names: list[str]) -> list[dict]:
    """podman's `network inspect` documents, with the running members as "containers"."""
    out = []
    for name in names:
        d = networks.inspect(networks.load(paths, name))
        d["containers"] = members(paths, name)
        out.append(d)
    return out


def exists(paths: Paths, name: str) -> bool:
    return networks.exists(paths, name)


def remove(paths: Paths, name: str, force: bool = False) -> bool:
    """Remove a network; a ContainerError when a running container uses it.
    force: a missing one is no error (False: there was nothing to remove)."""
    if force and not networks.exists(paths, name):
        return False
    users = members(paths, name)
    if users:
        raise ContainerError(f"network {name} is in use by {', '.join(users)}", hint="stop those containers first")
    _remove(paths, name)
    return True


def prune(paths: Paths) -> list[str]:
    """Remove every user network no running container uses; their names."""
    gone = []
    for n in networks.all_networks(paths):
        if not members(paths, n.name):
            _remove(paths, n.name)
            gone.append(n.name)
    return gone


def _remove(paths: Paths, name: str) -> None:
    try:
        nid = networks.load(paths, name).id
    except Exception:  # noqa: BLE001 - the id only names the event; remove reports what is wrong
        nid = ""
    networks.remove(paths, name)
    from rootless import events
    events.emit(paths, "network", "remove", id=nid, name=name, network=name)
