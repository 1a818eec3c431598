"""podman-compose (PyPI, unchanged) driving rl through --podman-path, with
--in-pod=false (pods are issue 13's later slice), against compose projects the
test writes. Images are the loopback registry's, named fully qualified in the
compose files: nothing ever reaches docker.io. Servers use perl (perl-base is in
the minbase image; python is not)."""

from __future__ import annotations

import json
import os
import shlex
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.podman import podman  # noqa: F401 - the oracle fixture

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

WEB = (r'use IO::Socket::INET; $|=1; my $s=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1)'
       r' or die "listen: $!"; print "web ready\n"; while (my $c=$s->accept) { print $c "hello from web\n"; close $c }')
FETCH = "exec 3<>/dev/tcp/{}/80 && cat <&3"


def _require_podman_compose() -> None:
    res = subprocess.run([sys.executable, "-c", "import podman_compose"], capture_output=True)
    if res.returncode != 0:
        msg = "podman-compose is not installed in the test venv (pyproject.toml's test extras bring it)"
        if IN_CI:
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


def _compose_quote(text: str) -> str:
    """A YAML single-quoted scalar with compose's interpolation escaped ($ -> $$)."""
    return "'" + text.replace("$", "$$").replace("'", "''") + "'"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_port(port: int, deadline: float = 60) -> str:
    """What a TCP server on the host's loopback port says (retried until it answers)."""
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            if data:
                return data.decode()
        except OSError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"nothing answers on 127.0.0.1:{port}")
        time.sleep(0.2)


def port_listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Compose:
    """podman-compose from the test venv, --podman-path a wrapper that runs this test's rl."""

    def __init__(self, rl, project_dir: Path):
        self.rl, self.dir = rl, project_dir
        self.wrapper = project_dir.parent / "rl-for-compose"
        env_lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in rl.env.items()
                            if k.isidentifier())
        self.wrapper.write_text(f"#!/bin/sh\n{env_lines}exec {shlex.quote(sys.executable)} -m rootless \"$@\"\n")
        self.wrapper.chmod(self.wrapper.stat().st_mode | stat.S_IXUSR)

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "podman_compose", "--podman-path", str(self.wrapper),
                               "--in-pod=false", *args], cwd=self.dir, capture_output=True, text=True,
                              timeout=timeout, env=self.rl.env)

    def ok(self, *args: str, timeout: float = 240) -> str:
        res = self.run(*args, timeout=timeout)
        assert res.returncode == 0, f"podman-compose {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
        return res.stdout


@pytest.fixture
def compose(rlr, registry, tmp_path):
    _require_podman_compose()
    image = f"{registry.plain}/library/debian:bookworm"
    rlr.run("pull", "-q", "--tls-verify=false", image, check=True)
    proj = tmp_path / "proj"
    proj.mkdir()
    c = Compose(rlr, proj)
    c.image = image
    yield c
    rlr.run("rm", "-f", "--all", timeout=120)
    for name in rlr.run("network", "ls", "--format", "{{.Name}}").stdout.split():
        rlr.run("network", "rm", "-f", name)


def _ids(rl) -> list[str]:
    return rl.run("ps", "-a", "-q", check=True).stdout.split()


def _helpers_left(rl) -> list[str]:
    """This rl's processes still alive (not zombies): monitors, slirp4netns, forwarders, netns keepers."""
    out = subprocess.run(["ps", "-u", str(os.getuid()), "-o", "stat=,args="], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if str(rl.base) in ln and not ln.lstrip().startswith("Z")]


def test_project_a_web_and_client_by_service_name(compose):
    port = free_port()
    (compose.dir / "compose.yaml").write_text(f"""
services:
  web:
    image: {compose.image}
    init: true
    command: ["perl", "-e", {_compose_quote(WEB)}]
    ports:
      - "127.0.0.1:{port}:80"
  client:
    image: {compose.image}
    init: true
    command: ["sleep", "infinity"]
    depends_on:
      - web
""")
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
    deadline = time.monotonic() + 10
    while _helpers_left(rl) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _helpers_left(rl) == []


def test_version_shapes_podman_compose_reads(compose):
    """podman-compose runs `--version` first (it stopped there with status 125 before) and takes
    the last word as the version; its own `version` command prints rl's line after its own."""
    version = __import__("rootless").__version__
    assert compose.rl.run("--version", check=True).stdout == f"rl version {version}\n"
    assert compose.rl.run("-v", check=True).stdout == f"rl version {version}\n"
    out = compose.ok("version").splitlines()
    assert f"rl version {version}" in out and "podman-compose version 1.6.0" in out  # order: pipes' buffering


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


TCP_PORT = (r'use IO::Socket::INET; my $p=shift; my $s=IO::Socket::INET->new(LocalPort=>$p,Listen=>5,ReuseAddr=>1)'
            r' or die "listen: $!"; while (my $c=$s->accept) { print $c "port $p\n"; close $c }')
UDP_LOOP = (r'use IO::Socket::INET; my $s=IO::Socket::INET->new(LocalPort=>5353,Proto=>"udp") or die "udp: $!";'
            r' while (1) { $s->recv(my $m, 1000); $s->send("echo:$m") }')


def udp_echo(port: int, deadline: float = 60) -> bytes:
    end = time.monotonic() + deadline
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        while True:
            s.sendto(b"ping", ("127.0.0.1", port))
            try:
                return s.recv(100)
            except OSError:
                if time.monotonic() > end:
                    raise AssertionError(f"no UDP echo from 127.0.0.1:{port}") from None


def test_project_d_env_files_overrides_restart_tmpfs_port_ranges_udp(compose):
    rl = compose.rl
    with socket.socket() as a, socket.socket() as b:  # two consecutive free ports for the range
        for _ in range(50):
            a.bind(("127.0.0.1", 0))
            p1 = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", p1 + 1))
                break
            except OSError:
                a.close()
                a = socket.socket()
        else:
            pytest.skip("no two consecutive free ports")
    udp = free_port()
    script = ("echo env $APP_MODE $FROM_COMPOSE; grep -q ' /scratch tmpfs .*size=1024k' /proc/mounts && echo tmpfs ok;"
              f" perl -e {shlex.quote(TCP_PORT)} 8000 & perl -e {shlex.quote(TCP_PORT)} 8001 &"
              f" perl -e {shlex.quote(UDP_LOOP)} & wait")
    (compose.dir / "app.env").write_text("# a comment\nAPP_MODE=from-env-file\n")
    (compose.dir / "compose.yaml").write_text(f"""
services:
  app:
    image: {compose.image}
    init: true
    env_file:
      - app.env
    environment:
      FROM_COMPOSE: yes-compose
    entrypoint: ["bash", "-c"]
    command: [{_compose_quote(script)}]
    restart: unless-stopped
    tmpfs:
      - /scratch:size=1m
    ports:
      - "127.0.0.1:{p1}-{p1 + 1}:8000-8001"
      - "127.0.0.1:{udp}:5353/udp"
""")
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
        compose.ok("exec", "-T", "app", "bash", "-c", "kill -TERM 1")
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
