"""Plumbing shared by the workload tests: one scenario, two tools."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from typing import Callable


class Side:
    """rl or podman, driven by the same podman-compatible command lines."""

    def __init__(self, name: str, run: Callable[..., subprocess.CompletedProcess]):
        self.name = name
        self._run = run

    def __repr__(self) -> str:
        return self.name

    def run(self, *args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
        return self._run(*args, timeout=timeout, **kw)

    def ok(self, *args: str, timeout: float = 300, **kw) -> str:
        """stdout of a command that must succeed."""
        res = self._run(*args, timeout=timeout, **kw)
        assert res.returncode == 0, f"{self.name} {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
        return res.stdout

    def inspect(self, name: str) -> dict:
        return json.loads(self.ok("inspect", name))[0]

    def peer(self, name: str, network: str) -> str:
        """How a container on `network` reaches container `name`: by name
        where the network has DNS. Podman 4.3 on CNI has DNS only with the
        dnsname plugin (golang-github-containernetworking-plugin-dnsname);
        without it, its containers find each other by address only."""
        if self.name == "podman":
            net = json.loads(self.ok("network", "inspect", network))[0]
            if not net.get("dns_enabled"):
                nets = self.inspect(name)["NetworkSettings"]["Networks"]
                return nets[network]["IPAddress"]
        return name

    def cleanup(self, containers=(), volumes=(), networks=()) -> None:
        for c in containers:
            self._run("rm", "-f", c, timeout=120)
        for v in volumes:
            self._run("volume", "rm", "-f", v, timeout=120)
        for n in networks:
            self._run("network", "rm", "-f", n, timeout=120)


def until(pred: Callable[[], object], timeout: float = 180, step: float = 0.3):
    """pred()'s first truthy value; a hang guard, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def http_get(port: int, path: str = "/", host: str = "127.0.0.1") -> tuple[int, str]:
    """(status, body) of a plain HTTP/1.0 GET; (0, error) when nothing answers."""
    try:
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError as e:
        return 0, str(e)
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    try:
        return int(head.split()[1]), body
    except (IndexError, ValueError):
        return 0, data.decode(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compare(what: str, seen: dict[str, object]) -> None:
    """Print each tool's observations; rl's must equal podman's."""
    print(f"\n== {what}")
    for tool, value in seen.items():
        print(f"  {tool:7} {value!r}")
    if "podman" in seen:
        assert seen["rl"] == seen["podman"], f"{what}: rl and podman differ"
        print("  same under rl and podman")
