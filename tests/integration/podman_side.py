"""Rootless podman on a throw-away store, for tests that run the same
invocation through rl and podman and compare. Skips when podman is absent.

Everything podman keeps lives under the test's own directory: HOME, the XDG
dirs (so no ~/.config/containers of the test user is read), --root and
--runroot. Its rootless pause process is killed by pid at teardown and its
subordinate-ID files reclaimed from inside a user namespace."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest


class Podman:
    def __init__(self, base: Path, driver: str = "vfs"):
        self.base = base
        for d in ("home", "config", "data", "run", "root"):
            (base / d).mkdir(parents=True, exist_ok=True)
        (base / "run").chmod(0o700)
        # podman refuses a runroot longer than 50 characters: a short one in /tmp
        self.short = Path(tempfile.mkdtemp(prefix="rlpm"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTAINERS_", "XDG_"))}
        self.env.update(HOME=str(base / "home"), XDG_CONFIG_HOME=str(base / "config"),
                        XDG_DATA_HOME=str(base / "data"), XDG_RUNTIME_DIR=str(base / "run"))
        self.argv = [shutil.which("podman") or "podman", "--root", str(base / "root"),
                     "--runroot", str(self.short), "--storage-driver", driver,
                     "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def run(self, *args: str, input: str | bytes | None = None, timeout: float = 300, **kw):
        text = not isinstance(input, bytes)
        return subprocess.run([*self.argv, *args], input=input, capture_output=True, text=text,
                              env=self.env, timeout=timeout, **kw)

    def close(self) -> None:
        for pidfile in self.base.glob("run/libpod/tmp/pause.pid"):
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        from tests.conftest import reclaim
        reclaim(self.base, self.short)


def podman_or_skip(base: Path, driver: str = "vfs") -> Podman:
    if not shutil.which("podman"):
        pytest.skip("podman is not installed: nothing to compare with")
    if os.getuid() == 0:
        pytest.skip("the comparison is with rootless podman")
    return Podman(base, driver)


def podman_with_archive(base: Path, archive: Path) -> Podman:
    """A podman (overlay storage) that has loaded the docker-archive."""
    podman = podman_or_skip(base, driver="overlay")
    res = podman.run("load", "-q", "-i", str(archive))
    if res.returncode != 0:
        podman.close()
        pytest.skip(f"podman cannot load the test image here: {res.stderr.strip()[-300:]}")
    return podman
