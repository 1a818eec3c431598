"""issue 19 item 12: `rl commit` dropped `--entrypoint` but kept its
arguments, so the committed image ran its arguments as the command and failed;
`-c/--change` was refused. Each case runs the same invocations through rl and
podman and compares the committed image's config and what it runs."""

from __future__ import annotations

import json

import pytest

from tests.integration.podman_own_run import podman, podman_own  # noqa: F401 - fixtures
from tests.podman import first_line_error, load_image

pytestmark = [pytest.mark.userns, pytest.mark.fuse, pytest.mark.registry]


@pytest.fixture
def both(rl, registry, podman_own):  # noqa: F811
    rl.env.update(registry.env())
    img = load_image(podman_own, registry)
    assert rl.run("pull", "-q", "debian:bookworm").returncode == 0
    yield rl, podman_own, img
    rl.run("rm", "-af", "-t", "0")


KEYS = ("Entrypoint", "Cmd", "WorkingDir", "User", "Labels", "ExposedPorts", "StopSignal", "Volumes", "OnBuild")


def _config(run, image: str) -> dict:
    res = run("image", "inspect", "--format", "{{json .Config}}", image)
    assert res.returncode == 0, res.stderr
    cfg = json.loads(res.stdout)
    out = {k: cfg.get(k) or None for k in KEYS}
    out["Env"] = sorted(e for e in cfg.get("Env") or [] if e.split("=")[0] in ("A", "B", "C", "PATH"))
    return out


CASES = {
    # the case: the entrypoint and its arguments stay together
    "entrypoint": (["--entrypoint", "/bin/echo"], ["hello", "world"], []),
    "entrypoint-json": (["--entrypoint", '["/bin/sh", "-c"]'], ["echo from-sh"], []),
    "entrypoint-no-args": (["--entrypoint", "/bin/true"], [], []),
    "command-only": ([], ["echo", "plain"], []),
    "env-workdir-user-label": (["-e", "A=1", "-w", "/tmp", "-u", "nobody", "--label", "k=v"], ["true"], []),
    "changes": ([], ["true"], [
        'CMD ["echo", "changed"]', "ENV B=2", "LABEL l1=x l2=y", "EXPOSE 8080", "EXPOSE 53/udp",
        "WORKDIR /srv", "USER daemon", "STOPSIGNAL SIGINT", "VOLUME /data"]),
    "change-entrypoint-shell-form": (["--entrypoint", "/bin/echo"], ["x"],
                                     ["ENTRYPOINT echo via-shell", "CMD=[]"]),
}


@pytest.mark.parametrize("case", CASES)
def test_committed_config_matches_podman(both, case):
    rl, podman, img = both
    flags, args, changes = CASES[case]
    seen = {}
    for tool, run, image in (("rl", rl.run, "debian:bookworm"), ("podman", podman.run, img)):
        res = run("create", "--name", "src", "--network", "none", *flags, image, *args)
        assert res.returncode == 0, res.stderr
        res = run("commit", *[a for c in changes for a in ("-c", c)], "src", "localhost/committed")
        assert res.returncode == 0, res.stderr
        out = run("run", "--rm", "--network", "none", "-u", "0", "localhost/committed")
        seen[tool] = {"config": _config(run, "localhost/committed"), "status": out.returncode,
                      "stdout": out.stdout}
        assert run("rm", "-f", "src").returncode == 0
        assert run("rmi", "localhost/committed").returncode == 0
    print(json.dumps(seen, indent=1))
    assert seen["rl"] == seen["podman"]


def test_committed_entrypoint_runs(both):
    """What the issue reported, stated plainly: the image runs the container's command."""
    rl = both[0]
    assert rl.run("create", "--name", "src", "--network", "none", "--entrypoint", "/bin/echo",
                  "debian:bookworm", "hello").returncode == 0
    assert rl.run("commit", "src", "localhost/echoes").returncode == 0
    res = rl.run("run", "--rm", "--network", "none", "localhost/echoes")
    assert (res.returncode, res.stdout) == (0, "hello\n"), res.stderr


@pytest.mark.parametrize("change", ["BOGUS x", "EXPOSE eighty", "STOPSIGNAL SIGNOPE"])
def test_bad_change_is_refused_and_commits_nothing(both, change):
    rl, podman, img = both
    for run, image in ((rl.run, "debian:bookworm"), (podman.run, img)):
        assert run("create", "--name", "src", "--network", "none", image, "true").returncode == 0
    mine = rl.run("commit", "-c", change, "src", "localhost/bad")
    theirs = podman.run("commit", "-c", change, "src", "localhost/bad")
    print(f"rl: {mine.returncode} {first_line_error(mine.stderr)!r}\n"
          f"podman: {theirs.returncode} {first_line_error(theirs.stderr)!r}")
    assert mine.returncode == theirs.returncode == 125
    assert "Traceback" not in mine.stderr and change.split()[0] in mine.stderr
    assert rl.run("image", "exists", "localhost/bad").returncode != 0
