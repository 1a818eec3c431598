"""What the everyday commands' fast path does not pay for (docs/architecture.md,
"The command table and the fast path"): a command imports its own command
module only, `rl inspect CONTAINER` does not import the runtime, and `rl logs`
does not run calendar arithmetic for each line. Counts of modules, not times:
times are the benchmark's (bench/cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rootless.containers import logs

ROOT = Path(__file__).resolve().parents[2]
COMMAND_MODULES = {f"rootless.cli.{m}" for m in ("containers", "pods", "images", "volumes", "networks", "system",
                                                  "cgroups", "generate")}
# the engine and stdlib modules no listing or inspect needs: the runtime (ctypes, seccomp, hashlib),
# the container engine's run path, the registry client, typing, shutil (bz2, lzma), socket, random,
# and typer's world
NEVER = ("rootless.runtime.create", "rootless.runtime.child", "rootless.containers.run", "rootless.images.registry",
         "ctypes", "hashlib", "typing", "shutil", "socket", "random", "typer", "click", "pydantic", "rich")


def _imported(tmp_path, argv):
    code = ("import sys, json; from rootless import cli\n"
            "rc = cli.run(['--root', sys.argv[1], '--runroot', sys.argv[2], *json.loads(sys.argv[3])])\n"
            "print(json.dumps([rc, sorted(sys.modules)]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root"), str(tmp_path / "run"), json.dumps(argv)],
                       capture_output=True, text=True, cwd=ROOT, check=True)
    rc, mods = json.loads(r.stdout.splitlines()[-1])
    return rc, set(mods), r.stderr


@pytest.mark.parametrize("argv,rc,own", [
    (["images"], 0, "images"), (["image", "ls", "-q"], 0, "images"),
    (["inspect", "localhost/nothing-here:1"], 125, "images"),
    (["ps", "-a"], 0, "containers"), (["logs", "nothing-here"], 125, "containers"),
    (["rm", "nothing-here"], 1, "containers"), (["volume", "ls"], 0, "volumes"),
    (["network", "ls"], 0, "networks")])
def test_a_command_imports_its_own_module_only(tmp_path, argv, rc, own):
    got, mods, err = _imported(tmp_path, argv)
    assert got == rc, err
    assert mods & COMMAND_MODULES == {f"rootless.cli.{own}"}
    assert sorted(m for m in mods if m in NEVER or m.split(".")[0] in NEVER) == []


def test_inspect_of_a_container_does_not_import_the_runtime():
    """inspect's NetworkSettings reads the record's RunRequest: from
    containers/request.py, not containers/run.py (which imports the runtime)."""
    code = ("import sys; from types import SimpleNamespace\n"
            "from rootless.containers import views\n"
            "rec = SimpleNamespace(request={'image': 'x', 'network': 'net1', 'network_alias': ['a']}, name='c',"
            " id='0' * 64)\n"
            "print(views.network_settings(rec, False, None)['net1']['Aliases'],"
            " sorted(m for m in ('rootless.containers.run', 'rootless.runtime.create') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "['a'] []"


def test_run_request_is_one_class():
    from rootless.containers import request, run
    assert run.RunRequest is request.RunRequest and run.user_networks is request.user_networks


STAMPS = ["2026-12-07T12:18:16.135456666+00:00", "2026-12-07T12:18:16.135456666Z", "2026-12-07T12:18:16Z",
          "2026-12-07T12:18:16+02:00", "2026-12-07T12:18:16.5-05:30", "2026-12-07T12:18:16.000000001+0100",
          "2026-12-07T12:18:16.12-3", "2026-12-07T12:18:16", "2026-12-07T12:18:16.25", "2024-02-29T23:59:60.9Z",
          "1970-01-01T00:00:00Z", "2026-1-7T1:2:3Z", "2026-12-07T00:00:00",
          # malformed: each must fail as it did (ValueError), never parse differently
          "2026-12-07T25:00:00Z", "2026-13-07T12:18:16Z", "2026-12-07T12:18:16.1T2Z", "2026-12-07T12:18:16.x+00:00",
          "2026-12-07T12:18:16.5Z+01:00", "2026-12-07T12:18:1a.5Z", "2026-12-07X12:18:16.5Z", "garbage-stamp-xx",
          "2026-12-07T12:18:16+aa:00", "2026-12-07T12:18:16.", "2026-12-07T12:18:16.-1"]


def _reference(stamp):
    """parse_time as it was: the whole stamp worked out each time."""
    base, frac, off = logs._parts(stamp)
    return base + float(f"0.{frac or 0}") - off


@pytest.mark.parametrize("stamp", STAMPS)
def test_parse_time_as_before(stamp):
    for _ in range(2):  # the second time from the per-second cache
        try:
            want = _reference(stamp)
        except ValueError:
            with pytest.raises(ValueError):
                logs.parse_time(stamp)
            continue
        assert logs.parse_time(stamp) == want


def test_parse_time_works_a_second_out_once(monkeypatch):
    logs._SECONDS.clear()
    calls = []
    real = logs._seconds
    monkeypatch.setattr(logs, "_seconds", lambda s: calls.append(s) or real(s))
    lines = b"".join(b"2026-12-07T12:18:16.%09d+00:00 stdout F %d\n" % (i, i) for i in range(1000))
    entries = [logs.parse_line(line) for line in lines.split(b"\n") if line]
    assert [e.text for e in entries] == [b"%d" % i for i in range(1000)]
    assert entries[7].time == _reference("2026-12-07T12:18:16.000000007+00:00")
    assert calls == ["2026-12-07T12:18:16+00:00"]


def _image_time_reference(text):
    """images.render.parse_time as it was, with datetime.strptime."""
    import re
    from datetime import datetime, timedelta, timezone
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return None
    try:
        base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
        tz = m.group(3) or "Z"
        if tz == "Z":
            base = base.replace(tzinfo=timezone.utc)
        else:
            sign = 1 if tz[0] == "+" else -1
            base = base.replace(tzinfo=timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))))
        return base.timestamp() + float(m.group(2) or 0)
    except (ValueError, OverflowError, OSError):
        return None


def test_image_times_as_with_strptime():
    """`rl images`' CREATED without _strptime: the same epoch for every
    stamp, and None for the same impossible ones (month 13, 24:00, 23:59:60,
    Feb 30, year 0, a bad offset)."""
    import random
    from rootless.images import render
    rnd = random.Random(7)
    stamps = ["2024-02-29T23:59:59.999999999Z", "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z",
              "9999-12-31T23:59:59+01:00", "2024-05-01T24:00:00Z", "2024-05-01T23:59:60Z", "1970-01-01T00:00:00",
              "2024-05-01T10:00:00-05:30", "2024-05-01T10:00:00+25:99", "2024-13-01T10:00:00Z",
              # read by hand since, without re and datetime: the pattern's and datetime's corners
              "2024-01-02T03:04:05Z\n", "2024-01-02T03:04:05Z\n\n", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
              "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "2024-04-31T00:00:00Z",
              "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+23:99", "2024-01-01T00:00:00+22:99",
              "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.", "2024-01-01T00:00:00z", "2024-01-01 00:00:00Z",
              "2024-1-01T00:00:00Z", "٢٠٢٤-01-01T00:00:00Z", "2024-01-01T00:00:00.٥Z", "2024-01-01T00:00:00+0200",
              "2024-01-01T00:00:00ZZ", "1969-12-31T23:59:59.999Z", "0000-13-99T99:00:00Z", ""]
    for _ in range(20000):
        stamps.append(f"{rnd.choice(['0000', '0001', '1970', '2024', '2023', '9999'])}-{rnd.randint(0, 13):02d}-"
                      f"{rnd.randint(0, 32):02d}T{rnd.randint(0, 25):02d}:{rnd.randint(0, 61):02d}:"
                      f"{rnd.randint(0, 62):02d}{rnd.choice(['', '.5', '.123456789'])}"
                      f"{rnd.choice(['', 'Z', '+01:00', '-05:30', '+25:99'])}")
    assert [s for s in stamps if render.parse_time(s) != _image_time_reference(s)] == []
    assert render.parse_time("2024-05-01T10:00:00.5Z") == 1714557600.5


def test_image_times_without_strptime():
    code = ("import sys; from rootless.images import render\n"
            "print(render.since('2024-05-01T10:00:00Z', now=1714557600 + 7200), '_strptime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "2 hours ago False"


def test_volume_record_as_before(tmp_path):
    """Volume (no longer a dataclass) gives podman's fields in the same order
    and the same JSON, and `rl volume ls` imports no dataclasses."""
    from rootless.config import Paths
    from rootless.volumes import Volume, VolumeStore
    store = VolumeStore(Paths(tmp_path / "root", tmp_path / "run"))
    vol = store.create("v1", labels={"a": "b"})
    d = vol.to_dict()
    assert list(d) == ["Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope", "Options", "NeedsCopyUp",
                       "NeedsChown"]
    assert (d["Name"], d["Driver"], d["Labels"], d["Scope"], d["Options"], d["NeedsCopyUp"], d["NeedsChown"]) == \
        ("v1", "local", {"a": "b"}, "local", {}, True, True)
    d["Labels"]["a"] = "changed"  # a copy, as dataclasses.asdict's
    assert vol.Labels == {"a": "b"}
    assert store.lookup("v1") == vol and Volume.from_json(json.loads(json.dumps(d))) != vol
    got, mods, err = _imported(tmp_path, ["volume", "ls"])
    assert got == 0, err
    assert "rootless.volumes" in mods and "dataclasses" not in mods


def test_images_imports_no_dataclasses(tmp_path):
    got, mods, err = _imported(tmp_path, ["images"])
    assert got == 0, err
    assert "rootless.images.store" in mods and "dataclasses" not in mods and "inspect" not in mods


@pytest.mark.parametrize("argv,rc", [(["ps", "-a"], 0), (["logs", "nothing-here"], 125), (["rm", "nothing-here"], 1),
                                     (["inspect", "localhost/nothing-here:1"], 125), (["--version"], 0)])
def test_no_dataclasses_on_everyday_paths(tmp_path, argv, rc):
    """dataclasses imports inspect, ast and dis, and each class it builds
    costs more than these commands' own work: the records and options on
    their paths are plain classes. (tokenize comes with logging's traceback.)"""
    got, mods, err = _imported(tmp_path, argv)
    assert got == rc, err
    assert sorted(m for m in ("dataclasses", "inspect", "ast", "dis") if m in mods) == []


def test_container_record_as_before():
    """Record (no longer a dataclass): config.json's fields in the same order,
    a deep copy as asdict made, read back equal."""
    from rootless.containers.records import Record
    rec = Record("f" * 64, "web", "img", ["sh"], "vfs", request={"env": ["A=1"], "networks": [{"name": "n"}]})
    d = rec.to_dict()
    assert list(d) == ["id", "name", "image", "command", "driver", "created", "layers", "image_config", "request",
                       "image_id", "image_name"]
    d["request"]["networks"][0]["name"] = "changed"
    assert rec.request["networks"][0]["name"] == "n"
    assert Record(**json.loads(json.dumps(rec.to_dict()))) == rec
    assert Record("a", "b", "c", [], "d", created=None).created is None  # a value given is kept, as before


@pytest.mark.parametrize("argv,rc", [(["images"], 0), (["ps", "-a"], 0), (["volume", "ls"], 0),
                                     (["inspect", "localhost/nothing-here:1"], 125), (["--version"], 0)])
def test_commands_that_never_log_never_import_logging(tmp_path, argv, rc):
    got, mods, err = _imported(tmp_path, argv)
    assert got == rc, err
    assert "logging" not in mods and "rootless.logconf" in mods


@pytest.mark.parametrize("level,want", [
    (None, "WARN: late\n"), ("error", ""), ("debug", 'WARN: late\nlevel=debug msg="shown"\n')])
def test_configure_applies_when_logging_comes_later(level, want):
    """logconf.configure before logging is imported (the CLI's start): the
    level and rl's words apply from the moment a module imports logging."""
    code = ("import sys, json; from rootless import logconf\n"
            "assert 'logging' not in sys.modules\n"
            "logconf.configure(json.loads(sys.argv[1]))\n"
            "import logging\n"
            "log = logging.getLogger('rootless.late')\n"
            "log.warning('late'); log.debug('shown')\n"
            "assert type(logging.__loader__).__name__ != '_ThenConfigure'\n"
            "print(len([h for h in logging.getLogger().handlers]), logconf._HOOK in sys.meta_path)")
    r = subprocess.run([sys.executable, "-c", code, json.dumps(level)], capture_output=True, text=True, cwd=ROOT,
                       check=True)
    assert r.stderr == want
    assert r.stdout.split() == ["1", "False"]


@pytest.mark.parametrize("network", [None, "", "none", "host", "slirp4netns", "pasta", "private", "default"])
def test_stopped_container_without_user_networks(network):
    """NetworkSettings.Networks of a stopped container on no user network:
    {} as the RunRequest path gives, without building one (nor the runtime's
    spec for Config.Env)."""
    code = ("import sys, json; from types import SimpleNamespace\n"
            "from rootless.containers import views\n"
            "req = {'image': 'x', 'network': json.loads(sys.argv[1]), 'env': ['A=1']}\n"
            "rec = SimpleNamespace(request=req, name='c', id='0' * 64, image_config={})\n"
            "fast = views.network_settings(rec, False, None)\n"
            "env = views.config_env(rec)\n"
            "light = [m for m in ('rootless.containers.request', 'rootless.runtime.spec', 'dataclasses')"
            " if m in sys.modules]\n"
            "from rootless.containers import request\n"  # the RunRequest path, as it was
            "slow = {n: {} for n, _a, _ip in request.user_networks(request.RunRequest(**req))}\n"
            "print(json.dumps([fast, slow, 'A=1' in env, light]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(network)], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert json.loads(out) == [{}, {}, True, []]
