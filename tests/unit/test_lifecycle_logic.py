"""Pure lifecycle logic: the k8s-file log format, restart policy and backoff,
durations and signals, healthcheck state, ps filters and status texts,
templates over inspect output."""

from __future__ import annotations

import os

import pytest

from rootless.containers import logs, policy, views
from rootless.containers.records import Record
from rootless.errors import UsageError


# --- k8s-file
def test_chunks_become_full_and_partial_records():
    ts = "2024-05-01T10:00:00.000000001+00:00"
    assert logs.format_chunk("stdout", b"a\nb\n", ts) == (f"{ts} stdout F a\n{ts} stdout F b\n").encode()
    assert logs.format_chunk("stderr", b"a\npart", ts) == (f"{ts} stderr F a\n{ts} stderr P part\n").encode()
    assert logs.format_chunk("stdout", b"\n", ts) == f"{ts} stdout F \n".encode()


def test_timestamp_is_rfc3339_nano():
    ts = logs.timestamp(1714557600.5)
    assert ts == "2024-05-01T10:00:00.500000000+00:00"
    assert logs.parse_time(ts) == pytest.approx(1714557600.5)
    assert logs.parse_time("2024-05-01T12:00:00.5+02:00") == pytest.approx(1714557600.5)
    assert logs.parse_time("2024-05-01T10:00:00Z") == 1714557600


def test_partial_pieces_join_and_tail_counts_lines():
    ts = logs.timestamp(100.0)
    raw = logs.format_chunk("stdout", b"one\ntw", ts) + logs.format_chunk("stdout", b"o\nthree\n", ts)
    entries = [logs.parse_line(line) for line in raw.splitlines()]
    assert logs.render(entries) == b"one\ntwo\nthree\n"
    assert logs.render(logs.select(entries, tail=2)) == b"two\nthree\n"
    assert logs.render(logs.select(entries, tail=0)) == b""
    assert logs.render(logs.select(entries, tail=10)) == b"one\ntwo\nthree\n"


def test_since_until_select_by_time():
    entries = [logs.parse_line(logs.format_chunk("stdout", f"l{t}\n".encode(), logs.timestamp(t)).rstrip())
               for t in (100, 200, 300)]
    assert logs.render(logs.select(entries, since=150, until=250)) == b"l200\n"
    assert logs.since_value("10m", now=1000.0) == 400.0
    assert logs.since_value("1h30m", now=10000.0) == 10000.0 - 5400
    assert logs.since_value("1714557600") == 1714557600.0
    assert logs.since_value("2024-05-01") == 1714521600


def test_exit_file_is_the_truth_before_the_exit_is_recorded(tmp_path):
    from pathlib import Path

    from rootless.config import Paths
    from rootless.containers.records import EXIT_FILE, Store, start_time
    store = Store(Paths(Path(tmp_path / "root"), Path(tmp_path / "run")))
    rec = store.create("img", ["true"], "vfs", "exitfile")
    me = os.getpid()  # a live owner: without the exit file the state stands
    store.update_state(rec, state="running", monitor=me, monitor_start=start_time(me), pid=12345)
    assert store.state(rec)["state"] == "running"
    (store.run_dir(rec.id) / EXIT_FILE).write_text("3\n")  # what rl-monitor writes when PID 1 exits
    st = store.state(rec)
    assert (st["state"], st["exit_code"], st["pid"]) == ("exited", 3, None) and st["finished"]
    store.clear_exit_file(rec)  # the next start
    assert store.state(rec)["state"] == "running"


def test_journal_entries_as_log_entries():
    e = logs.journal_entry({"MESSAGE": "hello", "PRIORITY": "3", "__REALTIME_TIMESTAMP": "1714557600500000"})
    assert (e.stream, e.partial, e.text, e.time) == ("stderr", False, b"hello", 1714557600.5)
    e = logs.journal_entry({"MESSAGE": [104, 255], "PRIORITY": "6", "CONTAINER_PARTIAL_MESSAGE": "true",
                            "__REALTIME_TIMESTAMP": "1"})
    assert (e.stream, e.partial, e.text) == ("stdout", True, b"h\xff")  # bytes journalctl could not print
    assert logs.journal_entry({"PRIORITY": "6"}) is None
    fields = logs.journal_fields("ab" * 32, "web")
    assert "CONTAINER_ID=" + "ab" * 6 in fields and "CONTAINER_NAME=web" in fields


def test_parse_size():
    assert logs.parse_size("10mb") == 10 << 20
    assert logs.parse_size("512k") == 512 << 10
    assert logs.parse_size("100") == 100


# --- restart policy
def test_restart_policies():
    assert policy.parse_restart(None) == policy.Restart("no", 0)
    assert policy.parse_restart("on-failure:3") == policy.Restart("on-failure", 3)
    for bad in ("sometimes", "always:3", "on-failure:x"):
        with pytest.raises(UsageError):
            policy.parse_restart(bad)
    on3 = policy.parse_restart("on-failure:3")
    assert [policy.should_restart(on3, 1, n, False) for n in range(5)] == [True, True, True, False, False]
    assert not policy.should_restart(on3, 0, 0, False)
    always = policy.parse_restart("always")
    assert policy.should_restart(always, 0, 100, False)
    assert not policy.should_restart(always, 1, 0, True)  # rl stop
    assert policy.should_restart(policy.parse_restart("on-failure"), 1, 1000, False)


def test_backoff_doubles_and_caps():
    assert [policy.backoff(n) for n in range(4)] == [0.1, 0.2, 0.4, 0.8]
    assert policy.backoff(50) == 60.0


def test_durations_and_signals():
    assert policy.parse_duration("1m30s", 0) == 90
    assert policy.parse_duration("500ms", 0) == 0.5
    assert policy.parse_duration(None, 7) == 7
    assert policy.parse_duration("2", 0) == 2
    with pytest.raises(UsageError):
        policy.parse_duration("5x", 0)
    assert policy.parse_signal("SIGUSR1") == 10
    assert policy.parse_signal("term") == 15
    assert policy.parse_signal("9") == 9
    assert policy.parse_signal(None, 15) == 15
    with pytest.raises(UsageError):
        policy.parse_signal("NOPE")


# --- healthchecks
def test_health_config_forms():
    assert policy.health_config("true", None, None, None, None).cmd == ["/bin/sh", "-c", "true"]
    assert policy.health_config('["CMD", "a", "b"]', "1s", "2", None, None).cmd == ["a", "b"]
    cfg = policy.health_config(None, None, None, None, None,
                               {"Test": ["CMD-SHELL", "curl x"], "Interval": 5_000_000_000, "Retries": 4})
    assert (cfg.cmd, cfg.interval, cfg.retries) == (["/bin/sh", "-c", "curl x"], 5.0, 4)
    assert policy.health_config("none", None, None, None, None) is None
    assert policy.health_config(None, None, None, None, None) is None


def test_health_state_machine():
    cfg = policy.HealthConfig(["x"], retries=2)
    h = policy.health_after(None, 1, cfg, False, {"ExitCode": 1})
    assert (h["Status"], h["FailingStreak"]) == ("starting", 1)
    h = policy.health_after(h, 1, cfg, False, {"ExitCode": 1})
    assert h["Status"] == "unhealthy"
    h = policy.health_after(h, 0, cfg, False, {"ExitCode": 0})
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 0)
    # failures during the start period do not count
    h = policy.health_after(None, 1, cfg, True, {"ExitCode": 1})
    assert (h["Status"], h["FailingStreak"]) == ("starting", 0)
    for _ in range(10):
        h = policy.health_after(h, 1, cfg, False, {"ExitCode": 1})
    assert len(h["Log"]) == 5


# --- ps and inspect
def _rec(**req) -> Record:
    return Record("ab" * 32, "web", "docker.io/library/nginx:latest", ["nginx"], "overlay", created=1000.0,
                  image_config={"Labels": {"tier": "front"}}, request={"command": ["nginx"], **req})


def test_status_texts():
    assert views.status_text({"state": "running", "started": 990.0}, 1000.0) == "Up 10 seconds"
    assert views.status_text({"state": "running", "started": 990.0, "health": {"Status": "healthy"}},
                             1000.0) == "Up 10 seconds (healthy)"
    assert views.status_text({"state": "exited", "exit_code": 3, "finished": 997.0}, 1000.0) == \
        "Exited (3) 3 seconds ago"
    assert views.status_text({"state": "created"}, 1000.0) == "Created"


def test_filters():
    rec = _rec()
    running = {"state": "running", "health": {"Status": "healthy"}}
    exited = {"state": "exited", "exit_code": 2}
    assert views.matches(rec, running, ["status=running", "name=we"])
    assert not views.matches(rec, running, ["status=exited"])
    assert views.matches(rec, running, ["status=exited", "status=running"])  # one key ORs
    assert views.matches(rec, exited, ["exited=2"]) and not views.matches(rec, exited, ["exited=0"])
    assert views.matches(rec, running, ["id=abab"]) and not views.matches(rec, running, ["id=cd"])
    assert views.matches(rec, running, ["ancestor=nginx"])
    assert views.matches(rec, running, ["health=healthy"])
    assert views.matches(rec, running, ["label=tier=front"]) and views.matches(rec, running, ["label=tier"])
    own = _rec(label=["tier=back", "team=x"])  # --label over the image's labels, as podman's
    assert own.labels() == {"tier": "back", "team": "x"}
    assert views.matches(own, running, ["label=team=x"]) and not views.matches(own, running, ["label=tier=front"])
    assert views.ps_json(own, running, 1000.0)["Labels"] == {"tier": "back", "team": "x"}
    with pytest.raises(UsageError):
        views.matches(rec, running, ["colour=red"])


def test_inspect_shape_and_templates():
    from rootless.cli.gotemplate import Template

    def render_template(text, obj):
        return Template(text).render(obj)
    rec = _rec(restart="on-failure:3", stop_signal="SIGUSR1")
    st = {"state": "exited", "exit_code": 3, "started": 990.0, "finished": 995.0, "restarts": 3, "monitor": 42}
    obj = views.inspect(rec, st, {"log": "/x/ctr.log"})
    assert render_template("{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}", obj) == "exited 3 3"
    assert obj["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert obj["Config"]["StopSignal"] == 10  # a number, as podman 4.3's inspect shows it
    assert obj["State"]["FinishedAt"].startswith("1970-01-01T00:16:35")
    assert render_template("{{json .State.Running}}", obj) == "false"
    assert "Health" not in obj["State"]


def _append(path: str, data: bytes, max_size: int) -> None:
    """What rl-monitor does with a read: records appended, the file moved to
    PATH.1 first when they would take it past max_size."""
    rec = logs.format_chunk("stdout", data, logs.timestamp())
    if os.path.exists(path) and 0 < os.path.getsize(path) and os.path.getsize(path) + len(rec) > max_size:
        os.replace(path, path + ".1")
    with open(path, "ab") as f:
        f.write(rec)


def test_follow_continues_after_read_and_across_rotation(tmp_path):
    path = str(tmp_path / "ctr.log")
    _append(path, b"first\n", 120)
    entries, current = logs.read(path, keep_open=True)
    assert logs.render(entries) == b"first\n"
    for i in range(5):
        _append(path, f"next {i}\n".encode(), 120)  # rotates on the way
    assert os.path.exists(path + ".1")
    calls = iter([True, True, False, False, False])
    got = logs.render(list(logs.follow(path, lambda: next(calls, False), current, poll=0)))
    assert got.endswith(b"next 4\n") and b"first" not in got


@pytest.mark.parametrize("bad", ["bogus", "10x", "m", "2024-13-99", "2024-05-01T25:61:00Z", "yesterday"])
def test_bad_since_until_is_one_usage_error(bad):
    """issue 19 item 19: a bad --since/--until names the value and the accepted forms."""
    from rootless.errors import UsageError
    with pytest.raises(UsageError) as e:
        logs.since_value(bad, now=1000.0)
    assert repr(bad) in e.value.message and "RFC3339" in e.value.hint


def test_signal_names_are_the_signal_modules():
    import signal

    from rootless.containers.policy import SIGKILL, signal_name
    for n in range(1, 66):
        try:
            want = signal.Signals(n).name
        except ValueError:
            want = str(n)
        assert signal_name(n) == want
    assert SIGKILL == signal.SIGKILL
