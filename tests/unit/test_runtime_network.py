from __future__ import annotations

import pytest

from rootless import network
from rootless.errors import UsageError

HOST = "search example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.1\noptions edns0\n"


def test_modes():
    assert network.parse_mode(None) == "slirp4netns"
    assert network.parse_mode("none") == "none"
    assert network.parse_mode("slirp4netns:port_handler=slirp4netns") == "slirp4netns"
    with pytest.raises(UsageError):
        network.parse_mode("bridge")


def test_resolv_conf_slirp_uses_its_dns_and_keeps_search():
    assert network.resolv_conf("slirp4netns", HOST) == "search example.org\noptions edns0\nnameserver 10.0.2.3\n"


def test_resolv_conf_drops_loopback_resolvers():
    out = network.resolv_conf("none", HOST)
    assert "127.0.0.53" not in out and "192.0.2.1" in out


def test_hosts():
    assert "10.0.2.100 box" in network.hosts("slirp4netns", "box")
    assert "127.0.0.1 localhost" in network.hosts("none", "box")
    assert "box" not in network.hosts("host", "box")
