"""cp (both directions, mapped ownership kept), diff, export and commit of
detached containers, running and stopped; commit of an image's container
adds one layer (whiteouts, opaque directories, owners) to the image's own."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from tests.integration.test_lifecycle import run_d

pytestmark = [pytest.mark.userns, pytest.mark.fuse]




SETUP = "mkdir /data && echo inside > /data/f && chown 1000:1000 /data/f && rm /etc/issue; sleep 60"


def test_cp_both_ways_keeps_mapped_owners(rlc, rootfs, tmp_path):
    run_d(rlc, rootfs, "files", "sh", "-c", SETUP)
    import time
    time.sleep(0.5)
    host = tmp_path / "h.txt"
    host.write_text("from host\n")
    assert rlc.run("cp", str(host), "files:/data/").returncode == 0
    res = rlc.run("exec", "files", "stat", "-c", "%u %n", "/data/h.txt", "/data/f", check=True)
    assert res.stdout.split() == ["0", "/data/h.txt", "1000", "/data/f"]  # the user's files are root inside
    out = tmp_path / "out"
    assert rlc.run("cp", "files:/data", str(out)).returncode == 0, rlc.run("cp", "files:/data", str(out)).stderr
    assert (out / "h.txt").read_text() == "from host\n"
    assert (out / "h.txt").stat().st_uid == os.getuid()
    assert (out / "f").stat().st_uid not in (0, os.getuid())  # container 1000 = a subordinate ID
    res = rlc.run("cp", "files:/nonexistent", str(tmp_path / "x"))
    assert res.returncode == 125
    res = rlc.run("cp", str(host), str(tmp_path / "y"))
    assert res.returncode == 125 and "between a container and the host" in res.stderr


def test_diff_export_commit(rlc, rootfs, tmp_path):
    run_d(rlc, rootfs, "changes", "sh", "-c", SETUP)
    import time
    time.sleep(0.5)
    diff = rlc.run("diff", "changes", check=True).stdout.splitlines()
    assert "A /data/f" in diff and "D /etc/issue" in diff and "C /etc" in diff
    assert not any(".wh." in line for line in diff)
    out = tmp_path / "e.tar"
    rlc.run("export", "-o", str(out), "changes", check=True)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        assert "data/f" in names and "etc/issue" not in names and "bin" in names
        assert not any(n.startswith("proc/") for n in names)
        assert tar.extractfile("data/f").read() == b"inside\n"
    rlc.run("stop", "-t", "0", "changes", check=True)
    # stopped: the rootfs is mounted in a fresh user namespace for the copy
    assert rlc.run("diff", "changes", check=True).stdout.splitlines() == diff
    res = rlc.run("export", "changes", check=True, text=False)
    assert "data/f" in tarfile.open(fileobj=io.BytesIO(res.stdout)).getnames()
    image_id = rlc.run("commit", "changes", "localhost/committed", check=True).stdout.strip()
    assert len(image_id) == 64
    res = rlc.run("run", "--rm", "--network", "none", "localhost/committed", "cat", "/data/f")
    assert res.stdout == "inside\n", res.stderr
    rlc.run("rmi", "localhost/committed")


CHANGES = ("rm /data/f && echo new > /data/g && chown 1000:1001 /data/g && ln /data/g /data/h"
           " && rm -rf /usr/share/doc && mkdir /usr/share/doc && echo x > /usr/share/doc/only")
CHECK = ('test ! -e /data/f && stat -c "%u:%g %h" /data/g && cat /data/g && ls -A /usr/share/doc'
         ' && test -d /usr/share/man')


def _layers(rl, image) -> list[str]:
    return json.loads(rl.run("image", "inspect", image, check=True).stdout)[0]["RootFS"]["Layers"]


def test_commit_adds_one_layer_to_the_image(rlc, rootfs):
    """podman's shape: the base image's layers unchanged, plus the container's
    upper dir as one layer: a deletion becomes a whiteout, a directory
    removed and made again an opaque one; owners are the container's IDs."""
    res = rlc.run("run", "--name", "base", "--network", "none", "--rootfs", rootfs, "sh", "-c",
                  "mkdir /data && echo inside > /data/f")
    assert res.returncode == 0, res.stderr
    rlc.run("commit", "base", "localhost/base", check=True)  # --rootfs: squashed, one layer
    base = _layers(rlc, "localhost/base")
    assert len(base) == 1
    res = rlc.run("run", "--name", "layered", "--network", "none", "localhost/base", "sh", "-c", CHANGES)
    assert res.returncode == 0, res.stderr
    rlc.run("commit", "-m", "my change", "layered", "localhost/layered", check=True)
    layers = _layers(rlc, "localhost/layered")
    assert len(layers) == len(base) + 1 and layers[:-1] == base
    hist = json.loads(rlc.run("image", "inspect", "localhost/layered", check=True).stdout)[0]["History"]
    assert hist[-1]["created_by"] == "rl commit" and hist[-1]["comment"] == "my change"
    res = rlc.run("run", "--rm", "--network", "none", "localhost/layered", "sh", "-c", CHECK)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["1000:1001", "2", "new", "only"]  # h: still a hard link of g
    # a commit of a container of the committed image stacks on it again
    res = rlc.run("run", "--name", "again", "--network", "none", "localhost/layered", "touch", "/z")
    assert res.returncode == 0, res.stderr
    rlc.run("commit", "again", "localhost/again", check=True)
    assert _layers(rlc, "localhost/again")[:-1] == layers
    rlc.run("rm", "-f", "--all", timeout=120)
    rlc.run("rmi", "localhost/again", "localhost/layered", "localhost/base", check=True)
