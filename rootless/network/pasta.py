"""pasta (from passt): podman's newer default. The container gets a copy
of the host's addresses and routes; published ports are bound by pasta
itself in the host's namespace (TCP and UDP, splice-based for loopback
clients). pasta daemonizes once the namespace is configured, so its
launcher exiting is the ready signal; its pid comes from --pid.

As podman does, pasta gets `--no-map-gw` unless the user opts in with
`--network pasta:--map-gw` (an rl/podman option, not pasta's: it is taken
out of the arguments): without it, pasta maps the gateway address to the
host's loopback, and the container would reach every service the user
bound to 127.0.0.1 (a database, an IDE's debug port, an agent socket over
TCP) just by connecting to its default gateway."""

from __future__ import annotations

import os
import signal
import subprocess

from rootless import tools
from rootless.errors import RuntimeSetupError

DNS_FORWARD = "169.254.0.1"   # loopback resolvers of the host are reached through pasta here
MAP_GW = "--map-gw"           # podman's opt-in: the gateway address reaches the host's loopback
NO_MAP_GW = "--no-map-gw"


def _user_args(args: list[str]) -> list[str]:
    """The user's pasta options, with the gateway mapping off unless asked for."""
    if MAP_GW in args:
        return [a for a in args if a != MAP_GW]
    return [*args, NO_MAP_GW] if NO_MAP_GW not in args else list(args)


def _port_args(ports: list) -> list[str]:
    args = []
    for m in ports:
        flag = "-t" if m.proto == "tcp" else "-u"
        addr = f"{m.host_ip}/" if m.host_ip else ""
        args += [flag, f"{addr}{m.host_port}:{m.container_port}"]
    return args


class Pasta:
    def __init__(self, pid: int):
        self.pid = pid
        self.pids = (pid,)

    def failure(self) -> str | None:
        try:
            os.kill(self.pid, 0)
            return None
        except ProcessLookupError:
            return "pasta exited unexpectedly"

    def handover(self) -> dict:
        return {"pids": [self.pid] if self.pid else []}

    def close(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.pid = 0


def start(spec, netns: int | str, state_dir: str, ports: list) -> Pasta:
    exe = tools.require("pasta", "--network pasta")
    pidfile = os.path.join(state_dir, "pasta.pid")
    target = ["--netns", str(netns)] if isinstance(netns, str) and not str(netns).isdigit() else [str(netns)]
    args = [exe, "--config-net", "--quiet", "--pid", pidfile, "--dns-forward", DNS_FORWARD,
            "-T", "none", "-U", "none", *(_port_args(ports) or ["-t", "none", "-u", "none"]),
            *_user_args(list(spec.options.get("args", []))), *target]
    res = tools.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
        raise RuntimeSetupError(f"pasta failed: {last}", hint="try --network slirp4netns")
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        raise RuntimeSetupError("pasta started but left no pid file") from None
    return Pasta(pid)
