"""Links, addresses and routes over netlink: the ONLY module that imports
pyroute2, and only in helper processes of user networks (the import costs
~150 ms; `rl run --network none` and the default slirp4netns path never
load it). Every function works on the network namespace the calling
process is in."""

from __future__ import annotations

import errno


def _ipr():
    from pyroute2 import IPRoute
    return IPRoute()


def preload() -> None:
    """Import pyroute2 in this process (it starts no thread), so that the forks it then makes to
    configure links find it loaded instead of importing it each: the rootless netns keeper, once
    for every container start (network/keeperctl.py)."""
    import pyroute2  # noqa: F401


def ensure_bridge(name: str, gateway: str, prefixlen: int, mtu: int = 1500) -> bool:
    """A bridge with the network's gateway address, up; True when created now."""
    ipr = _ipr()
    try:
        found = ipr.link_lookup(ifname=name)
        if not found:
            try:
                ipr.link("add", ifname=name, kind="bridge")
            except Exception as e:
                if getattr(e, "code", None) != errno.EEXIST:
                    raise
            found = ipr.link_lookup(ifname=name)
            idx = found[0]
            try:
                ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
            except Exception as e:
                if getattr(e, "code", None) != errno.EEXIST:
                    raise
            ipr.link("set", index=idx, mtu=mtu, state="up")
            return True
        return False
    finally:
        ipr.close()


def add_veth(bridge: str, host_name: str, peer_name: str, netns_fd: int) -> None:
    """A veth pair: host_name enslaved to bridge and up, peer created in
    netns_fd. One request: creating the peer here and moving it after (and
    enslaving in a request of its own) took ~22 ms against ~2 ms, the move
    being a device unregistered in one namespace and registered in the other."""
    ipr = _ipr()
    try:
        br = ipr.link_lookup(ifname=bridge)[0]
        ipr.link("add", ifname=host_name, kind="veth", master=br, state="up",
                 peer={"ifname": peer_name, "net_ns_fd": netns_fd})
    finally:
        ipr.close()


def configure_inside(peer_name: str, ifname: str, address: str, prefixlen: int, gateway: str | None,
                     mac: str | None = None) -> None:
    """In the container's namespace: rename, MAC (--mac-address), address,
    up, default route (when gateway is given)."""
    ipr = _ipr()
    try:
        idx = ipr.link_lookup(ifname=peer_name)[0]
        ipr.link("set", index=idx, ifname=ifname)
        if mac:
            ipr.link("set", index=idx, address=mac)
        ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
        ipr.link("set", index=idx, state="up")
        lo = ipr.link_lookup(ifname="lo")
        if lo:
            ipr.link("set", index=lo[0], state="up")
        if gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway)
    finally:
        ipr.close()


def free_ifname(prefix: str) -> str:
    """The lowest PREFIXN not yet a link here (eth0, eth1, ...)."""
    ipr = _ipr()
    try:
        taken = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    finally:
        ipr.close()
    n = 0
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def delete_link(name: str) -> None:
    ipr = _ipr()
    try:
        found = ipr.link_lookup(ifname=name)
        if found:
            ipr.link("del", index=found[0])
    finally:
        ipr.close()
