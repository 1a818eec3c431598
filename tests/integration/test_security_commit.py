"""Security and consistency, `rl commit` of a running container (threat: a
hostile container against the user who runs rl). The container's upper dir
is read on the host, in a user namespace where the user's own files are
readable: a file the container swaps for a symlink to one of them while it
is read must never be followed into the image. And, as podman (--pause,
default true), the container is paused while it is read, so the image is
one moment of it; on this kind of host (no delegated cgroup, no freezer)
by stopping each of its processes."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_lifecycle import until
from tests.integration.test_security_cp import RACE, RENAMEAT2

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse]

IMG = "debian:bookworm"


@pytest.fixture
def rlc(rlr):
    yield rlr
    rlr.run("rm", "-f", "--all", timeout=120)


def _run_d(rl, name: str, script: str, *args: str, extra=(), driver=()) -> None:
    res = rl.run(*driver, "run", "-d", "--name", name, "--network", "none", *extra, IMG, "sh", "-c", script, *args)
    assert res.returncode == 0, res.stderr


def _ready(rl, name: str, path: str = "/ready") -> None:
    assert until(lambda: rl.run("exec", name, "test", "-e", path).returncode == 0, timeout=120)


# a/v and z/v hold the same counter, a/v written first (each by an atomic
# rename); 3000 files in m/ lie between them in the order the upper dir is
# read. Any one moment of the container has a/v - z/v in {0, 1}.
COUNTER = ("mkdir /a /m /z && i=0; while [ $i -lt 3000 ]; do : > /m/f$i; i=$((i+1)); done;"
           " echo 0 > /a/v; echo 0 > /z/v; touch /ready; i=0;"
           " while :; do i=$((i+1)); echo $i > /a/t; mv -f /a/t /a/v; echo $i > /z/t; mv -f /z/t /z/v; done")


def _read(rl, image: str, *paths: str) -> list[str]:
    res = rl.run("run", "--rm", "--network", "none", image, "cat", *paths)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def test_commit_running_container_is_paused_while_read(rlc):
    _run_d(rlc, "busy", COUNTER)
    _ready(rlc, "busy")
    for i in range(3):
        rlc.run("commit", "busy", f"localhost/snap{i}", check=True)
        a, z = (int(v) for v in _read(rlc, f"localhost/snap{i}", "/a/v", "/z/v"))
        assert a - z in (0, 1), f"the image mixes moments of the container: a/v={a}, z/v={z}"
    # it runs on afterwards (continued / thawed), and is shown running
    first = int(rlc.run("exec", "busy", "cat", "/z/v", check=True).stdout)
    assert until(lambda: int(rlc.run("exec", "busy", "cat", "/z/v", check=True).stdout) > first, timeout=60)
    assert json.loads(rlc.run("inspect", "busy", check=True).stdout)[0]["State"]["Status"] == "running"
    # podman's opt-out, and its flag spellings
    rlc.run("commit", "--pause=false", "busy", "localhost/nopause", check=True)
    rlc.run("commit", "-p", "busy", "localhost/pflag", check=True)
    a, z = (int(v) for v in _read(rlc, "localhost/pflag", "/a/v", "/z/v"))
    assert a - z in (0, 1)


@pytest.mark.parametrize("driver", ["overlay", "fuse-overlayfs"])
def test_commit_does_not_follow_swapped_symlink_in_upper(rlc, tmp_path, driver):
    """The container swaps /pNN (16 files) with /qNN (symlinks to the user's
    secret) and /d (a directory) with /e (a symlink to a host directory
    holding files of the same names), while commit --pause=false reads its upper dir: what lands
    in the image is the file, the directory or the symlink itself, never
    the secret. Under the kernel's overlay the container swaps fastest
    (no FUSE round trip per rename): the race is hardest there."""
    assert RENAMEAT2
    secret = tmp_path / "id_rsa"
    secret.write_text("HOSTSECRET" + "s" * 53 + "\n")  # the size of the file it is swapped with
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    names = [f"k{k:02}" for k in range(16)]
    for n in names:  # the same names as in the container's /d: a read through /e finds them all
        (hostdir / n).write_text(secret.read_text())
    files = " ".join(f"/p{k:02} /q{k:02}" for k in range(16))
    prep = "mkdir /d && for n in " + " ".join(names) + "; do printf '%063d\\n' 0 > /d/$n; done"
    loops = (f'{prep}; perl -e "$0" {secret} 0 /ready0 {files} & perl -e "$0" {hostdir} 1 /ready1 /d /e'
             " & sleep 600")
    _run_d(rlc, "racer", loops, RACE, driver=("--storage-driver", driver))
    _ready(rlc, "racer", "/ready0")
    _ready(rlc, "racer", "/ready1")
    committed = 0
    for i in range(10):
        if rlc.run("commit", "--pause=false", "racer", f"localhost/raced{i}").returncode:
            continue  # refusing is fine (the file kept changing); following the symlink is not
        committed += 1
        res = rlc.run("run", "--rm", "--network", "none", f"localhost/raced{i}", "sh", "-c",
                      "grep -rl HOSTSECRET /p[0-9]* /q[0-9]* /d /e 2>/dev/null; true")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "", f"a host file was read into the image through a swapped symlink: {res.stdout}"
    assert committed
