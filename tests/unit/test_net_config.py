"""Network logic without namespaces: --network parsing, -p specs,
resolv.conf rewriting, /etc/hosts."""

from __future__ import annotations

import socket

import pytest

from rootless import network
from rootless.errors import HostSetupError, UsageError
from rootless.network import etcfiles, ports
from rootless.network.ports import PortMapping

HOST = "search example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.1\noptions edns0\n"


def test_modes():
    assert network.parse(None).mode == "slirp4netns"
    assert network.parse("none").mode == "none"
    spec = network.parse("slirp4netns:allow_host_loopback=true,enable_ipv6=false,mtu=1500")
    assert spec.options == {"allow_host_loopback": True, "enable_ipv6": False, "mtu": 1500}
    c = network.parse("container:web")
    assert (c.mode, c.target, c.own_netns) == ("container", "web", False)
    for bad in ("bridge0:x", "slirp4netns:bogus=1", "slirp4netns:allow_host_loopback=maybe", "none:x",
                "container:"):
        with pytest.raises(UsageError):
            network.parse(bad)


def test_cidr_moves_the_addresses():
    spec = network.parse("slirp4netns:cidr=10.5.0.0/24")
    assert network.container_address(spec) == "10.5.0.100"
    assert network.dns_server(spec) == "10.5.0.3"


def test_port_specs():
    assert ports.parse_spec("8080:80") == [PortMapping("", 8080, 80, "tcp")]
    assert ports.parse_spec("127.0.0.1::80") == [PortMapping("127.0.0.1", 0, 80, "tcp")]
    assert ports.parse_spec("80") == [PortMapping("", 0, 80, "tcp")]
    assert ports.parse_spec("53/udp") == [PortMapping("", 0, 53, "udp")]
    assert ports.parse_spec("0.0.0.0:9000-9001:80-81/tcp") == [
        PortMapping("", 9000, 80), PortMapping("", 9001, 81)]
    assert ports.parse_spec("[::1]:8080:80") == [PortMapping("::1", 8080, 80)]
    assert ports.parse_spec("8080:80/tcp,udp") == [PortMapping("", 8080, 80, "tcp"), PortMapping("", 8080, 80, "udp")]
    for bad in ("x:80", "70000", "1.2.3:80:80", "80/sctp", "9000-9002:80-81", "a:b:c:d", "81-80"):
        with pytest.raises(UsageError):
            ports.parse_spec(bad)


def test_publish_all_takes_the_image_expose():
    got = ports.parse_all(["8080:80"], True, {"80/tcp": {}, "53/udp": {}, "443": {}})
    assert PortMapping("", 8080, 80) in got and PortMapping("", 0, 53, "udp") in got
    assert PortMapping("", 0, 443) in got and len(got) == 3


def test_random_host_port_is_chosen_and_free():
    (m,) = ports.choose_host_ports([PortMapping("127.0.0.1", 0, 80)])
    assert m.host_port > 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", m.host_port))


def test_taken_port_is_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        taken = s.getsockname()[1]
        with pytest.raises(HostSetupError, match="already in use"):
            ports.choose_host_ports([PortMapping("127.0.0.1", taken, 80)])


def test_host_range_for_one_port_picks_a_free_one():
    # the port after the taken one may be another test's at the moment: then try another pair
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            taken = s.getsockname()[1]
            try:
                (m,) = ports.choose_host_ports(ports.parse_spec(f"127.0.0.1:{taken}-{taken + 1}:80"))
            except HostSetupError:
                continue  # both taken
            assert m.host_port == taken + 1
            return
    pytest.fail("no free port next to a taken one in 50 tries")


def test_privileged_port_is_refused(monkeypatch):
    monkeypatch.setattr(ports, "unprivileged_port_start", lambda: 1024)
    monkeypatch.setattr(ports.os, "getuid", lambda: 1000)
    with pytest.raises(HostSetupError, match="privileged"):
        ports.choose_host_ports([PortMapping("", 80, 80)])


def test_format_and_save(tmp_path):
    ms = [PortMapping("", 8080, 80), PortMapping("127.0.0.1", 5353, 53, "udp"), PortMapping("::1", 1, 2)]
    assert ports.format_ports(ms) == "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp, [::1]:1->2/tcp"
    ports.save(str(tmp_path), ms)
    assert ports.load(str(tmp_path)) == ms
    assert ports.for_container(str(tmp_path / "none"), {"publish": ["8080:80"]}) == [PortMapping("", 8080, 80)]


def test_resolv_conf_replaces_loopback_resolvers():
    out = etcfiles.resolv_conf("slirp4netns", HOST)
    assert out == "search example.org\nnameserver 10.0.2.3\nnameserver 192.0.2.1\noptions edns0\n"
    only_local = etcfiles.resolv_conf("slirp4netns", "nameserver 127.0.0.53\nnameserver ::1\n")
    assert only_local == "nameserver 10.0.2.3\n"


def test_resolv_conf_none_and_host():
    assert "127.0.0.53" not in etcfiles.resolv_conf("none", HOST)
    assert "127.0.0.53" in etcfiles.resolv_conf("host", HOST)  # the host's loopback is reachable there


def test_resolv_conf_flags_win():
    out = etcfiles.resolv_conf("slirp4netns", HOST, dns=["9.9.9.9"], search=["a.test", "b.test"],
                               options=["ndots:2"])
    assert out == "search a.test b.test\nnameserver 9.9.9.9\noptions ndots:2\n"
    assert "search" not in etcfiles.resolv_conf("slirp4netns", HOST, search=["."])
    with pytest.raises(UsageError):
        etcfiles.resolv_conf("slirp4netns", HOST, dns=["dns.example"])


def test_hosts():
    text = etcfiles.hosts("slirp4netns", "box", "10.0.2.100", ["web", "alias"], ["db:192.0.2.9", "v6:[::2]"])
    lines = text.splitlines()
    # podman 4.3's order: --add-host first, then the host's file (none here), localhost, the container
    assert lines[:4] == ["192.0.2.9\tdb", "::2\tv6", "127.0.0.1\tlocalhost", "::1\tlocalhost"]
    assert lines[-1] == "10.0.2.100\tbox web alias"
    # the host's file is the base (comments dropped); its localhost means no other is added
    text = etcfiles.hosts("slirp4netns", "box", "10.0.2.100", add_hosts=["a:1.2.3.4"],
                          host_text="# c\n127.0.0.1 localhost  # x\n10.1.1.1 foo foo.example\n\n", host_ip="192.0.2.2")
    assert text == ("1.2.3.4\ta\n127.0.0.1\tlocalhost\n10.1.1.1\tfoo foo.example\n"
                    "192.0.2.2\thost.containers.internal\n10.0.2.100\tbox\n")
    # --network host: the host's file, the hostname added only where it lacks it (issue 19 item 16)
    assert etcfiles.hosts("host", "box", host_text="127.0.0.1 localhost\n") == "127.0.0.1 localhost\n127.0.1.1\tbox\n"
    assert etcfiles.hosts("host", "box", host_text="127.0.0.1 localhost box\n") == "127.0.0.1 localhost box\n"
    # host.containers.internal on the host's address, unless --add-host names it (item 24)
    assert "192.0.2.2\thost.containers.internal\n" in etcfiles.hosts("slirp4netns", "box", host_ip="192.0.2.2")
    text = etcfiles.hosts("slirp4netns", "box", host_ip="192.0.2.2", add_hosts=["host.containers.internal:10.1.1.1"])
    assert "192.0.2.2" not in text and "10.1.1.1\thost.containers.internal" in text
    assert "127.0.1.1\tbox" in etcfiles.hosts("none", "box", None)
    with pytest.raises(UsageError):
        etcfiles.parse_add_host("nocolon")


def test_no_hosts_conflicts_with_add_host():
    with pytest.raises(UsageError):
        network.etc_texts(network.parse(None), "box", add_hosts=["a:1.2.3.4"], no_hosts=True)
    assert "/etc/hosts" not in network.etc_texts(network.parse(None), "box", no_hosts=True)


def test_slirp_argv():
    from rootless.network import slirp4netns
    feats = frozenset({"--enable-sandbox", "--enable-seccomp"})
    a = slirp4netns.argv("s", network.parse(None), 42, feats)
    assert a == ["s", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp"]
    a = slirp4netns.argv("s", network.parse("slirp4netns:allow_host_loopback=true,enable_ipv6=true"), 42, frozenset())
    assert "--disable-host-loopback" not in a and "--enable-ipv6" in a and "--enable-sandbox" not in a


def test_slirp_features_probed_once(tmp_path):
    import shutil

    from rootless.network import slirp4netns
    exe = shutil.which("slirp4netns")
    if exe is None:
        pytest.skip("slirp4netns is not installed")
    first = slirp4netns.features.__wrapped__(exe, str(tmp_path))
    assert "--enable-sandbox" in first and "--api-socket" in first
    assert (tmp_path / ".slirp4netns-features").exists()
    fake = tmp_path / ".slirp4netns-features"
    fake.write_text(fake.read_text().splitlines()[0] + "\n--from-cache")
    assert slirp4netns.features.__wrapped__(exe, str(tmp_path)) == frozenset({"--from-cache"})
