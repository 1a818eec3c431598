"""`--network` parsed into a NetSpec, and the container's own address:
what the drivers (slirp4netns, usernet) and the package's facade share, so
no driver imports the package that imports it."""

from __future__ import annotations

from rootless.errors import UsageError

MODES = ("slirp4netns", "none", "host", "pasta", "container", "bridge")
SLIRP_CIDR = "10.0.2.0/24"
SLIRP_ADDR = "10.0.2.100"
SLIRP_GATEWAY = "10.0.2.2"
SLIRP_DNS = "10.0.2.3"

# podman's slirp4netns options (containers.conf network_cmd_options)
_SLIRP_OPTS = {"allow_host_loopback": bool, "enable_ipv6": bool, "mtu": int, "cidr": str,
               "outbound_addr": str, "outbound_addr6": str, "port_handler": str}
_PORT_HANDLERS = ("slirp4netns", "rl", "rootlesskit")


class NetSpec:
    """A parsed --network (a plain class: a dataclass costs start latency)."""

    __slots__ = ("mode", "options", "target")

    def __init__(self, mode: str = "slirp4netns", options: dict | None = None, target: str | None = None):
        self.mode = mode
        self.options = options if options is not None else {}   # slirp4netns/pasta options, typed
        self.target = target                                     # container:NAME / a user network's NAME

    def __eq__(self, other) -> bool:
        return isinstance(other, NetSpec) and (self.mode, self.options, self.target) == (
            other.mode, other.options, other.target)

    def __repr__(self) -> str:
        return f"NetSpec({self.mode!r}, {self.options!r}, {self.target!r})"

    @property
    def own_netns(self) -> bool:
        return self.mode not in ("host", "container")

    @property
    def needs_helper(self) -> bool:
        return self.mode in ("slirp4netns", "pasta", "bridge")

    @property
    def publishes(self) -> bool:
        return self.mode in ("slirp4netns", "pasta", "bridge")


def _bool(name: str, value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise UsageError(f"--network option {name}={value}: expected true or false")


def parse(value: str | None) -> NetSpec:
    """`--network` -> NetSpec; every mistake is a UsageError naming the fix."""
    value = value or "slirp4netns"
    mode, _, rest = value.partition(":")
    if mode in ("private", "default", ""):
        mode = "slirp4netns"
    if mode == "container":
        if not rest:
            raise UsageError("--network container: needs a container", hint="--network container:NAME")
        return NetSpec("container", target=rest)
    if mode == "bridge" and not rest:
        raise UsageError("--network bridge: rootless rl has no default bridge",
                         hint="create a network (rl network create NAME) and use --network NAME")
    if mode not in MODES or mode == "bridge":
        from rootless.names import valid_name
        name = mode if rest else value
        if not valid_name(name):
            raise UsageError(f"unsupported --network {value!r}",
                             hint="none, host, slirp4netns[:opts], pasta[:opts], container:NAME or a network's name")
        return NetSpec("bridge", _usernet_options(value, rest) if rest else {}, target=name)
    opts: dict = {}
    if mode == "slirp4netns" and rest:
        for item in rest.split(","):
            k, eq, v = item.partition("=")
            if k not in _SLIRP_OPTS or not eq:
                raise UsageError(f"unknown slirp4netns option {item!r}",
                                 hint=", ".join(f"{k}=..." for k in _SLIRP_OPTS))
            typ = _SLIRP_OPTS[k]
            try:
                opts[k] = _bool(k, v) if typ is bool else typ(v)
            except ValueError:
                raise UsageError(f"slirp4netns option {item!r}: not a number") from None
        if opts.get("port_handler", "slirp4netns") not in _PORT_HANDLERS:
            raise UsageError(f"port_handler={opts['port_handler']}: unknown", hint="slirp4netns or rl")
    elif mode == "pasta" and rest:
        opts["args"] = rest.split(",")
    elif rest:
        raise UsageError(f"--network {mode} takes no options")
    return NetSpec(mode, opts)


def _usernet_options(value: str, rest: str) -> dict:
    """podman's `--network NAME:alias=A,alias=B,ip=ADDR` (what podman-compose passes)."""
    opts: dict = {"aliases": []}
    for item in rest.split(","):
        k, eq, v = item.partition("=")
        if not eq or not v:
            raise UsageError(f"--network {value!r}: {item!r} is not KEY=VALUE", hint="NAME:alias=NAME,ip=ADDRESS")
        if k == "alias":
            opts["aliases"].append(v)
        elif k == "ip":
            opts["ip"] = v
        else:
            raise UsageError(f"--network {value!r}: option {k!r} is not supported on rl's user networks",
                             hint="alias=NAME and ip=ADDRESS are")
    return opts


def container_address(spec: NetSpec) -> str | None:
    """The container's own address, for its /etc/hosts."""
    if spec.mode == "slirp4netns":
        cidr = spec.options.get("cidr")
        if cidr:
            import ipaddress
            return str(ipaddress.ip_network(cidr, strict=False).network_address + 100)
        return SLIRP_ADDR
    return spec.options.get("ip")  # a user network's, once reserved


def parse_mac(value: str) -> str:
    """--mac-address as podman reads it (Go's net.ParseMAC: six octets as
    aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabb.ccdd.eeff) -> lower case
    with colons. An Ethernet interface takes only a unicast, non-zero one:
    refused here with a clear error (podman leaves it to the kernel's)."""
    import re
    text = value.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}", text):
        octets = re.split(r"[:-]", text)
    elif re.fullmatch(r"[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}", text):
        h = text.replace(".", "")
        octets = [h[i:i + 2] for i in range(0, 12, 2)]
    else:
        raise UsageError(f"address {value}: invalid MAC address", hint="six octets, e.g. 92:d0:c6:0a:29:33")
    mac = ":".join(o.lower() for o in octets)
    if int(octets[0], 16) & 1:
        raise UsageError(f"--mac-address {value}: a multicast address cannot be an interface's",
                         hint="the first octet's lowest bit must be 0, e.g. 92:d0:c6:0a:29:33")
    if mac == "00:00:00:00:00:00":
        raise UsageError(f"--mac-address {value}: the all-zero address cannot be an interface's",
                         hint="e.g. 92:d0:c6:0a:29:33")
    return mac
