"""issue 19 items 2 and 3: `rl logs` gives each line back on the stream it
came from, and a foreground container (`run` without -d, `start -a`) is
logged as a detached one is; the same invocations through podman."""

from __future__ import annotations

import pytest

from tests.podman import podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse]

SCRIPT = "echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2"



def _each(both):
    rl, podman, img = both
    return (("rl", rl.run, "debian:bookworm"), ("podman", podman.run, img))


def _split(res) -> tuple[list[str], list[str]]:
    return res.stdout.split(), res.stderr.split()


def test_logs_keeps_stderr_separate(both):
    seen = {}
    for tool, run, image in _each(both):
        assert run("run", "-d", "--name", "s", "--network", "none", image, "sh", "-c", SCRIPT).returncode == 0
        assert run("wait", "s").returncode == 0
        res = run("logs", "s")
        assert res.returncode == 0, res.stderr
        seen[tool] = _split(res)
    print(seen)
    assert seen["rl"] == seen["podman"] == (["out-1", "out-2"], ["err-1", "err-2"])


def test_logs_follow_keeps_streams(both):
    seen = {}
    for tool, run, image in _each(both):
        script = "sleep 1; " + SCRIPT + "; sleep 1; echo out-3; echo err-3 >&2"
        assert run("run", "-d", "--name", "f", "--network", "none", image, "sh", "-c", script).returncode == 0
        res = run("logs", "-f", "f", timeout=60)  # ends when the container does
        assert res.returncode == 0, res.stderr
        seen[tool] = _split(res)
        # with --tail and --timestamps as well
        res = run("logs", "--tail", "2", "-t", "f")
        seen[tool + "-tail"] = [[w for w in ln.split() if not w[:1].isdigit()] for ln in res.stdout.splitlines()], \
            [[w for w in ln.split() if not w[:1].isdigit()] for ln in res.stderr.splitlines()]
    print(seen)
    assert seen["rl"] == seen["podman"] == (["out-1", "out-2", "out-3"], ["err-1", "err-2", "err-3"])
    assert seen["rl-tail"] == seen["podman-tail"]


def test_foreground_run_is_logged(both):
    seen = {}
    for tool, run, image in _each(both):
        res = run("run", "--name", "fg", "--network", "none", image, "sh", "-c", SCRIPT + "; exit 3")
        assert res.returncode == 3, res.stderr
        # still shown on the terminal, each on its own stream
        seen[tool + "-terminal"] = _split(res)
        res = run("logs", "fg")
        assert res.returncode == 0, res.stderr
        seen[tool] = _split(res)
    print(seen)
    assert seen["rl-terminal"] == seen["podman-terminal"] == (["out-1", "out-2"], ["err-1", "err-2"])
    assert seen["rl"] == seen["podman"] == (["out-1", "out-2"], ["err-1", "err-2"])


def test_start_attach_is_logged(both):
    seen = {}
    for tool, run, image in _each(both):
        assert run("create", "--name", "sa", "--network", "none", image, "sh", "-c", SCRIPT).returncode == 0
        for _ in range(2):
            res = run("start", "-a", "sa")
            assert res.returncode == 0, res.stderr
        seen[tool + "-terminal"] = _split(res)
        seen[tool] = _split(run("logs", "sa"))
    print(seen)
    assert seen["rl-terminal"] == seen["podman-terminal"] == (["out-1", "out-2"], ["err-1", "err-2"])
    assert seen["rl"] == seen["podman"] == (["out-1", "out-2", "out-1", "out-2"], ["err-1", "err-2"] * 2)


def test_foreground_log_driver_none_and_piped_output(both):
    rl, _, _ = both
    res = rl.run("run", "--name", "nolog", "--log-driver", "none", "--network", "none", "debian:bookworm",
                 "sh", "-c", SCRIPT)
    assert res.returncode == 0 and _split(res) == (["out-1", "out-2"], ["err-1", "err-2"])
    assert rl.run("logs", "nolog").returncode != 0
    # a reader that goes away still stops the container's writer (SIGPIPE), as without the relay
    import subprocess
    proc = rl.popen("run", "--rm", "--network", "none", "debian:bookworm", "yes", stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"y\n"
    proc.stdout.close()
    try:
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert code != 0, proc.stderr.read()  # yes stopped by its broken pipe (EPIPE or SIGPIPE)
