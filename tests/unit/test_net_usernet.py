"""User networks' bookkeeping without namespaces: network configs, address
reservation, members' /etc/hosts rewritten in place; and the start path
never importing pyroute2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rootless.config import Paths
from rootless.errors import ContainerError, UsageError
from rootless.network import networks, usernet


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "root", tmp_path / "run")


def test_create_allocates_free_subnets(paths):
    a = networks.create(paths, "a")
    b = networks.create(paths, "b")
    assert (a.subnet, a.gateway) == ("10.89.0.0/24", "10.89.0.1")
    assert b.subnet == "10.89.1.0/24" and a.bridge != b.bridge and len(a.bridge) <= 15
    c = networks.create(paths, "c", subnet="192.168.77.0/24")
    assert c.gateway == "192.168.77.1"
    assert [n.name for n in networks.all_networks(paths)] == ["a", "b", "c"]
    with pytest.raises(UsageError, match="overlaps"):
        networks.create(paths, "d", subnet="10.89.0.128/25")
    with pytest.raises(ContainerError, match="already exists"):
        networks.create(paths, "a")
    for bad in ("host", "none", "-x", "a b"):
        with pytest.raises(UsageError):
            networks.create(paths, bad)
    assert networks.inspect(a)["subnets"] == [{"subnet": "10.89.0.0/24", "gateway": "10.89.0.1"}]
    networks.remove(paths, "a")
    with pytest.raises(ContainerError, match="not found"):
        networks.load(paths, "a")


def test_reserve_addresses(paths):
    net = networks.create(paths, "n")
    assert usernet.reserve(paths, net, "c1", ["one"], None) == "10.89.0.2"
    assert usernet.reserve(paths, net, "c2", ["two"], "10.89.0.9") == "10.89.0.9"
    assert usernet.reserve(paths, net, "c3", ["three"], None) == "10.89.0.3"
    with pytest.raises(ContainerError, match="in use"):
        usernet.reserve(paths, net, "c4", ["four"], "10.89.0.9")
    for bad in ("10.89.1.5", "10.89.0.0", "10.89.0.255", "nope"):
        with pytest.raises(UsageError):
            usernet.reserve(paths, net, "c5", ["five"], bad)


def test_hosts_files_follow_members(paths, tmp_path):
    net = networks.create(paths, "n")
    files = {}
    for cid, names in (("c1", ["web", "www"]), ("c2", ["client"])):
        usernet.reserve(paths, net, cid, names, None)
        files[cid] = tmp_path / f"{cid}.hosts"
        files[cid].write_text(f"127.0.0.1\tlocalhost\n{cid}-own\n")
        usernet.publish_hosts(paths, "n", cid, str(files[cid]), files[cid].read_text())
    inode = files["c2"].stat().st_ino
    assert "10.89.0.2\tweb www" in files["c2"].read_text()
    assert "10.89.0.3\tclient" in files["c1"].read_text()
    assert files["c1"].read_text().startswith("127.0.0.1\tlocalhost\nc1-own\n")
    usernet.leave(paths, "n", "c1")
    assert "web" not in files["c2"].read_text()
    assert files["c2"].stat().st_ino == inode  # rewritten in place: the bind mount still shows it


def test_dead_members_are_dropped(paths):
    net = networks.create(paths, "n")
    usernet.reserve(paths, net, "c1", ["ghost"], None)
    path = usernet._members_path(paths, "n")
    path.write_text(path.read_text().replace('"owner": ', '"owner": 99999999, "x": '))
    assert usernet.peer_lines(paths, "n", "other") == ""


def test_the_run_path_never_imports_pyroute2():
    code = ("import sys\nfrom rootless.containers import run\nfrom rootless.network import slirp4netns, forwarder, "
            "usernet, networks, ports, pasta\nfrom rootless import network\n"
            "network.etc_texts(network.parse('none'), 'h')\n"
            "assert not [m for m in sys.modules if m.startswith('pyroute2')], 'pyroute2 imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hosts_files_union_of_shared_networks_only(paths, tmp_path):
    """A member of two networks sees both; the others see only their own."""
    front, back = networks.create(paths, "front"), networks.create(paths, "back")
    files = {}
    for cid, nets in (("f", [front]), ("b", [back]), ("both", [front, back])):
        for net in nets:
            usernet.reserve(paths, net, cid, [cid], None)
        files[cid] = tmp_path / f"{cid}.hosts"
        files[cid].write_text("base\n")
        usernet.publish_hosts(paths, nets[0].name, cid, str(files[cid]), "base\n")
    both = files["both"].read_text()
    assert "\tf\n" in both and "\tb\n" in both
    assert "\tboth\n" in files["f"].read_text() and "\tb\n" not in files["f"].read_text()
    assert "\tboth\n" in files["b"].read_text() and "\tf\n" not in files["b"].read_text()
    usernet.leave(paths, "back", "both")  # network disconnect
    assert "\tboth\n" not in files["b"].read_text() and "\tb\n" not in files["both"].read_text()
    assert "\tf\n" in files["both"].read_text()
    usernet.leave_all(paths, "both")
    assert "\tboth\n" not in files["f"].read_text()
