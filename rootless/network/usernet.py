"""User networks at run time: one rootless network namespace per user,
bridges in it, a veth pair per container, names through each member's
/etc/hosts.

    keeper (host side, own session)         holds the namespace while in use
     └─ pinner (user ns + net ns, paused)   the "rootless netns": bridges live here
    container on network N: joins the pinner's user namespace (so that
    namespace owns the container's netns too), unshares its own netns;
    a short helper (setns into the pinner) adds the veth pair, moves one
    end in as eth0 and configures it (pyroute2, through network/netlink.py)

Cleanup without a daemon: every holder of a container on a user network
keeps a shared flock on `inuse`; the keeper waits for an exclusive one,
i.e. for the last member to go (even one that was SIGKILLed: the kernel
drops its lock), then removes the namespace and exits. Nothing is left
running. Files live in $runroot/netns.

Names: members.json per network lists each running member's address and
names; every member's hosts file (bind-mounted into it) is rewritten in
place as members come and go (measured cheaper than a DNS responder that
would have to run for the network's lifetime: one file write per member
per change, no process)."""

from __future__ import annotations

import fcntl
import os
import time

from rootless import fsutil, jsonio
from rootless.config import Paths, ensure_dir
from rootless.errors import ContainerError, RuntimeSetupError, UsageError
from rootless.network import keeperctl, networks
from rootless.pathlite import Path

# A container's exit (rl-monitor's `resume`, which `rl stop` waits for) and
# `network rm` only read and write the members files: ctypes (linux),
# ipaddress and the spawn helper are imported where namespaces are entered,
# addresses computed or the keeper started.

NETNS_DIR = "netns"
CTL = "ctl"  # the keeper's control socket (keeperctl.py)


def _dir(paths: Paths) -> Path:
    return ensure_dir(paths.runroot / NETNS_DIR)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _pinner_pid(d: Path) -> int | None:
    try:
        pid = int((d / "pinner.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def acquire(paths: Paths) -> tuple[int, int]:
    """The rootless netns's pinner pid and an fd holding a shared lock on
    it (close the fd when the container is gone). Starts the namespace
    when nobody uses it."""
    d = _dir(paths)
    for _ in range(200):
        with fsutil.locked(d / "lock"):
            inuse = os.open(d / "inuse", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(inuse, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(inuse)  # the keeper is tearing down: wait until it has gone
                pid = None
            else:
                pid = _pinner_pid(d)
                if pid is None:
                    try:
                        pid = _spawn_keeper(paths, d)
                    except BaseException:
                        os.close(inuse)
                        raise
                return pid, inuse
        time.sleep(0.05)
    raise RuntimeSetupError("the rootless network namespace is stuck shutting down",
                            hint=f"check for a stale rl keeper process; its files are in {d}")


def _spawn_keeper(paths: Paths, d: Path) -> int:
    from rootless.linux.spawn import spawn
    # double fork: the keeper is nobody's child, init reaps it
    child = spawn(lambda rep: _keeper(paths, d, rep), name="the keeper", double_fork=True, setsid=True,
                  error=RuntimeSetupError, context="cannot start the rootless network namespace")
    return int(child.payload)


def _keeper(paths: Paths, d: Path, rep) -> int:
    # spawn closed the starter's fds (its locks, its pipes) and reset its signal handlers
    import signal

    from rootless import linux
    from rootless.runtime import userns
    hold_r, hold_w = os.pipe()
    up_r, up_w = os.pipe()

    def pinner() -> int:
        os.close(hold_w)
        os.close(up_r)
        if rep.fd is not None:
            os.close(rep.fd)  # the keeper alone reports
        linux.unshare(linux.Clone.NEWNET)
        from rootless.linux import netdev
        netdev.link_up("lo")
        os.write(up_w, b"1")
        os.close(up_w)
        os.read(hold_r, 1)  # until the keeper goes (or its pdeathsig fires)
        return 0

    pid = userns.fork_userns(userns.user_mappings(), pinner)
    os.close(hold_r)
    os.close(up_w)
    # fork_userns returns once the maps are written, before the pinner has its own network
    # namespace: /proc/PID/ns/net would still be the host's, which nothing here may enter
    # (setns: EPERM; outbound access was lost so, now and then, until this wait)
    up = os.read(up_r, 1)
    os.close(up_r)
    if up != b"1":
        raise RuntimeSetupError("the rootless network namespace did not come up",
                                hint="rl system check; the pinner's own error went to the starter's stderr")
    ctl = keeperctl.listen(str(d / CTL))
    # with a socket, outbound access is set up while the starter creates its
    # container: the container's links (so its first packet) wait for this
    # keeper's answer, which comes after; without one, before the starter goes on
    outbound = _outbound(pid, d) if ctl is None else None
    (d / "pinner.pid").write_text(str(pid))
    rep.ready(str(pid))
    if ctl is not None:
        outbound = _outbound(pid, d)
    inuse = os.open(d / "inuse", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    if ctl is None:
        fcntl.flock(inuse, fcntl.LOCK_EX)  # granted once no member holds its shared lock
    else:  # the same wait, in a thread: it tells the serving loop when to end
        import threading
        done_r, done_w = os.pipe()

        def wait_last_member() -> None:
            fcntl.flock(inuse, fcntl.LOCK_EX)
            os.write(done_w, b"x")

        threading.Thread(target=wait_last_member, daemon=True).start()
        from rootless.network import netlink
        try:
            netlink.preload()  # once, for every fork that answers a request
        except ImportError:
            pass  # each fork's own import says what is missing, as the request's answer
        keeperctl.serve(ctl, pid, lambda msg, fd: _serve(paths, msg, fd), done_r)
    with fsutil.locked(d / "lock"):
        (d / "pinner.pid").unlink(missing_ok=True)
        (d / CTL).unlink(missing_ok=True)
        for p in _member_files(d):
            p.unlink(missing_ok=True)
    if outbound is not None:
        outbound.close()
        try:
            outbound.proc.wait(timeout=5)  # reaped here, not left to whoever inherits it
        except Exception:
            pass
    os.close(hold_w)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    return 0


# rules of the rootless netns: containers reach out through slirp4netns's
# tap0 (masqueraded to its address), never another network's bridge
_RULES = (["-t", "nat", "-A", "POSTROUTING", "-o", "tap0", "-j", "MASQUERADE"],
          ["-A", "FORWARD", "-o", "tap0", "-j", "ACCEPT"],
          ["-A", "FORWARD", "-i", "tap0", "-j", "ACCEPT"],
          ["-P", "FORWARD", "DROP"])


def _iptables() -> str | None:
    from rootless import tools
    return tools.find("iptables-nft") or tools.find("iptables")


def _in_pinner(pinner: int, func) -> str:
    """Run func() in a forked child inside the pinner's namespaces; '' or the error."""
    import signal

    from rootless import linux
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            linux.set_pdeathsig(signal.SIGKILL)
            keeperctl.join_pinner(pinner)
            func()
            code = 0
        except BaseException as e:
            try:
                os.write(w, keeperctl.error_text(e).encode())
            except OSError:
                pass
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        err = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    return err or ("" if status == 0 else f"status {status}")


def _outbound(pinner: int, d: Path):
    """One slirp4netns for the whole rootless netns (outbound and DNS);
    best effort: without it containers still reach each other."""
    ipt = _iptables()

    def setup() -> None:
        from rootless import tools
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        for rule in _RULES:
            res = tools.run([ipt, *rule], capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"iptables {' '.join(rule)}: {res.stderr.strip()}")

    if ipt is None:
        (d / "outbound.log").write_text("no iptables: user networks have no outbound access\n")
        return None
    err = _in_pinner(pinner, setup)
    if err:
        (d / "outbound.log").write_text(err + "\n")
        return None
    try:
        from rootless.network import slirp4netns
        from rootless.network.spec import NetSpec, parse
        # podman sets its rootless netns's slirp4netns options in containers.conf
        # (network_cmd_options); rl takes them from RL_NETNS_OPTIONS, e.g.
        # "allow_host_loopback=true" (off by default, as every slirp of rl's)
        opts = os.environ.get("RL_NETNS_OPTIONS", "")
        spec = parse("slirp4netns:" + opts) if opts else NetSpec()
        return slirp4netns.start(spec, pinner, str(d), [])
    except Exception as e:
        (d / "outbound.log").write_text(f"slirp4netns: {e}\n")
        return None


def _bridge_rule(bridge: str) -> list[str]:
    return ["-A", "FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]


# --- members and their hosts files ---------------------------------------

def _member_files(d: Path) -> list[Path]:
    """The members files of the rootless netns directory d, by network name."""
    return [d / "members" / n for n in fsutil.record_files(d / "members")]


def _members_path(paths: Paths, net: str) -> Path:
    return ensure_dir(_dir(paths) / "members") / f"{net}.json"


def _read_members(path: Path) -> dict:
    try:
        data = jsonio.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    # drop members whose holder died without saying goodbye (SIGKILL)
    return {k: v for k, v in data.items() if _alive(v.get("owner", 0))}


def member_names(paths: Paths, net_name: str) -> list[str]:
    """The running containers on a network: each one's first name."""
    try:
        members = _read_members(_members_path(paths, net_name))
    except OSError:
        return []
    return [n for m in members.values() for n in m.get("names", [])[:1]]


def _write_members(path: Path, data: dict) -> None:
    fsutil.atomic_write(path, jsonio.dumps(data), mode=None)


def reserve(paths: Paths, net: networks.Network, cid: str, names: list[str], ip: str | None,
            owner: int | None = None, mac: str | None = None) -> str:
    """An address for the container on net (--ip, or the first free one);
    recorded with its names for everyone's /etc/hosts. owner: the process
    holding the container (by default this one; `network connect` names the
    running container's)."""
    import ipaddress
    subnet = ipaddress.ip_network(net.subnet)
    with fsutil.locked(_dir(paths) / "lock"):
        path = _members_path(paths, net.name)
        members = _read_members(path)
        used = {m["ip"] for m in members.values()} | {net.gateway}
        if ip:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                raise UsageError(f"--ip {ip!r}: not an IP address") from None
            if addr not in subnet or addr in (subnet.network_address, subnet.broadcast_address):
                raise UsageError(f"--ip {ip} is not a host address of network {net.name} ({net.subnet})")
            if str(addr) in used:
                raise ContainerError(f"--ip {ip} is already in use on network {net.name}")
            chosen = str(addr)
        else:
            chosen = next((str(h) for h in subnet.hosts() if str(h) not in used), None)
            if chosen is None:
                raise ContainerError(f"network {net.name} has no free address left")
        members[cid] = {"ip": chosen, "names": names, "owner": owner or os.getpid(), "hosts": None, "mac": mac}
        _write_members(path, members)
    return chosen


def peer_lines(paths: Paths, net_name: str, cid: str) -> str:
    """/etc/hosts lines for the other running members of a network."""
    members = _read_members(_members_path(paths, net_name))
    return "".join(f"{m['ip']}\t{' '.join(m['names'])}\n" for k, m in sorted(members.items()) if k != cid)


def _rewrite(path: str, own_base: str, peers: str) -> None:
    # in place, never replaced: the container sees this inode through a bind mount
    with open(path, "r+") as f:
        f.seek(0)
        f.write(own_base + peers)
        f.truncate()


def _all_members(paths: Paths) -> dict[str, dict]:
    """Every network's live members: {network: {cid: member}}."""
    return {p.stem: _read_members(p) for p in _member_files(_dir(paths))}


def memberships(paths: Paths, cid: str) -> dict[str, dict]:
    """The networks cid is a running member of: {network: its member entry}."""
    return {net: m[cid] for net, m in _all_members(paths).items() if cid in m}


def publish_hosts(paths: Paths, net_name: str, cid: str | None = None, hosts_path: str | None = None,
                  base: str | None = None) -> None:
    """Register cid's hosts file (when given), then rewrite every
    member's: its own base, then the members of each network it shares with
    them, and only those (a container on several networks sees them all)."""
    with fsutil.locked(_dir(paths) / "lock"):
        if cid is not None:  # on every network it is on: `network disconnect` may drop any
            for path in _member_files(_dir(paths)):
                members = _read_members(path)
                if cid in members:
                    members[cid]["hosts"] = hosts_path
                    members[cid]["base"] = base
                    _write_members(path, members)
        everyone = _all_members(paths)
        files: dict[str, tuple[str, str]] = {}
        for members in everyone.values():
            for k, m in members.items():
                if m.get("hosts") and m.get("base") is not None:
                    files.setdefault(k, (m["hosts"], m["base"]))
        for k, (hosts, own_base) in files.items():
            lines: list[str] = []
            for net in sorted(everyone):
                members = everyone[net]
                if k not in members:
                    continue
                for j, o in sorted(members.items()):
                    line = f"{o['ip']}\t{' '.join(o['names'])}\n"
                    if j != k and line not in lines:
                        lines.append(line)
            try:
                _rewrite(hosts, own_base, "".join(lines))
            except OSError:
                pass


def leave(paths: Paths, net_name: str, cid: str) -> None:
    with fsutil.locked(_dir(paths) / "lock"):
        path = _members_path(paths, net_name)
        members = _read_members(path)
        members.pop(cid, None)
        _write_members(path, members)
    publish_hosts(paths, net_name)


def leave_all(paths: Paths, cid: str) -> None:
    """cid off every network (its exit; networks `network connect` added included)."""
    with fsutil.locked(_dir(paths) / "lock"):
        for path in _member_files(_dir(paths)):
            members = _read_members(path)
            if members.pop(cid, None) is not None:
                _write_members(path, members)
    publish_hosts(paths, "")


# --- attaching a container ------------------------------------------------

def _veth_names(cid: str, net_name: str) -> tuple[str, str]:
    """The pair's names for cid on net_name (15 characters at most, stable,
    so that `network disconnect` finds the host end)."""
    import hashlib
    tag = hashlib.sha256(net_name.encode()).hexdigest()[:5]
    return f"v{cid[:8]}{tag}", f"p{cid[:8]}{tag}"


def attach(paths: Paths, net: networks.Network, pinner: int, ctr_pid: int, address: str, cid: str,
           mac: str | None = None, default_route: bool = True) -> None:
    """Bridge + veth + ethN configured (N: the lowest free, eth0 first, as
    podman names them), by the keeper (keeperctl.py) or, when no keeper
    answers, in a forked helper that joins the pinner's namespaces (setns of
    a user namespace needs a single thread). The default route goes through
    the first network only."""
    # opened here, before anyone joins the pinner's user namespace
    ctr_net = os.open(f"/proc/{ctr_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        msg = {"op": "attach", "network": net.name, "cid": cid, "address": address, "mac": mac,
               "default_route": default_route}
        err = keeperctl.ask(str(_dir(paths) / CTL), msg, ctr_net)
        if err is None:
            err = _in_pinner(pinner, lambda: _attach_here(net, ctr_net, msg))
    finally:
        os.close(ctr_net)
    if err:
        raise RuntimeSetupError(f"cannot attach to network {net.name}: {err}")


def _attach_here(net: networks.Network, ctr_net: int, msg: dict) -> None:
    """attach's work, in the pinner's namespaces."""
    from rootless import linux
    from rootless.network import netlink
    if netlink.ensure_bridge(net.bridge, net.gateway, net.prefixlen):
        ipt = _iptables()
        if ipt:  # frames within one bridge pass even where br_netfilter filters them
            from rootless import tools
            tools.run([ipt, *_bridge_rule(net.bridge)], capture_output=True)
    host_name, peer = _veth_names(msg["cid"], net.name)
    netlink.add_veth(net.bridge, host_name, peer, ctr_net)
    linux.setns(ctr_net, linux.Clone.NEWNET)
    netlink.configure_inside(peer, netlink.free_ifname("eth"), msg["address"], net.prefixlen,
                             net.gateway if msg["default_route"] else None, mac=msg.get("mac"))


def detach_link(paths: Paths, pinner: int, cid: str, net_name: str) -> None:
    """Delete cid's veth pair on net_name (its ethN inside goes with it)."""
    msg = {"op": "detach", "network": net_name, "cid": cid}
    err = keeperctl.ask(str(_dir(paths) / CTL), msg)
    if err is None:
        err = _in_pinner(pinner, lambda: _detach_here(msg))
    if err:
        raise RuntimeSetupError(f"cannot detach from network {net_name}: {err}")


def _detach_here(msg: dict) -> None:
    from rootless.network import netlink
    netlink.delete_link(_veth_names(msg["cid"], msg["network"])[0])


def _serve(paths: Paths, msg: dict, fd: int | None) -> None:
    """A request to the keeper, in a fork of it inside the pinner's namespaces."""
    if msg.get("op") == "attach" and fd is not None:
        _attach_here(networks.load(paths, msg["network"]), fd, msg)
    elif msg.get("op") == "detach":
        _detach_here(msg)
    else:
        raise ValueError(f"unknown request {msg.get('op')!r}")


def pinner_pid(paths: Paths) -> int | None:
    """The running rootless netns's pinner, if any."""
    return _pinner_pid(_dir(paths))


class UserNet:
    """The network Handle of a container on user networks (one or several)."""

    def __init__(self, paths: Paths, net_names, cid: str, lock_fd: int):
        if isinstance(net_names, str):
            net_names = [net_names]
        self.paths, self.net_names, self.cid, self.lock_fd = paths, list(net_names), cid, lock_fd
        self.extra: list = []   # rl's port forwarder for published ports, stopped with it

    @property
    def net_name(self) -> str:
        return self.net_names[0]

    def failure(self) -> str | None:
        return None

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(pid for h in self.extra for pid in h.pids)

    def handover(self) -> dict:
        if self.lock_fd is None:
            return {}
        fwd = [h.exit_w for h in self.extra if h.exit_w is not None]
        return {"pids": list(self.pids), "fds": [self.lock_fd, *fwd],
                "usernet": {"root": str(self.paths.root), "runroot": str(self.paths.runroot),
                            "network": self.net_name, "networks": self.net_names, "cid": self.cid}}

    def close(self) -> None:
        for helper in self.extra:
            helper.close()
        self.extra = []
        if self.lock_fd is None:
            return
        try:
            leave_all(self.paths, self.cid)  # networks `network connect` added too
        finally:
            os.close(self.lock_fd)  # the last one out lets the keeper tear the namespace down
            self.lock_fd = None
