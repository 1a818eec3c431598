"""/etc/resolv.conf and /etc/hosts for a container, as text (pure logic:
the runtime bind-mounts the files written from these)."""

from __future__ import annotations

from rootless.errors import UsageError

LOCALHOST = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"  # podman's, where the host's file names no localhost


def _is_loopback(addr: str) -> bool:
    # string tests, not ipaddress: its import costs ~1 ms on every start
    return addr.startswith("127.") or addr.split("%", 1)[0] in ("::1", "0:0:0:0:0:0:0:1")


def resolv_conf(mode: str, host_text: str, dns: list[str] | None = None, search: list[str] | None = None,
                options: list[str] | None = None, helper_dns: str | None = "10.0.2.3") -> str:
    """The host's resolv.conf made to work inside: resolvers on the host's
    loopback (systemd-resolved's 127.0.0.53, a local dnsmasq) are not
    reachable from another namespace: they are dropped, and the helper's
    forwarder (slirp4netns's 10.0.2.3, which does reach them) comes first,
    as podman puts it; --dns/--dns-search/--dns-option win."""
    servers, host_search, host_opts = [], [], []
    for line in host_text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            host_search = words[1:]
        elif words[0] == "options":
            host_opts += words[1:]
    if mode != "host":
        # the helper's forwarder first (as podman does for slirp4netns): it is
        # always reachable, and the host's loopback resolvers go through it
        helper = helper_dns if mode in ("slirp4netns", "pasta", "bridge") else None
        kept = [helper] if helper else []
        for s in servers:
            if not _is_loopback(s) and s not in kept:
                kept.append(s)
        servers = kept
    if dns:
        import ipaddress
        for d in dns:
            try:
                ipaddress.ip_address(d)
            except ValueError:
                raise UsageError(f"--dns {d!r}: not an IP address") from None
        servers = list(dns)
    if search:
        host_search = [] if search == ["."] else list(search)
    if options:
        host_opts = list(options)
    out = []
    if host_search:
        out.append("search " + " ".join(host_search))
    out += [f"nameserver {s}" for s in servers]
    if host_opts:
        out.append("options " + " ".join(host_opts))
    return "\n".join(out) + "\n"


def parse_add_host(value: str) -> tuple[str, str]:
    """--add-host NAME:IP (IPv6 addresses keep their colons) -> (name, ip)."""
    name, sep, addr = value.partition(":")
    if not sep or not name or not addr:
        raise UsageError(f"--add-host {value!r}: expected NAME:IP")
    if addr == "host-gateway":
        addr = "10.0.2.2"  # slirp4netns's route to the host
    addr = addr.strip("[]")
    import ipaddress
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise UsageError(f"--add-host {value!r}: {addr!r} is not an IP address") from None
    return name, addr


HOST_NAME = "host.containers.internal"


def host_address() -> str | None:
    """The host's first non-loopback IPv4 address, in interface order (what
    podman 4 names host.containers.internal: slirp4netns runs without
    host-loopback access, and the host's own address is reached through its
    NAT; pasta and user networks reach it too). SIOCGIFCONF, no netlink."""
    import array
    import fcntl
    import socket
    import struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        buf = array.array("B", bytes(40 * 64))
        ifc = struct.pack("iL", len(buf), buf.buffer_info()[0])
        size = struct.unpack("iL", fcntl.ioctl(s.fileno(), 0x8912, ifc))[0]  # SIOCGIFCONF
    except OSError:
        return None
    finally:
        s.close()
    data = buf.tobytes()[:size]
    for off in range(0, size - 39, 40):  # struct ifreq: name[16], sockaddr_in (family, port, addr)
        addr = socket.inet_ntoa(data[off + 20:off + 24])
        if not addr.startswith("127."):
            return addr
    return None


def hosts(mode: str, hostname: str, address: str | None = "10.0.2.100", names: list[str] | None = None,
          add_hosts: list[str] | None = None, host_text: str | None = None, host_ip: str | None = None) -> str:
    """The container's /etc/hosts as podman 4.3 writes it: --add-host
    entries, the entries of the host's file (host_text), localhost unless
    either names it, host.containers.internal on host_ip (unless --add-host
    or the host's file names it), then the container's own names on its
    address. With --network host the
    host's own file is the base (as podman), and the host's name, the
    container's too, resolves (added on 127.0.1.1 if that file lacks it)."""
    given = set()
    if mode != "host":
        # podman 4.3's order: --add-host entries, the host's file (its entries, without comments),
        # localhost (only where neither names it), host.containers.internal, the container's names
        out = ""
        for entry in add_hosts or []:
            name, addr = parse_add_host(entry)
            given.add(name)
            out += f"{addr}\t{name}\n"
        base = [line.split("#", 1)[0].split() for line in (host_text or "").splitlines()]
        base = [fields for fields in base if len(fields) >= 2]
        out += "".join(f"{fields[0]}\t{' '.join(fields[1:])}\n" for fields in base)
        if "localhost" not in given and not any("localhost" in fields[1:] for fields in base):
            out += LOCALHOST
        given |= {name for fields in base for name in fields[1:]}
        if host_ip and HOST_NAME not in given:
            out += f"{host_ip}\t{HOST_NAME}\n"
        own = [hostname] + [n for n in (names or []) if n and n != hostname]
        return out + f"{address or '127.0.1.1'}\t{' '.join(own)}\n"
    out = host_text or LOCALHOST
    if not out.endswith("\n"):
        out += "\n"
    for entry in add_hosts or []:
        name, addr = parse_add_host(entry)
        given.add(name)
        out += f"{addr}\t{name}\n"
    if host_ip and HOST_NAME not in given:
        out += f"{host_ip}\t{HOST_NAME}\n"
    if hostname and not any(hostname in line.split("#", 1)[0].split()[1:] for line in out.splitlines()):
        out += f"127.0.1.1\t{hostname}\n"
    return out
