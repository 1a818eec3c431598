"""podman-compose (PyPI, unchanged) driving rl through --podman-path, with
--in-pod=false (pods are issue 13's later slice), against compose projects the
test writes. Images are the loopback registry's, named fully qualified in the
compose files: nothing ever reaches docker.io. Servers use perl (perl-base is in
the minbase image; python is not)."""

from __future__ import annotations

import json
import shlex
import time

import pytest

from tests.integration.composekit import (FETCH, SAW, compose_quote, free_port, free_port_pair, port_listens,
                                          processes_naming, read_port, require_podman_compose, rl_compose, udp_echo,
                                          until, write_project_a, write_project_b, write_project_c,
                                          write_project_d)
from tests.podman import podman  # noqa: F401 - the oracle fixture

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]


@pytest.fixture
def compose(rlr, registry, tmp_path, request):
    require_podman_compose()
    image = f"{registry.plain}/library/debian:bookworm"
    rlr.run("pull", "-q", "--tls-verify=false", image, check=True)
    c = rl_compose(rlr, tmp_path / "proj", in_pod=getattr(request, "param", False))
    c.rl, c.image = rlr, image
    yield c
    rlr.run("rm", "-f", "--all", timeout=120)
    for name in rlr.run("network", "ls", "--format", "{{.Name}}").stdout.split():
        rlr.run("network", "rm", "-f", name)
    rlr.run("volume", "prune", "-f")


def _ids(rl) -> list[str]:
    return rl.run("ps", "-a", "-q", check=True).stdout.split()


def _helpers_left(rl) -> list[str]:
    """This rl's processes still alive (not zombies): monitors, slirp4netns, forwarders, netns keepers."""
    return processes_naming(rl.base)


def test_project_a_web_and_client_by_service_name(compose):
    port = free_port()
    write_project_a(compose, compose.image, port)
    rl = compose.rl
    compose.ok("up", "-d")
    try:
        # the published port answers from the host; the client reaches web by its service name
        assert read_port(port) == "hello from web\n"
        out = compose.ok("exec", "-T", "client", "bash", "-c", FETCH.format("web"))
        assert out.strip() == "hello from web"
        ps = compose.ok("ps")
        assert "proj_web_1" in ps and "proj_client_1" in ps and f"127.0.0.1:{port}->80/tcp" in ps
        listed = json.loads(rl.run("ps", "-a", "--filter", "label=io.podman.compose.project=proj",
                                   "--format", "json", check=True).stdout)
        assert sorted(c["Names"][0] for c in listed) == ["proj_client_1", "proj_web_1"]
        assert all(c["State"] == "running" for c in listed)
        logs = compose.ok("logs", "web")
        assert "web ready" in logs
        # a one-off container of the client service, removed afterwards
        out = compose.ok("run", "--rm", "-T", "client", "bash", "-c", FETCH.format("web"))
        assert "hello from web" in out
        assert len(_ids(rl)) == 2
        compose.ok("stop")
        states = rl.run("ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout.split("\n")
        assert sorted(s for s in states if s) == ["proj_client_1 exited", "proj_web_1 exited"]
        assert not port_listens(port)
        compose.ok("start")
        assert read_port(port) == "hello from web\n"
        out = compose.ok("exec", "-T", "client", "bash", "-c", FETCH.format("web"))
        assert out.strip() == "hello from web"
    finally:
        res = compose.run("down")
    assert res.returncode == 0, res.stderr
    # nothing left: no container, no network, no listening port, no helper process
    assert _ids(rl) == []
    assert rl.run("network", "ls", "-q", check=True).stdout.split() == []
    assert not port_listens(port)
    assert until(lambda: not _helpers_left(rl), timeout=10), _helpers_left(rl)


def test_version_shapes_podman_compose_reads(compose):
    """podman-compose runs `--version` first (it stopped there with status 125 before) and takes
    the last word as podman's version: rl's own version comes third (podman's `podman version X`
    shape) and, last, the podman level rl follows, at which podman-compose enforces
    `condition: service_healthy` (below 4.6.0 it skips it with a warning)."""
    from rootless import system
    version = __import__("rootless").__version__
    line = f"rl version {version} (podman {system.PODMAN_API_VERSION})\n"
    assert system.PODMAN_API_VERSION == "4.6.0"
    assert compose.rl.run("--version", check=True).stdout == line
    assert compose.rl.run("-v", check=True).stdout == line
    assert compose.rl.run("--version", check=True).stdout.split()[2] == version
    out = compose.ok("version").splitlines()
    assert line.strip() in out and "podman-compose version 1.6.0" in out  # order: pipes' buffering
    compose.write("services:\n  a:\n    image: x\n")
    res = compose.run("--verbose", "config")
    assert res.returncode == 0, res.stderr
    assert "using podman version: 4.6.0" in res.stderr
    # what podman-compose decides from it: healthy/unhealthy conditions and `up --wait` are enforced
    pc = __import__("podman_compose")
    seen = res.stderr.split("using podman version: ")[1].split()[0]
    assert not pc.strverscmp_lt(seen, "4.6.0") and pc.strverscmp_lt(seen, "5.6.0")


def test_version_matches_podman_on_the_fields_both_have(rl, podman):
    mine = rl.run("version", "--format", "json", check=True)
    theirs = podman.run("version", "--format", "json")
    assert theirs.returncode == 0, theirs.stderr
    a, b = json.loads(mine.stdout)["Client"], json.loads(theirs.stdout)["Client"]
    shared = set(a) & set(b)
    assert {"APIVersion", "Version", "GitCommit", "BuiltTime", "Built", "OsArch", "Os"} <= shared
    for k in shared:
        assert type(a[k]) is type(b[k]), k
    assert (a["OsArch"], a["Os"]) == (b["OsArch"], b["Os"])
    assert a["Version"] == __import__("rootless").__version__
    # templates: the client's fields, .Server's read as the client's where there is no service (as podman)
    for tpl in ("{{.Client.Os}}", "{{.Server.Os}}", "{{.Client.OsArch}}|{{.Client.GitCommit}}|"):
        r, p = rl.run("version", "--format", tpl), podman.run("version", "--format", tpl)
        assert (r.returncode, r.stdout) == (p.returncode, p.stdout), tpl
    assert rl.run("version", "--format", "{{.Client.Version}}").stdout == a["Version"] + "\n"
    # an unknown field and an argument: errors, status 125, as podman's
    for args in (("version", "--format", "{{.Nope}}"), ("version", "extra")):
        r, p = rl.run(*args), podman.run(*args)
        assert r.returncode == p.returncode == 125, args
        assert r.stderr.startswith("Error:")
    # the table: podman's labels and alignment, rl's own engine line and Python in place of Go
    table = rl.run("version", check=True).stdout.splitlines()
    labels = [ln.split(":")[0] for ln in table]
    assert labels == ["Client", "Version", "API Version", "Python Version", "Built", "OS/Arch"]
    assert len({len(ln) - len(ln[ln.index(":") + 1:].lstrip()) for ln in table}) == 1  # one value column
    assert table[1].split()[-1] == a["Version"] and table[2].split()[-1] == a["APIVersion"]


def test_project_d_env_files_overrides_restart_tmpfs_port_ranges_udp(compose):
    rl = compose.rl
    p1 = free_port_pair()
    udp = free_port()
    write_project_d(compose, compose.image, p1, udp)
    compose.ok("up", "-d")
    try:
        assert read_port(p1) == "port 8000\n"
        assert read_port(p1 + 1) == "port 8001\n"
        assert udp_echo(udp) == b"echo:ping"
        logs = compose.ok("logs", "app")
        assert "env from-env-file yes-compose" in logs and "tmpfs ok" in logs
        fmt = "{{.HostConfig.RestartPolicy.Name}} {{.RestartCount}}"
        assert rl.run("inspect", "proj_app_1", "--format", fmt, check=True).stdout.split() == ["unless-stopped", "0"]
        # its main process dies: the policy brings it back, with its ports
        # the exec's own bash ends with 0, or with 137 when PID 1's exit tore
        # the PID namespace down (killing everything in it) before bash exited
        res = compose.run("exec", "-T", "app", "bash", "-c", "kill -TERM 1")
        assert res.returncode in (0, 137), res.stderr
        deadline = time.monotonic() + 60
        while rl.run("inspect", "proj_app_1", "--format", "{{.RestartCount}}").stdout.strip() in ("", "0"):
            assert time.monotonic() < deadline, "not restarted"
            time.sleep(0.2)
        assert read_port(p1) == "port 8000\n"
        assert udp_echo(udp) == b"echo:ping"
        # stopped by the user: unless-stopped leaves it stopped
        compose.ok("stop")
        assert rl.run("ps", "-a", "--format", "{{.State}}", check=True).stdout.strip() == "exited"
        assert not port_listens(p1)
    finally:
        res = compose.run("down")
    assert res.returncode == 0, res.stderr
    assert _ids(rl) == []
    assert rl.run("network", "ls", "-q", check=True).stdout.split() == []
    assert not port_listens(p1) and not port_listens(p1 + 1)


def _fetch(compose, service: str, target: str) -> str:
    """What TARGET:80 answers to SERVICE (exec), or the exec's error."""
    res = compose.run("exec", "-T", service, "bash", "-c", FETCH.format(target))
    return res.stdout if res.returncode == 0 else f"exit {res.returncode}: {res.stderr.strip()[-200:]}"


def _nothing_left(compose, rl, port: int) -> None:
    assert _ids(rl) == []
    assert rl.run("pod", "ps", "-q", check=True).stdout.split() == []
    assert rl.run("network", "ls", "-q", check=True).stdout.split() == []
    assert not port_listens(port)
    assert until(lambda: not _helpers_left(rl), timeout=10), _helpers_left(rl)


def test_project_b_two_networks_aliases_volume_and_healthy_dependency(compose):
    rl = compose.rl
    port = free_port()
    write_project_b(compose, compose.image, port)
    compose.ok("up", "-d")
    try:
        # api started only once db was healthy: it read the file db wrote 3 s after its start
        assert read_port(port) == "api saw db-ready\n"
        assert rl.run("inspect", "proj_db_1", "--format", "{{.State.Health.Status}}", check=True).stdout == "healthy\n"
        # between services, by service name and by alias, on each network
        assert _fetch(compose, "web", "api") == "api saw db-ready\n"
        assert _fetch(compose, "web", "apifront") == "api saw db-ready\n"
        assert _fetch(compose, "api", "db") == "db saw no-note\n"
        assert _fetch(compose, "api", "database") == "db saw no-note\n"
        resolves = {(s, n): compose.run("exec", "-T", s, "getent", "hosts", n).returncode == 0
                    for s, n in (("db", "api"), ("db", "apiback"), ("api", "web"), ("web", "db"),
                                 ("web", "database"), ("web", "apiback"), ("db", "web"), ("db", "apifront"))}
        # the back-only db is no name on the front network, nor web or front's aliases on the back one
        assert resolves == {("db", "api"): True, ("db", "apiback"): True, ("api", "web"): True,
                            ("web", "db"): False, ("web", "database"): False, ("web", "apiback"): False,
                            ("db", "web"): False, ("db", "apifront"): False}
        assert not _fetch(compose, "web", "db").startswith("db saw")
        ps = compose.ok("ps")
        assert all(f"proj_{s}_1" in ps for s in ("db", "api", "web")) and f"127.0.0.1:{port}->80/tcp" in ps
        assert "db up, saw no-note" in compose.ok("logs", "db")
        assert "api up, saw db-ready" in compose.ok("logs", "api")
        out = compose.ok("run", "--rm", "-T", "web", "bash", "-c", FETCH.format("apifront"))
        assert "api saw db-ready" in out
        assert len(_ids(rl)) == 3
        # the named volume: written now, read by db at its next start (after stop/start, and after down/up)
        compose.ok("exec", "-T", "db", "bash", "-c", "echo kept-note > /data/note")
        compose.ok("stop")
        states = rl.run("ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout.split("\n")
        assert sorted(s for s in states if s) == ["proj_api_1 exited", "proj_db_1 exited", "proj_web_1 exited"]
        assert not port_listens(port)
        compose.ok("start")
        assert read_port(port).startswith("api saw ")
        assert until(lambda: _fetch(compose, "api", "database") == "db saw kept-note\n", timeout=30)
    finally:
        res = compose.run("down")
    assert res.returncode == 0, res.stderr
    _nothing_left(compose, rl, port)
    assert "proj_store" in rl.run("volume", "ls", "-q", check=True).stdout.split()  # down keeps volumes
    compose.ok("up", "-d")
    try:
        assert read_port(port) == "api saw db-ready\n"
        assert _fetch(compose, "api", "db") == "db saw kept-note\n"  # written before down, read after up
        assert _fetch(compose, "web", "apifront") == "api saw db-ready\n"
    finally:
        res = compose.run("down", "-v")
    assert res.returncode == 0, res.stderr
    _nothing_left(compose, rl, port)
    assert rl.run("volume", "ls", "-q", check=True).stdout.split() == []  # down -v removes the project's


def _published(rl, name: str) -> int:
    """The host port `rl port` gives for NAME's 80/tcp (published on a random loopback port)."""
    out = rl.run("port", name, "80/tcp", check=True).stdout.split()
    return int(out[0].rsplit(":", 1)[1])


@pytest.mark.parametrize("compose,how", [(True, "deploy"), (False, "scale")], indirect=["compose"],
                         ids=["in-pod-deploy-replicas", "no-pod-up-scale"])
def test_project_c_in_pod_and_replicas_all_answering(compose, how):
    """Two replicas of web, from the file (`deploy: replicas: 2`, with --in-pod=true: podman-compose's
    pod, `--infra=false --share=`) or from `up --scale web=2` (--in-pod=false). podman-compose knows
    scaled replicas only in `up`: its later logs/stop/start act on web_1 alone, and `down` leaves
    web_2 to --remove-orphans (as under podman)."""
    rl = compose.rl
    in_file = how == "deploy"
    write_project_c(compose, compose.image, replicas_in_file=in_file)
    compose.ok("up", "-d", *(() if in_file else ("--scale", "web=2")))
    names = ["proj_client_1", "proj_web_1", "proj_web_2"]
    ports = {}
    try:
        assert sorted(rl.run("ps", "--format", "{{.Names}}", check=True).stdout.split()) == names
        pods = rl.run("pod", "ps", "--format", "{{.Name}}", check=True).stdout.split()
        assert pods == (["pod_proj"] if compose.in_pod else [])
        in_pod = rl.run("ps", "-a", "--filter", "pod=pod_proj", "--format", "{{.Names}}").stdout.split()
        assert sorted(in_pod) == (names if compose.in_pod else [])
        # each replica answers, from the host (its own published port) and from the client (by container name)
        seen = set()
        for n in ("proj_web_1", "proj_web_2"):
            ports[n] = _published(rl, n)
            answer = read_port(ports[n])
            assert answer.startswith("web saw "), answer
            assert _fetch(compose, "client", n) == answer
            seen.add(answer)
        assert len(seen) == 2  # two replicas, two hosts
        # the service name resolves to the replicas (both, as aardvark-dns answers)
        out = compose.run("exec", "-T", "client", "getent", "ahostsv4", "web").stdout
        assert len({ln.split()[0] for ln in out.splitlines()}) == 2, out
        assert _fetch(compose, "client", "web") in seen
        assert compose.ok("ps").count("proj_web_") == 2
        logs = compose.ok("logs", "web")
        assert logs.count("web up, saw ") == (2 if in_file else 1), logs
        out = compose.ok("run", "--rm", "-T", "client", "bash", "-c", FETCH.format("proj_web_2"))
        assert out in seen
        assert len(_ids(rl)) == 3
        compose.ok("stop")
        assert rl.run("ps", "--format", "{{.Names}}", check=True).stdout.split() == ([] if in_file else ["proj_web_2"])
        assert [port_listens(p) for p in ports.values()] == [False, not in_file]
        compose.ok("start")
        for n in ("proj_web_1", "proj_web_2"):
            assert read_port(_published(rl, n)).startswith("web saw ")
    finally:
        # scaled: web_2 is an orphan to podman-compose; and the images go too (`rmi --ignore --force`)
        res = compose.run("down", *(() if in_file else ("--remove-orphans", "--rmi", "all")))
    assert res.returncode == 0, res.stderr
    assert _ids(rl) == []
    assert rl.run("pod", "ps", "-q", check=True).stdout.split() == []
    assert rl.run("network", "ls", "-q", check=True).stdout.split() == []
    assert not any(port_listens(p) for p in ports.values())
    assert until(lambda: not _helpers_left(rl), timeout=10), _helpers_left(rl)
    if not in_file:
        assert rl.run("images", "-q", check=True).stdout == ""


# compose files asking for what rl cannot do (or cannot do now): the service or pod option, the rl
# error line podman-compose shows for it, and whether `up -d` starts anything before it fails
BAD_INPUT = {
    # `pid: host` -> create --pid host: rl's containers always have their own PID namespace
    "pid-host": ("    pid: host\n", "", "Error: --pid is not supported by rl: every rl container has its own PID"),
    # `ipc: host` is dropped by podman-compose 1.6; `devices:` -> create --device
    "device": ("    devices:\n      - /dev/fuse\n", "", "Error: --device is not supported by rl: rl passes no host"),
    # the project's pod sharing the PID namespace (x-podman pod_args): rl's pods share ipc, net, uts only
    "pod-share-pid": ("", 'x-podman:\n  pod_args: ["--infra=true", "--share=ipc,net,uts,pid"]\n',
                      "Error: --share pid: rl's pods share the ipc, net and uts namespaces only"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_one_line_error_and_down_leaves_nothing(compose, case):
    """A service rl cannot create beside one it can (published port, the project's network; podman-compose
    creates every container, then starts them): `up -d` fails with rl's one-line error naming the flag
    and why (no traceback anywhere in podman-compose's output), and `down` then removes everything up
    made: no container, pod, network, helper process or listening port. (No depends_on: podman-compose
    waits for ever on a dependency whose container was never created, `wait --condition=running`
    failing, under podman too.)"""
    rl = compose.rl
    option, top, error = BAD_INPUT[case]
    compose.in_pod = case == "pod-share-pid"  # (--in-pod=false would override the file's pod)
    port = free_port()
    web = f"exec perl -e {shlex.quote(SAW)} web started"
    compose.write(f"""{top}
services:
  web:
    image: {compose.image}
    init: true
    command: ["bash", "-c", {compose_quote(web)}]
    ports:
      - "127.0.0.1:{port}:80"
  bad:
    image: {compose.image}
    command: ["sleep", "infinity"]
{option}""")
    res = compose.run("up", "-d")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "Traceback" not in out and "internal error" not in out, out
    errors = [ln for ln in out.splitlines() if ln.startswith("Error:")]
    assert errors and errors[0].startswith(error), out
    if case != "pod-share-pid":  # the good service was created and started before the bad one failed
        assert read_port(port) == "web saw started\n"
    res = compose.run("down")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    _nothing_left(compose, rl, port)
