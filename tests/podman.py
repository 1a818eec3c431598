"""Rootless podman, the oracle for differential tests: the same invocation
through rl and podman, comparing what a user observes.

Each test gets podman on a throw-away store under its tmp dir, with runc and
native overlay storage (without driver=overlay podman silently uses vfs).
Where podman is not installed the test skips locally and fails in CI, like
every other missing prerequisite (helpers/setup-host installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import IN_CI


class Podman:
    def __init__(self, base: Path, registries_conf: str | None = None):
        self.base = base
        for d in ("storage", "config/containers"):
            (base / d).mkdir(parents=True, exist_ok=True)
        self.runroot = tempfile.mkdtemp(prefix="podman-", dir="/tmp")  # podman wants it under 50 characters
        # rootless podman 4.3 ignores CONTAINERS_STORAGE_CONF: the store is named on the command line
        (base / "config/containers/storage.conf").write_text('[storage]\ndriver = "overlay"\n')
        self.env = dict(os.environ, XDG_CONFIG_HOME=str(base / "config"))
        self.env.pop("PYTHONPATH", None)
        if registries_conf:
            self.env["CONTAINERS_REGISTRIES_CONF"] = registries_conf
        self.argv = [shutil.which("podman") or "podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
                     "--events-backend", "file", "--storage-driver", "overlay",
                     "--root", str(base / "storage"), "--runroot", self.runroot]

    def run(self, *args: str, input: str | None = None, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
        env = {**self.env, **kw.pop("env", {})}
        return subprocess.run([*self.argv, *args], env=env, input=input, capture_output=True, text=True,
                              timeout=timeout, **kw)

    def close(self) -> None:
        subprocess.run([*self.argv, "rm", "-af", "-t", "0"], env=self.env, capture_output=True, timeout=120)
        # overlay storage holds subordinate-ID files: podman removes them itself
        subprocess.run([*self.argv, "system", "reset", "-f"], env=self.env, capture_output=True, timeout=120)
        shutil.rmtree(self.runroot, ignore_errors=True)


@pytest.fixture
def podman(tmp_path: Path):
    if not shutil.which("podman"):
        msg = "podman is not installed (helpers/setup-host installs it as the oracle for differential tests)"
        if IN_CI:
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    p = Podman(tmp_path / "podman")
    yield p
    p.close()


def first_line_error(stderr: str) -> str:
    """The one line a user reads: podman's `Error: ...` (rl prints the same shape)."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.startswith("Error:")]
    return lines[0] if lines else stderr.strip()


def load_image(podman: Podman, registry, name: str = "debian:bookworm") -> str:
    """Put a fixture image into podman's store under docker.io/library/NAME,
    pulled straight from the loopback registry by its own address: podman
    never resolves a short name (its fallback would be the real docker.io).
    Returns the fully qualified name to use with podman."""
    repo, _, tag = name.partition(":")
    local = f"{registry.plain}/library/{repo}:{tag or 'latest'}"
    full = f"docker.io/library/{repo}:{tag or 'latest'}"
    res = podman.run("pull", "-q", "--tls-verify=false", local)
    assert res.returncode == 0, res.stderr
    assert podman.run("tag", local, full).returncode == 0
    assert podman.run("untag", full, local).returncode == 0  # one name, as rl's pull gives it
    return full
