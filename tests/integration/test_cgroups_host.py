"""On a host without systemd and with hybrid (or v1) cgroups, limits cannot
be enforced rootless: `rl run --memory` must say so at once (exit 125),
while runs without limits are unaffected."""

from __future__ import annotations

import pytest

from rootless.cgroups import layout

pytestmark = [pytest.mark.userns, pytest.mark.fuse]



@pytest.fixture(scope="module", autouse=True)
def _undelegated_host():
    host = layout.probe()
    if host.layout == "v2" and (host.own_delegated or (host.bus and host.user_service)):
        pytest.skip(f"this host delegates cgroups ({host.layout}, bus {host.bus}): the vm suite covers it")


def test_memory_limit_fails_fast_with_the_reason_and_fix(rl, rootfs):
    res = rl.run("run", "--rm", "--network", "none", "--memory", "32m", "--rootfs", rootfs, "true")
    assert res.returncode == 125, res
    first = res.stderr.splitlines()[0]
    assert first.startswith("Error: cannot apply --memory: "), res.stderr
    host = layout.probe()
    if host.layout in ("v1", "hybrid"):
        assert f"cgroups as {host.layout}" in first and "cgroup v2" in first, first
        assert "systemd.unified_cgroup_hierarchy=1" in res.stderr and "loginctl enable-linger" in res.stderr
    else:
        assert "no systemd user session" in first or "not delegated" in first, first
    assert "hint: " in res.stderr
    # refused before anything was created: no container record left behind
    cdir = rl.base / "data" / "rl" / "containers"
    assert not cdir.exists() or [p.name for p in cdir.iterdir()] in ([], ["names"]), list(cdir.iterdir())


def test_every_limit_flag_is_refused_not_ignored(rl, rootfs):
    for flags in (["--cpus", "0.5"], ["--pids-limit", "20"], ["--memory-reservation", "16m"],
                  ["--cpu-shares", "512"], ["--cpuset-cpus", "0"], ["--blkio-weight", "100"]):
        res = rl.run("run", "--rm", "--network", "none", *flags, "--rootfs", rootfs, "true")
        assert res.returncode == 125, (flags, res)
        assert f"cannot apply {flags[0]}" in res.stderr, (flags, res.stderr)


def test_bad_limit_values_are_usage_errors(rl, rootfs):
    res = rl.run("run", "--rm", "--memory", "lots", "--rootfs", rootfs, "true")
    assert res.returncode == 125 and "invalid --memory 'lots'" in res.stderr, res


def test_runs_without_limits_work_as_before(rl, rootfs):
    res = rl.run("run", "--rm", "--network", "none", "--rootfs", rootfs, "sh", "-c", "echo ok; exit 3")
    assert res.returncode == 3, res
    assert res.stdout.strip() == "ok"


def test_stats_hint_is_the_host_check_fix(rl, rootfs):
    """issue 19 item 22: `rl stats` suggested enable-linger where only cgroup v2 helps."""
    res = rl.run("run", "-d", "--name", "st", "--network", "none", "--rootfs", rootfs, "sleep", "30")
    assert res.returncode == 0, res.stderr
    try:
        stats = rl.run("stats", "--no-stream", "st")
        check = rl.run("system", "check")
        assert stats.returncode == 125, stats
        fix = next(line for line in check.stdout.splitlines() + check.stderr.splitlines() if "cgroup" in line)
        host = layout.probe()
        if host.layout in ("v1", "hybrid"):
            assert "systemd.unified_cgroup_hierarchy=1" in stats.stderr, (stats.stderr, fix)
            assert "loginctl enable-linger $USER, then" not in stats.stderr
    finally:
        rl.run("rm", "-f", "st")
