"""Named volumes with real containers, as the unprivileged user."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.podman import podman  # noqa: F401 - the oracle fixture

pytestmark = [pytest.mark.userns, pytest.mark.fuse]



def _subuid_start() -> int:
    import pwd
    from rootless.runtime import idmap
    me = pwd.getpwuid(os.getuid()).pw_name
    return idmap.ranges_for(idmap.parse_subid(open("/etc/subuid").read()), me, os.getuid())[0].start


def test_volume_outlives_containers_with_mapped_owners(rl, rootfs):
    assert rl.run("volume", "create", "data", check=True).stdout.strip() == "data"
    assert rl.run("volume", "ls", "-q", check=True).stdout.split() == ["data"]
    mp = Path(json.loads(rl.run("volume", "inspect", "data", check=True).stdout)[0]["Mountpoint"])
    assert mp.is_dir()
    rl.run("run", "--rm", "--network", "none", "-v", "data:/data", "--rootfs", rootfs, "sh", "-c",
           "echo kept > /data/f && chown 1000:1000 /data/f", check=True)
    out = rl.run("run", "--rm", "--network", "none", "-v", "data:/data:ro", "--rootfs", rootfs, "sh", "-c",
                 "cat /data/f; touch /data/g 2>/dev/null || echo RO", check=True).stdout
    assert out.split() == ["kept", "RO"]
    st = os.stat(mp / "f")
    assert (st.st_uid, st.st_gid) == (_subuid_start() + 999,) * 2  # container 1000 -> subuid start+999
    assert rl.run("volume", "rm", "data", check=True).stdout.strip() == "data"
    assert not mp.exists() and rl.run("volume", "ls", "-q").stdout.strip() == ""


def test_first_use_creates_the_volume(rl, rootfs):
    rl.run("run", "--rm", "--network", "none", "-v", "fresh:/x", "--rootfs", rootfs, "touch", "/x/y", check=True)
    vols = json.loads(rl.run("volume", "ls", "--format", "json", check=True).stdout)
    assert [v["Name"] for v in vols] == ["fresh"]
    assert (Path(vols[0]["Mountpoint"]) / "y").exists()


def test_in_use_volume_is_kept_unless_forced(rl, rootfs):
    rl.run("volume", "create", "busy", check=True)
    rl.run("volume", "create", "idle", check=True)
    rl.run("create", "--name", "user", "--network", "none", "-v", "busy:/b", "--rootfs", rootfs, "true",
           check=True)
    res = rl.run("volume", "rm", "busy")
    assert res.returncode == 125 and "is being used by container" in res.stderr
    assert "Traceback" not in res.stderr
    assert rl.run("volume", "prune", "-f", check=True).stdout.split() == ["idle"]
    assert rl.run("volume", "ls", "-q").stdout.split() == ["busy"]
    rl.run("rm", "user", check=True)
    assert rl.run("volume", "rm", "busy", check=True).returncode == 0


def test_bad_names_and_duplicates_are_clear(rl):
    rl.run("volume", "create", "dup", check=True)
    res = rl.run("volume", "create", "dup")
    assert res.returncode == 125 and res.stderr.startswith("Error: volume with name dup already exists")
    assert rl.run("volume", "create", "--ignore", "dup").returncode == 0
    res = rl.run("volume", "create", "bad/name")
    assert res.returncode == 125 and "invalid volume name" in res.stderr
    res = rl.run("volume", "inspect", "nothere")
    assert res.returncode == 125 and "no such volume nothere" in res.stderr


def test_U_gives_the_tree_to_the_container_user(rl, rootfs, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("x")
    out = rl.run("run", "--rm", "--network", "none", "--user", "1000:1000", "-v", f"{src}:/d:U",
                 "--rootfs", rootfs, "sh", "-c", "stat -c %u:%g /d/sub/f; echo y > /d/sub/new && echo wrote",
                 check=True).stdout.split()
    assert out == ["1000:1000", "wrote"]
    start = _subuid_start()
    for p in (src, src / "sub", src / "sub" / "f", src / "sub" / "new"):
        st = os.lstat(p)
        assert (st.st_uid, st.st_gid) == (start + 999, start + 999), p


def test_volume_ls_filters_and_noheading_as_podman(rl, rootfs, podman):  # noqa: F811
    """podman-compose's `volume ls --noheading --filter label=io.podman.compose.project=P --format
    {{.Name}}` (its `down -v` and `up`): the same lines as podman's for each filter."""
    for tool in (rl, podman):
        for name, labels in (("pa", ("proj=a", "tier=db")), ("pb", ("proj=b",)), ("plain", ())):
            args = [x for lab in labels for x in ("--label", lab)]
            assert tool.run("volume", "create", *args, name).returncode == 0
        # one in use: not dangling
        res = tool.run("create", "--name", "user", "-v", "pb:/x", "--rootfs", rootfs, "true")
        assert res.returncode == 0, res.stderr
    cases = [("--filter", "label=proj=a"), ("--filter", "label=proj"),
             ("--filter", "label=proj=a", "--filter", "label=proj=b"), ("--filter", "name=^p[ab]$"),
             ("--filter", "dangling=true"),
             ("--filter", "dangling=false"), ("--filter", "driver=local"), ("--filter", "label=tier=web")]
    try:
        for case in cases:
            for fmt in (("--format", "{{.Name}}"), ("-q",), ()):
                args = ("volume", "ls", "--noheading", *case, *fmt)
                r, p = rl.run(*args), podman.run(*args)
                ours = (r.returncode, sorted(r.stdout.splitlines()))
                assert ours == (p.returncode, sorted(p.stdout.splitlines())), args
        # different keys AND together (podman 5's; the 4.3 oracle ORs every filter)
        assert rl.run("volume", "ls", "-q", "--filter", "label=proj", "--filter", "name=b").stdout == "pb\n"
        # label! (podman 5's; the 4.3 oracle refuses it): the volumes without the label
        assert rl.run("volume", "ls", "-q", "--filter", "label!=proj", check=True).stdout == "plain\n"
        r = rl.run("volume", "ls", "--filter", "label=proj=a")
        assert r.stdout.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"] and r.stdout.split()[-1] == "pa"
        r, p = rl.run("volume", "ls", "--filter", "bogus=1"), podman.run("volume", "ls", "--filter", "bogus=1")
        assert r.returncode == p.returncode == 125 and r.stderr.startswith("Error:") and len(r.stderr.splitlines()) <= 2
    finally:
        for tool in (rl, podman):
            tool.run("rm", "-f", "user")
            tool.run("volume", "rm", "-f", "pa", "pb", "plain")
