"""Anonymous volumes and the -v options podman accepts.

`-v /data` and an image's VOLUME entries become volumes of their own per
container (with the image's content, as a new named volume gets); they go
with the container on `run --rm` or `rm -v`, and stay on a plain `rm`;
named volumes always stay. Runs read stdin from /dev/null, as scripts run
them. Compared with podman on the same image where podman is installed."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.conftest import make_rl_env, reclaim
from tests.integration.podman_side import podman_with_archive
from tests.integration.volume_images import Entry, build_archive

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

TAG = "localhost/rl-anon:1"


@pytest.fixture(scope="module")
def img(tmp_path_factory):
    base = tmp_path_factory.mktemp("anon")
    archive = build_archive(base / "img", TAG, [Entry("vol", "dir", mode=0o755),
                                                Entry("vol/seed", data=b"from the image\n")],
                            config={"Volumes": {"/vol": {}}})
    return {"archive": archive, "base": base}


@pytest.fixture(scope="module")
def rli(img):
    env = make_rl_env(img["base"] / "rl")
    env.run("load", "-i", str(img["archive"]), check=True)
    yield env
    reclaim(env.base)


@pytest.fixture(scope="module")
def podman(img):
    p = podman_with_archive(img["base"] / "podman", img["archive"])
    yield p
    p.close()


def vols(tool) -> set[str]:
    return set(tool.run("volume", "ls", "-q", check=True).stdout.split())


def ok(res) -> str:
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res.stdout


def quiet(tool, *args):
    return tool.run(*args, stdin=subprocess.DEVNULL)


def _rm_story(tool, tag: str) -> list[int]:
    """How many volumes each step leaves (relative to the start)."""
    start = vols(tool)
    tool.run("volume", "rm", "-f", f"named-{tag}")
    counts = []
    ok(quiet(tool, "run", "--name", f"a1-{tag}", "--network", "none", "-v", "/data", "-v", f"named-{tag}:/n", TAG,
             "true"))
    counts.append(len(vols(tool) - start))    # /data, /vol (the image's), named
    ok(quiet(tool, "rm", f"a1-{tag}"))
    counts.append(len(vols(tool) - start))    # plain rm keeps them all
    ok(quiet(tool, "run", "--name", f"a2-{tag}", "--network", "none", "-v", "/data", "-v", f"named-{tag}:/n", TAG,
             "true"))
    counts.append(len(vols(tool) - start))
    ok(quiet(tool, "rm", "-v", f"a2-{tag}"))
    counts.append(len(vols(tool) - start))    # rm -v: its two anonymous ones go, the named one stays
    ok(quiet(tool, "run", "--rm", "--network", "none", "-v", "/data", TAG, "true"))
    counts.append(len(vols(tool) - start))    # run --rm: its anonymous ones go
    return counts


def test_rm_v_removes_anonymous_volume_keeps_named(rli):
    assert _rm_story(rli, "rl") == [3, 3, 5, 3, 3]
    assert "named-rl" in vols(rli)


def test_anonymous_volume_lifecycle_matches_podman(rli, podman):
    assert _rm_story(rli, "cmp") == _rm_story(podman, "cmp")


def test_run_rm_removes_anonymous_volume(rli):
    before = vols(rli)
    out = ok(quiet(rli, "run", "--rm", "--network", "none", "-v", "/data", TAG, "sh", "-c",
                   "grep -c ' /data ' /proc/mounts; echo x > /data/x"))
    assert out.split() == ["1"]
    assert vols(rli) == before
    # detached: the monitor removes the container and its anonymous volumes
    cid = ok(quiet(rli, "run", "-d", "--rm", "--network", "none", "-v", "/data", TAG, "true")).strip()
    deadline = time.monotonic() + 60
    while rli.run("container", "inspect", cid).returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    while vols(rli) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert vols(rli) == before


def test_image_volume_is_an_anonymous_volume_with_the_image_content(rli):
    before = vols(rli)
    out = ok(quiet(rli, "run", "--name", "iv1", "--network", "none", TAG, "sh", "-c",
                   "cat /vol/seed; grep -c ' /vol ' /proc/mounts; echo mine > /vol/mine"))
    assert out.splitlines() == ["from the image", "1"]
    assert len(vols(rli) - before) == 1
    # each container its own: a second one does not see the first one's file
    assert ok(quiet(rli, "run", "--rm", "--network", "none", TAG, "ls", "/vol")).split() == ["seed"]
    # a -v on the same path replaces the image's volume: no anonymous one for it
    n = len(vols(rli))
    ok(quiet(rli, "run", "--rm", "--network", "none", "-v", "given:/vol", TAG, "true"))
    assert vols(rli) - before == {"given"} | (vols(rli) - before - {"given"}) and len(vols(rli)) == n + 1
    ok(quiet(rli, "rm", "-v", "iv1"))
    assert vols(rli) - before == {"given"}


def test_anonymous_volume_survives_a_restart(rli):
    """Named at create: a second start mounts the same volume again."""
    before = vols(rli)
    script = "echo run >> /data/log; wc -l < /data/log"
    assert ok(quiet(rli, "run", "--name", "rs1", "--network", "none", "-v", "/data", TAG, "sh", "-c", script)).split() == ["1"]
    assert ok(quiet(rli, "start", "-a", "rs1")).split() == ["2"]
    assert len(vols(rli) - before) == 2  # /data and the image's /vol, no new ones
    ok(quiet(rli, "rm", "-v", "rs1"))
    assert vols(rli) == before


def test_volume_mount_options_apply(rli):
    res = quiet(rli, "run", "--rm", "--network", "none", "-v", "mo:/d:noexec,nosuid,nodev,cached,delegated,z,rshared",
                TAG, "sh", "-c", "grep ' /d ' /proc/mounts; cp /bin/true /d/t && /d/t && echo ran")
    opts = set(res.stdout.splitlines()[0].split()[3].split(","))
    assert {"noexec", "nosuid", "nodev"} <= opts
    assert "ran" not in res.stdout and res.returncode == 126
    res = quiet(rli, "run", "--rm", "--network", "none", "-v", "mo:/d:exec", TAG, "sh", "-c", "/d/t && echo ran")
    assert ok(res).split() == ["ran"]


def test_volume_mount_options_match_podman(rli, podman):
    script = "grep ' /d ' /proc/mounts | cut -d' ' -f4 | tr , '\\n' | grep -E '^no(exec|suid|dev)$' | sort"
    for opts in ("", "noexec,nosuid,nodev", "nosuid", "suid", "dev,exec", "ro,nodev,z,cached"):
        v = f"mc:/d:{opts}" if opts else "mc:/d"  # named volumes: nosuid,nodev unless suid/dev
        ours = ok(quiet(rli, "run", "--rm", "--network", "none", "-v", v, TAG, "sh", "-c", script))
        theirs = ok(quiet(podman, "run", "--rm", "--network", "none", "-v", v, TAG, "sh", "-c", script))
        assert ours == theirs, opts


@pytest.mark.parametrize("opt,words", [("O", "overlay"), ("idmap", "idmap"), ("bogus", "invalid volume option"),
                                       ("ro,rw", "exclude each other")])
def test_unsupported_volume_options_are_refused_before_anything_is_made(rli, opt, words):
    before_c = rli.run("ps", "-a", "-q").stdout.split()
    before_v = vols(rli)
    res = quiet(rli, "run", "--rm", "--network", "none", "-v", f"refused:/d:{opt}", TAG, "true")
    assert res.returncode == 125 and words in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 2
    assert rli.run("ps", "-a", "-q").stdout.split() == before_c and vols(rli) == before_v
