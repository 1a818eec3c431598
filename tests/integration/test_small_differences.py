"""Small differences from podman (issue 19 item 26, except cp): the same
invocation through rl and rootless podman, what users see compared."""

from __future__ import annotations

import pytest

from tests.podman import load_image, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse, pytest.mark.slirp4netns]

IMG = "debian:bookworm"


@pytest.fixture
def both(rl, registry, podman):  # noqa: F811
    rl.env.update(registry.env())
    full = load_image(podman, registry)
    assert rl.run("pull", "-q", IMG).returncode == 0

    def run(*args, **kw):
        mine = rl.run(*args, **kw)
        theirs = podman.run(*[full if a == IMG else a for a in args], **kw)
        print(f"$ {' '.join(args)}\nrl {mine.returncode}: {mine.stdout!r} {mine.stderr!r}\n"
              f"podman {theirs.returncode}: {theirs.stdout!r} {theirs.stderr!r}")
        return mine, theirs
    return run


def test_stop_warns_when_it_resorts_to_sigkill(both):
    """A PID 1 without a SIGTERM handler ignores it: stop ends in SIGKILL, and says so."""
    mine, theirs = both("run", "-d", "--name", "s", IMG, "sleep", "300")
    assert mine.returncode == theirs.returncode == 0
    mine, theirs = both("stop", "-t", "1", "s")
    assert mine.returncode == theirs.returncode == 0 and mine.stdout == theirs.stdout == "s\n"
    msg = "StopSignal SIGTERM failed to stop container s in 1 seconds, resorting to SIGKILL"
    assert msg in theirs.stderr
    assert msg in mine.stderr and len(mine.stderr.strip().splitlines()) == 1


def test_stop_in_time_says_nothing(both):
    mine, theirs = both("run", "-d", "--name", "s", IMG, "sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait")
    mine, theirs = both("stop", "-t", "20", "s")
    assert mine.returncode == theirs.returncode == 0
    assert "SIGKILL" not in mine.stderr and "SIGKILL" not in theirs.stderr


def test_exec_missing_workdir_is_an_error(both):
    mine, theirs = both("run", "-d", "--name", "e", IMG, "sleep", "300")
    mine, theirs = both("exec", "-w", "/missing", "e", "pwd")
    assert theirs.returncode == 127 and theirs.stdout == ""
    assert mine.returncode == 127 and mine.stdout == "" and "/missing" in mine.stderr
    assert len(mine.stderr.strip().splitlines()) <= 2
    mine, theirs = both("exec", "e", "test", "-e", "/missing")
    assert mine.returncode == theirs.returncode == 1  # nothing was created


def test_exec_sets_container_and_term(both):
    mine, theirs = both("run", "-d", "--name", "e", IMG, "sleep", "300")
    mine, theirs = both("exec", "e", "env")
    for out in (mine.stdout, theirs.stdout):
        names = {line.split("=", 1)[0] for line in out.splitlines()}
        assert {"container", "TERM", "PATH", "HOME"} <= names, out
    assert "TERM=xterm\n" in mine.stdout and "TERM=xterm\n" in theirs.stdout


def test_non_tty_container_gets_term_xterm(both):
    mine, theirs = both("run", "--rm", IMG, "printenv", "TERM")
    assert mine.returncode == theirs.returncode == 0 and mine.stdout == theirs.stdout == "xterm\n"
    mine, theirs = both("run", "--rm", "-e", "TERM=dumb", IMG, "printenv", "TERM")
    assert mine.stdout == theirs.stdout == "dumb\n"


def test_name_collision_hint_says_rm_f_for_a_running_container(both, rl):
    mine, theirs = both("run", "-d", "--name", "n", IMG, "sleep", "300")
    mine, theirs = both("run", "-d", "--name", "n", IMG, "sleep", "300")
    assert mine.returncode == theirs.returncode == 125
    assert 'the container name "n" is already in use' in mine.stderr
    assert "rl rm -f n" in mine.stderr
    assert rl.run("rm", "-f", "n").returncode == 0  # and the hint works
    assert rl.run("create", "--name", "n", IMG, "true").returncode == 0
    mine = rl.run("create", "--name", "n", IMG, "true")
    assert mine.returncode == 125 and "rl rm n" in mine.stderr and "rm -f" not in mine.stderr


def test_rename_to_its_own_name_is_a_no_op(both):
    mine, theirs = both("create", "--name", "r", IMG, "true")
    mine, theirs = both("rename", "r", "r")
    assert mine.returncode == theirs.returncode == 0 and mine.stderr == ""
    mine, theirs = both("ps", "-a", "--format", "{{.Names}}")
    assert mine.stdout == theirs.stdout == "r\n"
