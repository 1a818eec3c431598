"""A full disk under rl's runtime directory (a real ENOSPC: helpers/test
mounts a small tmpfs the test user owns, RL_TEST_SMALLFS). rl's state must
stay true and nothing may be lost: a container that exits while its
monitor cannot record it shows as exited with the reason, `rm` cleans it
once there is room; a start that cannot record itself fails with one line
and leaves nothing running."""

from __future__ import annotations

import errno
import os

import pytest

from tests.integration.test_lifecycle import until
from tests.integration.test_system_check import _needs_env

pytestmark = [pytest.mark.userns, pytest.mark.fuse]


@pytest.fixture
def small(rl):
    """(rl with its runroot on the small filesystem, that directory)."""
    fs = _needs_env("RL_TEST_SMALLFS")
    runroot = os.path.join(fs, f"run-{os.getpid()}")
    os.mkdir(runroot, 0o700)
    yield runroot
    _free(fs)
    rl.run("--runroot", runroot, "rm", "-f", "--all", timeout=120)
    import shutil
    shutil.rmtree(runroot, ignore_errors=True)


def _fill(fs: str) -> str:
    """Write until the filesystem says ENOSPC; the filler's path."""
    path = os.path.join(fs, "filler")
    with open(path, "wb") as f:
        block = b"\0" * (1 << 16)
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    # the page-sized tail too: nothing may fit
    for i in range(64):
        try:
            with open(os.path.join(fs, f"filler-{i}"), "wb") as f:
                f.write(b"\0" * 4096)
        except OSError:
            break
    return path


def _free(fs: str) -> None:
    for name in os.listdir(fs):
        if name.startswith("filler"):
            os.unlink(os.path.join(fs, name))


def _ps(rl, runroot):
    return rl.run("--runroot", runroot, "ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout.split()


def test_exit_during_a_full_disk_shows_exited_and_rm_cleans(rl, rootfs, small):  # noqa: F811
    fs = os.path.dirname(small)
    res = rl.run("--runroot", small, "run", "-d", "--name", "full", "--network", "none", "--rootfs", rootfs,
                 "sleep", "600")
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    st = rl.run("--runroot", small, "inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}", "full",
                check=True).stdout.split()
    monitor, pid1 = int(st[0]), int(st[1])
    _fill(fs)
    # the container ends now; its monitor cannot write the exit down
    os.kill(pid1, 9)
    assert until(lambda: not os.path.exists(f"/proc/{monitor}"), timeout=20)
    assert _ps(rl, small) == ["full", "exited"]
    insp = rl.run("--runroot", small, "inspect", "full", check=True).stdout
    assert "the disk was full" in insp
    res = rl.run("--runroot", small, "rm", "full")
    # rm may need room for its own lock files: with none, it says so and keeps the container
    if res.returncode != 0:
        assert "No space left on device" in res.stderr and "Traceback" not in res.stderr
        assert _ps(rl, small) == ["full", "exited"]
        _free(fs)
        assert rl.run("--runroot", small, "rm", "full").returncode == 0
    assert _ps(rl, small) == []
    assert not os.path.exists(f"/proc/{pid1}")
    assert not os.path.exists(os.path.join(small, "rl", "containers", cid))
    assert not (rl.base / "data" / "rl" / "containers" / cid).exists()
    with open("/proc/self/mountinfo") as f:
        assert cid not in f.read()


def test_start_on_a_full_disk_fails_cleanly(rl, rootfs, small):  # noqa: F811
    fs = os.path.dirname(small)
    # the runroot's own files exist first (as after any earlier command), then the disk fills
    assert rl.run("--runroot", small, "ps", "-a").returncode == 0
    _fill(fs)
    res = rl.run("--runroot", small, "run", "-d", "--name", "nospace", "--network", "none", "--rootfs", rootfs,
                 "sleep", "60")
    assert res.returncode == 125
    assert "No space left on device" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2
    states = _ps(rl, small)
    assert "running" not in states
    _free(fs)
    # with room again the same name works: nothing half-made is in the way
    rl.run("--runroot", small, "rm", "-f", "nospace")
    res = rl.run("--runroot", small, "run", "-d", "--name", "nospace", "--network", "none", "--rootfs", rootfs,
                 "sleep", "60")
    assert res.returncode == 0, res.stderr
    assert _ps(rl, small) == ["nospace", "running"]
