"""What the compose tests share: podman-compose (PyPI, unchanged) driving rl
or rootless podman through a wrapper given as --podman-path, the compose
files they write, and what a user observes from the host (what a loopback
port answers, a UDP echo, the processes a tool left behind)."""

from __future__ import annotations

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

# a TCP server on port 80 that greets every client (perl-base is in the minbase image; python is not)
WEB = (r'use IO::Socket::INET; $|=1; my $s=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1)'
       r' or die "listen: $!"; print "web ready\n"; while (my $c=$s->accept) { print $c "hello from web\n"; close $c }')
# one that answers the line the client sends ("hello over LINE")
ECHO_LINE = (r'use IO::Socket::INET; $|=1; my $s=IO::Socket::INET->new(LocalPort=>80,Listen=>5,ReuseAddr=>1)'
             r' or die "listen: $!"; while (my $c=$s->accept) { my $l=<$c>; print $c "hello over $l"; close $c }')
# a TCP server on the port given as its argument, saying which port it is
TCP_PORT = (r'use IO::Socket::INET; my $p=shift; my $s=IO::Socket::INET->new(LocalPort=>$p,Listen=>5,ReuseAddr=>1)'
            r' or die "listen: $!"; while (my $c=$s->accept) { print $c "port $p\n"; close $c }')
# a UDP echo on 5353 ("echo:" + what it got)
UDP_ECHO = (r'use IO::Socket::INET; $|=1; my $s=IO::Socket::INET->new(LocalPort=>5353,Proto=>"udp")'
            r' or die "udp: $!"; while (1) { $s->recv(my $m, 1000); $s->send("echo:$m") }')
# bash, in a container: what the server on HOST:80 says
FETCH = "exec 3<>/dev/tcp/{}/80 && cat <&3"


def require_podman_compose() -> None:
    res = subprocess.run([sys.executable, "-c", "import podman_compose"], capture_output=True)
    if res.returncode != 0:
        msg = "podman-compose is not installed in the test venv (pyproject.toml's test extras bring it)"
        if IN_CI:
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


def compose_quote(text: str) -> str:
    """A YAML single-quoted scalar with compose's interpolation escaped ($ -> $$)."""
    return "'" + text.replace("$", "$$").replace("'", "''") + "'"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(hosts: tuple[str, ...] = ("127.0.0.1",), kind: int = socket.SOCK_STREAM) -> int:
    """A port free on every address in `hosts` (as far as a probe can tell)."""
    for _ in range(50):
        with socket.socket(_family(hosts[0]), kind) as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        try:
            for host in hosts[1:]:
                with socket.socket(_family(host), kind) as s:
                    s.bind((host, port))
            return port
        except OSError:
            continue
    raise AssertionError(f"no port free on all of {hosts}")


def free_port_pair() -> int:
    """P such that P and P+1 are both free on 127.0.0.1 (for a published range)."""
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            p = a.getsockname()[1]
            try:
                b.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
            return p
    pytest.skip("no two consecutive free ports")


def read_port(port: int, host: str = "127.0.0.1", send: str | None = None, deadline: float = 60) -> str:
    """What a TCP server on HOST:PORT says (after `send` and a newline, if
    given), retried until it answers: a server starts after `up -d` or
    `run -d` returns. '' when nothing answers by the deadline (a hang guard)."""
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection((host, port), timeout=10) as s:
                if send is not None:
                    s.sendall(f"{send}\n".encode())
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            if data:
                return data.decode()
        except OSError:
            pass
        if time.monotonic() > end:
            return ""
        time.sleep(0.2)


def port_listens(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(_family(host)) as s:
        return s.connect_ex((host, port)) == 0


def udp_echo(port: int, host: str = "127.0.0.1", payload: bytes = b"ping", deadline: float = 60) -> bytes:
    """The answer of a UDP echo server on HOST:PORT; b'' when none comes by the deadline."""
    end = time.monotonic() + deadline
    with socket.socket(_family(host), socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        while True:
            s.sendto(payload, (host, port))
            try:
                return s.recv(1000)
            except OSError:
                if time.monotonic() > end:
                    return b""


def processes_naming(*paths: Path | str) -> list[str]:
    """This user's live processes (not zombies) whose command line names one
    of `paths`: a tool's monitors, network helpers, forwarders, DNS servers."""
    out = subprocess.run(["ps", "-ww", "-u", str(os.getuid()), "-o", "stat=,args="],
                         capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines()
            if any(str(p) in ln for p in paths) and not ln.lstrip().startswith("Z")]


def until(pred, timeout: float = 60, step: float = 0.1):
    """pred()'s first truthy value, or its last value at the deadline (a hang guard)."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > end:
            return value
        time.sleep(step)


class Compose:
    """podman-compose from the test venv for one project directory, its
    --podman-path a wrapper script that runs ARGV (a tool with its own
    store: rl's `python -m rootless`, or podman with --root/--runroot, which
    podman-compose cannot pass: its --podman-args go after the command)."""

    def __init__(self, project_dir: Path, argv: list[str], env: dict[str, str], tag: str = "rl",
                 in_pod: bool = False):
        self.dir, self.env, self.in_pod = project_dir, env, in_pod
        project_dir.mkdir(parents=True, exist_ok=True)
        self.wrapper = project_dir.parent / f"{tag}-for-compose"
        env_lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if k.isidentifier())
        self.wrapper.write_text(f"#!/bin/sh\n{env_lines}exec {shlex.join(argv)} \"$@\"\n")
        self.wrapper.chmod(self.wrapper.stat().st_mode | stat.S_IXUSR)

    @property
    def project(self) -> str:
        return self.dir.name

    def write(self, text: str, name: str = "compose.yaml") -> Path:
        """A file of the project (the compose file unless named)."""
        path = self.dir / name
        path.write_text(text)
        return path

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "podman_compose", "--podman-path", str(self.wrapper),
                               f"--in-pod={str(self.in_pod).lower()}", *args], cwd=self.dir,
                              capture_output=True, text=True, timeout=timeout, env=self.env)

    def ok(self, *args: str, timeout: float = 240) -> str:
        res = self.run(*args, timeout=timeout)
        assert res.returncode == 0, f"podman-compose {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
        return res.stdout


def rl_compose(rl, project_dir: Path, **kw) -> Compose:
    """podman-compose driving this test's rl (the `rl`/`rlr` fixture)."""
    return Compose(project_dir, [sys.executable, "-m", "rootless"], rl.env, tag="rl", **kw)


def podman_compose(podman, project_dir: Path, **kw) -> Compose:
    """podman-compose driving this test's rootless podman (tests/podman.py), on its own store."""
    return Compose(project_dir, podman.argv, podman.env, tag="podman", **kw)


# --- the projects (issue 13's acceptance list), written alike for every tool -------------------------

def write_project_a(compose: Compose, image: str, port: int) -> None:
    """(a) a web service with a published port and a client that reaches it by service name."""
    compose.write(f"""
services:
  web:
    image: {image}
    init: true
    command: ["perl", "-e", {compose_quote(WEB)}]
    ports:
      - "127.0.0.1:{port}:80"
  client:
    image: {image}
    init: true
    command: ["sleep", "infinity"]
    depends_on:
      - web
""")


# a TCP server on 80 answering "NAME saw SEEN" (SEEN: what the service found at its start)
SAW = (r'use IO::Socket::INET; $|=1; my ($n,$v)=@ARGV; my $s=IO::Socket::INET->new(LocalPort=>80,Listen=>5,'
       r'ReuseAddr=>1) or die "listen: $!"; print "$n up, saw $v\n"; while (my $c=$s->accept) { print $c "$n saw $v\n";'
       r' close $c }')


def write_project_b(compose: Compose, image: str, port: int) -> None:
    """(b) three services on two networks with aliases: db only on `back` (alias `database`), api on both
    (`apifront` on front, `apiback` on back, published on PORT), web only on `front`; a named volume
    `store` (db's and api's /data) that survives `down`/`up`; api `depends_on` db with
    `condition: service_healthy`. db removes /data/ready, waits 3 s and writes it; its healthcheck
    (CMD-SHELL) passes once the file is there (and /tmp/up, which a new container never has before);
    api reads it at its start and answers "api saw WHAT" (`missing` if api started before db was
    healthy)."""
    db = ("rm -f /data/ready /tmp/up; sleep 3; echo db-ready > /data/ready; touch /tmp/up;"
          f" exec perl -e {shlex.quote(SAW)} db \"$(cat /data/note 2>/dev/null || echo no-note)\"")
    api = f"exec perl -e {shlex.quote(SAW)} api \"$(cat /data/ready 2>/dev/null || echo missing)\""
    compose.write(f"""
services:
  db:
    image: {image}
    init: true
    command: ["bash", "-c", {compose_quote(db)}]
    volumes:
      - store:/data
    networks:
      back:
        aliases:
          - database
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/up && test -f /data/ready"]
      interval: 1s
      timeout: 5s
      retries: 3
      start_period: 60s
  api:
    image: {image}
    init: true
    command: ["bash", "-c", {compose_quote(api)}]
    volumes:
      - store:/data
    networks:
      front:
        aliases:
          - apifront
      back:
        aliases:
          - apiback
    ports:
      - "127.0.0.1:{port}:80"
    depends_on:
      db:
        condition: service_healthy
  web:
    image: {image}
    init: true
    command: ["sleep", "infinity"]
    networks:
      - front
    depends_on:
      - api
networks:
  front: {{}}
  back: {{}}
volumes:
  store: {{}}
""")


def write_project_c(compose: Compose, image: str, replicas_in_file: bool) -> None:
    """(c) a service `web` of several replicas (`deploy: mode: replicated, replicas: 2` in the file,
    or none there and `up --scale web=N`), each answering "web saw HOSTNAME" on 80 and published on
    a random loopback port (`127.0.0.1::80`), and a client; run with --in-pod true or false."""
    web = f"exec perl -e {shlex.quote(SAW)} web \"$(hostname)\""
    deploy = "    deploy:\n      mode: replicated\n      replicas: 2\n" if replicas_in_file else ""
    compose.write(f"""
services:
  web:
    image: {image}
    init: true
    command: ["bash", "-c", {compose_quote(web)}]
    ports:
      - "127.0.0.1::80"
{deploy}  client:
    image: {image}
    init: true
    command: ["sleep", "infinity"]
    depends_on:
      - web
""")


def write_project_d(compose: Compose, image: str, tcp_pair: int, udp: int) -> None:
    """(d) an environment file, entrypoint and command overrides, `restart: unless-stopped`, a
    tmpfs, a published TCP range (TCP_PAIR, TCP_PAIR+1 -> 8000-8001) and a UDP port (-> 5353).
    The service logs `env ...` and `tmpfs ok`; each port's server says which it is."""
    script = ("echo env $APP_MODE $FROM_COMPOSE; grep -q ' /scratch tmpfs .*size=1024k' /proc/mounts && echo tmpfs ok;"
              f" perl -e {shlex.quote(TCP_PORT)} 8000 & perl -e {shlex.quote(TCP_PORT)} 8001 &"
              f" perl -e {shlex.quote(UDP_ECHO)} & wait")
    compose.write("# a comment\nAPP_MODE=from-env-file\n", "app.env")
    compose.write(f"""
services:
  app:
    image: {image}
    init: true
    env_file:
      - app.env
    environment:
      FROM_COMPOSE: yes-compose
    entrypoint: ["bash", "-c"]
    command: [{compose_quote(script)}]
    restart: unless-stopped
    tmpfs:
      - /scratch:size=1m
    ports:
      - "127.0.0.1:{tcp_pair}-{tcp_pair + 1}:8000-8001"
      - "127.0.0.1:{udp}:5353/udp"
""")


def processes_of(runtime_dir: Path | str) -> list[str]:
    """This user's live processes started with XDG_RUNTIME_DIR=RUNTIME_DIR or
    naming it: what a tool whose runtime directory that is left running
    (monitors, conmon, slirp4netns, port forwarders, aardvark-dns; container
    processes get the container's environment and are found through these).
    Lines: 'PID ARGS'."""
    want = f"XDG_RUNTIME_DIR={runtime_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != os.getuid():
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if state == "Z" or int(proc.name) == os.getpid():
            continue
        args = b" ".join(argv).decode(errors="replace").strip()
        if want in environ or str(runtime_dir) in args:
            found.append(f"{proc.name} {args}")
    return found
