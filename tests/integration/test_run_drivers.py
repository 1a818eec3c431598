"""The same behavioural suite under every storage driver (--storage-driver)."""

from __future__ import annotations

import pytest


pytestmark = [pytest.mark.userns]

DRIVERS = [pytest.param("fuse-overlayfs", marks=pytest.mark.fuse), "overlay", "vfs"]



@pytest.fixture(params=DRIVERS)
def run(request, rl, rootfs):
    def _run(*cmd, opts=()):
        return rl.run("--storage-driver", request.param, "run", "--rm", "--network", "none", *opts,
                      "--rootfs", rootfs, *cmd)
    return _run


def test_rootfs_is_writable_and_copy_on_write(run, rootfs):
    script = ("echo hi > /etc/new && cat /etc/new && rm /etc/os-release && test ! -e /etc/os-release"
              " && mkdir -p /var/x/y && chown 1000:1000 /var/x/y && stat -c %u /var/x/y"
              " && rm -r /usr/share/doc && test ! -e /usr/share/doc && echo ok")
    res = run("sh", "-c", script)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["hi", "1000", "ok"]
    import os
    assert os.path.exists(os.path.join(rootfs, "etc/os-release"))  # the lower layer is untouched


def test_owners_and_modes_survive(run):
    res = run("sh", "-c", "stat -c '%U %a' /root /tmp /usr/bin/passwd 2>/dev/null || stat -c '%U %a' /root /tmp")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "root 700" and lines[1] == "root 1777"


def test_exit_status_and_read_only(run):
    assert run("sh", "-c", "exit 7").returncode == 7
    res = run("touch", "/etc/x", opts=["--read-only"])
    assert res.returncode == 1 and "Read-only" in res.stderr
