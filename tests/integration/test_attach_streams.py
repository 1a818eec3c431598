"""issue 19: `rl attach` to a container started without -t keeps the
container's stdout and stderr apart (each on the client's own fd), as
podman's attach does; the same invocation through podman."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.podman import podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse]

# writes to both streams until the test creates /ctl/stop, then exits 3
SCRIPT = ("i=0; while [ ! -e /ctl/stop ]; do i=$((i+1)); echo out-$i; echo err-$i >&2; sleep 0.1; done; "
          "echo out-last; echo err-last >&2; exit 3")



def _attach_streams(argv: list[str], env: dict, name: str, ctl, tmp) -> tuple[int, str, str]:
    """`attach NAME` with stdout and stderr to files, until the lines of
    both streams arrived; then the container is told to stop. The attach's status
    and what arrived on each of its fds."""
    out, err = tmp / f"{name}.out", tmp / f"{name}.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([*argv, "attach", "--no-stdin", name], stdin=subprocess.DEVNULL,
                                stdout=o, stderr=e, env=env)
    try:
        deadline = time.monotonic() + 120  # a loaded machine; not a threshold on the behaviour
        # both streams' lines arrived, wherever they went (a client that merges them fails below)
        while not (b"out-" in out.read_bytes() + err.read_bytes() and b"err-" in out.read_bytes() + err.read_bytes()):
            assert proc.poll() is None, (out.read_bytes(), err.read_bytes())
            assert time.monotonic() < deadline, (out.read_bytes(), err.read_bytes())
            time.sleep(0.1)
        (ctl / "stop").touch()
        code = proc.wait(timeout=120)  # attach ends with the container
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, out.read_text(), err.read_text()


def test_attach_keeps_stdout_and_stderr_apart(both, tmp_path):
    rl, podman, img = both
    seen = {}
    for tool, argv, env, image in (("rl", [sys.executable, "-m", "rootless"], rl.env, "debian:bookworm"),
                                   ("podman", podman.argv, podman.env, img)):
        ctl = tmp_path / f"ctl-{tool}"
        ctl.mkdir()
        ctl.chmod(0o777)
        run = rl.run if tool == "rl" else podman.run
        res = run("run", "-d", "--name", "both", "--network", "none", "-v", f"{ctl}:/ctl", image, "sh", "-c", SCRIPT)
        assert res.returncode == 0, res.stderr
        code, out, err = _attach_streams(argv, env, "both", ctl, tmp_path)
        print(tool, code, repr(out[-200:]), repr(err[-200:]))
        lines_out, lines_err = out.split(), err.split()
        seen[tool] = (code,
                      sorted({ln.split("-")[0] for ln in lines_out}), sorted({ln.split("-")[0] for ln in lines_err}),
                      lines_out[-1], lines_err[-1])
        # in order, nothing lost or doubled on either stream while attached
        numbers = [int(ln.split("-")[1]) for ln in lines_out[:-1]]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), (tool, out)
        numbers = [int(ln.split("-")[1]) for ln in lines_err[:-1]]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), (tool, err)
    print(seen)
    # podman's attach exits 0 whatever the container's status (its ContainerAttach returns no status);
    # rl's gives the container's, as docker's does (tests/integration/test_detach_keys.py)
    assert seen["rl"][0] == 3 and seen["podman"][0] == 0
    assert seen["rl"][1:] == seen["podman"][1:] == (["out"], ["err"], "out-last", "err-last")
