"""slirp4netns: user-mode TCP/IP for a container's network namespace
(outbound access, DNS at 10.0.2.3), started from the host side with a
ready-fd and an exit-fd so it can never outlive rl."""

from __future__ import annotations

import os
import subprocess

from rootless import tools
from rootless.errors import RuntimeSetupError

_dying: list[subprocess.Popen] = []


def _reap_dying() -> None:
    for proc in list(_dying):
        if proc.poll() is not None:
            _dying.remove(proc)


class Network:
    """A started network helper; close() stops it."""

    def __init__(self, proc: subprocess.Popen | None = None, exit_w: int | None = None):
        self.proc = proc
        self.exit_w = exit_w

    def close(self) -> None:
        if self.exit_w is not None:
            os.close(self.exit_w)  # slirp4netns exits when its exit-fd closes
            self.exit_w = None
        if self.proc is not None:
            # it holds no state worth a graceful exit, and noticing the closed
            # exit-fd takes it ~30 ms, reaping a killed one ~15 ms (its big
            # buffers unmapping): neither belongs on every run's critical path.
            # Reaped without blocking on the next start (or by init when rl exits).
            self.proc.kill()
            _dying.append(self.proc)
            self.proc = None


def start(pid: int, log_path: str) -> Network:
    """Attach slirp4netns to the network namespace of pid (it joins the
    owning user namespace itself); returns once tap0 is configured."""
    exe = tools.require("slirp4netns", "the default network gives containers outbound access with it")
    _reap_dying()
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    log = open(log_path, "wb")
    try:
        proc = subprocess.Popen(
            [exe, "--configure", "--mtu=65520", "--disable-host-loopback", "--ready-fd", str(ready_w),
             "--exit-fd", str(exit_r), str(pid), "tap0"],
            pass_fds=(ready_w, exit_r), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=log)
    finally:
        log.close()
        os.close(ready_w)
        os.close(exit_r)
    with os.fdopen(ready_r, "rb") as f:
        ok = f.read(1) == b"1"
    net = Network(proc, exit_w)
    if not ok:
        net.close()
        with open(log_path, "rb") as f:
            err = f.read().decode(errors="replace").strip().splitlines()
        raise RuntimeSetupError(f"slirp4netns failed: {err[-1] if err else 'no ready signal'}",
                                hint="check that /dev/net/tun exists and is usable; or use --network none")
    return net
