"""Container networking, behind one small driver interface.

    spec = network.parse("slirp4netns:allow_host_loopback=true")   # NetSpec
    handle = network.start(spec, netns_pid, state_dir, ports)      # Handle
    handle.pids        # helper processes (slirp4netns, ...) for records/cleanup
    handle.failure()   # None while healthy, else why the helper died
    handle.close()     # stop every helper (idempotent)

`start` takes the pid of a process inside the container's network namespace
(or a path: /proc/PID/ns/net) and returns once the network is configured and
every published port listens. Whoever holds the Handle keeps the helpers
alive: `rl run` in the foreground, or the per-container monitor of a
detached container (it calls start/close itself after the CLI has gone).
Helpers also die on their own when the holder dies (slirp4netns's exit-fd).

Modes: none (lo only), host (the host's namespace), slirp4netns (default:
user-mode TCP/IP, podman's 10.0.2.0/24), pasta (when installed),
container:NAME (join a running container's namespace; no helper), NAME
(a user network: `rl network create`; mode "bridge", see usernet.py).

Published ports: network/ports.py chooses and checks host ports before
anything starts, saves them in the state dir (ports.save/load), and formats
them podman-style for `rl port`/`rl ps`:
    ports.format_ports(ports.for_container(state_dir, record.request))
    -> "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp"

Nothing here imports pyroute2: only network/netlink.py may, when needed."""

from __future__ import annotations

import os

from rootless.errors import UsageError
from rootless.network.etcfiles import host_address, hosts, resolv_conf

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
        from rootless.network.networks import _NAME_RE
        name = mode if rest else value
        if not _NAME_RE.fullmatch(name):
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


def parse_mode(value: str | None) -> str:
    """Kept for older callers: just the mode's name."""
    return parse(value).mode


def container_address(spec: NetSpec) -> str | None:
    """The container's own address, for its /etc/hosts."""
    if spec.mode == "slirp4netns":
        cidr = spec.options.get("cidr")
        if cidr:
            import ipaddress
            return str(ipaddress.ip_network(cidr, strict=False).network_address + 100)
        return SLIRP_ADDR
    return spec.options.get("ip")  # a user network's, once reserved


def dns_server(spec: NetSpec) -> str | None:
    """The resolver a helper offers inside the namespace, if any."""
    if spec.mode == "slirp4netns":
        cidr = spec.options.get("cidr")
        if cidr:
            import ipaddress
            return str(ipaddress.ip_network(cidr, strict=False).network_address + 3)
        return SLIRP_DNS
    if spec.mode == "bridge":
        return SLIRP_DNS  # the rootless netns's slirp4netns, reached through the network's gateway
    if spec.mode == "pasta":
        from rootless.network.pasta import DNS_FORWARD
        return DNS_FORWARD
    return None


def start(spec: NetSpec, netns: int | str, state_dir: str, ports=()):
    """Start the helpers for spec (see the module docstring); a Handle."""
    if isinstance(spec, str):
        spec = parse(spec)
    if spec.mode == "slirp4netns":
        from rootless.network import slirp4netns
        return slirp4netns.start(spec, netns, state_dir, list(ports))
    if spec.mode == "pasta":
        from rootless.network import pasta
        return pasta.start(spec, netns, state_dir, list(ports))
    if spec.mode == "bridge":
        return _start_usernet(spec, netns, state_dir, list(ports))
    return Handle()


class Handle:
    """Started helpers; the null handle for modes without any."""

    pids: tuple[int, ...] = ()

    def failure(self) -> str | None:
        return None

    def close(self) -> None:
        pass

    def handover(self) -> dict:
        return {}


def handover(handle) -> dict:
    """What a process keeps of handle across an exec (the detached monitor
    becomes rl-monitor and back): helper pids, fds made inheritable, and
    what release() then needs to do what handle.close() would have."""
    if handle is None:
        return {}
    state = handle.handover()
    for fd in state.get("fds", ()):
        os.set_inheritable(fd, True)
    # with their start times: a helper that daemonized is not our child, and
    # its pid may name another process by the time the container exits
    state["pids"] = [[pid, _start_time(pid)] for pid in state.get("pids", ())]
    return state


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def release(state: dict) -> None:
    """handle.close() for a handover() state, after the exec back."""
    import signal
    un = state.get("usernet")
    if un:
        from pathlib import Path

        from rootless.config import Paths
        from rootless.network import usernet
        usernet.leave(Paths(Path(un["root"]), Path(un["runroot"])), un["network"], un["cid"])
    for fd in state.get("fds", ()):
        try:
            os.close(fd)  # slirp4netns and rl's forwarder exit when their exit-fd closes
        except OSError:
            pass
    for pid, started in state.get("pids", ()):
        if started is None or _start_time(pid) != started:
            continue  # gone already (reaped below, if ours)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def prepare_usernet(paths, spec: NetSpec, cid: str, names: list[str], ip: str | None) -> NetSpec:
    """Before the container exists: the rootless netns running (and held),
    an address reserved. The NetSpec returned carries what start() needs."""
    from rootless.network import networks, usernet
    net = networks.load(paths, spec.target)
    pinner, lock_fd = usernet.acquire(paths)
    try:
        addr = usernet.reserve(paths, net, cid, names, ip)
    except BaseException:
        os.close(lock_fd)
        raise
    return NetSpec("bridge", {"ip": addr, "pinner": pinner, "lock_fd": lock_fd, "runroot": str(paths.runroot),
                              "root": str(paths.root), "cid": cid}, spec.target)


def _start_usernet(spec: NetSpec, netns, state_dir: str = "", ports=()):
    import dataclasses
    from pathlib import Path

    from rootless.config import Paths
    from rootless.network import networks, usernet
    o = spec.options
    paths = Paths(Path(o["root"]), Path(o["runroot"]))
    handle = usernet.UserNet(paths, spec.target, o["cid"], o["lock_fd"])
    try:
        usernet.attach(networks.load(paths, spec.target), o["pinner"], int(netns), o["ip"], o["cid"])
        if ports:
            # published by rl's forwarder: it listens on the host and connects from inside the
            # container's namespace to the container's address on the network (as podman's rootlessport
            # reaches the container's address); a port on every address answers on [::] too
            from rootless.network import forwarder
            v6_too = [dataclasses.replace(m, host_ip="::") for m in ports if not m.host_ip]
            handle.extra.append(forwarder.start(netns, list(ports), state_dir, target=o["ip"], optional=v6_too))
    except BaseException:
        handle.close()
        raise
    return handle


def etc_texts(spec: NetSpec, hostname: str, *, names: list[str] = (), dns: list[str] = (),
              dns_search: list[str] = (), dns_options: list[str] = (), add_hosts: list[str] = (),
              no_hosts: bool = False) -> dict[str, str]:
    """The container's /etc/hosts and /etc/resolv.conf texts (hosts left
    out with --no-hosts: the image's own file stays)."""
    def read(path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""
    out = {"/etc/resolv.conf": resolv_conf(spec.mode, read("/etc/resolv.conf"), list(dns), list(dns_search),
                                           list(dns_options), helper_dns=dns_server(spec))}
    if no_hosts:
        if add_hosts:
            raise UsageError("--no-hosts and --add-host conflict", hint="drop one of them")
    else:
        out["/etc/hosts"] = hosts(spec.mode, hostname, container_address(spec), list(names), list(add_hosts),
                                  host_text=read("/etc/hosts") if spec.mode == "host" else None,
                                  host_ip=host_address())
    return out


def start_slirp4netns(pid: int, log_path: str):
    """Kept for older callers (create.py before the driver interface)."""
    return start(NetSpec(), pid, os.path.dirname(log_path))
