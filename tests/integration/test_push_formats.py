"""`rl push --format`, `--compression-format` and the local destinations
oci-archive:, docker-archive:, dir: (issue 19 item 36). skopeo, an
independent reader, checks what was written; podman pushes the same image
the same way for comparison."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from tests.podman import podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry]

SRC = "library/debian:bookworm-oci"  # podman cannot unpack rl-test/layers rootless (its device files)


def skopeo(*args: str) -> dict:
    res = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture
def pulled(rl, registry):
    rl.env.update(registry.env())
    ref = f"{registry.plain}/{SRC}"
    res = rl.run("pull", "-q", ref)
    assert res.returncode == 0, res.stderr
    return ref, res.stdout.strip()


@pytest.fixture
def pod(podman):  # noqa: F811
    return podman  # its runtime dir is its own already (tests/podman.py)


def _types(man: dict) -> tuple[str, str, list[str]]:
    # an OCI manifest may leave its own mediaType out (podman's does)
    return (man.get("mediaType") or "application/vnd.oci.image.manifest.v1+json", man["config"]["mediaType"])[0], \
        man["config"]["mediaType"], [x["mediaType"] for x in man["layers"]]


@pytest.mark.parametrize("flags", [["--format", "v2s2"], ["--format", "oci", "--compression-format", "zstd"],
                                   ["--compression-format", "gzip", "--format", "oci"]])
def test_push_format_and_compression_as_podman(rl, pod, registry, pulled, flags):
    """Before: the flags did not exist."""
    ref, image_id = pulled
    tag = "-".join(f.strip("-") for f in flags)
    mine_dest, theirs_dest = f"{registry.plain}/rl-test/pushed:rl-{tag}", f"{registry.plain}/rl-test/pushed:pm-{tag}"
    res = rl.run("push", "--tls-verify=false", *flags, ref, mine_dest)
    assert res.returncode == 0, res.stderr
    assert pod.run("pull", "-q", "--tls-verify=false", ref).returncode == 0
    res = pod.run("push", "--tls-verify=false", *flags, ref, theirs_dest)
    assert res.returncode == 0, res.stderr
    mine = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{mine_dest}")
    theirs = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{theirs_dest}")
    print(f"rl: {_types(mine)}\npodman: {_types(theirs)}")
    if "zstd" in flags:
        # podman 4.3 reuses the gzip blob the registry already has for the layer (the fixture's
        # note on zstd pushes): rl sends what was asked for
        assert _types(mine)[:2] == _types(theirs)[:2]
        assert _types(mine)[2] == ["application/vnd.oci.image.layer.v1.tar+zstd"] * len(mine["layers"])
    else:
        assert _types(mine) == _types(theirs)
    # readable, and the same image: pulled back it has the same ID (config and diff_ids unchanged)
    back = rl.run("pull", "-q", mine_dest)
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip() == image_id


def test_v2s2_with_zstd_is_refused(rl, registry, pulled):
    ref, _ = pulled
    res = rl.run("push", "--tls-verify=false", "--format", "v2s2", "--compression-format", "zstd", ref,
                 f"{registry.plain}/rl-test/pushed:bad")
    assert res.returncode == 125 and "zstd" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("transport", ["oci-archive", "docker-archive", "dir"])
def test_push_to_local_destinations_read_by_skopeo(rl, registry, pulled, tmp_path, transport):
    """Before: these destinations were refused."""
    ref, image_id = pulled
    target = tmp_path / ("out" if transport == "dir" else "out.tar")
    res = rl.run("push", ref, f"{transport}:{target}")
    assert res.returncode == 0, res.stderr
    info = skopeo("inspect", f"{transport}:{target}")
    config = skopeo("inspect", "--config", f"{transport}:{target}")
    assert hashlib.sha256(json.dumps(config).encode()).hexdigest() != ""  # parsed
    assert len(info["Layers"]) == len(skopeo("inspect", "--tls-verify=false", f"docker://{ref}")["Layers"])
    assert config["rootfs"]["diff_ids"] == skopeo("inspect", "--config", "--tls-verify=false",
                                                  f"docker://{ref}")["rootfs"]["diff_ids"]
    if transport == "dir":
        names = sorted(p.name for p in target.iterdir())
        assert "manifest.json" in names and "version" in names
        for p in target.iterdir():
            if p.name not in ("manifest.json", "version"):
                assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name  # every blob is what it claims
        assert image_id in names  # the config blob
    # and rl loads an archive back as the same image
    if transport != "dir":
        back = rl.run("pull", "-q", f"{transport}:{target}")
        assert back.returncode == 0, back.stderr
        assert image_id in (back.stdout + rl.run("images", "-q", "--no-trunc").stdout)
