"""Every prune asks first, as podman's do, and reads the answer from stdin
even when it is not a terminal: a script that pipes `echo n`, or runs with
</dev/null (cron, CI, ssh without -t), must never lose data. End of input
removes nothing and is an error (podman: exit 125); only an answer starting
with y goes on; -f/--force skips the question."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile

import pytest

from tests.integration.podman_side import podman_or_skip
from tests.integration.test_run_support import require_rootfs

pytestmark = [pytest.mark.userns, pytest.mark.fuse]


def _tiny_tar(path) -> None:
    with tarfile.open(path, "w") as tf:
        ti = tarfile.TarInfo("hello")
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"hi\n"))


def _stock(rl, tmp_path, kind: str) -> dict:
    """Something each prune would remove; returns how to see it is still there."""
    made = {}
    if kind in ("volume", "system"):
        rl.run("volume", "create", "v1", check=True)
    if kind in ("container", "system"):
        made["ctr"] = rl.run("create", "--name", "c1", "--network", "none", "--rootfs", require_rootfs(),
                             "true", check=True).stdout.strip()
    if kind in ("image", "system"):
        tar = tmp_path / "tiny.tar"
        _tiny_tar(tar)
        made["img"] = rl.run("import", "-q", str(tar), check=True).stdout.strip()  # no name: dangling
    if kind in ("network", "system"):
        rl.run("network", "create", "n1", check=True)
    return made


def _left(rl, kind: str, made: dict) -> dict:
    out = {}
    if kind in ("volume",):
        out["volumes"] = rl.run("volume", "ls", "-q", check=True).stdout.split()
    if kind in ("container", "system"):
        out["containers"] = rl.run("ps", "-a", "-q", check=True).stdout.split()
    if kind in ("image", "system"):
        out["image"] = rl.run("image", "inspect", made["img"]).returncode == 0
    if kind in ("network", "system"):
        out["networks"] = [n for n in rl.run("network", "ls", "-q", check=True).stdout.split() if n == "n1"]
    return out


ALL_THERE = {"volume": {"volumes": ["v1"]}, "container": {"containers": 1}, "image": {"image": True},
             "network": {"networks": ["n1"]},
             "system": {"containers": 1, "image": True, "networks": ["n1"]}}
ALL_GONE = {"volume": {"volumes": []}, "container": {"containers": 0}, "image": {"image": False},
            "network": {"networks": []},
            "system": {"containers": 0, "image": False, "networks": []}}
KINDS = ["volume", "container", "image", "network", "system"]


def _norm(left: dict) -> dict:
    return {k: (len(v) if k == "containers" else v) for k, v in left.items()}


def _prune(rl, kind: str, *extra: str, **kw):
    args = ["system", "prune", *extra] if kind == "system" else [kind, "prune", *extra]
    return rl.run(*args, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_prune_with_stdin_at_end_of_input_removes_nothing(rl, tmp_path, kind):
    made = _stock(rl, tmp_path, kind)
    res = _prune(rl, kind, stdin=subprocess.DEVNULL)  # `rl ... prune </dev/null`
    assert res.returncode == 125, (res.stdout, res.stderr)
    assert "WARNING!" in res.stdout and "Are you sure you want to continue? [y/N] " in res.stdout
    assert "nothing was removed" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2  # the error and its hint
    assert _norm(_left(rl, kind, made)) == ALL_THERE[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_prune_answered_n_through_a_pipe_removes_nothing(rl, tmp_path, kind):
    made = _stock(rl, tmp_path, kind)
    res = _prune(rl, kind, input="n\n")  # `echo n | rl ... prune`
    assert res.returncode == 0, res.stderr
    assert "Are you sure you want to continue? [y/N] " in res.stdout
    assert _norm(_left(rl, kind, made)) == ALL_THERE[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_prune_answered_y_through_a_pipe_removes(rl, tmp_path, kind):
    made = _stock(rl, tmp_path, kind)
    res = _prune(rl, kind, input="y\n")
    assert res.returncode == 0, res.stderr
    assert _norm(_left(rl, kind, made)) == ALL_GONE[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_prune_force_does_not_ask(rl, tmp_path, kind):
    made = _stock(rl, tmp_path, kind)
    res = _prune(rl, kind, "-f", stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    assert "WARNING!" not in res.stdout
    assert _norm(_left(rl, kind, made)) == ALL_GONE[kind]


def test_volume_prune_in_a_shell_pipeline_keeps_data(rl, tmp_path):
    """Literally as a script writes it, through sh: no terminal anywhere."""
    rl.run("volume", "create", "keepme", check=True)
    rlcmd = f"{sys.executable} -m rootless"
    for line in (f"echo n | {rlcmd} volume prune", f"{rlcmd} volume prune </dev/null",
                 f"{rlcmd} container prune </dev/null; echo n | {rlcmd} system prune --volumes"):
        subprocess.run(["sh", "-c", line], env=rl.env, capture_output=True, timeout=120)
    assert rl.run("volume", "ls", "-q", check=True).stdout.split() == ["keepme"]


def test_prune_prompts_match_podman(rl, tmp_path):
    """The same invocations through podman: the same question on stdout,
    the same exit status, the same survivors."""
    podman = podman_or_skip(tmp_path / "podman")
    try:
        for tool in (rl, podman):
            tool.run("volume", "create", "v1")
            tool.run("volume", "create", "v2")
        cases = [(("volume", "prune"), "n\n"), (("volume", "prune"), None), (("container", "prune"), "n\n"),
                 (("container", "prune"), None), (("image", "prune"), "n\n"), (("image", "prune", "-a"), "n\n"),
                 (("network", "prune"), "n\n"), (("system", "prune"), "n\n"),
                 (("system", "prune", "-a", "--volumes"), "n\n")]
        for args, answer in cases:
            kw = {"input": answer} if answer is not None else {"stdin": subprocess.DEVNULL}
            ours, theirs = rl.run(*args, **kw), podman.run(*args, **kw)
            assert ours.returncode == theirs.returncode, (args, ours.stderr, theirs.stderr)
            assert ours.stdout.rstrip("\n") == theirs.stdout.rstrip("\n"), args
        assert rl.run("volume", "ls", "-q").stdout.split() == ["v1", "v2"]
        assert sorted(podman.run("volume", "ls", "-q").stdout.split()) == ["v1", "v2"]
        ours = rl.run("volume", "prune", input="y\n")
        theirs = podman.run("volume", "prune", input="y\n")
        assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    finally:
        podman.close()
