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
from rootless.procfs import start_time
from rootless.network.etcfiles import host_address, hosts, resolv_conf
from rootless.network.spec import (MODES, SLIRP_ADDR, SLIRP_CIDR, SLIRP_DNS, SLIRP_GATEWAY,  # noqa: F401
                                   NetSpec, container_address, parse, parse_mac)


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


def start(spec: NetSpec, netns: int | str, state_dir: str, ports=(), userns: int | None = None):
    """Start the helpers for spec (see the module docstring); a Handle.
    userns: a pid in the user namespace whose root is the user, when the
    network namespace's own user namespace is nested in it (keep-id)."""
    if isinstance(spec, str):
        spec = parse(spec)
    if spec.mode == "slirp4netns":
        from rootless.network import slirp4netns
        return slirp4netns.start(spec, netns, state_dir, list(ports), userns=userns)
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
    state["pids"] = [[pid, start_time(pid, zombie=True)] for pid in state.get("pids", ())]
    return state


def release(state: dict) -> None:
    """handle.close() for a handover() state, after the exec back."""
    import signal
    un = state.get("usernet")
    if un:
        from rootless.config import Paths
        from rootless.pathlite import Path
        from rootless.network import usernet
        usernet.leave_all(Paths(Path(un["root"]), Path(un["runroot"])), un["cid"])
    for fd in state.get("fds", ()):
        try:
            os.close(fd)  # slirp4netns and rl's forwarder exit when their exit-fd closes
        except OSError:
            pass
    for pid, started in state.get("pids", ()):
        if started is None or start_time(pid, zombie=True) != started:
            continue  # gone already (reaped below, if ours)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def random_mac() -> str:
    """A locally administered unicast MAC (what podman gives an interface
    left without --mac-address), chosen here so that inspect can show it."""
    b = bytearray(os.urandom(6))
    b[0] = (b[0] & 0xFE) | 0x02
    return ":".join(f"{x:02x}" for x in b)


def prepare_usernet(paths, spec: NetSpec, cid: str, names: list[str], ip: str | None,
                    mac: str | None = None) -> NetSpec:
    """One user network: prepare_usernets with a single entry."""
    return prepare_usernets(paths, [(spec.target, names, ip)], cid, mac=mac)


def prepare_usernets(paths, entries, cid: str, mac: str | None = None, owner: int | None = None) -> NetSpec:
    """Before the container exists: the rootless netns running (and held),
    an address reserved on each network of entries [(network, names, ip)],
    in order (the first is eth0 and carries the default route). The NetSpec
    returned carries what start() needs."""
    from rootless.network import networks, usernet
    nets = [networks.load(paths, name) for name, _, _ in entries]
    pinner, lock_fd = usernet.acquire(paths)
    joined: list[dict] = []
    try:
        for net, (_, names, ip) in zip(nets, entries):
            m = mac if mac and not joined else random_mac()
            addr = usernet.reserve(paths, net, cid, list(names), ip, owner=owner, mac=m)
            joined.append({"name": net.name, "ip": addr, "mac": m})
    except BaseException:
        for j in joined:
            usernet.leave(paths, j["name"], cid)
        os.close(lock_fd)
        raise
    return NetSpec("bridge", {"ip": joined[0]["ip"], "pinner": pinner, "lock_fd": lock_fd,
                              "runroot": str(paths.runroot), "root": str(paths.root), "cid": cid,
                              "mac": joined[0]["mac"], "nets": joined}, nets[0].name)


def _start_usernet(spec: NetSpec, netns, state_dir: str = "", ports=()):
    from rootless.config import Paths
    from rootless.pathlite import Path
    from rootless.network import networks, usernet
    o = spec.options
    paths = Paths(Path(o["root"]), Path(o["runroot"]))
    joined = o.get("nets") or [{"name": spec.target, "ip": o["ip"], "mac": o.get("mac")}]
    handle = usernet.UserNet(paths, [j["name"] for j in joined], o["cid"], o["lock_fd"])
    try:
        for i, j in enumerate(joined):
            usernet.attach(paths, networks.load(paths, j["name"]), o["pinner"], int(netns), j["ip"], o["cid"],
                           mac=j.get("mac"), default_route=i == 0)
        if ports:
            # published by rl's forwarder: it listens on the host and connects from inside the
            # container's namespace to the container's address on the network (as podman's rootlessport
            # reaches the container's address); a port on every address answers on [::] too
            # (on several networks: the first one's address, eth0's)
            from rootless import plain
            from rootless.network import forwarder
            v6_too = [plain.replace(m, host_ip="::") for m in ports if not m.host_ip]
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
                                  host_text=read("/etc/hosts"),
                                  host_ip=host_address())
    return out
