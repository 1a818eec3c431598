"""issue 19 item 38: `run --mac-address`, the same invocations through
podman. Rootless podman (4.3 here, and its main branch: cmd/podman/common/
netflags.go, pkg/specgen/container_validate.go) gives the MAC only on a
user (bridge) network; with slirp4netns, pasta, host, none it refuses with
exit 125, and a malformed address is refused first. rl does the same."""

from __future__ import annotations

import pytest

from tests.podman import first_line_error, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse, pytest.mark.slirp4netns]

MAC = "92:d0:c6:0a:29:33"
SHOW = "cat /sys/class/net/*/address"



def _each(both):
    rl, podman, img = both
    return (("rl", rl.run, "debian:bookworm"), ("podman", podman.run, img))


def test_mac_address_on_a_user_network(both):
    seen = {}
    for tool, run, image in _each(both):
        assert run("network", "create", "macnet").returncode == 0
        # any of podman's spellings (Go's net.ParseMAC), given back in lower case with colons
        for given in (MAC, MAC.upper().replace(":", "-"), "92d0.c60a.2933"):
            res = run("run", "--rm", "--network", "macnet", "--mac-address", given, image, "sh", "-c", SHOW)
            assert res.returncode == 0, (tool, given, res.stderr)
            seen[tool, given] = sorted(res.stdout.split())
    print(seen)
    for key, addrs in seen.items():  # lo and the interface of the network, with the MAC asked for
        assert addrs == ["00:00:00:00:00:00", MAC], key


@pytest.mark.parametrize("network", [None, "slirp4netns", "none", "host"])
def test_mac_address_refused_where_podman_refuses(both, network):
    codes = {}
    for tool, run, image in _each(both):
        net = ("--network", network) if network else ()
        res = run("run", "--rm", *net, "--mac-address", MAC, image, "true")
        codes[tool] = res.returncode
        if tool == "rl":
            assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2, res.stderr
            assert "--mac-address can only be set when the network mode is bridge" in first_line_error(res.stderr)
        else:
            assert "Bridge mode" in res.stderr or "network mode is bridge" in res.stderr, res.stderr
    assert codes == {"rl": 125, "podman": 125}
    rl = both[0]
    assert rl.run("ps", "-aq").stdout.strip() == ""  # refused before anything was created


@pytest.mark.parametrize("bad", ["zz:23:45:67:89:ab", "02:23:45:67:89", "02:23:45:67:89:ab:cd", "0223456789ab"])
def test_invalid_mac_address_is_one_line_125(both, bad):
    rl, podman, img = both
    res = rl.run("run", "--rm", "--mac-address", bad, "debian:bookworm", "true")
    pres = podman.run("run", "--rm", "--mac-address", bad, img, "true")
    assert (res.returncode, pres.returncode) == (125, 125), (res.stderr, pres.stderr)
    assert first_line_error(res.stderr) == first_line_error(pres.stderr) == f"Error: address {bad}: invalid MAC address"
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("bad", ["01:23:45:67:89:ab", "00:00:00:00:00:00"])
def test_mac_address_no_interface_can_have(rl, bad):
    """podman lets these through to the kernel (`failed to make veth pair:
    cannot assign requested address`, exit 126); rl names the reason, 125."""
    rl.run("network", "create", "macnet")
    res = rl.run("run", "--rm", "--network", "macnet", "--mac-address", bad, "--rootfs", "/", "true")
    assert res.returncode == 125 and "cannot be an interface's" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
