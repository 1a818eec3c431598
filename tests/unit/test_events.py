"""The event log's writer and reader on a plain directory, podman's filter
semantics, and the renderings of `rl events` (default line, JSON, template
fields). The commands' events: tests/integration/test_events.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rootless import events
from rootless.errors import UsageError
from rootless.events import reader

ROOT = Path(__file__).resolve().parents[2]


class _Paths:
    def __init__(self, root):
        self.root = root


class _Rec:
    def __init__(self, **kw):
        self.id, self.name, self.image, self.image_name = "c" * 64, "web", "debian", "docker.io/library/debian:12"
        self.request = {"label": ["k=v"]}
        self.image_config = {"Labels": {"maintainer": "x"}}
        self.__dict__.update(kw)

    def labels(self):
        return {"maintainer": "x", "k": "v"}


def test_written_events_read_back_in_order(tmp_path):
    p = _Paths(tmp_path)
    events.emit(p, "volume", "create", name="v1")
    events.container(p, _Rec(), "died", exit_code=3)
    events.emit(p, "image", "tag", id="i" * 64, name="localhost/x:1")
    got = list(reader.read(p))
    assert [(e["Type"], e["Status"]) for e in got] == [("volume", "create"), ("container", "died"), ("image", "tag")]
    assert got[1]["ContainerExitCode"] == 3 and got[1]["Attributes"] == {"maintainer": "x", "k": "v"}
    assert got[0]["Time"] <= got[1]["Time"] <= got[2]["Time"]
    log = tmp_path / "events" / "events.log"
    assert log.stat().st_mode & 0o777 == 0o600 and (tmp_path / "events").stat().st_mode & 0o777 == 0o700


def test_a_write_failure_is_not_the_commands(tmp_path):
    (tmp_path / "events").write_text("a file where the directory should be")
    events.emit(_Paths(tmp_path), "volume", "create", name="v1")  # no exception
    assert list(reader.read(_Paths(tmp_path))) == []


def test_huge_labels_are_dropped_not_the_event(tmp_path):
    p = _Paths(tmp_path)
    events.emit(p, "container", "create", name="big", attributes={"k": "v" * (events.MAX_LINE + 10)})
    (ev,) = reader.read(p)
    assert ev["Name"] == "big" and "Attributes" not in ev


def test_rotation_keeps_one_generation_and_reads_both(tmp_path, monkeypatch):
    monkeypatch.setattr(events, "MAX_SIZE", 400)
    p = _Paths(tmp_path)
    for i in range(30):
        events.emit(p, "volume", "create", name=f"v{i}")
    d = tmp_path / "events"
    assert "events.log.1" in os.listdir(d) and set(os.listdir(d)) <= {"events.log", "events.log.1"}
    assert all((d / f).stat().st_size <= 400 + 200 for f in os.listdir(d))  # bounded: one line past the size
    names = [e["Name"] for e in reader.read(p)]
    assert names == [f"v{i}" for i in range(30 - len(names), 30)] and len(names) >= 4


def test_concurrent_writers_lose_no_line(tmp_path):
    """Appends from several processes at once: every line whole, none lost
    (under the rotation size)."""
    code = ("import sys\nfrom rootless import events\nclass P: root = sys.argv[1]\n"
            "for i in range(300): events.emit(P, 'volume', 'create', name=f'{sys.argv[2]}-{i}')\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(n)], cwd=ROOT) for n in range(4)]
    assert all(p.wait() == 0 for p in procs)
    names = [e["Name"] for e in reader.read(_Paths(tmp_path))]
    assert sorted(names) == sorted(f"{n}-{i}" for n in range(4) for i in range(300))


@pytest.mark.parametrize("line", [
    b"not json", b"[1,2]", b'{"Time":"x","Type":"volume","Status":"create"}',
    b'{"Time":1,"Type":"alien","Status":"create"}', b'{"Time":1,"Type":"volume","Status":5}',
    b'{"Time":1,"Type":"volume","Status":"create","Name":["x"]}',
    b'{"Time":1,"Type":"container","Status":"create","Attributes":{"a":1}}',
    b'{"Time":1,"Type":"container","Status":"died","ContainerExitCode":"x"}'])
def test_lines_of_the_wrong_shape_are_skipped(tmp_path, line):
    p = _Paths(tmp_path)
    events.emit(p, "volume", "create", name="before")
    with open(tmp_path / "events" / "events.log", "ab") as f:
        f.write(line + b"\n")
    events.emit(p, "volume", "create", name="after")
    assert [e["Name"] for e in reader.read(p)] == ["before", "after"]


def test_not_a_regular_file_of_the_users_is_not_read(tmp_path):
    d = tmp_path / "events"
    d.mkdir()
    os.mkfifo(d / "events.log")  # a reader must not block on it either
    assert list(reader.read(_Paths(tmp_path))) == []


def _ev(**kw):
    base = {"Time": 1_700_000_000_123_000_000, "Type": "container", "Status": "start"}
    return {**base, **kw}


def test_filters_as_podman():
    c1 = _ev(ID="a" * 64, Name="web", Image="docker.io/library/debian:12", Attributes={"k": "v", "x": "y"})
    c2 = _ev(ID="b" * 64, Name="db", Image="localhost/pg:1", Status="die", PodID="p" * 64)
    img = _ev(Type="image", Status="tag", ID="i" * 64, Name="localhost/evt:1")
    vol = _ev(Type="volume", Status="create", Name="data")
    net = _ev(Type="network", Status="create", ID="n" * 64, Name="front", Network="front")
    pod = _ev(Type="pod", Status="create", ID="p" * 64, Name="pod1")
    every = [c1, c2, img, vol, net, pod]

    def sel(*f):
        m = reader.matcher(list(f))
        return [e for e in every if m(e)]
    assert sel("container=web") == sel("container=aaaa") == [c1]
    assert sel("container=web", "container=db") == [c1, c2]            # one key: OR
    assert sel("container=web", "event=die") == []                      # keys: AND
    assert sel("status=die") == [c2]
    assert sel("type=volume") == [vol] and sel("volume=data") == [vol]
    assert sel("label=k") == sel("label=k=v") == [c1] and sel("label=k=w") == []
    assert sel("image=debian:12") == sel("image=docker.io/library/debian:12") == [c1]
    assert sel("image=localhost/evt:1") == [img]
    assert sel("network=front") == [net] and sel("pod=pod1") == [pod] and sel("pod=pppp") == [c2, pod]
    assert reader.matcher([]) is None


@pytest.mark.parametrize("bad", ["colour=red", "type=bogus", "novalue", "=x"])
def test_bad_filters_are_usage_errors(bad):
    with pytest.raises(UsageError):
        reader.matcher([bad])


def _in_utc(code: str) -> str:
    env = {**os.environ, "TZ": "UTC"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          check=True).stdout


def test_renderings_are_podmans():
    code = ("import json\nfrom rootless.cli import admin\n"
            "c = {'Time': 1700000000123000000, 'Type': 'container', 'Status': 'died', 'ID': 'a'*64, 'Name': 'web',"
            " 'Image': 'docker.io/library/debian:12', 'ContainerExitCode': 137, 'Attributes': {'z': '1', 'k': 'v'}}\n"
            "i = {'Time': 1700000000000000000, 'Type': 'image', 'Status': 'pull', 'Name': 'docker.io/x:1'}\n"
            "v = {'Time': 1700000000500000000, 'Type': 'volume', 'Status': 'remove', 'Name': 'data'}\n"
            "for e in (c, i, v): print(admin.human_line(e)); print(admin.json_line(e))\n"
            "print(json.dumps(admin.template_data(c)))\n")
    out = _in_utc(code).splitlines()
    assert out[0] == ("2023-11-14 22:13:20.123 +0000 UTC container died " + "a" * 64 +
                      " (image=docker.io/library/debian:12, name=web, k=v, z=1)")
    assert json.loads(out[1]) == {"ContainerExitCode": 137, "ID": "a" * 64, "Image": "docker.io/library/debian:12",
                                  "Name": "web", "Status": "died", "Time": "2023-11-14T22:13:20.123Z",
                                  "Type": "container", "Attributes": {"z": "1", "k": "v"}}
    assert list(json.loads(out[1])) == ["ContainerExitCode", "ID", "Image", "Name", "Status", "Time", "Type",
                                        "Attributes"]
    assert out[2] == "2023-11-14 22:13:20 +0000 UTC image pull  docker.io/x:1"
    assert json.loads(out[3]) == {"Name": "docker.io/x:1", "Status": "pull", "Time": "2023-11-14T22:13:20Z",
                                  "Type": "image", "Attributes": None}
    assert out[4] == "2023-11-14 22:13:20.5 +0000 UTC volume remove data"
    tpl = json.loads(out[6])
    assert tpl["Time"] == "2023-11-14 22:13:20.123 +0000 UTC" and tpl["HealthStatus"] == "" and tpl["PodID"] == ""


def test_human_sizes_are_go_units():
    from rootless.cli.admin import human_size
    assert [human_size(n) for n in (0, 12, 999, 1000, 100000, 170_400_000, 1_234_567_890)] == \
        ["0B", "12B", "999B", "1kB", "100kB", "170.4MB", "1.235GB"]
