"""User networks' configuration: `rl network create/ls/inspect/rm/prune`.
One JSON file per network under the storage root; the running side (the
rootless namespace, bridges, members) is network/usernet.py."""

from __future__ import annotations

import os
import time

from rootless import fsutil, jsonio
from rootless.config import Paths, ensure_dir
from rootless.errors import ContainerError, UsageError
from rootless.names import valid_name
from rootless.plain import asdict, field, record

RESERVED = ("none", "host", "slirp4netns", "pasta", "private", "default", "bridge", "container", "ns")
POOL = "10.89.0.0/16"   # podman's default pool for its networks
# ipaddress (with json, pathlib: ~25 ms) is imported only by what computes
# addresses: `network exists`/`ls`/`inspect` are on compose's every `up`


@record
class Network:
    name: str
    id: str
    subnet: str
    gateway: str
    bridge: str
    created: float = field(default_factory=time.time)
    driver: str = "bridge"
    internal: bool = False   # outbound through the rootless netns's slirp4netns
    labels: dict = field(default_factory=dict)

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.rpartition("/")[2])  # create() wrote it in its canonical form


def _dir(paths: Paths):
    return paths.root / "networks"


def load(paths: Paths, name: str) -> Network:
    try:
        data = jsonio.loads((_dir(paths) / f"{name}.json").read_text())
    except (OSError, ValueError):
        raise ContainerError(f"network {name!r} not found", hint=f"create it: rl network create {name}") from None
    return Network(**data)


def exists(paths: Paths, name: str) -> bool:
    return (_dir(paths) / f"{name}.json").exists()


def all_networks(paths: Paths) -> list[Network]:
    d = _dir(paths)
    out = []
    for n in fsutil.record_files(d):
        try:
            out.append(Network(**jsonio.loads((d / n).read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return out


def _free_subnet(taken: list[str]):
    import ipaddress
    used = [ipaddress.ip_network(s) for s in taken]
    for sub in ipaddress.ip_network(POOL).subnets(new_prefix=24):
        if not any(sub.overlaps(u) for u in used):
            return sub
    raise ContainerError("no free subnet left in 10.89.0.0/16", hint="give one: rl network create --subnet CIDR")


def create(paths: Paths, name: str, subnet: str | None = None, gateway: str | None = None,
           labels: dict | None = None) -> Network:
    if not valid_name(name) or name in RESERVED:
        raise UsageError(f"invalid network name {name!r}",
                         hint="names match [a-zA-Z0-9][a-zA-Z0-9_.-]* and are not a --network mode")
    import ipaddress
    existing = all_networks(paths)
    if subnet:
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            raise UsageError(f"--subnet {subnet!r}: not a CIDR network") from None
        if net.version != 4 or net.prefixlen > 29:
            raise UsageError(f"--subnet {subnet}: an IPv4 network of /29 or larger is needed")
        for other in existing:
            if net.overlaps(ipaddress.ip_network(other.subnet)):
                raise UsageError(f"--subnet {subnet} overlaps network {other.name} ({other.subnet})")
    else:
        net = _free_subnet([n.subnet for n in existing])
    gw = gateway or str(net.network_address + 1)
    if ipaddress.ip_address(gw) not in net:
        raise UsageError(f"--gateway {gw} is not in {net}")
    import hashlib  # here: OpenSSL's load is most of `rl network ls`'s imports
    nid = hashlib.sha256(f"{name}{time.time()}{os.getpid()}".encode()).hexdigest()
    d = ensure_dir(_dir(paths))
    rec = Network(name, nid, str(net), gw, f"rl{nid[:10]}", labels=labels or {})
    path = d / f"{name}.json"
    tmp = d / f".{name}.{os.getpid()}.tmp"
    tmp.write_text(jsonio.dumps(asdict(rec)))
    try:
        os.link(tmp, path)  # atomic and exclusive: two creators, one winner
    except FileExistsError:
        raise ContainerError(f"network {name!r} already exists") from None
    finally:
        tmp.unlink()
    return rec


def remove(paths: Paths, name: str) -> None:
    load(paths, name)
    (_dir(paths) / f"{name}.json").unlink()


def inspect(net: Network) -> dict:
    """podman's `network inspect` shape, the fields that apply."""
    return {"name": net.name, "id": net.id, "driver": net.driver, "network_interface": net.bridge,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(net.created)),
            "subnets": [{"subnet": net.subnet, "gateway": net.gateway}], "ipv6_enabled": False,
            "internal": net.internal, "dns_enabled": False, "labels": net.labels,
            "ipam_options": {"driver": "host-local"}}
