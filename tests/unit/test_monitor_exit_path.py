"""The monitor's exit path (`monitor_main resume`, rl-monitor's way back into
rl once the container exited) records the exit without importing the start
path: `rl stop` waits for that record, so this process's start-up is part of
every stop (docs/architecture.md, "Detached containers"). Counts of modules,
not times: times are the benchmark's (bench/cli.py, stop -t 0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rootless.config import Paths
from rootless.containers.records import Store

ROOT = Path(__file__).resolve().parents[2]
# the run engine and the runtime (RunRequest's dataclass, ctypes, the runtime's signal set, seccomp),
# the spawn helper, sockets, logging, shutil (bz2, lzma) and the network package for a container without one
START_PATH = ("rootless.containers.run", "rootless.containers.request", "rootless.runtime", "rootless.linux",
              "rootless.tools", "rootless.network", "rootless.containers.logs", "dataclasses", "ctypes", "socket",
              "logging", "shutil", "typing")


def _resume(tmp_path, request: dict, net: dict, flags: tuple[str, ...] = ()):
    """A record as `rl run -d` leaves it (every field of its RunRequest, a live owner, PID 1 exited),
    resumed as rl-monitor does."""
    from rootless.plain import asdict

    from rootless.containers.request import RunRequest
    request = asdict(RunRequest(**request))
    store = Store(Paths(tmp_path / "root", tmp_path / "run"))
    rec = store.create("img", ["true"], "vfs", "exitpath", request=request)
    store.update_state(rec, state="running", monitor=os.getpid(), pid=None)
    state = {"root": str(tmp_path / "root"), "runroot": str(tmp_path / "run"), "id": rec.id, "restarts": 0,
             "net": net, "cgroup": False}
    path = store.run_dir(rec.id) / "monitor.json"
    path.write_text(json.dumps(state))
    code = ("import sys, json\n"
            "from rootless.containers import monitor\n"
            "rc = monitor.entry(['resume', sys.argv[1], '7'])\n"
            "print(json.dumps([rc, sorted(sys.modules)]))")
    r = subprocess.run([sys.executable, *flags, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rc, mods = json.loads(r.stdout.splitlines()[-1])
    return store, rec, rc, set(mods)


def _start_path(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if any(m == p or m.startswith(p + ".") for p in START_PATH))


def test_resume_records_the_exit_without_the_start_path(tmp_path):
    store, rec, rc, mods = _resume(tmp_path, {"image": "img", "restart": "no"}, {})
    st = store.state(rec)
    assert (rc, st["state"], st["exit_code"]) == (0, "exited", 7)
    assert _start_path(mods) == []


def test_resume_of_an_rm_container_removes_it_without_the_start_path(tmp_path):
    """--rm: removed by the exit path (req.rm read from the record)."""
    store, rec, rc, mods = _resume(tmp_path, {"image": "img", "rm": True}, {})
    assert rc == 0 and not store.container_dir(rec.id).exists()
    assert _start_path(mods - {"shutil"}) == []  # (the removal's rmtree)


def test_resume_releases_a_network_handover(tmp_path):
    """A handed-over network (here an fd to close) is still released: the network package comes in then."""
    _, _, rc, mods = _resume(tmp_path, {"image": "img"}, {"fds": [987]})
    assert rc == 0 and "rootless.network" in mods


def test_resume_leaves_a_user_network_with_the_members_files_only(tmp_path):
    """A container on a user network: its exit takes it off the members file
    (everyone's /etc/hosts follows) without what only a start needs: ctypes
    (namespaces), ipaddress, the spawn helper, sockets, json, pathlib."""
    from rootless.network import networks, usernet
    paths = Paths(tmp_path / "root", tmp_path / "run")
    net = networks.create(paths, "exitnet")
    usernet.reserve(paths, net, "other", ["other"], None, owner=os.getpid())
    usernet.reserve(paths, net, "exiting", ["exitpath"], None, owner=os.getpid())
    # -S: without site (a test venv's editable-install finder imports pathlib, re and ipaddress)
    _, _, rc, mods = _resume(tmp_path, {"image": "img"},
                             {"usernet": {"root": str(paths.root), "runroot": str(paths.runroot),
                                          "network": "exitnet", "networks": ["exitnet"], "cid": "exiting"}},
                             flags=("-S",))
    assert rc == 0
    assert sorted(usernet._read_members(usernet._members_path(paths, "exitnet"))) == ["other"]
    # over what an exit without a network imports (the interpreter's site, the test's own json)
    _, _, _, base = _resume(tmp_path / "base", {"image": "img"}, {}, flags=("-S",))
    added = mods - base
    assert "rootless.network.usernet" in added
    assert sorted(m for m in added if m.split(".")[0] in ("ctypes", "ipaddress", "socket", "json", "pathlib", "re")
                  or m.startswith("rootless.linux")) == []


def test_request_view_reads_the_record_then_runrequests_defaults():
    from rootless.containers import monitor
    from rootless.containers.request import RunRequest
    full = {"image": "img", "rm": True, "restart": "always", "anon_volumes": ["v"]}
    view = monitor._Request(full)
    assert (view.rm, view.restart, view.anon_volumes) == (True, "always", ["v"])
    assert view._full is None  # every field read was the record's: no RunRequest built
    # a field an older record lacks: RunRequest's default
    assert view.sdnotify == RunRequest(image="img").sdnotify and view.log_opt == RunRequest(image="img").log_opt
    for name in ("rm", "restart", "tty", "interactive", "health_cmd", "log_driver", "sdnotify", "cgroups"):
        assert getattr(monitor._Request({"image": "img"}), name) == getattr(RunRequest(image="img"), name)


def test_stop_waits_wake_on_the_process_end():
    """stop's waits block on a pidfd of PID 1 / the monitor (woken by its end),
    not only on sleeps between polls: _sleep_on says when the process ended."""
    from rootless.containers import lifecycle
    from rootless.containers.records import start_time
    p = subprocess.Popen(["sleep", "1000"])
    try:
        fd = lifecycle._exit_fd(p.pid, start_time(p.pid))
        assert fd is not None
        assert lifecycle._sleep_on(fd, 0) is False  # alive
        p.kill()
        p.wait()
        assert lifecycle._sleep_on(fd, 1000) is True  # returns at once: it ended
        os.close(fd)
    finally:
        p.kill()
    assert lifecycle._exit_fd(p.pid, start_time(os.getpid())) is None  # not that process (another start time)
    assert lifecycle._sleep_on(None, 0) is False


def test_wait_inactive_sees_the_exit_file_after_pid1_ends(tmp_path):
    """PID 1 ended and rl-monitor's exit file written: the container is inactive (the wait returns True);
    PID 1 alive and no exit file after the timeout: False."""
    from rootless.containers import lifecycle
    from rootless.containers.records import EXIT_FILE, start_time
    store = Store(Paths(tmp_path / "root", tmp_path / "run"))
    rec = store.create("img", ["true"], "vfs", "waits")
    p = subprocess.Popen(["sleep", "1000"])
    try:
        store.update_state(rec, state="running", monitor=os.getpid(), monitor_start=start_time(os.getpid()),
                           pid=p.pid, pid_start=start_time(p.pid))
        assert lifecycle._wait_inactive(store, rec, 0.05) is False
        p.kill()
        p.wait()
        (store.run_dir(rec.id) / EXIT_FILE).write_text("137\n")
        assert lifecycle._wait_inactive(store, rec, 1000) is True
    finally:
        p.kill()
