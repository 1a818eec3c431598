"""Rootless podman, the oracle for differential tests: the same invocation
through rl and podman, comparing what a user observes.

Each test gets podman on a throw-away store under its own tmp dir: its own
HOME and XDG dirs (no ~/.config/containers of the test user is read),
--root and a short --runroot (podman refuses one over 50 characters; rootless
podman 4.3 ignores CONTAINERS_STORAGE_CONF, so the store is named on the
command line), runc, and native overlay storage unless asked otherwise
(without driver=overlay podman silently uses vfs). Its rootless pause
process is killed by pid at teardown and its subordinate-ID files are
reclaimed from inside a user namespace.

Where podman is not installed a test skips locally and fails in CI, like
every other missing prerequisite (helpers/setup-host installs it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.fixture.podman import netavark


class Podman:
    def __init__(self, base: Path, driver: str = "overlay"):
        self.base = base
        for d in ("home", "config/containers", "data", "run", "root"):
            (base / d).mkdir(parents=True, exist_ok=True)
        (base / "run").chmod(0o700)
        self.runroot = Path(tempfile.mkdtemp(prefix="rlpm", dir="/tmp"))
        # the same store in storage.conf as on the command line: `podman commit` (4.3) otherwise
        # fails with "runroot must be set"
        (base / "config/containers/storage.conf").write_text(
            f'[storage]\ndriver = "{driver}"\ngraphroot = "{base / "root"}"\nrunroot = "{self.runroot}"\n')
        # netavark + aardvark-dns where installed (helpers/setup-host installs them; the user's own
        # containers.conf is not read here): under CNI no name resolves on podman's networks
        self.backend = "netavark" if netavark() else "cni"
        (base / "config/containers/containers.conf").write_text(
            f'[network]\nnetwork_backend = "{self.backend}"\n')
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("CONTAINERS_", "XDG_")) and k != "PYTHONPATH"}
        # a short runtime dir of its own: podman puts its rootless port forwarder's and slirp4netns's
        # sockets there, and a socket path over 108 bytes (a pytest tmp dir) hangs `run -d -p`
        self.xdg_run = Path(tempfile.mkdtemp(prefix="rlpx", dir="/tmp"))
        self.env.update(HOME=str(base / "home"), XDG_CONFIG_HOME=str(base / "config"),
                        XDG_DATA_HOME=str(base / "data"), XDG_RUNTIME_DIR=str(self.xdg_run))
        self.argv = [shutil.which("podman") or "podman", "--root", str(base / "root"),
                     "--runroot", str(self.runroot), "--storage-driver", driver,
                     "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def run(self, *args: str, input: str | bytes | None = None, timeout: float = 300, **kw):
        env = {**self.env, **kw.pop("env", {})}
        text = not isinstance(input, bytes)
        return subprocess.run([*self.argv, *args], input=input, capture_output=True, text=text,
                              env=env, timeout=timeout, **kw)

    def stop_pause(self) -> None:
        """Kill podman's rootless pause process (it holds podman's user namespace)."""
        for pidfile in self.xdg_run.glob("libpod/tmp/pause.pid"):
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        subprocess.run([*self.argv, "rm", "-af", "-t", "0"], env=self.env, capture_output=True, timeout=120)
        self.stop_pause()
        from tests.conftest import reclaim
        reclaim(self.base, self.runroot, self.xdg_run)


def require_podman() -> None:
    if shutil.which("podman") and os.getuid() != 0:
        return
    msg = ("podman is not installed (helpers/setup-host installs it as the oracle for differential tests)"
           if os.getuid() != 0 else "the comparison is with rootless podman: run as the test user")
    if IN_CI:
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture
def podman(tmp_path: Path):
    require_podman()
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
    from tests import seed
    repo, _, tag = name.partition(":")
    full = f"docker.io/library/{repo}:{tag or 'latest'}"
    if seed.podman_seedable(podman, name):
        seed.podman_load(podman, registry, _load)  # a copy of the same pull's store (tests/seed.py)
        return full
    return _load(podman, registry, name)


def _load(podman: Podman, registry, name: str = "debian:bookworm") -> str:
    repo, _, tag = name.partition(":")
    local = f"{registry.plain}/library/{repo}:{tag or 'latest'}"
    full = f"docker.io/library/{repo}:{tag or 'latest'}"
    res = podman.run("pull", "-q", "--tls-verify=false", local)
    assert res.returncode == 0, res.stderr
    assert podman.run("tag", local, full).returncode == 0
    assert podman.run("untag", full, local).returncode == 0  # one name, as rl's pull gives it
    return full
