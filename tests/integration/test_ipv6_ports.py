"""issue 19 item 33: `-p '[::1]:PORT:80'` failed with a slirp4netns error
(and a hint about the port being taken) and left an `Exited (125)`
container; `-p PORT:80` did not answer on [::1]. Loopback only: the same
container through rl and podman, reached over IPv6 and IPv4."""

from __future__ import annotations

import socket

import pytest

from tests.integration.composekit import ECHO_LINE, UDP_ECHO, free_port, read_port, udp_echo
from tests.integration.podman_own_run import podman, podman_own  # noqa: F401 - fixtures
from tests.podman import load_image

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

SERVER = ECHO_LINE


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _ipv6():
    if not _has_ipv6_loopback():
        pytest.skip("this host has no IPv6 loopback (::1)")


@pytest.fixture
def both(rl, registry, podman_own):  # noqa: F811
    rl.env.update(registry.env())
    img = load_image(podman_own, registry)
    assert rl.run("pull", "-q", "debian:bookworm").returncode == 0
    yield (("rl", rl.run, "debian:bookworm"), ("podman", podman_own.run, img))
    rl.run("rm", "-f", "-t", "0", "web")
    podman_own.run("rm", "-f", "-t", "0", "web")


def test_publish_on_ipv6_loopback_address(both):
    seen = {}
    for tool, run, image in both:
        port = free_port(("::1", "127.0.0.1"))
        res = run("run", "-d", "--name", "web", "-p", f"[::1]:{port}:80", image, "perl", "-e", SERVER)
        assert res.returncode == 0, (tool, res.stderr)
        seen[tool] = {"v6": read_port(port, "::1", send="v6"), "port": run("port", "web").stdout.strip()}
        run("rm", "-f", "-t", "0", "web")
        seen[tool]["port"] = seen[tool]["port"].replace(str(port), "PORT")
    print(seen)
    assert seen["rl"] == seen["podman"]
    assert seen["rl"]["v6"] == "hello over v6\n"
    assert seen["rl"]["port"] == "80/tcp -> ::1:PORT"


def test_port_on_every_address_answers_on_ipv6_and_ipv4(both):
    seen = {}
    for tool, run, image in both:
        port = free_port(("::1", "127.0.0.1"))
        res = run("run", "-d", "--name", "web", "-p", f"{port}:80", image, "perl", "-e", SERVER)
        assert res.returncode == 0, (tool, res.stderr)
        seen[tool] = {"v6": read_port(port, "::1", send="v6"), "v4": read_port(port, "127.0.0.1", send="v4")}
        run("rm", "-f", "-t", "0", "web")
    print(seen)
    assert seen["rl"] == seen["podman"] == {"v6": "hello over v6\n", "v4": "hello over v4\n"}


def test_udp_on_ipv6_loopback(both):
    seen = {}
    for tool, run, image in both:
        port = free_port(("::1",), socket.SOCK_DGRAM)
        res = run("run", "-d", "--name", "web", "-p", f"[::1]:{port}:5353/udp", image, "perl", "-e", UDP_ECHO)
        assert res.returncode == 0, (tool, res.stderr)
        seen[tool] = udp_echo(port, "::1")
        run("rm", "-f", "-t", "0", "web")
    print(seen)
    assert seen["rl"] == seen["podman"] == b"echo:ping"


def test_ipv6_port_taken_is_refused_before_start_naming_the_address(rl, registry):
    rl.env.update(registry.env())
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = rl.run("run", "--name", "web", "-p", f"[::1]:{port}:80", "debian:bookworm", "true")
    assert res.returncode == 125
    assert f"[::1]:{port}" in res.stderr or f"::1:{port}" in res.stderr, res.stderr
    assert "slirp4netns" not in res.stderr and "Traceback" not in res.stderr
