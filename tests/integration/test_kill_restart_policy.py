"""issue 19 item 15: `rl kill` is the user's decision, as `rl stop` is: a
`--restart=always` container it kills stays dead, as podman's does.

No timing guess decides "no restart came": each tool is followed until its
restart machinery has finished (rl's monitor, podman's conmon and its
`container cleanup`), then the starts the container itself counted are read."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.integration.podman_own_run import podman, podman_own  # noqa: F401 - fixtures
from tests.podman import load_image

pytestmark = [pytest.mark.userns, pytest.mark.fuse, pytest.mark.registry]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cleanups_of(cid: str) -> list[int]:
    """podman's exit command (`podman ... container cleanup ID`) still running for this container."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"cleanup" in argv and any(cid.encode() in a for a in argv) and _alive(int(d)):
            out.append(int(d))
    return out


def _until(pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def _settled(run, name: str) -> dict:
    """The container once nothing of its tool can start it again."""
    info = json.loads(run("inspect", name).stdout)[0]
    cid, mon = info["Id"], info["State"].get("ConmonPid") or 0
    assert _until(lambda: info["State"]["Status"] != "running" or
                  json.loads(run("inspect", name).stdout)[0]["State"]["Status"] != "running")
    assert _until(lambda: not (mon and _alive(mon)) and not _cleanups_of(cid))
    return json.loads(run("inspect", name).stdout)[0]


@pytest.mark.parametrize("policy", ["always", "unless-stopped", "on-failure"])
def test_kill_is_not_undone_by_the_restart_policy(rl, registry, podman_own, tmp_path, policy):  # noqa: F811
    podman = podman_own
    rl.env.update(registry.env())
    pimg = load_image(podman, registry)
    assert rl.run("pull", "-q", "debian:bookworm").returncode == 0
    seen = {}
    for tool, run, image in (("rl", rl.run, "debian:bookworm"), ("podman", podman.run, pimg)):
        out = tmp_path / f"out-{tool}"
        out.mkdir()
        out.chmod(0o777)
        res = run("run", "-d", "--name", "svc", "--network", "none", "--restart", policy,
                  "-v", f"{out}:/out", image, "sh", "-c", "echo x >> /out/starts; exec sleep 600")
        assert res.returncode == 0, res.stderr
        assert _until(lambda: (out / "starts").exists())
        assert run("kill", "svc").returncode == 0
        info = _settled(run, "svc")
        seen[tool] = {"status": info["State"]["Status"], "exit": info["State"]["ExitCode"],
                      "starts": (out / "starts").read_text().count("x"), "restarts": info["RestartCount"]}
        run("rm", "-f", "svc")
    print(seen)
    assert seen["rl"] == seen["podman"] == {"status": "exited", "exit": 137, "starts": 1, "restarts": 0}
