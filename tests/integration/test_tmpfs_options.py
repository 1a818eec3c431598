"""--tmpfs PATH:OPTIONS applies its options (they used to land in the wrong
field of the mount record and were dropped): size, mode, exec/noexec, with
podman's defaults nosuid,nodev and no forced noexec. Compared with podman's
mount options where podman is installed."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.podman_side import podman_with_archive
from tests.integration.volume_images import build_archive

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

TAG = "localhost/rl-tmpfs:1"
SHOW = "grep ' /scratch ' /proc/mounts; stat -c %a /scratch; cp /bin/true /scratch/t && /scratch/t && echo ran"



def run(rl, rootfs, *args, **kw):
    return rl.run("run", "--rm", "--network", "none", *args, "--rootfs", rootfs, "sh", "-c", SHOW,
                  stdin=subprocess.DEVNULL, **kw)


def mount_opts(stdout: str) -> set[str]:
    line = stdout.splitlines()[0].split()
    assert line[1:3] == ["/scratch", "tmpfs"], stdout
    return {o for o in line[3].split(",") if not o.startswith(("uid=", "gid=")) and o != "relatime"}


def test_tmpfs_size_mode_exec_apply(rl, rootfs):
    res = run(rl, rootfs, "--tmpfs", "/scratch:size=1m,exec,mode=0700")
    assert res.returncode == 0, res.stderr
    assert mount_opts(res.stdout) == {"rw", "nosuid", "nodev", "size=1024k", "mode=700"}
    assert res.stdout.splitlines()[1:] == ["700", "ran"]


def test_tmpfs_defaults_are_nosuid_nodev_without_noexec(rl, rootfs):
    res = run(rl, rootfs, "--tmpfs", "/scratch")
    assert res.returncode == 0, res.stderr
    assert mount_opts(res.stdout) == {"rw", "nosuid", "nodev"}
    assert res.stdout.splitlines()[1:] == ["1777", "ran"]


def test_tmpfs_noexec_when_asked(rl, rootfs):
    res = run(rl, rootfs, "--tmpfs", "/scratch:noexec,size=2m")
    assert "noexec" in mount_opts(res.stdout) and "size=2048k" in mount_opts(res.stdout)
    assert "ran" not in res.stdout and res.returncode == 126  # sh: permission denied


def test_tmpfs_size_is_enforced(rl, rootfs):
    res = rl.run("run", "--rm", "--network", "none", "--tmpfs", "/scratch:size=1m", "--rootfs", rootfs,
                 "sh", "-c", "dd if=/dev/zero of=/scratch/big bs=64k count=32 2>&1; echo rc=$?")
    assert "No space left on device" in res.stdout and "rc=1" in res.stdout


def test_tmpfs_bad_option_is_refused_clearly(rl, rootfs):
    for bad in ("/scratch:bogus", "/scratch:mode=rwx", "scratch:size=1m"):
        res = rl.run("run", "--rm", "--network", "none", "--tmpfs", bad, "--rootfs", rootfs, "true")
        assert res.returncode == 125, (bad, res.stderr)
        assert "--tmpfs" in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) <= 2


def test_tmpfs_options_match_podman(rl, rootfs, tmp_path):
    podman = podman_with_archive(tmp_path / "podman", build_archive(tmp_path / "img", TAG, []))
    try:
        for spec in ("/scratch", "/scratch:size=1m,exec,mode=0700", "/scratch:noexec,nosuid,size=2m,mode=1700"):
            ours = run(rl, rootfs, "--tmpfs", spec)
            theirs = podman.run("run", "--rm", "--network", "none", "--tmpfs", spec, TAG, "sh", "-c", SHOW,
                                stdin=subprocess.DEVNULL)
            assert mount_opts(ours.stdout) == mount_opts(theirs.stdout), spec
            assert ours.stdout.splitlines()[1:] == theirs.stdout.splitlines()[1:], spec
            assert ours.returncode == theirs.returncode, spec
    finally:
        podman.close()
