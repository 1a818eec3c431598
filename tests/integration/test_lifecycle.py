"""Detached containers as the unprivileged user: run -d under a monitor,
logs, exec, stop, wait, restart policy, healthchecks, and state that stays
true when the monitor is killed or the runtime directory vanishes."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import time

import pytest


pytestmark = [pytest.mark.userns, pytest.mark.fuse]



@pytest.fixture
def rlc(rl):
    """rl whose containers are all removed afterwards, whatever the test did."""
    yield rl
    rl.run("rm", "-f", "--all", timeout=120)


def run_d(rl, rootfs, name, *cmd, extra=()):
    res = rl.run("run", "-d", "--name", name, "--network", "none", *extra, "--rootfs", rootfs, *cmd)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def state(rl, name) -> dict:
    res = rl.run("inspect", name, check=True)
    return json.loads(res.stdout)[0]["State"]


def until(pred, timeout=15.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return pred()


def test_run_d_prints_the_id_and_ps_shows_it_running(rlc, rootfs):
    # returns at once: the next lines see the 60 s command still running
    cid = run_d(rlc, rootfs, "web", "sh", "-c", "echo ready; echo oops >&2; sleep 60")
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)
    ps = rlc.run("ps", "--format", "{{.ID}} {{.Names}} {{.State}}", check=True).stdout.split()
    assert ps == [cid[:12], "web", "running"]
    assert rlc.run("ps", "-q", "--no-trunc", check=True).stdout.split() == [cid]
    # each line on its own stream, as podman (issue 19 item 2)
    assert until(lambda: (lambda r: (r.stdout, r.stderr))(rlc.run("logs", "web")) == ("ready\n", "oops\n"))
    rows = json.loads(rlc.run("ps", "-a", "--format", "json", check=True).stdout)
    assert rows[0]["Id"] == cid and rows[0]["State"] == "running" and rows[0]["Pid"] > 0
    st = state(rlc, cid[:6])  # an ID prefix
    assert st["Status"] == "running" and st["Running"] is True and st["Pid"] == rows[0]["Pid"]


def test_logs_follow_streams_and_timestamps(rlc, rootfs):
    run_d(rlc, rootfs, "ticker", "sh", "-c", "for i in 1 2 3 4 5; do echo tick $i; sleep 0.3; done")
    proc = rlc.popen("logs", "-f", "ticker", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    assert first == b"tick 1\n"
    # the rest through the same buffered reader: readline() may already hold
    # later lines, which communicate() (reading the raw fd) would never see
    proc.wait(timeout=20)  # -f ends when the container does
    rest = proc.stdout.read().decode()
    proc.stderr.close()
    assert (first.decode() + rest).splitlines() == [f"tick {i}" for i in range(1, 6)]
    stamped = rlc.run("logs", "-t", "--tail", "2", "ticker", check=True).stdout.splitlines()
    assert len(stamped) == 2 and stamped[1].endswith(" tick 5") and "T" in stamped[1].split()[0]
    raw = (rlc.base / "data" / "rl" / "containers").glob("*/ctr.log")
    line = next(iter(raw)).read_text().splitlines()[0].split(" ", 3)
    assert line[1:] == ["stdout", "F", "tick 1"]


def test_exec_sees_the_container(rlc, rootfs):
    run_d(rlc, rootfs, "box", "sleep", "60", extra=("--hostname", "boxhost", "-e", "FROM_RUN=1"))
    res = rlc.run("exec", "box", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; echo $$")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].strip() == "sleep 60"
    assert lines[1] == "boxhost"
    assert int(lines[2]) > 1  # inside the container's PID namespace
    res = rlc.run("exec", "-e", "EXTRA=2", "-w", "/tmp", "-u", "1000", "box", "sh", "-c",
                  "echo $FROM_RUN $EXTRA; pwd; id -u")
    assert res.stdout.split() == ["1", "2", "/tmp", "1000"], res.stderr
    assert rlc.run("exec", "box", "sh", "-c", "exit 3").returncode == 3
    assert rlc.run("exec", "box", "nonexistent").returncode == 127
    # the same security settings: CapBnd is podman's default set, not everything
    caps = rlc.run("exec", "box", "grep", "CapBnd", "/proc/self/status", check=True).stdout.split()[1]
    assert int(caps, 16) == int(rlc.run("exec", "--privileged", "box", "grep", "CapBnd", "/proc/self/status",
                                        check=True).stdout.split()[1], 16) & int(caps, 16)
    assert int(caps, 16) != int(rlc.run("exec", "--privileged", "box", "grep", "CapBnd", "/proc/self/status",
                                        check=True).stdout.split()[1], 16)
    # exec -d: the process outlives rl exec, inside the container
    assert rlc.run("exec", "-d", "box", "sleep", "30").returncode == 0
    top = rlc.run("top", "box", check=True).stdout
    assert "sleep 30" in top and "sleep 60" in top


def test_stop_sends_the_stop_signal_then_kills(rlc, rootfs):
    script = "trap 'echo got-usr1; exit 42' USR1; while :; do sleep 0.1; done"
    run_d(rlc, rootfs, "polite", "sh", "-c", script, extra=("--stop-signal", "SIGUSR1"))
    time.sleep(0.3)  # the trap is set
    assert rlc.run("stop", "polite").returncode == 0
    assert state(rlc, "polite")["ExitCode"] == 42
    assert "got-usr1" in rlc.run("logs", "polite").stdout
    # PID 1 without a handler ignores SIGTERM: after -t the SIGKILL comes
    run_d(rlc, rootfs, "stubborn", "sleep", "60")
    t0 = time.monotonic()
    assert rlc.run("stop", "-t", "1", "stubborn").returncode == 0
    took = time.monotonic() - t0
    assert 1.0 <= took < 6, took
    st = state(rlc, "stubborn")
    assert (st["Status"], st["ExitCode"]) == ("exited", 137)


def test_wait_returns_the_exit_code(rlc, rootfs):
    run_d(rlc, rootfs, "short", "sh", "-c", "sleep 0.5; exit 5")
    res = rlc.run("wait", "short", check=True)
    assert res.stdout.strip() == "5"
    assert "Exited (5)" in rlc.run("ps", "-a", check=True).stdout
    assert rlc.run("ps", check=True).stdout.count("\n") == 1  # header only: not running


def test_wait_gets_the_code_of_a_container_removed_by_rm(rlc, rootfs):
    cid = run_d(rlc, rootfs, "gone-soon", "sh", "-c", "sleep 1; exit 6", extra=("--rm",))
    res = rlc.run("wait", cid, check=True)  # the monitor removes it right after the exit
    assert res.stdout.strip() == "6"
    assert until(lambda: rlc.run("ps", "-aq", check=True).stdout == "")
    res = rlc.run("wait", "--condition", "running", cid)
    assert res.returncode != 0  # only the exit is remembered, not a state to wait for


def test_restart_on_failure_3_restarts_exactly_three_times(rlc, rootfs):
    run_d(rlc, rootfs, "flaky", "sh", "-c", "echo run; exit 3", extra=("--restart", "on-failure:3"))
    assert until(lambda: state(rlc, "flaky")["Status"] == "exited" and
                 json.loads(rlc.run("inspect", "flaky").stdout)[0]["RestartCount"] == 3)
    time.sleep(1.0)  # a 4th restart would come within 0.8 s of backoff
    info = json.loads(rlc.run("inspect", "flaky", check=True).stdout)[0]
    assert info["RestartCount"] == 3 and info["State"]["ExitCode"] == 3
    assert rlc.run("logs", "flaky", check=True).stdout == "run\n" * 4


def test_restart_always_is_stopped_by_stop(rlc, rootfs):
    run_d(rlc, rootfs, "loop", "sh", "-c", "exit 0", extra=("--restart", "always"))
    assert until(lambda: json.loads(rlc.run("inspect", "loop").stdout)[0]["RestartCount"] >= 2)
    assert rlc.run("stop", "loop").returncode == 0
    n = json.loads(rlc.run("inspect", "loop").stdout)[0]["RestartCount"]
    time.sleep(1.5)
    assert json.loads(rlc.run("inspect", "loop").stdout)[0]["RestartCount"] == n


def test_start_right_after_stop_has_one_owner(rlc, rootfs):
    """stop returns at the exit (rl-monitor's exit file), while the old
    monitor may still be finishing up: start waits for it, so its late exit
    record never overwrites the new run's state."""
    run_d(rlc, rootfs, "again", "sleep", "600")
    for _ in range(3):
        assert rlc.run("stop", "-t", "0", "again").returncode == 0
        assert rlc.run("start", "again").returncode == 0
        pid1 = state(rlc, "again")["Pid"]
        time.sleep(1)  # longer than the old monitor's finish
        st = state(rlc, "again")
        assert st["Status"] == "running" and st["Pid"] == pid1 and os.path.exists(f"/proc/{pid1}"), st


def test_failing_healthcheck_turns_unhealthy_then_healthy(rlc, rootfs):
    run_d(rlc, rootfs, "doc", "sleep", "60",
          extra=("--health-cmd", "test -e /tmp/ok", "--health-interval", "0.3s", "--health-retries", "2"))
    assert until(lambda: state(rlc, "doc").get("Health", {}).get("Status") == "unhealthy")
    assert "(unhealthy)" in rlc.run("ps", check=True).stdout
    assert rlc.run("healthcheck", "run", "doc").returncode == 1
    rlc.run("exec", "doc", "touch", "/tmp/ok", check=True)
    assert rlc.run("healthcheck", "run", "doc").returncode == 0
    assert state(rlc, "doc")["Health"]["Status"] == "healthy"
    assert rlc.run("ps", "--filter", "health=healthy", "-q", check=True).stdout.strip()


def test_wait_healthy_and_unhealthy_with_podman_compose_spellings(rlc, rootfs):
    """podman-compose's service_healthy loop: `wait --condition=healthy` returns (0, -1 printed) once the
    check passes; its flags: a CMD-SHELL test as a one-element JSON array (podman runs it with a shell),
    durations, --health-startup-interval, --no-healthcheck; `up --wait`'s `--ignore`."""
    shell_test = '["test -e /tmp/ok && test ! -e /tmp/nope"]'  # exec'd as one file name it could never pass
    run_d(rlc, rootfs, "hc", "sh", "-c", "sleep 1; touch /tmp/ok; exec sleep 60",
          extra=("--health-cmd", shell_test, "--health-interval", "300ms", "--health-retries", "2",
                 "--health-start-period", "60s", "--health-timeout", "5s", "--health-startup-interval", "1s"))
    res = rlc.run("wait", "--condition=healthy", "hc", timeout=90)
    assert (res.returncode, res.stdout, res.stderr) == (0, "-1\n", "")
    assert state(rlc, "hc")["Health"]["Status"] == "healthy"
    run_d(rlc, rootfs, "sick", "sleep", "60",
          extra=("--health-cmd", '["exit 3"]', "--health-interval", "300ms", "--health-retries", "2"))
    res = rlc.run("wait", "--condition=unhealthy", "sick", timeout=90)
    assert (res.returncode, res.stdout) == (0, "-1\n")
    # a condition other than stopped/exited prints -1, not an earlier run's exit code
    run_d(rlc, rootfs, "again", "sh", "-c", "if [ -e /tmp/x ]; then exec sleep 60; fi; touch /tmp/x; exit 7")
    assert rlc.run("wait", "again", check=True).stdout == "7\n"
    rlc.run("start", "again", check=True)
    assert rlc.run("wait", "--condition=running", "again", timeout=60).stdout == "-1\n"
    # no healthcheck (none given, or --no-healthcheck): nothing would ever make it healthy, an error as podman's
    run_d(rlc, rootfs, "plain", "sleep", "60", extra=("--no-healthcheck",))
    res = rlc.run("wait", "--condition=healthy", "plain", timeout=60)
    assert res.returncode == 125 and res.stderr.startswith("Error: container plain has no defined healthcheck")
    assert len(res.stderr.strip().splitlines()) <= 2 and "Traceback" not in res.stderr
    res = rlc.run("create", "--no-healthcheck", "--health-cmd", "true", "--rootfs", rootfs, "true")
    assert res.returncode == 125 and "--no-healthcheck" in res.stderr
    # --ignore: a missing container is -1, not an error (up --wait passes it)
    res = rlc.run("wait", "--ignore", "--condition=running", "nosuch", "plain", timeout=60)
    assert (res.returncode, res.stdout) == (0, "-1\n-1\n")
    assert rlc.run("wait", "--condition=running", "nosuch").returncode == 125


def _pids_of(rl, name):
    st = json.loads(rl.run("inspect", name, check=True).stdout)[0]["State"]
    return st["ConmonPid"], st["Pid"]


def test_killed_monitor_shows_the_truth_and_rm_cleans_up(rlc, rootfs):
    cid = run_d(rlc, rootfs, "victim", "sleep", "60")
    monitor, pid1 = _pids_of(rlc, "victim")
    assert monitor > 0 and pid1 > 0
    os.kill(monitor, signal.SIGKILL)
    until(lambda: not os.path.exists(f"/proc/{pid1}"), timeout=5)
    out = rlc.run("ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout.split()
    assert out == ["victim", "exited"]
    assert "monitor died" in state(rlc, "victim")["Error"]
    assert rlc.run("rm", "victim").returncode == 0
    assert not os.path.exists(f"/proc/{pid1}") and not os.path.exists(f"/proc/{monitor}")
    assert not (rlc.base / "data" / "rl" / "containers" / cid).exists()
    assert not (rlc.base / "run" / "rl" / "containers" / cid).exists()
    with open("/proc/self/mountinfo") as f:
        assert cid not in f.read()


def test_reboot_leaves_exited_containers_that_rm_cleans(rlc, rootfs):
    cid = run_d(rlc, rootfs, "before-reboot", "sleep", "60")
    monitor, pid1 = _pids_of(rlc, "before-reboot")
    os.kill(monitor, signal.SIGKILL)  # "every process of the user" for this container
    until(lambda: not os.path.exists(f"/proc/{pid1}"), timeout=5)
    shutil.rmtree(rlc.base / "run" / "rl")  # the runtime dir is a tmpfs: gone
    out = rlc.run("ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout.split()
    assert out == ["before-reboot", "exited"]
    assert rlc.run("rm", cid).returncode == 0
    assert rlc.run("ps", "-aq", check=True).stdout == ""


def test_rm_force_removes_a_running_container_without_leftovers(rlc, rootfs):
    cid = run_d(rlc, rootfs, "gone", "sleep", "60")
    monitor, pid1 = _pids_of(rlc, "gone")
    res = rlc.run("rm", "gone")
    assert res.returncode == 2 and "is running" in res.stderr  # podman's status for a running container
    assert rlc.run("rm", "-f", "gone").returncode == 0
    assert until(lambda: not os.path.exists(f"/proc/{pid1}") and not os.path.exists(f"/proc/{monitor}"), 5)
    assert not (rlc.base / "data" / "rl" / "containers" / cid).exists()


def test_twenty_parallel_runs_and_a_name_race(rlc, rootfs):
    def start(name):
        return rlc.run("run", "-d", "--name", name, "--network", "none", "--rootfs", rootfs, "sleep", "60")
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(start, [f"par{i}" for i in range(20)]))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    ids = {r.stdout.strip() for r in results}
    assert len(ids) == 20
    running = rlc.run("ps", "-q", "--no-trunc", check=True).stdout.split()
    assert set(running) == ids
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        race = list(pool.map(start, ["same", "same"]))
    codes = sorted(r.returncode for r in race)
    assert codes == [0, 125]
    loser = next(r for r in race if r.returncode)
    assert 'the container name "same" is already in use' in loser.stderr


def test_attach_pumps_stdin_and_output_and_detaches(rlc, rootfs):
    run_d(rlc, rootfs, "echoer", "cat", extra=("-i",))
    proc = rlc.popen("attach", "echoer", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)
    proc.stdin.write(b"hello\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == b"hello\n"
    proc.stdin.write(b"\x10\x11")  # ctrl-p ctrl-q
    proc.stdin.flush()
    assert proc.wait(timeout=10) == 0
    assert state(rlc, "echoer")["Status"] == "running"
    assert "hello" in rlc.run("logs", "echoer").stdout


def test_an_attach_client_that_never_reads_stalls_nothing(rlc, rootfs):
    """A client connected to the attach socket that reads nothing (a
    suspended `rl attach`) is dropped: the container's output, log and
    exit go on."""
    import socket
    cid = run_d(rlc, rootfs, "chatty", "sh", "-c", "sleep 1; seq 1 200000; exit 4")
    sock_path = rlc.base / "run" / "rl" / "containers" / cid / "attach"
    dfd = os.open(sock_path.parent, os.O_PATH)
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        idle.connect(f"/proc/self/fd/{dfd}/attach")
        res = rlc.run("wait", "chatty", timeout=120)  # a stalled monitor would never see the exit
        assert res.stdout.strip() == "4", res
        out = rlc.run("logs", "chatty", check=True).stdout.split()
        assert len(out) == 200000 and out[-1] == "200000"
    finally:
        idle.close()
        os.close(dfd)


def test_pause_without_a_cgroup_is_a_clear_error(rlc, rootfs):
    run_d(rlc, rootfs, "cold", "sleep", "60")
    res = rlc.run("pause", "cold")  # this host delegates no cgroup (the guest tests pause for real)
    assert res.returncode == 125 and "freezer" in res.stderr and "Delegate=yes" in res.stderr
    assert "Traceback" not in res.stderr
    assert state(rlc, "cold")["Status"] == "running"
    res = rlc.run("unpause", "cold")
    assert res.returncode == 125 and "is not paused" in res.stderr


def test_clear_errors(rlc, rootfs):
    run_d(rlc, rootfs, "one", "true")
    rlc.run("wait", "one", check=True)
    res = rlc.run("exec", "one", "true")
    assert res.returncode == 255 and "is not running" in res.stderr  # podman's status
    res = rlc.run("pause", "one")
    assert res.returncode == 125
    res = rlc.run("run", "-d", "--restart", "sometimes", "--rootfs", rootfs, "true")
    assert res.returncode == 125 and "--restart" in res.stderr
    if not os.path.exists("/run/systemd/journal/socket"):  # this host: no journal (the guest tests have one)
        res = rlc.run("run", "-d", "--log-driver", "journald", "--rootfs", rootfs, "true")
        assert res.returncode == 125 and "no systemd journal here" in res.stderr
    assert rlc.run("rename", "one", "two").returncode == 0
    assert rlc.run("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split() == ["two"]
    assert rlc.run("container", "prune", "-f", check=True).stdout.strip()
    assert rlc.run("ps", "-aq", check=True).stdout == ""
