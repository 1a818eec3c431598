"""The engine API behind `rl network`, `rl port`, `rl version` and `rl
system prune`, called as another face (compose, kube, a REST service) would:
plain data back, typed errors, and the same data the CLI renders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rootless import cli, system
from rootless.config import Paths
from rootless.containers import published
from rootless.errors import ContainerError, UsageError
from rootless.network import manage, usernet


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "root", tmp_path / "run")


def _cli(paths: Paths, capsys, *args: str) -> tuple[int, str]:
    rc = cli.run(["--root", str(paths.root), "--runroot", str(paths.runroot), *args])
    return rc, capsys.readouterr().out


def test_network_filters_as_podman(paths):
    manage.create(paths, "front", labels={"tier": "web"})
    manage.create(paths, "back", labels={"tier": "db", "keep": ""})
    manage.create(paths, "other")
    names = lambda *f: [n.name for n in manage.ls(paths, list(f))]  # noqa: E731
    assert names() == ["back", "front", "other"]
    assert names("name=^b") == ["back"]
    assert names("label=tier") == ["back", "front"]
    assert names("label=tier=web", "label=keep") == ["back", "front"]     # one key: OR
    assert names("label=tier", "name=front") == ["front"]                 # two keys: AND
    assert names("label!=tier") == ["other"]
    assert names(f"id={manage.ls(paths, ['name=other'])[0].id[:6]}") == ["other"]
    with pytest.raises(UsageError, match="invalid filter"):
        manage.ls(paths, ["colour=red"])
    with pytest.raises(UsageError, match="only bridge"):
        manage.create(paths, "mac", driver="macvlan")


def test_network_in_use_is_kept_and_named(paths):
    net = manage.create(paths, "app")
    manage.create(paths, "idle")
    # a live member (this process holds it), as a running container is recorded
    usernet.reserve(paths, net, "c" * 64, ["web", "alias"], None, owner=os.getpid())
    assert manage.members(paths, "app") == ["web"]
    assert manage.inspect(paths, ["app"])[0]["containers"] == ["web"]
    with pytest.raises(ContainerError, match="in use by web"):
        manage.remove(paths, "app")
    assert manage.prune(paths) == ["idle"]
    assert manage.remove(paths, "idle", force=True) is False  # gone already: no error with force
    with pytest.raises(ContainerError, match="not found"):
        manage.remove(paths, "idle")
    usernet.leave(paths, "app", "c" * 64)
    assert manage.members(paths, "app") == []
    assert manage.remove(paths, "app") is True and not manage.exists(paths, "app")


def test_cli_renders_the_engines_data(paths, capsys):
    manage.create(paths, "n1", labels={"a": "b"})
    rc, out = _cli(paths, capsys, "network", "inspect", "n1")
    assert rc == 0 and json.loads(out) == manage.inspect(paths, ["n1"])
    rc, out = _cli(paths, capsys, "network", "ls", "--format", "{{.Name}} {{.Labels}}")
    assert rc == 0 and out == "n1 map[a:b]\n"
    rc, out = _cli(paths, capsys, "version", "--format", "json")
    assert rc == 0 and json.loads(out) == system.version()
    assert system.version()["Client"]["APIVersion"] == system.PODMAN_API_VERSION


def test_port_needs_a_container_or_all(paths):
    with pytest.raises(UsageError, match="needs a container"):
        published.ports(paths)
    assert published.ports(paths, all_=True) == []
    assert published.ports(paths, latest=True) == []


def test_system_prune_reports_by_kind(paths):
    manage.create(paths, "unused")
    gone = system.prune(paths, volumes=True)
    assert list(gone) == ["Containers", "Networks", "Volumes", "Images"]
    assert gone["Networks"] == ["unused"] and not manage.exists(paths, "unused")
