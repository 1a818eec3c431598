"""Published ports: `-p [ip:][hostPort:]containerPort[/tcp|udp]` (ranges
too) and `-P` parsed, host ports chosen and checked BEFORE the container
starts (a taken or privileged port is a clear error, not a half-started
container), formatted podman-style for `rl port` and `rl ps`."""

from __future__ import annotations

import ipaddress
import json
import os
import socket

from rootless import fsutil
from rootless.errors import HostSetupError, UsageError
from rootless.plain import asdict, record

PROTOS = ("tcp", "udp")


@record(frozen=True)
class PortMapping:
    host_ip: str           # "" = every address (0.0.0.0)
    host_port: int         # 0 = choose a free one at start
    container_port: int
    proto: str = "tcp"

    def __str__(self) -> str:
        return format_mapping(self)


def _port(text: str, what: str, spec: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"-p {spec}: {what} {text!r} is not a number") from None
    if not 0 < n < 65536:
        raise UsageError(f"-p {spec}: {what} {n} is out of range 1-65535")
    return n


def _range(text: str, what: str, spec: str) -> list[int]:
    lo, dash, hi = text.partition("-")
    if not dash:
        return [_port(text, what, spec)]
    a, b = _port(lo, what, spec), _port(hi, what, spec)
    if b < a:
        raise UsageError(f"-p {spec}: {what} range {text} runs backwards")
    return list(range(a, b + 1))


def parse_spec(spec: str) -> list[PortMapping]:
    """One -p value -> its mappings (host port 0 = random)."""
    body, slash, proto = spec.partition("/")
    protos = [p.strip() for p in proto.split(",")] if slash else ["tcp"]
    for p in protos:
        if p not in PROTOS:
            raise UsageError(f"-p {spec}: protocol {p!r} is not supported", hint="tcp or udp")
    host_ip = ""
    if body.startswith("["):  # [::1]:8080:80
        end = body.find("]")
        if end < 0:
            raise UsageError(f"-p {spec}: unclosed [ in the address")
        host_ip, body = body[1:end], body[end + 1:].lstrip(":")
        parts = body.split(":")
    else:
        parts = body.split(":")
        if len(parts) == 3:
            host_ip = parts.pop(0)
        elif len(parts) > 3:
            raise UsageError(f"-p {spec}: expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]")
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise UsageError(f"-p {spec}: {host_ip!r} is not an IP address") from None
    if host_ip in ("0.0.0.0", "::"):
        host_ip = ""
    ctr = _range(parts[-1], "container port", spec)
    host_text = parts[0] if len(parts) == 2 else ""
    hosts = _range(host_text, "host port", spec) if host_text else [0] * len(ctr)
    if len(hosts) != len(ctr):
        if len(ctr) == 1:  # podman: a host range for one container port takes one free port of it
            hosts = [-h for h in hosts]  # negative: candidates, resolved by choose_host_ports
            return [PortMapping(host_ip, h, ctr[0], p) for p in protos for h in hosts]
        raise UsageError(f"-p {spec}: host range and container range differ in length")
    return [PortMapping(host_ip, h, c, p) for p in protos for h, c in zip(hosts, ctr)]


def parse_all(specs: list[str], publish_all: bool = False, exposed: dict | None = None) -> list[PortMapping]:
    """All -p values, plus the image's EXPOSE ports (on random host ports) with -P."""
    out: list[PortMapping] = []
    for spec in specs:
        out += parse_spec(spec)
    if publish_all:
        taken = {(m.container_port, m.proto) for m in out}
        for key in sorted(exposed or {}):
            port, _, proto = key.partition("/")
            proto = proto or "tcp"
            if proto in PROTOS and port.isdigit() and (int(port), proto) not in taken:
                out.append(PortMapping("", 0, int(port), proto))
    return out


def unprivileged_port_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1024


def _sock(m: PortMapping) -> socket.socket:
    fam = socket.AF_INET6 if ":" in m.host_ip else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if m.proto == "tcp" else socket.SOCK_DGRAM)
    # slirp4netns and our forwarder listen with SO_REUSEADDR: a TIME_WAIT
    # leftover does not make a port taken for them, nor for this check
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


def _bind(m: PortMapping, port: int) -> int:
    """Bind (and for TCP, listen: that is what conflicts) then release; the port bound."""
    with _sock(m) as s:
        s.bind((m.host_ip or "0.0.0.0", port))
        if m.proto == "tcp":
            s.listen(1)
        return s.getsockname()[1]


def choose_host_ports(mappings: list[PortMapping]) -> list[PortMapping]:
    """Random ports picked, ranges narrowed to one free port, every port
    checked free and bindable by this user. Raises before anything starts."""
    floor = unprivileged_port_start() if os.getuid() != 0 else 0
    out: list[PortMapping] = []
    seen: set[tuple[str, int, str]] = set()
    pending_range: dict[tuple[str, int, str], list[int]] = {}
    for m in mappings:
        if m.host_port < 0:  # a candidate of a host range for one container port
            pending_range.setdefault((m.host_ip, m.container_port, m.proto), []).append(-m.host_port)
            continue
        out.append(m)
    for (ip, cport, proto), candidates in pending_range.items():
        for c in candidates:
            probe = PortMapping(ip, c, cport, proto)
            try:
                _bind(probe, c)
            except OSError:
                continue
            out.append(probe)
            break
        else:
            raise HostSetupError(f"no free host port in {candidates[0]}-{candidates[-1]} for {cport}/{proto}")
    result = []
    for m in out:
        if m.host_port and m.host_port < floor:
            raise HostSetupError(
                f"cannot publish port {m.host_port}: ports below {floor} are privileged",
                hint=f"use a port >= {floor}, or: sudo sysctl net.ipv4.ip_unprivileged_port_start={m.host_port}")
        try:
            port = _bind(m, m.host_port)
        except OSError as e:
            where = f"{m.host_ip or '0.0.0.0'}:{m.host_port}/{m.proto}"
            if e.errno == 98:  # EADDRINUSE
                raise HostSetupError(f"cannot publish {where}: the port is already in use",
                                     hint="choose another host port, or -p CONTAINER_PORT for a free one") from None
            raise HostSetupError(f"cannot publish {where}: {e.strerror}") from None
        key = (m.host_ip, port, m.proto)
        if key in seen:
            raise UsageError(f"host port {port}/{m.proto} is published twice")
        seen.add(key)
        result.append(PortMapping(m.host_ip, port, m.container_port, m.proto))
    return result


def format_mapping(m: PortMapping) -> str:
    """podman's `0.0.0.0:8080->80/tcp`."""
    ip = m.host_ip or "0.0.0.0"
    if ":" in ip:
        ip = f"[{ip}]"
    return f"{ip}:{m.host_port}->{m.container_port}/{m.proto}"


def host_address(m: PortMapping) -> str:
    """`rl port`'s host side, as podman prints it: 0.0.0.0:8080, ::1:8080 (no brackets)."""
    return f"{m.host_ip or '0.0.0.0'}:{m.host_port}"


def format_ports(mappings: list[PortMapping]) -> str:
    """The PORTS column of `rl ps`: mappings joined with ", " (podman's)."""
    return ", ".join(format_mapping(m) for m in mappings)


PORTS_FILE = "ports.json"


def save(state_dir: str, mappings: list[PortMapping]) -> None:
    """The ports actually published (random ones resolved), for `rl port`/`rl ps`."""
    path = os.path.join(state_dir, PORTS_FILE)
    fsutil.atomic_write(path, json.dumps([asdict(m) for m in mappings]), mode=None)


def load(state_dir: str) -> list[PortMapping]:
    try:
        with open(os.path.join(state_dir, PORTS_FILE)) as f:
            return [PortMapping(**d) for d in json.load(f)]
    except (OSError, ValueError, TypeError):
        return []


def for_container(state_dir: str, request: dict) -> list[PortMapping]:
    """What `rl port`/`rl ps` show: the ports published by the last start,
    else those the container was created with (a random host port as 0)."""
    got = load(state_dir)
    if got:
        return got
    try:
        return [m for m in parse_all(request.get("publish") or []) if m.host_port >= 0]
    except Exception:
        return []
