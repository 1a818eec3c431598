"""A new named volume starts as the image has the directory it is mounted
on (podman's copy-up): content, owners, modes, times, hard links and
symlinks, once; the volume root takes the image directory's owner and mode,
or the container user's IDs where the image has no such directory. Every run
here reads stdin from /dev/null, as scripts run them. Where podman is
installed the same invocations run through it, on the same image, and the
outputs are compared."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_rl_env, reclaim
from tests.integration.podman_side import podman_with_archive
from tests.integration.volume_images import MTIME, Entry, build_archive

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

TAG = "localhost/rl-copyup:1"


def _entries(secret: Path) -> list[Entry]:
    return [
        Entry("data", "dir", mode=0o750, uid=1000, gid=1000),
        Entry("data/seed", data=b"seed\n", mode=0o640, uid=1000, gid=1000),
        Entry("data/sub", "dir", mode=0o700, uid=1000, gid=1000),
        Entry("data/sub/deep", data=b"deep\n", mode=0o600, uid=1001, gid=1002),
        Entry("data/hard1", data=b"hard\n"),
        Entry("data/hard2", "hardlink", link="data/hard1"),
        Entry("data/sym", "symlink", link="seed"),
        Entry("data/out", "symlink", link=f"{secret}/secret"),
        Entry("data/tool", data=b"#!/bin/sh\n", mode=0o4755),
        Entry("svc", "dir", mode=0o700, uid=1000, gid=1000),
        Entry("leak", "symlink", link=str(secret)),
        Entry("leak_rel", "symlink", link="../../../../../../../../.." + str(secret)),
    ]


@pytest.fixture(scope="module")
def img(tmp_path_factory):
    base = tmp_path_factory.mktemp("copyup")
    secret = base / "hostsecret"
    secret.mkdir()
    (secret / "secret").write_text("host only\n")
    return {"archive": build_archive(base / "img", TAG, _entries(secret)), "secret": secret, "base": base}


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


def run(tool, *args: str) -> subprocess.CompletedProcess:
    return tool.run("run", "--rm", "--network", "none", *args, stdin=subprocess.DEVNULL)


def out(res) -> str:
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res.stdout


def inspect(tool, name: str) -> dict:
    return json.loads(tool.run("volume", "inspect", name, check=True).stdout)[0]


STAT = ("cd /data && stat -c '%n %u %g %a %F' . && stat -c '%n %u %g %a %Y %h %F' seed sub sub/deep hard1 hard2 "
        "tool && stat -c '%n %u %g %F' sym && cat seed && readlink sym && [ $(stat -c %i hard1) = $(stat -c %i hard2) ] "
        "&& echo samefile")


def test_new_named_volume_gets_image_content_owner_mode(rli):
    got = out(run(rli, "-v", "cu1:/data", TAG, "sh", "-c", STAT)).splitlines()
    assert got == [
        ". 1000 1000 750 directory",
        f"seed 1000 1000 640 {MTIME} 1 regular file",
        f"sub 1000 1000 700 {MTIME} 2 directory",
        f"sub/deep 1001 1002 600 {MTIME} 1 regular file",
        f"hard1 0 0 644 {MTIME} 2 regular file",
        f"hard2 0 0 644 {MTIME} 2 regular file",
        f"tool 0 0 4755 {MTIME} 1 regular file",
        "sym 0 0 symbolic link",
        "seed", "seed", "samefile"]
    # the issue's own cases, on the plain Debian content of the same image
    listing = out(run(rli, TAG, "ls", "/usr/share/doc/bash")).split()
    assert listing and out(run(rli, "-v", "cu2:/usr/share/doc/bash", TAG, "ls", "/usr/share/doc/bash")).split() == listing
    assert out(run(rli, "-v", "cu3:/var/mail", TAG, "stat", "-c", "%u %g %a", "/var/mail")).split() == ["0", "8", "2775"]
    assert inspect(rli, "cu1")["NeedsCopyUp"] is False


def test_new_named_volume_matches_podman(rli, podman):
    for tool in (rli, podman):
        tool.run("volume", "rm", "-f", "cmp1", "cmp2", "cmp3")
    cases = [("-v", "cmp1:/data", TAG, "sh", "-c", STAT),
             ("-v", "cmp2:/usr/share/doc/bash", TAG, "ls", "/usr/share/doc/bash"),
             ("-v", "cmp3:/var/mail", TAG, "stat", "-c", "%u %g %a", "/var/mail")]
    for args in cases:
        assert out(run(rli, *args)) == out(run(podman, *args)), args


def test_volume_copied_once_not_again(rli, podman):
    for tool in (rli, podman):
        tool.run("volume", "rm", "-f", "once")
        out(run(tool, "-v", "once:/data", TAG, "rm", "/data/seed"))
        # a second container: the user's deletion stands, nothing is copied back
        assert "seed" not in out(run(tool, "-v", "once:/data", TAG, "ls", "/data")).split()
        assert not inspect(tool, "once").get("NeedsCopyUp")


def test_copyup_never_mixes_into_a_volume_with_data(rli):
    out(run(rli, "-v", "mine:/elsewhere", TAG, "sh", "-c", "echo mine > /elsewhere/mine"))  # no image dir: no copy
    assert out(run(rli, "-v", "mine:/data", TAG, "ls", "-A", "/data")).split() == ["mine"]


def test_nocopy_option(rli, podman):
    results = []
    for tool in (rli, podman):
        tool.run("volume", "rm", "-f", "nc")
        first = out(run(tool, "-v", "nc:/data:nocopy", TAG, "ls", "-A", "/data")).split()
        needs = inspect(tool, "nc").get("NeedsCopyUp")
        later = out(run(tool, "-v", "nc:/data", TAG, "ls", "/data")).split()  # still never populated: copies now
        results.append((first, needs, later))
    assert results[0] == ([], True, ["hard1", "hard2", "out", "seed", "sub", "sym", "tool"])
    assert results[0] == results[1]


def test_nocopy_and_copy_exclude_each_other(rli):
    res = run(rli, "-v", "x:/data:nocopy,copy", TAG, "true")
    assert res.returncode == 125 and "exclude each other" in res.stderr and "Traceback" not in res.stderr


def test_nonroot_user_can_write_new_volume(rli, podman):
    script = "touch /{d}/f && stat -c '%u %g %a' /{d} /{d}/f"
    results = []
    for tool in (rli, podman):
        tool.run("volume", "rm", "-f", "nr1", "nr2")
        results.append([
            # no such directory in the image: the volume is the container user's
            out(run(tool, "-u", "1000", "-v", "nr1:/newdir", TAG, "sh", "-c", script.format(d="newdir"))),
            # the image's directory belongs to 1000 (mode 0700): so does the volume
            out(run(tool, "-u", "1000", "-v", "nr2:/svc", TAG, "sh", "-c", script.format(d="svc"))),
            # a later user finds the first one's data and owners unchanged
            out(run(tool, "-u", "2000", "-v", "nr1:/newdir", TAG, "stat", "-c", "%u %a", "/newdir")),
        ])
    assert results[0] == ["1000 0 755\n1000 0 644\n", "1000 1000 700\n1000 0 644\n", "1000 755\n"]
    assert results[0] == results[1]


def test_nonroot_user_can_write_new_volume_rl_only(rli):
    """The same without podman, so the behaviour is checked everywhere."""
    res = run(rli, "-u", "1000", "-v", "nr3:/data3", TAG, "sh", "-c", "touch /data3/f && stat -c %u /data3/f")
    assert out(res).split() == ["1000"]


def test_copyup_does_not_follow_symlinks_out(rli, img):
    secret = img["secret"]
    before = sorted(p.name for p in secret.iterdir())
    for name, target in (("esc1", "/leak"), ("esc2", "/leak_rel")):
        # the mount point is an absolute/relative symlink out of the rootfs: it is
        # resolved inside the rootfs (where nothing exists), never on the host
        listing = out(run(rli, "-v", f"{name}:{target}", TAG, "ls", "-A", target)).split()
        assert listing == []
        mp = Path(inspect(rli, name)["Mountpoint"])
        assert sorted(p.name for p in mp.iterdir()) == []
    # a directory rl itself mounted before the volumes (sysfs) is not the image's: never copied
    assert out(run(rli, "-v", "esc4:/sys/kernel", TAG, "ls", "-A", "/sys/kernel")).split() == []
    # a symlink in the copied directory is copied as a symlink, not followed
    got = out(run(rli, "-v", "esc3:/data", TAG, "sh", "-c", "stat -c %F /data/out; readlink /data/out")).splitlines()
    assert got == ["symbolic link", f"{secret}/secret"]
    assert sorted(p.name for p in secret.iterdir()) == before
    assert (secret / "secret").read_text() == "host only\n"


def test_keep_id_copyup_keeps_image_owners(rli, podman):
    """--userns=keep-id: PID 1 sits in a nested user namespace; the copy and
    the owners it sets are the container's view, as podman's."""
    script = "stat -c '%u %g %a' /data /data/seed /data/sub/deep; id -u; touch /data/mine && echo wrote"
    results = []
    for tool in (rli, podman):
        tool.run("volume", "rm", "-f", "kid")
        results.append(out(run(tool, "--userns=keep-id", "-u", "0", "-v", "kid:/data", TAG, "sh", "-c", script)))
    assert results[0].splitlines() == ["1000 1000 750", "1000 1000 640", "1001 1002 600", "0", "wrote"]
    assert results[0] == results[1]
