"""`rl system check` against the real host, as the unprivileged test user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import IN_CI

pytestmark = pytest.mark.userns


def _needs_env(name: str) -> str:
    val = os.environ.get(name)
    if not val:
        msg = f"{name} is not set: run the suite through helpers/test, which prepares it"
        if IN_CI:
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return val


def test_ready_as_the_test_user(rl):
    res = rl.run("system", "check")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ready for rootless containers" in res.stdout
    data = json.loads(rl.run("system", "check", "--format", "json").stdout)
    assert data["ready"] is True
    by_name = {f["name"]: f for f in data["findings"]}
    assert by_name["user namespaces"]["status"] == "ok"
    assert "65537 IDs mapped" in by_name["user namespaces"]["detail"]
    for name in ("newuidmap", "newgidmap", "subuid", "subgid", "fuse", "fuse-overlayfs", "tun", "slirp4netns",
                 "monitor"):
        assert by_name[name]["status"] == "ok", by_name[name]


def test_no_compiler_for_the_monitor_is_named_with_its_fix(rl, tmp_path):
    """rl-monitor is built on first use: without a compiler, check warns and
    run -d fails in one line, both naming the package to install."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "empty-cache"), "CC": str(tmp_path / "no-such-cc")}
    data = json.loads(rl.run("system", "check", "--format", "json", env=env).stdout)
    mon = {f["name"]: f for f in data["findings"]}["monitor"]
    assert mon["status"] == "warn" and "apt-get install gcc" in mon["fix"], mon
    res = rl.run("run", "-d", "--network", "none", "--rootfs", str(tmp_path), "true", env=env)
    assert res.returncode == 125
    assert "no-such-cc" in res.stderr and "apt-get install gcc" in res.stderr and "Traceback" not in res.stderr
    assert rl.run("ps", "-q", env=env).stdout.strip() == ""  # nothing claims to run


def test_user_without_subuids_gets_the_usermod_fix(rl):
    user = _needs_env("RL_TEST_NOSUB_USER")
    if not shutil.which("sudo"):
        pytest.fail("sudo is missing (helpers/setup-host --test-tools installs it)")
    res = subprocess.run(["sudo", "-n", "-H", "-u", user, sys.executable, "-m", "rootless", "system", "check"],
                         capture_output=True, text=True, timeout=120, cwd=os.getcwd())
    assert res.returncode == 1, res.stdout + res.stderr
    assert f'no range for "{user}" in /etc/subuid' in res.stdout
    fix = [line for line in res.stdout.splitlines() if "fix: sudo usermod --add-subuids" in line]
    assert fix and fix[0].rstrip().endswith(user), res.stdout
    assert "NOT ready" in res.stdout

    # `rl info` for that user reports the missing range instead of failing with a traceback
    res = subprocess.run(["sudo", "-n", "-H", "-u", user, sys.executable, "-m", "rootless", "info"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f'no range for "{user}" in /etc/subuid' in res.stdout
    assert "Traceback" not in res.stderr


def test_root_only_dev_fuse_names_the_chmod_fix(rl):
    dev = _needs_env("RL_TEST_FUSE_0600")
    env = dict(rl.env, RL_FUSE_DEVICE=dev)
    res = subprocess.run([sys.executable, "-m", "rootless", "system", "check"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 1, res.stdout
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("ERROR") and " fuse " in ln)
    assert "Permission denied" in line and "mode 0600" in line
    assert f"fix: sudo chmod 0666 {dev}" in res.stdout
