"""The container engine's API (rootless/containers/ops.py) as a face other
than the CLI calls it: the same data `rl ps`, `rl container inspect` and
`rl logs` render. And what the CLI prints for several containers reaches a
pipe once, whatever the engine forks meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

# a face: the engine called in-process, its plain data printed as JSON
FACE = r'''
import json, sys
from rootless.config import default_paths
from rootless.containers import ops
paths = default_paths(None, None)
out = {
    "ps": ops.ps_json(ops.ps(paths, ops.PsOptions(all=True))),
    "web": [x.record.id for x in ops.ps(paths, ops.PsOptions(filters=["name=web"]))],
    "running": [x.record.id for x in ops.ps(paths)],
    "inspect": ops.inspect(paths, "web"),
    "logs": [[e.stream, e.text.decode()] for batch in ops.logs(paths, "web") for e in batch],
    "tail": [e.text.decode() for batch in ops.logs(paths, "web", ops.LogOptions(tail=1)) for e in batch],
}
print(json.dumps(out))
'''


def _face(rl) -> dict:
    res = subprocess.run([sys.executable, "-c", FACE], capture_output=True, text=True, env=rl.env, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _until(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def _steady(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "Status"}  # "Up 2 seconds": the clock's


def test_engine_returns_what_the_cli_renders(rlc, rootfs):
    web = rlc.run("run", "-d", "--name", "web", "--network", "none", "--rootfs", rootfs,
                  "sh", "-c", "echo one; echo two >&2; echo three; sleep 600", check=True).stdout.strip()
    done = rlc.run("run", "--name", "done", "--network", "none", "--rootfs", rootfs, "true", check=True)
    assert done.returncode == 0
    assert _until(lambda: rlc.run("logs", "web").stdout == "one\nthree\n")
    face = _face(rlc)
    cli_ps = json.loads(rlc.run("ps", "-a", "--format", "json", check=True).stdout)
    assert [_steady(r) for r in face["ps"]] == [_steady(r) for r in cli_ps]
    assert len(face["ps"]) == 2 and face["ps"][1]["Id"] == web  # newest first
    assert face["web"] == face["running"] == [web]
    assert rlc.run("ps", "-q", "--no-trunc", "--filter", "name=web", check=True).stdout.split() == face["web"]
    assert face["inspect"] == json.loads(rlc.run("container", "inspect", "web", check=True).stdout)[0]
    logs = rlc.run("logs", "web", check=True)
    assert [t for s, t in face["logs"] if s == "stdout"] == logs.stdout.splitlines()
    assert [t for s, t in face["logs"] if s == "stderr"] == logs.stderr.splitlines() == ["two"]
    assert sorted(t for _, t in face["logs"]) == ["one", "three", "two"]
    tail = rlc.run("logs", "--tail", "1", "web", check=True)
    assert face["tail"] == [face["logs"][-1][1]] == (tail.stdout + tail.stderr).splitlines()


def test_rm_all_into_a_pipe_names_each_container_once(rlc, rootfs):
    """`rl rm -af | ...`: stdout is a pipe (block-buffered); removing a
    container whose layer holds files of subordinate IDs forks a helper in
    the user namespace, which must not write rl's pending output again:
    each ID once, as podman."""
    net = ("--network", "none", "--rootfs", rootfs)
    owned = "mkdir /owned && touch /owned/f && chown -R 1:1 /owned"
    ids = [rlc.run("run", "-d", *net, "sh", "-c", f"{owned} && sleep 600", check=True).stdout.strip()]
    for name in ("two", "three"):
        assert rlc.run("run", "--name", name, *net, "sh", "-c", owned).returncode == 0
        ids.append(rlc.run("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip())
    out = rlc.run("rm", "-a", "-f", "-t", "0", check=True).stdout.split()
    assert sorted(out) == sorted(ids)
