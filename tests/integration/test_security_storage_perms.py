"""Another local user against what rl stores (issue 11 item 7): images'
layers (setuid files of the user's among them), containers' upper dirs and
volumes live under the storage root, which must be 0700 whichever command
creates it, and tightened when an older rl left it wider. The second local
user (RL_TEST_NOSUB_USER, reached with `sudo -n -u`) tries to list, read and
run what is stored, for real."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.conftest import reclaim
from tests.integration.test_security_rundir import as_other

pytestmark = [pytest.mark.userns, pytest.mark.fuse]


@pytest.fixture
def reachable(rl):
    """XDG_DATA_HOME in a directory every user can enter (as a home directory
    usually is), neither it nor its parent existing yet: rl creates them."""
    base = Path(tempfile.mkdtemp(prefix="rl-perms-", dir="/tmp"))
    base.chmod(0o755)
    data = base / "xdg" / "share"
    rl.env["XDG_DATA_HOME"] = str(data)
    yield data
    rl.run("rm", "-f", "--all", timeout=120)
    reclaim(base)
    shutil.rmtree(base, ignore_errors=True)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def assert_private(data: Path) -> None:
    root = data / "rl"
    # every level rl created: the root, and the XDG data home it made for it (0700, as the XDG spec asks)
    for level in (root, data, data.parent):
        assert mode(level) == 0o700, f"{level} is {mode(level):04o}"
    res = as_other("ls", "-a", str(root))
    assert res.returncode != 0 and "Permission denied" in res.stderr, res.stdout + res.stderr


def import_tar(tmp: Path) -> Path:
    path = tmp / "rootfs.tar"
    with tarfile.open(path, "w") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


COMMANDS = {
    "pull": lambda reg, rootfs, tmp: ["pull", "--tls-verify=false", f"{reg.plain}/rl-test/multi:oci"],
    "volume create": lambda reg, rootfs, tmp: ["volume", "create", "v1"],
    "network create": lambda reg, rootfs, tmp: ["network", "create", "n1"],
    "import": lambda reg, rootfs, tmp: ["import", str(import_tar(tmp)), "imported:latest"],
    "run": lambda reg, rootfs, tmp: ["run", "--rm", "--network", "none", "--rootfs", rootfs, "true"],
    "create": lambda reg, rootfs, tmp: ["create", "--network", "none", "--rootfs", rootfs, "true"],
}


@pytest.mark.registry
@pytest.mark.parametrize("first", sorted(COMMANDS))
def test_storage_root_private_whichever_command_first(rlr, registry, rootfs, reachable, tmp_path, first):  # noqa: F811
    res = rlr.run(*COMMANDS[first](registry, rootfs, tmp_path))
    assert res.returncode == 0, res.stderr
    assert_private(reachable)


def test_existing_wide_storage_root_tightened(rl, reachable):
    """A store an older rl left 0755: the next command, any, makes it 0700."""
    rl.run("volume", "create", "v1", check=True)
    root = reachable / "rl"
    for level in (reachable.parent, reachable, root):
        level.chmod(0o755)
    assert as_other("ls", str(root)).returncode == 0  # what another user could do before
    rl.run("volume", "ls", check=True)
    assert mode(root) == 0o700
    assert as_other("ls", str(root)).returncode != 0


def test_other_user_cannot_read_container_upper(rl, rootfs, reachable):  # noqa: F811
    """A volume made first (as `rl volume create` does on a fresh install),
    then a container that writes a secret and a setuid-as-the-user shell into
    its upper dir and its volume: the other user can neither list the store,
    nor read the secret, nor run the shell as the user."""
    rl.run("volume", "create", "data", check=True)
    script = ("echo secret > /secret && echo secret > /data/secret && cp /bin/sh /suid && cp /bin/sh /data/suid"
              " && chmod 4755 /suid /data/suid")
    rl.run("run", "--name", "c", "--network", "none", "-v", "data:/data", "--rootfs", rootfs, "sh", "-c", script,
           check=True)
    cid = rl.run("inspect", "--format", "{{.Id}}", "c", check=True).stdout.strip()
    root = reachable / "rl"
    upper = root / "containers" / cid / "diff"
    vol = root / "volumes" / "data" / "_data"
    assert (upper / "secret").read_text() == "secret\n" and (vol / "suid").stat().st_mode & stat.S_ISUID
    for d in (root, root / "containers", root / "volumes", upper, vol):
        res = as_other("ls", str(d))
        assert res.returncode != 0 and "Permission denied" in res.stderr, (d, res.stdout)
    for f in (upper / "secret", vol / "secret"):
        res = as_other("cat", str(f))
        assert res.returncode != 0 and "secret" not in res.stdout, (f, res.stdout)
    me = str(os.getuid())
    for f in (upper / "suid", vol / "suid"):
        res = as_other(str(f), "-p", "-c", "id -u")
        assert res.returncode != 0 and me not in res.stdout.split(), (f, res.stdout, res.stderr)
    res = subprocess.run(["stat", "-c", "%a", str(root)], capture_output=True, text=True)
    assert res.stdout.strip() == "700"
