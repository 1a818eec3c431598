"""`rl create` + `rl start -a` give the same container as `rl run`; `rl rm`
removes it, storage owned by subordinate IDs included."""

from __future__ import annotations

import subprocess
import time

import pytest


pytestmark = [pytest.mark.userns, pytest.mark.fuse]



def test_create_start_attach_keeps_the_container_filesystem(rl, rootfs):
    script = "cat /data 2>/dev/null; echo run >> /data; chown 1000 /data; exit 4"
    res = rl.run("create", "--name", "c1", "--network", "none", "--rootfs", rootfs, "sh", "-c", script, check=True)
    cid = res.stdout.strip()
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)
    first = rl.run("start", "-a", "c1")
    assert (first.returncode, first.stdout) == (4, "")
    second = rl.run("start", "-a", cid[:10])  # an ID prefix works too
    assert (second.returncode, second.stdout) == (4, "run\n")
    assert rl.run("rm", "c1").returncode == 0
    containers = rl.base / "data" / "rl" / "containers"
    assert sorted(p.name for p in containers.iterdir()) == [".create.lock", "names"]  # store furniture only
    assert rl.run("start", "-a", "c1").returncode == 125


def test_run_without_rm_then_rm(rl, rootfs):
    assert rl.run("run", "--name", "keep", "--network", "none", "--rootfs", rootfs, "touch", "/x").returncode == 0
    res = rl.run("run", "--name", "keep", "--network", "none", "--rootfs", rootfs, "true")
    assert res.returncode == 125 and "already in use" in res.stderr
    assert rl.run("rm", "keep").returncode == 0
    assert rl.run("run", "--rm", "--name", "keep", "--network", "none", "--rootfs", rootfs, "true").returncode == 0


def test_rm_running_needs_force(rl, rootfs):
    proc = rl.popen("run", "--name", "busy", "--network", "none", "--rootfs", rootfs, "sleep", "60",
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120  # a loaded machine: the run may take long to start
        # until it runs: an `rm` while it is only created removes it (as podman's), which once
        # ended the run before it started (seen in a full run)
        while rl.run("inspect", "--format", "{{.State.Status}}", "busy").stdout.strip() != "running":
            assert time.time() < deadline, "the container never ran"
            time.sleep(0.1)
        res = rl.run("rm", "busy")
        assert res.returncode == 2 and "is running" in res.stderr  # podman rm: 2, a container is running
        assert rl.run("rm", "-f", "busy").returncode == 0
        assert proc.wait(timeout=120) == 137
    finally:
        proc.kill()
        proc.wait()


def test_detached_start_runs_under_a_monitor(rl, rootfs):
    rl.run("create", "--name", "c2", "--network", "none", "--rootfs", rootfs, "sh", "-c", "exit 7", check=True)
    assert rl.run("start", "c2").stdout.strip() == "c2"
    assert rl.run("wait", "c2").stdout.strip() == "7"
    rl.run("rm", "c2", check=True)


def test_rm_force_while_a_foreground_run_is_starting(rl, rootfs):
    """`rm -f` in the moments a foreground `rl run` is starting (state
    "starting", no PID 1 yet; the run holds no lock then): rm waits for PID 1
    and kills it; the run reports 137 (before: rm found no PID, waited 20 s,
    removed the container under the run, which then failed 125 with an
    internal error)."""
    cidfile = rl.base / "cid"
    proc = rl.popen("run", "--cidfile", str(cidfile), "--name", "early", "--rootfs", rootfs, "sleep", "60",
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not (cidfile.exists() and cidfile.read_text().strip()) and time.time() < deadline:
            time.sleep(0.001)
        state = rl.base / "run" / "rl" / "containers" / cidfile.read_text().strip() / "state.json"
        seen = ""
        while time.time() < deadline:
            try:
                seen = state.read_text()
            except OSError:
                continue
            if '"starting"' in seen:
                break
        assert '"starting"' in seen, seen  # the window this test is about (slirp4netns and fuse make it long)
        assert rl.run("rm", "-f", "early").returncode == 0
        assert proc.wait(timeout=120) == 137, proc.stderr.read().decode()
        assert b"internal error" not in proc.stderr.read()
        assert rl.run("ps", "-a", "-q").stdout == ""
    finally:
        proc.kill()
        proc.wait()
