"""The calls podman-compose makes that rl lacked, each on its own (issue 13):
`--network NAME:alias=...,ip=...`, `--requires`, ports published from a
container on a user network, `logs -n/--names/--color` with several containers."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.composekit import (FETCH, UDP_ECHO, WEB, free_port, port_listens, processes_naming,
                                          read_port, udp_echo, until)
from tests.podman import load_image, podman  # noqa: F401 - the oracle fixture

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

IMAGE = "debian:bookworm"


@pytest.fixture
def rln(rlr):
    rlr.run("pull", "-q", IMAGE, check=True)
    yield rlr
    rlr.run("rm", "-f", "--all", timeout=120)
    for name in rlr.run("network", "ls", "--format", "{{.Name}}").stdout.split():
        rlr.run("network", "rm", "-f", name)


def test_network_with_aliases_and_address_as_podman_compose_passes_it(rln):
    rln.run("network", "create", "cnet", check=True)
    res = rln.run("run", "-d", "--name", "web", "--network", "cnet:alias=www,alias=front,ip=10.89.0.77", IMAGE,
                  "perl", "-e", WEB)
    assert res.returncode == 0, res.stderr
    for target in ("web", "www", "front", "10.89.0.77"):
        res = rln.run("run", "--rm", "--network", "cnet", IMAGE, "bash", "-c", FETCH.format(target))
        assert (res.returncode, res.stdout.strip()) == (0, "hello from web"), (target, res.stderr)
    # recorded as the plain network, with its aliases
    fmt = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}"
    assert rln.run("inspect", "web", "--format", fmt, check=True).stdout.strip() == "cnet"
    # an option rl's networks do not have: one line naming it, status 125
    res = rln.run("create", "--network", "cnet:mac=02:00:00:00:00:01", IMAGE, "true")
    assert res.returncode == 125 and "'mac'" in res.stderr and "Traceback" not in res.stderr
    res = rln.run("create", "--network", "cnet:alias", IMAGE, "true")
    assert res.returncode == 125 and "KEY=VALUE" in res.stderr


def test_requires_starts_the_required_containers_first(rln):
    assert rln.run("create", "--name", "db", IMAGE, "sleep", "infinity").returncode == 0
    assert rln.run("create", "--name", "mid", "--requires", "db", IMAGE, "sleep", "infinity").returncode == 0
    res = rln.run("create", "--name", "app", "--requires=mid", IMAGE, "sleep", "infinity")
    assert res.returncode == 0, res.stderr
    rln.run("start", "app", check=True)
    states = rln.run("ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout.split("\n")
    assert sorted(s for s in states if s) == ["app running", "db running", "mid running"]
    # a requirement that does not exist: nothing created
    res = rln.run("create", "--name", "orphan", "--requires", "db,nosuch", IMAGE, "true")
    assert res.returncode == 125 and "nosuch" in res.stderr
    assert "orphan" not in rln.run("ps", "-a", "--format", "{{.Names}}", check=True).stdout


def test_requires_differs_from_podman_only_in_words(rln, podman, registry):
    img = load_image(podman, registry)
    for tool, image in ((rln, IMAGE), (podman, img)):
        res = tool.run("create", "--name", "x", "--requires", "nosuch", image, "true")
        assert res.returncode == 125, (tool, res.stderr)
        assert "nosuch" in res.stderr


def test_ports_published_from_a_user_network(rln):
    rln.run("network", "create", "pnet", check=True)
    tcp, udp = free_port(), free_port()
    res = rln.run("run", "-d", "--name", "web", "--network", "pnet", "-p", f"127.0.0.1:{tcp}:80",
                  "-p", f"127.0.0.1:{udp}:5353/udp", IMAGE, "bash", "-c",
                  f"perl -e '{UDP_ECHO}' & exec perl -e '{WEB}'")
    assert res.returncode == 0, res.stderr
    assert read_port(tcp) == "hello from web\n"
    assert udp_echo(udp, payload=b"hi") == b"echo:hi"
    assert rln.run("port", "web", check=True).stdout.split("\n")[:2] == [
        f"80/tcp -> 127.0.0.1:{tcp}", f"5353/udp -> 127.0.0.1:{udp}"]
    # still reachable by name on the network
    res = rln.run("run", "--rm", "--network", "pnet", IMAGE, "bash", "-c", FETCH.format("web"))
    assert res.stdout.strip() == "hello from web", res.stderr
    rln.run("rm", "-f", "web", check=True)
    assert not port_listens(tcp)
    # no forwarder, no netns keeper left
    assert until(lambda: not processes_naming(rln.base), timeout=10), processes_naming(rln.base)


def test_logs_of_several_containers_prefixed_as_podman(rln, podman, registry):
    img = load_image(podman, registry)
    out = {}
    for tool, image in ((rln, IMAGE), (podman, img)):
        ids = []
        for name, word in (("one", "first"), ("two", "second")):
            res = tool.run("run", "--name", name, image, "echo", word)
            assert res.returncode == 0, res.stderr
            ids.append(tool.run("inspect", name, "--format", "{{.Id}}").stdout.strip()[:12])
        both = tool.run("logs", "one", "two")
        names = tool.run("logs", "-n", "one", "two")
        single = tool.run("logs", "--names", "one")
        colored = tool.run("logs", "--color", "one")
        colored_n = tool.run("logs", "--color", "-n", "one", "two")
        out[tool is rln] = (ids, both.stdout, names.stdout, single.stdout, colored.stdout, colored_n.stdout)
    for ids, both, names, single, colored, colored_n in out.values():
        assert sorted(both.splitlines()) == sorted([f"{ids[0]} first", f"{ids[1]} second"])
        assert sorted(names.splitlines()) == ["one first", "two second"]
        assert single == "first\n"  # podman 4.3: one container is never prefixed, -n or not
        # --color: each line wrapped in its container's colour
        assert colored == "\x1b[37mfirst\x1b[0m\n"
        assert sorted(colored_n.splitlines()) == ["\x1b[31mtwo second\x1b[0m", "\x1b[37mone first\x1b[0m"]
    assert rln.run("logs", "--tail", "1", "one", check=True).stdout == "first\n"


def test_logs_of_several_containers_in_time_order_and_followed(rln):
    """podman-compose runs `logs --color -n C1 C2` for a service's replicas (and `-f` for logs -f):
    the lines of all of them in the order they were written, each with its container's name,
    also while following (before, rl printed C1's whole log, and with -f never reached C2)."""
    # the two take turns through files in a shared directory (a loaded machine may start `two`
    # seconds after `one`); each waits a second after its turn so that both monitors have read
    # the line before the other writes its next one
    turns = rln.base / "turns"
    turns.mkdir()
    wait = "until [ -e /t/{0} ]; do sleep 0.1; done; sleep 1"
    for name, script in (("one", f"echo a1; touch /t/a1; {wait.format('b1')}; echo a2; touch /t/a2"),
                         ("two", f"{wait.format('a1')}; echo b1; touch /t/b1; {wait.format('a2')}; echo b2")):
        rln.run("run", "-d", "--name", name, "-v", f"{turns}:/t", IMAGE, "bash", "-c", script, check=True)
    followed = rln.popen("logs", "-f", "-n", "one", "two", stdout=subprocess.PIPE)
    out, _ = followed.communicate(timeout=120)  # -f ends when both containers have ended
    assert followed.returncode == 0
    order = ["one a1", "two b1", "one a2", "two b2"]
    assert out.decode().splitlines() == order
    assert rln.run("logs", "-n", "one", "two", check=True).stdout.splitlines() == order
    ids = [rln.run("inspect", n, "--format", "{{.Id}}", check=True).stdout[:12] for n in ("one", "two")]
    colored = rln.run("logs", "--color", "one", "two", check=True).stdout.splitlines()
    assert colored == [f"\x1b[{c}m{ids[i]} {w}\x1b[0m" for i, c, w in ((0, 37, "a1"), (1, 31, "b1"),
                                                                          (0, 37, "a2"), (1, 31, "b2"))]


def test_mount_bind_volume_and_tmpfs(rln, tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "f").write_text("from the host\n")
    script = ("cat /conf/f; echo kept > /data/x; grep -E ' /run/x tmpfs .*size=1024k' /proc/mounts >/dev/null"
              " && echo tmpfs ok; touch /conf/new 2>/dev/null || echo conf ro")
    res = rln.run("run", "--rm", "--mount", f"type=bind,source={conf},destination=/conf,ro",
                  "--mount", "type=volume,source=vdata,destination=/data",
                  "--mount", "type=tmpfs,destination=/run/x,tmpfs-size=1m", IMAGE, "bash", "-c", script)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:3] == ["from the host", "tmpfs ok", "conf ro"]
    res = rln.run("run", "--rm", "-v", "vdata:/data", IMAGE, "cat", "/data/x")
    assert res.stdout == "kept\n"
    res = rln.run("run", "--rm", "--mount", "type=image,source=x,destination=/i", IMAGE, "true")
    assert res.returncode == 125 and "type=image" in res.stderr and "Traceback" not in res.stderr


def test_start_names_only_what_it_started_as_podman(rln, podman, registry):
    """podman-compose's `run` (and `up` of a project already up) calls `start` on running
    containers: podman prints nothing for those, only the names of those it started (rl once
    printed every name, which landed in `podman-compose run`'s output)."""
    img = load_image(podman, registry)
    seen = {}
    for tool, image in ((rln, IMAGE), (podman, img)):
        assert tool.run("run", "-d", "--name", "up", image, "sleep", "600").returncode == 0
        assert tool.run("create", "--name", "down", image, "sleep", "600").returncode == 0
        running = tool.run("start", "up")
        both = tool.run("start", "up", "down")
        seen[tool is rln] = [(running.returncode, running.stdout), (both.returncode, both.stdout)]
        tool.run("rm", "-f", "-t", "0", "up", "down")
    assert seen[True] == seen[False] == [(0, ""), (0, "down\n")]
