"""rl push: blobs and manifest byte for byte, with token auth, and pulled back."""
from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = [pytest.mark.registry, pytest.mark.userns]


def test_push_then_pull_back(rlr, registry, request, tmp_path):
    src = f"{registry.plain}/rl-test/layers:v1"
    iid = rlr.run("pull", "-q", "--tls-verify=false", src, check=True).stdout.strip()
    dest = f"{registry.plain}/pushed/{request.node.name.lower().replace('_', '-')}:t1"
    dfile = tmp_path / "digest"
    rlr.run("push", "--tls-verify=false", "--digestfile", str(dfile), src, dest, check=True)
    assert dfile.read_text() == registry.images["rl-test/layers:v1"]["digest"]  # byte-exact manifest
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{dest}"], capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(raw)["Digest"] == dfile.read_text()
    rlr.run("rmi", "-a", check=True)
    assert rlr.run("pull", "-q", "--tls-verify=false", dest, check=True).stdout.strip() == iid


def test_push_needs_credentials_then_works(rlr, registry):
    src = f"{registry.plain}/rl-test/multi:oci"
    rlr.run("pull", "-q", "--tls-verify=false", src, check=True)
    dest = f"{registry.token}/rl/pushed-multi:1"
    res = rlr.run("push", "--tls-verify=false", src, dest)
    assert res.returncode == 125 and "Error:" in res.stderr
    user, pw = registry.creds
    rlr.run("push", "--tls-verify=false", "--creds", f"{user}:{pw}", src, dest, check=True)
    rlr.run("pull", "-q", "--tls-verify=false", "--creds", f"{user}:{pw}", dest, check=True)


def test_import_then_push(rlr, registry, tmp_path):
    iid = rlr.run("import", str(registry.layer_tars["amd64"]), "imported:1", check=True).stdout.strip()
    dest = f"{registry.plain}/pushed/imported:1"
    rlr.run("push", "--tls-verify=false", "imported:1", dest, check=True)
    rlr.run("rmi", "-a", check=True)
    assert rlr.run("pull", "-q", "--tls-verify=false", dest, check=True).stdout.strip() == iid


def test_push_and_save_when_layer_came_in_another_compression(rlr, registry, tmp_path):
    """The zstd image shares its layer with the gzip one pulled first: its zstd
    blob was never downloaded. Push and save use the kept gzip blob instead."""
    rlr.run("pull", "-q", "debian:bookworm", check=True)
    zid = rlr.run("pull", "-q", "debian:bookworm-zstd", check=True).stdout.strip()
    rlr.run("rmi", "debian:bookworm", check=True)   # the gzip image goes; its blob stays with the layer
    dest = f"{registry.plain}/pushed/recompressed:1"
    rlr.run("push", "--tls-verify=false", "debian:bookworm-zstd", dest, check=True)
    out = tmp_path / "z.tar"
    rlr.run("save", "--format", "oci-archive", "-o", str(out), "debian:bookworm-zstd", check=True)
    rlr.run("rmi", "-a", check=True)
    assert rlr.run("pull", "-q", "--tls-verify=false", dest, check=True).stdout.strip() == zid
    rlr.run("rmi", "-a", check=True)
    assert rlr.run("load", "-i", str(out), check=True).returncode == 0
    assert rlr.run("images", "-q", "--no-trunc", check=True).stdout.split() == [zid]
