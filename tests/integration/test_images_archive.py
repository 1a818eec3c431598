"""rl save / rl load round trips (docker-archive, oci-archive), checked with skopeo too."""
from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = [pytest.mark.registry, pytest.mark.userns]


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_load_round_trip(rlr, registry, tmp_path, fmt):
    ref = f"{registry.plain}/rl-test/layers:v1"
    iid = rlr.run("pull", "-q", "--tls-verify=false", ref, check=True).stdout.strip()
    out = tmp_path / "img.tar"
    rlr.run("save", "--format", fmt, "-o", str(out), ref, check=True)
    info = json.loads(subprocess.run(["skopeo", "inspect", "--raw", f"{fmt}:{out}"], capture_output=True,
                                     text=True, check=True).stdout)
    assert len(info["layers"]) == 3
    rlr.run("rmi", "-a", check=True)
    res = rlr.run("load", "-i", str(out), check=True)
    assert f"Loaded image: {ref}" in res.stdout
    assert rlr.run("images", "-q", "--no-trunc", check=True).stdout.split() == [iid]
    insp = json.loads(rlr.run("image", "inspect", ref, check=True).stdout)[0]
    assert len(insp["RootFS"]["Layers"]) == 3
    # and through stdin
    rlr.run("rmi", "-a", check=True)
    res = rlr.run("load", input=out.read_bytes())
    assert res.returncode == 0, res.stderr
    assert rlr.run("images", "-q", "--no-trunc", check=True).stdout.split() == [iid]


def test_load_rejects_garbage(rlr, tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar at all" * 100)
    res = rlr.run("load", "-i", str(bad))
    assert res.returncode == 125 and res.stderr.startswith("Error: ")
