"""Resource limits where they can bite: the systemd guest, as the lingering
user from an ssh login, rl putting each container in a Delegate=yes scope of
the user's systemd (and, run from a Delegate=yes unit, in a child cgroup of
that unit's). Each rl call costs seconds under TCG: few containers, each
checked for several things."""

from __future__ import annotations

import json
import os
import shlex
import time

import pytest

from tests.vm import image

pytestmark = [pytest.mark.vm, pytest.mark.registry]

IMAGE = "docker.io/library/debian:bookworm"
USER_SERVICE = f"/user.slice/user-{image.UID}.slice/user@{image.UID}.service"
MiB = 1 << 20
# perl is in every Debian image (perl-base is Essential): fork until refused
FORK_LOOP = ("my $n = 0; for (1..60) { my $p = fork; last unless defined $p; "
             "if (!$p) { sleep 20; exit 0 } $n++ } print \"forked $n\\n\";")


class Rl:
    """rl in the guest with the registry fixture as docker.io's mirror."""

    def __init__(self, guest_rl, conf: str):
        self.g = guest_rl.guest
        self.cd = f"cd {shlex.quote(guest_rl.src)} && "
        self.base = (f"env {guest_rl.env_prefix()}CONTAINERS_REGISTRIES_CONF={shlex.quote(conf)} "
                     f"{shlex.quote(guest_rl.venv)}/bin/python -m rootless")

    def cmd(self, *args: str) -> str:
        return f"{self.cd}{self.base} {shlex.join(args)}"

    def __call__(self, *args: str, timeout: float = 600):
        return self.g.run(self.cmd(*args), timeout=timeout)

    def sh(self, script: str, timeout: float = 120):
        return self.g.run(script, timeout=timeout)

    def container_id(self, name: str) -> str:
        return self.sh(f"readlink ~/.local/share/rl/containers/names/{name}").stdout.strip()

    def cgroup_info(self, cid: str) -> dict:
        res = self.sh(f'cat "$XDG_RUNTIME_DIR/rl/containers/{cid}/cgroup.json"')
        return json.loads(res.stdout) if res.returncode == 0 and res.stdout.strip() else {}


@pytest.fixture(scope="module")
def rl(guest_rl, registry):
    addr = guest_rl.guest.forward_registry(registry.plain)
    conf = "/home/tester/.config/rl-test-cgroups/registries.conf"
    guest_rl.guest.run(
        f"mkdir -p {os.path.dirname(conf)} && cat > {conf} <<'EOF'\n"
        'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n'
        '[[registry]]\nprefix = "docker.io"\nlocation = "registry-1.docker.io"\n'
        f'[[registry.mirror]]\nlocation = "{addr}"\ninsecure = true\nEOF', check=True)
    r = Rl(guest_rl, conf)
    res = r("pull", "-q", IMAGE)
    assert res.returncode == 0, res
    return r


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res.stdout


def test_memory_limit_oom_kills_and_is_recorded(rl):
    name = f"cg-oom-{os.getpid()}"
    res = rl("run", "--name", name, "--network", "none", "--memory", "32m", IMAGE,
             "sh", "-c", "head -c 200M /dev/zero | tail")
    try:
        assert res.returncode == 137, res
        info = rl.cgroup_info(rl.container_id(name))
        assert info.get("oom_killed") is True, info
        assert info["manager"] == "systemd" and info["unit"].startswith("rl-"), info
        (insp,) = json.loads(ok(rl("container", "inspect", name)))
        assert insp["State"]["OOMKilled"] is True and insp["State"]["ExitCode"] == 137, insp["State"]
    finally:
        rl("rm", "-f", name)


def test_pids_limit_stops_a_fork_loop_at_the_limit(rl):
    res = rl("run", "--rm", "--network", "none", "--pids-limit", "20", IMAGE, "perl", "-e", FORK_LOOP)
    out = ok(res)
    # perl itself is the 20th task
    assert out.strip() == "forked 19", out


def test_limits_in_a_delegated_unit_go_to_a_child_cgroup_of_it(rl):
    """rl run from a Delegate=yes unit (as a user service would) keeps the
    container inside that unit: the cgroupfs manager."""
    run = f"{rl.base} " + shlex.join(["run", "--rm", "--network", "none", "--memory", "32m", IMAGE, "sh", "-c",
                                      "head -c 200M /dev/zero | tail"])
    # after rl: where this shell (moved aside by rl) and the unit's cgroups are
    script = (f'{run}; rc=$?; me=$(cut -d: -f3 /proc/self/cgroup); echo "$me"; '
              'ls /sys/fs/cgroup$(dirname "$me") | grep "^rl-"; exit $rc')
    res = rl.sh(f"{rl.cd}systemd-run --user --scope --quiet -p Delegate=yes sh -c {shlex.quote(script)}",
                timeout=600)
    assert res.returncode == 137, res
    lines = res.stdout.split()
    assert lines[0].startswith(USER_SERVICE + "/app.slice/run-") and lines[0].endswith(".scope/rl-supervisor"), lines
    assert lines[1:] == ["rl-supervisor"], lines  # the container's rl-<id> was removed after it exited


@pytest.fixture(scope="module")
def busy(rl):
    """A detached container that stays up (a busy loop at --cpus 0.5), and
    its cgroup; its monitor is the process rl moved into the scope."""
    name = f"cg-busy-{os.getpid()}"
    res = rl("run", "-d", "--name", name, "--network", "none", "--cpus", "0.5", "--memory", "64m", IMAGE,
             "sh", "-c", "while :; do :; done")
    assert res.returncode == 0, res
    deadline = time.monotonic() + 180
    info: dict = {}
    while time.monotonic() < deadline:
        cid = rl.container_id(name)
        info = rl.cgroup_info(cid) if cid else {}
        if info.get("cgroup"):
            break
        time.sleep(1)
    assert info.get("cgroup"), rl("logs", name)
    yield name, cid, info
    rl("rm", "-f", name)


def test_container_cgroup_is_a_delegated_scope_of_the_user_manager(rl, busy):
    name, cid, info = busy
    unit = f"rl-{cid}.scope"
    assert info["unit"] == unit
    show = ok(rl.sh(f"systemctl --user show {unit} -p Delegate -p ControlGroup -p ActiveState"))
    props = dict(line.split("=", 1) for line in show.split())
    assert props["Delegate"] == "yes" and props["ActiveState"] == "active", props
    assert props["ControlGroup"].startswith(USER_SERVICE + "/") and props["ControlGroup"].endswith("/" + unit)
    assert info["cgroup"] == props["ControlGroup"] + "/container"
    cg = "/sys/fs/cgroup" + info["cgroup"]
    assert ok(rl.sh(f"cat {cg}/memory.max {cg}/cpu.max {cg}/pids.max")).split() == [
        str(64 * MiB), "50000", "100000", "2048"]


def test_cpus_caps_a_busy_loop_near_half_a_cpu(rl, busy):
    cg = "/sys/fs/cgroup" + busy[2]["cgroup"]
    script = (f"a=$(sed -n 's/^usage_usec //p' {cg}/cpu.stat); t0=$(date +%s%N); sleep 6; "
              f"b=$(sed -n 's/^usage_usec //p' {cg}/cpu.stat); t1=$(date +%s%N); echo $((b-a)) $(((t1-t0)/1000))")
    used, wall = map(int, ok(rl.sh(script)).split())
    share = used / wall
    print(f"[vm] --cpus 0.5 busy loop: {share:.2f} of a CPU over {wall / 1e6:.1f}s")  # shown with -s
    assert 0.30 <= share <= 0.70, f"{share:.2f} of a CPU"


def test_stats_show_the_limits_and_update_changes_memory_max(rl, busy):
    name, cid, info = busy
    out = ok(rl("stats", "--no-stream", "--format", "json", name))
    (s,) = json.loads(out)
    assert s["id"] == cid and s["mem_limit"] == 64 * MiB and s["pids_limit"] == 2048, s
    assert s["pids"] >= 1 and 0 < s["cpu_percent"] <= 100, s
    table = ok(rl("stats", "--no-stream", name))
    assert "67.11MB" in table and "/ 2048" in table, table
    ok(rl("update", "--memory", "128m", "--pids-limit", "100", name))
    cg = "/sys/fs/cgroup" + info["cgroup"]
    assert ok(rl.sh(f"cat {cg}/memory.max {cg}/pids.max")).split() == [str(128 * MiB), "100"]
    # and the record keeps them for the next start
    record = json.loads(ok(rl.sh(f"cat ~/.local/share/rl/containers/{cid}/config.json")))
    assert record["request"]["resources"] == {"memory": 128 * MiB, "cpus": 0.5, "pids_limit": 100}, record["request"]


def test_pause_freezes_the_container_and_unpause_thaws_it(rl):
    name = f"cg-pause-{os.getpid()}"
    ok(rl("run", "-d", "--name", name, "--network", "none", IMAGE, "sleep", "1000"))
    try:
        cg = rl.cgroup_info(rl.container_id(name))["cgroup"]
        events = f"cat /sys/fs/cgroup{cg}/cgroup.events"
        assert ok(rl("pause", name)).strip() == name
        assert "frozen 1" in ok(rl.sh(events)).splitlines()
        assert ok(rl("inspect", "--format", "{{.State.Status}}", name)).strip() == "paused"
        assert "Paused" in ok(rl("ps"))
        res = rl("pause", name)
        assert res.returncode == 125 and "already paused" in res.stderr
        assert ok(rl("unpause", name)).strip() == name
        assert "frozen 0" in ok(rl.sh(events)).splitlines()
        assert ok(rl("inspect", "--format", "{{.State.Status}}", name)).strip() == "running"
        ok(rl("pause", name))
        ok(rl("stop", "-t", "2", name))  # a paused container stops: thawed, then signalled
        assert ok(rl("inspect", "--format", "{{.State.Status}}", name)).strip() == "exited"
    finally:
        rl("rm", "-f", name)

