"""issue 19 item 28: a container whose config.json is missing or corrupt (a
crash or a full disk during create) used to vanish from `ps -a` while its
monitor, PID 1, fuse-overlayfs and slirp4netns kept running; stop and rm said
it did not exist and its name stayed taken. Now it is listed as damaged, `rm
-f` by name or ID ends its processes (the runroot state names the owner by pid
and start time) and removes every trace, and `system check` names it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns, pytest.mark.registry]


def _stat(pid: int):
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields  # fields[0] state, fields[1] ppid, fields[19] start time


def _alive(pid: int, start: str) -> bool:
    f = _stat(pid)
    return f is not None and f[0] != "Z" and f[19] == start


def _descendants(root: int) -> dict[int, str]:
    """pid -> start time of root and everything below it."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = _stat(int(d))
            if f is not None and f[0] != "Z":
                parent[int(d)] = (int(f[1]), f[19])
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        if p in parent:
            out[p] = parent[p][1]
        todo += [c for c, (pp, _) in parent.items() if pp == p and c not in out]
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@pytest.fixture
def damaged(rlr):
    """A running container (slirp4netns network, fuse-overlayfs rootfs) with
    its processes recorded, whose config.json the test then damages."""
    res = rlr.run("run", "-d", "--name", "dmg", "debian:bookworm", "sleep", "600")
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    info = json.loads(rlr.run("inspect", "dmg", check=True).stdout)[0]
    procs = _descendants(info["State"]["ConmonPid"])
    comms = {_comm(p) for p in procs}
    assert {"sleep", "fuse-overlayfs", "slirp4netns"} <= comms, comms
    data = Path(rlr.env["XDG_DATA_HOME"]) / "rl" / "containers"
    run = Path(rlr.env["XDG_RUNTIME_DIR"]) / "rl" / "containers"
    yield rlr, cid, procs, data, run
    rlr.run("rm", "-f", "--all", timeout=120)


@pytest.mark.parametrize("how", ["corrupt", "missing", "empty"])
@pytest.mark.parametrize("by", ["name", "id"])
def test_damaged_running_container_is_listed_and_rm_f_ends_it(damaged, how, by):
    rl, cid, procs, data, run = damaged
    cfg = data / cid / "config.json"
    if how == "missing":
        cfg.unlink()
    else:
        cfg.write_text('{"id": "' if how == "corrupt" else "")
    why = "config.json missing" if how == "missing" else "config.json unreadable"

    ps = rl.run("ps", "-a", "--format", "{{.ID}}|{{.Names}}|{{.Status}}")
    assert ps.returncode == 0, ps.stderr
    assert ps.stdout.splitlines() == [f"{cid[:12]}|dmg|Damaged ({why})"]
    assert "dmg" in rl.run("ps", check=True).stdout  # it still runs: plain ps shows it too

    # every other command says what is wrong and how to get rid of it
    res = rl.run("inspect", "dmg")
    assert res.returncode == 125 and "damaged" in res.stderr and "rl rm -f dmg" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    res = rl.run("run", "--name", "dmg", "debian:bookworm", "true")
    assert res.returncode == 125 and "already in use" in res.stderr

    check = rl.run("system", "check")
    assert f"container dmg ({cid[:12]}) is damaged ({why}) and still running" in check.stdout, check.stdout
    assert "fix: rl rm -f dmg" in check.stdout

    res = rl.run("rm", "dmg" if by == "name" else cid[:12])  # without -f: refused, nothing stopped
    assert res.returncode == 2, res.stderr
    assert all(_alive(p, s) for p, s in procs.items())

    res = rl.run("rm", "-f", "dmg" if by == "name" else cid)
    assert res.returncode == 0, res.stderr
    left = {p: _comm(p) for p, s in procs.items() if _alive(p, s)}
    assert left == {}, left  # monitor, PID 1, fuse-overlayfs, slirp4netns: all gone
    assert not (data / cid).exists() and not (run / cid).exists()
    assert not os.path.lexists(data / "names" / "dmg")
    assert [p.name for p in data.iterdir() if p.name not in ("names", ".create.lock")] == []
    assert rl.run("ps", "-aq", check=True).stdout == ""
    # the name is free again
    res = rl.run("run", "--rm", "--name", "dmg", "--network", "none", "debian:bookworm", "true")
    assert res.returncode == 0, res.stderr


def test_stop_and_kill_reach_a_damaged_container(damaged):
    rl, cid, procs, data, run = damaged
    pid1 = [p for p in procs if _comm(p) == "sleep"][0]
    (data / cid / "config.json").write_text("garbage")
    res = rl.run("kill", "dmg")
    assert res.returncode == 0, res.stderr
    import time
    deadline = time.monotonic() + 30
    while _alive(pid1, procs[pid1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid1, procs[pid1])
    res = rl.run("stop", "-t", "1", "dmg")  # stopped already: not an error, as for any container
    assert res.returncode == 0, res.stderr
    ps = rl.run("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=True).stdout
    assert ps == "dmg Damaged (config.json unreadable)\n"
    assert rl.run("rm", cid).returncode == 0  # stopped: no -f needed
    assert rl.run("ps", "-aq", check=True).stdout == ""
    assert not (data / cid).exists()


def test_name_pointing_at_no_container_can_be_removed(rlr):
    """A crash between the name's claim and the directory: the name was taken for good."""
    res = rlr.run("create", "--name", "half", "--network", "none", "debian:bookworm", "true")
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    data = Path(rlr.env["XDG_DATA_HOME"]) / "rl" / "containers"
    (data / cid / "config.json").unlink()
    os.rename(data / cid, data / ".removing-x")  # as an interrupted removal would leave it
    ps = rlr.run("ps", "-a", "--format", "{{.Names}}|{{.Status}}", check=True).stdout
    assert ps == "half|Damaged (its directory is missing)\n"
    check = rlr.run("system", "check").stdout
    assert "container half" in check and "interrupted removal" in check, check
    assert rlr.run("rm", "half").returncode == 0
    assert rlr.run("create", "--name", "half", "--network", "none", "debian:bookworm", "true").returncode == 0
    assert rlr.run("rm", "-f", "--all").returncode == 0
    assert [p.name for p in data.iterdir() if p.name not in ("names", ".create.lock")] == []
    assert "interrupted removal" not in rlr.run("system", "check").stdout
