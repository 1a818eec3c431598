"""Container networking with real namespaces and helpers, loopback only:
published ports (TCP, UDP, random), `rl port`, the modes (none, host,
container:NAME), host loopback opt-in, DNS/hosts flags, a crashed
slirp4netns reported. Servers and clients inside use perl (perl-base is in
the minbase image) or bash's /dev/tcp."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from tests.conftest import IN_CI

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

IMAGE = "debian:bookworm"
TCP_SERVER = (r'use IO::Socket::INET; $|=1; my $s=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1)'
              r' or die "listen: $!"; print "ready\n"; for (1..NN) { my $c=$s->accept; my $l=<$c>;'
              r' print $c "HTTP/1.0 200 OK\r\n\r\nhello from the container\n"; close $c; }')
UDP_ECHO = (r'use IO::Socket::INET; $|=1; my $s=IO::Socket::INET->new(LocalPort=>5353,Proto=>"udp")'
            r' or die "udp: $!"; print "ready\n"; $s->recv(my $m, 1000); $s->send("echo:$m");')


@pytest.fixture
def rlr(rl, registry):
    rl.env.update(registry.env())
    rl.run("pull", "-q", IMAGE, check=True)
    procs: list[subprocess.Popen] = []
    rl.started = procs
    yield rl
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)
    import shutil

    from rootless.runtime import userns
    userns.run_in_userns(shutil.rmtree, str(rl.base / "data"), ignore_errors=True)


def start(rl, *args: str) -> subprocess.Popen:
    """A foreground `rl run` in the background; returns once it printed `ready`."""
    p = rl.popen("run", "--rm", "-q", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rl.started.append(p)
    line = p.stdout.readline()
    if line.strip() != "ready":
        p.kill()
        _, err = p.communicate(timeout=30)
        raise AssertionError(f"container did not get ready: {line!r} {err}")
    return p


def http_get(port: int, host: str = "127.0.0.1") -> str:
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_published_port_reaches_the_container(rlr):
    port = free_port()
    p = start(rlr, "--name", "net-tcp", "-p", f"127.0.0.1:{port}:80", IMAGE, "perl", "-e",
              TCP_SERVER.replace("NN", "1"))
    assert "hello from the container" in http_get(port)
    assert p.wait(timeout=30) == 0


def test_udp_echo_round_trips(rlr):
    port = free_port()
    p = start(rlr, "--name", "net-udp", "-p", f"127.0.0.1:{port}:5353/udp", IMAGE, "perl", "-e", UDP_ECHO)
    data = b""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(b"ping", ("127.0.0.1", port))
        data, _ = s.recvfrom(100)
    assert data == b"echo:ping"
    assert p.wait(timeout=30) == 0


def test_keep_id_container_publishes_tcp_and_udp_ports(rlr):
    """--userns=keep-id nests the container's user namespace: slirp4netns used
    to become root of the nested one (a subordinate ID) and leave its API
    socket unreachable ("cannot start the container: Permission denied").
    TCP goes through slirp4netns's API, UDP through rl's forwarder."""
    tcp, udp = free_port(), free_port()
    # the user's own uid in the container: no port below 1024
    p = start(rlr, "--name", "net-kid-tcp", "--userns=keep-id", "-p", f"127.0.0.1:{tcp}:8080", IMAGE, "perl", "-e",
              TCP_SERVER.replace("LocalPort=>80,", "LocalPort=>8080,").replace("NN", "1"))
    assert "hello from the container" in http_get(tcp)
    assert p.wait(timeout=30) == 0
    u = start(rlr, "--name", "net-kid-udp", "--userns=keep-id", "-p", f"127.0.0.1:{udp}:5353/udp", IMAGE,
              "perl", "-e", UDP_ECHO)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        s.sendto(b"ping", ("127.0.0.1", udp))
        data, _ = s.recvfrom(100)
    assert data == b"echo:ping"
    assert u.wait(timeout=30) == 0


def test_random_port_is_reported_by_rl_port(rlr):
    p = start(rlr, "--name", "net-rand", "-p", "127.0.0.1::80", IMAGE, "perl", "-e", TCP_SERVER.replace("NN", "1"))
    out = rlr.run("port", "net-rand", check=True).stdout.strip()
    assert out.startswith("80/tcp -> 127.0.0.1:"), out
    port = int(out.rsplit(":", 1)[1])
    assert rlr.run("port", "net-rand", "80", check=True).stdout.strip() == f"127.0.0.1:{port}"
    assert "hello" in http_get(port)
    p.wait(timeout=30)


def test_taken_or_privileged_port_fails_before_start(rlr):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        taken = s.getsockname()[1]
        res = rlr.run("run", "--rm", "-p", f"127.0.0.1:{taken}:80", IMAGE, "echo", "started")
    assert res.returncode == 125 and "already in use" in res.stderr and "started" not in res.stdout
    res = rlr.run("run", "--rm", "-p", "80:80", IMAGE, "echo", "started")
    assert res.returncode == 125 and "privileged" in res.stderr and "started" not in res.stdout
    res = rlr.run("run", "--rm", "--network", "none", "-p", "8080:80", IMAGE, "true")
    assert res.returncode == 125 and "cannot publish" in res.stderr


def test_none_has_only_lo_and_host_sees_the_hosts(rlr):
    res = rlr.run("run", "--rm", "--network", "none", IMAGE, "ls", "/sys/class/net", check=True)
    assert res.stdout.split() == ["lo"]
    res = rlr.run("run", "--rm", "--network", "host", IMAGE, "cat", "/proc/net/dev", check=True)
    ours = sorted(line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:])
    theirs = sorted(line.split(":")[0].strip() for line in res.stdout.splitlines()[2:])
    assert theirs == ours
    res = rlr.run("run", "--rm", IMAGE, "ls", "/sys/class/net", check=True)
    assert sorted(res.stdout.split()) == ["lo", "tap0"]


def test_container_network_shares_the_namespace(rlr):
    start(rlr, "--name", "net-owner", IMAGE, "perl", "-e", TCP_SERVER.replace("NN", "1"))
    # a client in the second container reaches the first one's server on localhost
    res = rlr.run("run", "--rm", "--network", "container:net-owner", IMAGE, "bash", "-c",
                  'exec 3<>/dev/tcp/127.0.0.1/80; printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3; cat <&3')
    assert res.returncode == 0, res.stderr
    assert "hello from the container" in res.stdout
    res = rlr.run("run", "--rm", "--network", "container:nosuch", IMAGE, "true")
    assert res.returncode == 125


class HostServer:
    """A TCP server on the host's loopback answering one line."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.sendall(b"hello from the host\n")


def test_host_loopback_only_when_allowed(rlr):
    srv = HostServer()
    try:
        cmd = ["bash", "-c", f"exec 3<>/dev/tcp/10.0.2.2/{srv.port} && head -1 <&3"]
        res = rlr.run("run", "--rm", "--network", "slirp4netns:allow_host_loopback=true", IMAGE, *cmd)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "hello from the host"
        res = rlr.run("run", "--rm", IMAGE, *cmd)
        assert res.returncode != 0 and "hello" not in res.stdout
    finally:
        srv.sock.close()


def test_dns_and_hosts_flags(rlr):
    res = rlr.run("run", "--rm", "--name", "net-dns", "--hostname", "box", "--dns", "192.0.2.53",
                  "--dns-search", "example.test", "--dns-option", "ndots:3", "--add-host", "db:192.0.2.9",
                  IMAGE, "cat", "/etc/resolv.conf", "/etc/hosts", check=True)
    assert "nameserver 192.0.2.53" in res.stdout and "search example.test" in res.stdout
    assert "options ndots:3" in res.stdout and "192.0.2.9\tdb" in res.stdout
    assert "10.0.2.100\tbox net-dns" in res.stdout
    res = rlr.run("run", "--rm", "--no-hosts", IMAGE, "sh", "-c", "cat /etc/hosts 2>/dev/null; true", check=True)
    assert "10.0.2.100" not in res.stdout


def _slirp_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "slirp4netns" in line]


def test_slirp4netns_dies_with_the_container_and_a_crash_is_reported(rlr):
    p = start(rlr, "--name", "net-crash", IMAGE, "bash", "-c", "echo ready; sleep 3")
    (helper,) = _slirp_children(p.pid)
    os.kill(helper, signal.SIGKILL)
    _, err = p.communicate(timeout=30)
    assert "slirp4netns exited unexpectedly" in err
    p = start(rlr, "--name", "net-ends", IMAGE, "bash", "-c", "echo ready; sleep 0.5")
    (helper,) = _slirp_children(p.pid)
    p.wait(timeout=30)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{helper}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{helper}")


WEB = (r'use IO::Socket::INET; $|=1; my $s=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1)'
       r' or die "listen: $!"; print "ready\n"; while (my $c=$s->accept) { print $c "hello from web\n"; close $c }')
FETCH = 'exec 3<>/dev/tcp/{}/80 && cat <&3'


def test_user_network_by_name_and_alias_and_isolated(rlr):
    for net in ("net-a", "net-b"):
        assert rlr.run("network", "create", net, check=True).stdout.strip() == net
    assert "net-a" in rlr.run("network", "ls", check=True).stdout
    web = start(rlr, "--name", "web", "--network", "net-a", "--network-alias", "www", "--ip", "10.89.0.50", IMAGE,
                "perl", "-e", WEB)
    for target in ("web", "www", "10.89.0.50"):
        res = rlr.run("run", "--rm", "--name", "client", "--network", "net-a", IMAGE, "bash", "-c", FETCH.format(target))
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "hello from web"
    inspect = rlr.run("network", "inspect", "net-a", check=True).stdout
    assert '"web"' in inspect
    # another network: the name is unknown there, and the address is unreachable
    res = rlr.run("run", "--rm", "--network", "net-b", IMAGE, "bash", "-c",
                  "timeout 3 bash -c 'exec 3<>/dev/tcp/10.89.0.50/80' && echo reached; getent hosts web || true")
    assert "reached" not in res.stdout and "10.89.0.50" not in res.stdout
    # in use: not removable
    assert rlr.run("network", "rm", "net-a").returncode == 125
    web.kill()
    web.wait(timeout=30)


def test_user_network_goes_out_and_leaves_nothing_running(rlr):
    rlr.run("network", "create", "net-c", check=True)
    # outbound goes to a server on the host's loopback only (never another
    # address): the rootless netns's slirp4netns is told to allow it
    rlr.env["RL_NETNS_OPTIONS"] = "allow_host_loopback=true"
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    threading.Thread(target=lambda: srv.accept()[0].sendall(b"hello outside\n"), daemon=True).start()
    try:
        script = ("cat /sys/class/net/eth0/operstate; "
                  f"exec 3<>/dev/tcp/10.0.2.2/{srv.getsockname()[1]} && head -1 <&3")
        res = rlr.run("run", "--rm", "--network", "net-c", IMAGE, "bash", "-c", script)
    finally:
        srv.close()
    # seen failing now and then in CI (connect timed out): say what the rootless netns recorded of its outbound
    why = {p.name: p.read_text(errors="replace")[-2000:] for p in (rlr.base / "run" / "rl" / "netns").glob("*.log")}
    assert res.returncode == 0, (res.stderr, why)
    assert res.stdout.split("\n")[0] == "up"
    assert "hello outside" in res.stdout  # out through the rootless netns's slirp4netns
    netns = rlr.base / "run" / "rl" / "netns"
    deadline = time.monotonic() + 5
    while (netns / "pinner.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (netns / "pinner.pid").exists()
    out = subprocess.run(["ps", "-u", str(os.getuid()), "-o", "args="], capture_output=True, text=True).stdout
    assert str(rlr.base) not in out  # no keeper/pinner of this rl left behind
    assert rlr.run("network", "rm", "net-c", check=True).stdout.strip() == "net-c"
    assert rlr.run("network", "inspect", "net-c").returncode == 125
    res = rlr.run("run", "--rm", "--network", "net-c", IMAGE, "true")
    assert res.returncode == 125 and "not found" in res.stderr


def test_pasta_publishes_tcp(rlr):
    if not __import__("shutil").which("pasta"):
        why = "pasta is not installed (helpers/setup-host installs passt)"
        if IN_CI:
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    port = free_port()
    p = start(rlr, "--name", "net-pasta", "--network", "pasta", "-p", f"127.0.0.1:{port}:80", IMAGE, "perl", "-e",
              TCP_SERVER.replace("NN", "1"))
    assert "hello from the container" in http_get(port)
    assert p.wait(timeout=30) == 0


PEER = (r'use IO::Socket::INET; $|=1; my $s=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1)'
        r' or die "listen: $!"; print "ready\n"; my $c=$s->accept; print $c $c->peerhost, "\n"; close $c;')


@pytest.mark.parametrize("handler,seen", [(None, "10.0.2.2"), ("rl", "10.0.2.100")])
def test_client_address_seen_inside(rlr, handler, seen):
    """The source-address story (docs/networking.md): slirp4netns shows a
    loopback client as its gateway, rl's forwarder as the container itself."""
    port = free_port()
    net = ["--network", f"slirp4netns:port_handler={handler}"] if handler else []
    p = start(rlr, *net, "-p", f"127.0.0.1:{port}:80", IMAGE, "perl", "-e", PEER)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        assert s.recv(100).decode().strip() == seen
    assert p.wait(timeout=30) == 0


def test_detached_container_keeps_its_ports_and_rm_stops_the_helpers(rlr):
    """The monitor of a detached container holds the network handle: ports
    keep working after `rl run -d` returns, and `rl rm -f` leaves no helper."""
    res = rlr.run("run", "-d", "-q", "--name", "net-det", "-p", "127.0.0.1::80", "-p", "127.0.0.1::53/udp", IMAGE,
                  "perl", "-e", WEB)
    assert res.returncode == 0, res.stderr
    try:
        lines = rlr.run("port", "net-det", check=True).stdout.split("\n")
        assert lines[0].startswith("80/tcp -> 127.0.0.1:") and lines[1].startswith("53/udp -> 127.0.0.1:")
        port = int(lines[0].rsplit(":", 1)[1])
        udp = int(lines[1].rsplit(":", 1)[1])
        # rl ps shows the ports as published (random ones resolved), podman's PORTS column
        shown = rlr.run("ps", "--filter", "name=net-det", "--format", "{{.Ports}}", check=True).stdout.strip()
        assert shown == f"127.0.0.1:{port}->80/tcp, 127.0.0.1:{udp}->53/udp"
        deadline = time.monotonic() + 20
        while True:
            try:
                assert "hello from web" in http_get(port)
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        helpers = _helpers_of(rlr, "net-det")
    finally:
        rlr.run("rm", "-f", "net-det")
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{pid}") for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(helpers) >= 2  # slirp4netns, and rl's forwarder for the UDP port
    assert not [pid for pid in helpers if os.path.exists(f"/proc/{pid}")]


def _helpers_of(rl, name: str) -> list[int]:
    """The monitor's helpers (slirp4netns, forwarder): its children but the
    container's namespace side (rl-runtime)."""
    mon = int(rl.run("inspect", "--format", "{{.State.ConmonPid}}", name, check=True).stdout)
    found = []
    for tid in os.listdir(f"/proc/{mon}/task"):
        with open(f"/proc/{mon}/task/{tid}/children") as f:
            for pid in f.read().split():
                with open(f"/proc/{pid}/comm") as c:
                    if c.read().strip() != "rl-runtime":
                        found.append(int(pid))
    return found
