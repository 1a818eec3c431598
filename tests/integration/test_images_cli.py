"""The image verbs' output and semantics, podman's shapes: images, tag, rmi,
history, inspect, prune."""
from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.registry, pytest.mark.userns]


@pytest.fixture
def two(rlr, registry):
    a = rlr.run("pull", "-q", "--tls-verify=false", f"{registry.plain}/rl-test/layers:v1", check=True).stdout.strip()
    b = rlr.run("pull", "-q", "--tls-verify=false", f"{registry.plain}/rl-test/multi:oci", check=True).stdout.strip()
    return a, b


def test_images_table_and_formats(rlr, registry, two):
    a, b = two
    out = rlr.run("images", check=True).stdout.splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.startswith(f"{registry.plain}/rl-test/layers ") and a[:12] in line for line in out[1:])
    assert sorted(rlr.run("images", "-q", check=True).stdout.split()) == sorted([a[:12], b[:12]])
    assert sorted(rlr.run("images", "-q", "--no-trunc", check=True).stdout.split()) == sorted([a, b])
    tpl = rlr.run("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert sorted(tpl) == sorted([f"{registry.plain}/rl-test/layers:v1", f"{registry.plain}/rl-test/multi:oci"])
    js = json.loads(rlr.run("images", "--format", "json", check=True).stdout)
    assert {j["Id"] for j in js} == {a, b} and all(isinstance(j["Size"], int) for j in js)
    dig = rlr.run("images", "--digests", check=True).stdout
    assert "DIGEST" in dig and registry.images["rl-test/layers:v1"]["digest"] in dig
    assert rlr.run("images", "-n", "-q", "rl-test/layers", check=True).stdout.split() == [a[:12]]


def test_tag_rmi_semantics(rlr, registry, two):
    a, _ = two
    rlr.run("tag", a[:12], "extra:1", "quay.io/x/y:2", check=True)
    names = json.loads(rlr.run("inspect", "extra:1", check=True).stdout)[0]["RepoTags"]
    assert set(names) == {f"{registry.plain}/rl-test/layers:v1", "localhost/extra:1", "quay.io/x/y:2"}
    res = rlr.run("rmi", a[:12])
    assert res.returncode == 125 and "more than one tag" in res.stderr
    res = rlr.run("rmi", "extra:1", check=True)
    assert res.stdout.strip() == "Untagged: localhost/extra:1"
    res = rlr.run("rmi", "-f", a, check=True)
    assert f"Deleted: {a}" in res.stdout and "Untagged: quay.io/x/y:2" in res.stdout
    assert rlr.run("images", "-q", "--no-trunc", check=True).stdout.split() == [two[1]]
    assert rlr.run("image", "exists", a).returncode == 1
    assert rlr.run("image", "exists", two[1][:12]).returncode == 0


def test_history_inspect_prune(rlr, registry, two):
    a, b = two
    hist = rlr.run("history", f"{registry.plain}/rl-test/layers:v1", check=True).stdout.splitlines()
    assert hist[0].split()[:2] == ["ID", "CREATED"] and hist[1].startswith(a[:12])
    fmt = rlr.run("image", "inspect", "--format", "{{.Id}} {{.Os}} {{.Config.Cmd}}", a, check=True).stdout.strip()
    assert fmt == f"{a} linux [/bin/tool]"
    # untag everything from one image: dangling, then pruned
    rlr.run("untag", b, check=True)
    assert "<none>" in rlr.run("images", check=True).stdout
    assert rlr.run("images", "-q", "-f", "dangling=true", check=True).stdout.split() == [b[:12]]
    assert rlr.run("image", "prune", "-f", check=True).stdout.split() == [b]
    assert rlr.run("images", "-q", "--no-trunc", check=True).stdout.split() == [a]


def test_rmi_respects_containers(rlr, registry, two):
    """A container record (paths.containers/ID/config.json with its "layers")
    keeps its image from plain rmi, and its layers from gc even with -f."""
    from pathlib import Path
    a, _ = two
    insp = json.loads(rlr.run("image", "inspect", a, check=True).stdout)[0]
    store = Path(rlr.env["XDG_DATA_HOME"]) / "rl"
    layers = [str(store / "images" / "layers" / d[7:] / "diff") for d in insp["RootFS"]["Layers"]]
    cdir = store / "containers" / ("c" * 64)
    cdir.mkdir(parents=True)
    (cdir / "config.json").write_text(json.dumps({"id": "c" * 64, "name": "busy_box", "layers": layers}))
    res = rlr.run("rmi", a)
    assert res.returncode == 2 and "busy_box" in res.stderr  # podman: 2 for an image in use
    rlr.run("rmi", "-f", a, check=True)
    assert all(Path(p).is_dir() for p in layers)
    (cdir / "config.json").unlink()
    rlr.run("image", "prune", "-f", check=True)
    assert not any(Path(p).exists() for p in layers)
