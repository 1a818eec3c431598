"""rl auto-update's decisions (pull, restart, rollback) with the store,
registry and systemctl replaced by fakes; the real thing runs in tests/vm."""

from __future__ import annotations

import subprocess
from rootless.plain import asdict

import pytest

from rootless.containers.records import Record
from rootless.containers.run import RunRequest
from rootless.containers import runhooks
from rootless.systemd import autoupdate


class Img:
    def __init__(self, id_, names):
        self.id, self.names = id_, list(names)

    def layer_dirs(self):
        return []


class Images:
    def __init__(self, current):
        self.current = current
        self.tagged = []

    def lookup(self, ref):
        return self.current

    def tag(self, img, name):
        self.tagged.append((img.id, name))


def rec(label=("io.containers.autoupdate=registry", "PODMAN_SYSTEMD_UNIT=container-web.service")):
    req = RunRequest(image="docker.io/library/web:1", name="web", label=list(label))
    return Record(id="f" * 64, name="web", image=req.image, command=[], driver="vfs", request=asdict(req))


@pytest.fixture
def world(monkeypatch):
    old = Img("old", ["docker.io/library/web:1"])
    images = Images(old)
    monkeypatch.setattr("rootless.images.ImageStore", lambda paths: images)
    calls = []

    def systemctl(*args):
        calls.append(args)
        return subprocess.CompletedProcess(args, world.restart_rc.pop(0) if world.restart_rc else 0, "", "boom")

    class W:
        pass
    world = W()
    world.images, world.calls, world.systemctl, world.restart_rc = images, calls, systemctl, []
    world.records = [rec()]
    monkeypatch.setattr(autoupdate, "candidates", lambda paths: [
        (r, r.labels()[autoupdate.LABEL], r.labels()["PODMAN_SYSTEMD_UNIT"]) for r in world.records])
    return world


def test_newer_image_restarts_the_unit(world):
    reports = autoupdate.auto_update(None, systemctl=world.systemctl,
                                     pull=lambda p, ref, quiet: Img("new", [ref]))
    assert [r.updated for r in reports] == ["true"]
    assert world.calls == [("restart", "container-web.service")]


def test_same_image_changes_nothing(world):
    reports = autoupdate.auto_update(None, systemctl=world.systemctl,
                                     pull=lambda p, ref, quiet: world.images.current)
    assert [r.updated for r in reports] == ["false"] and world.calls == []


def test_failed_restart_rolls_back(world):
    world.restart_rc = [1, 0]
    reports = autoupdate.auto_update(None, systemctl=world.systemctl,
                                     pull=lambda p, ref, quiet: Img("new", ["docker.io/library/web:1"]))
    assert reports[0].updated == "rolled back" and reports[0].error == "boom"
    assert len(world.calls) == 2


def test_rollback_retags_the_moved_name(world):
    world.restart_rc = [1, 0]
    world.images.current.names = []  # after a pull, the name is the new image's
    autoupdate.auto_update(None, systemctl=world.systemctl,
                           pull=lambda p, ref, quiet: Img("new", ["docker.io/library/web:1"]))
    assert world.images.tagged == [("old", "docker.io/library/web:1")]


def test_dry_run_pulls_nothing(world):
    def pull(*a, **k):
        raise AssertionError("pulled")
    reports = autoupdate.auto_update(None, dry_run=True, systemctl=world.systemctl, pull=pull)
    assert [r.updated for r in reports] == ["pending"] and world.calls == []


def test_labels_merge_image_and_container():
    r = rec(label=("a=container",))
    r.image_config = {"Labels": {"a": "image", "b": "image"}}
    assert r.labels() == {"a": "container", "b": "image"}


def test_a_unit_records_itself_as_a_label(monkeypatch, tmp_path):
    monkeypatch.setenv("PODMAN_SYSTEMD_UNIT", "container-web.service")
    req = RunRequest(image="x", label=["k=v"])
    runhooks.before_create(None, req)
    assert req.label == ["k=v", "PODMAN_SYSTEMD_UNIT=container-web.service"]
    # and a unit generated from that container does not carry it over
    from rootless.systemd import generate as gen
    r = Record(id="e" * 64, name="web", image="x", command=[], driver="vfs", request=asdict(req))
    text = gen.generate(r, "/run/rl/containers/" + r.id, gen.Options(new=True, header=False), rl=["rl"])[1]
    assert "--label k=v" in text and "PODMAN_SYSTEMD_UNIT=container" not in text
