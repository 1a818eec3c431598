"""On a host without systemd and with hybrid (or v1) cgroups, limits cannot
be enforced rootless: `rl run --memory` must say so at once (exit 125),
while runs without limits are unaffected."""

from __future__ import annotations

import pytest

from rootless.cgroups import layout
from tests.integration.podman_own_run import podman, podman_own  # noqa: F401 - fixtures

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


def test_refusal_says_how_to_run_anyway(rl, rootfs):
    """issue 19 item 27: podman warns and runs without the limit; rl keeps
    refusing by default, and its error names the opt-in to podman's way."""
    res = rl.run("run", "--rm", "--network", "none", "--memory", "32m", "--rootfs", rootfs, "true")
    assert res.returncode == 125
    hint = [ln for ln in res.stderr.splitlines() if ln.startswith("hint: ")]
    assert hint and "RL_CGROUP_LIMITS=warn" in hint[0], res.stderr
    assert len(res.stderr.strip().splitlines()) == 2  # the error and its hint


@pytest.mark.parametrize("flags", [["--memory", "32m"], ["--cpus", "0.5", "--pids-limit", "20"]])
def test_opt_in_runs_without_the_limits_and_warns_as_podman(rl, rootfs, flags):
    res = rl.run("run", "--rm", "--network", "none", *flags, "--rootfs", rootfs, "sh", "-c", "echo ok; exit 3",
                 env={"RL_CGROUP_LIMITS": "warn"})
    assert res.returncode == 3, res.stderr
    assert res.stdout == "ok\n"
    warn = [ln for ln in res.stderr.splitlines() if ln.startswith("WARN: ")]
    assert len(warn) == 1 and f"cannot apply {flags[0]}" in warn[0] and "RL_CGROUP_LIMITS=warn" in warn[0], res.stderr
    # detached too: the limit is not applied, the container runs
    res = rl.run("run", "-d", "--name", "lim", "--network", "none", *flags, "--rootfs", rootfs, "sleep", "30",
                 env={"RL_CGROUP_LIMITS": "warn"})
    try:
        assert res.returncode == 0, res.stderr
        assert rl.run("inspect", "--format", "{{.State.Status}}", "lim").stdout.strip() == "running"
    finally:
        rl.run("rm", "-f", "-t", "0", "lim")


@pytest.mark.registry
def test_podman_runs_without_the_limit_here_too(rl, registry, podman_own):  # noqa: F811
    """What the opt-in copies: podman on this host runs the container, with a warning."""
    from tests.podman import load_image
    img = load_image(podman_own, registry)
    theirs = podman_own.run("run", "--rm", "--network", "none", "--memory", "32m", img, "sh", "-c", "echo ok")
    rl.env.update(registry.env())
    mine = rl.run("run", "--rm", "--network", "none", "--memory", "32m", "debian:bookworm", "sh", "-c", "echo ok",
                  env={"RL_CGROUP_LIMITS": "warn"})
    print(f"podman: {theirs.returncode} {theirs.stderr!r}\nrl: {mine.returncode} {mine.stderr!r}")
    assert (mine.returncode, mine.stdout) == (theirs.returncode, theirs.stdout) == (0, "ok\n")
    assert "ignored" in theirs.stderr and "WARN: " in mine.stderr  # podman: "Resource limits are ... ignored ..."
