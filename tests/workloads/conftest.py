"""The workload suite's fixtures: the workload image (tests/fixture/workloads.py)
pushed into the registry fixture, and one rl and one rootless podman for the
whole session, each with the image pulled once (it is large: postgresql
alone brings LLVM)."""

from __future__ import annotations

import socket
import urllib.parse

import pytest

from tests.conftest import IN_CI, make_rl_env, reclaim
from tests.fixture import images, workloads
from tests.fixture.podman import podman_or_none
from tests.workloads.lib import Side


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mirror: needs the Debian mirror (the outside network)")


def _mirror_reason() -> str | None:
    url = urllib.parse.urlsplit(images.MIRROR)
    try:
        socket.create_connection((url.hostname, url.port or 80), timeout=10).close()
    except OSError as e:
        return f"the Debian mirror {images.MIRROR} is unreachable: {e}"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("mirror") is not None:
        reason = _mirror_reason()
        if reason:
            if IN_CI:
                pytest.fail(f"[mirror] required in CI but unavailable: {reason}", pytrace=False)
            pytest.skip(f"[mirror] {reason}")


@pytest.fixture(scope="session")
def wl_image(registry) -> str:
    workloads.push(workloads.warm(log=True), registry.plain)
    return workloads.REF


@pytest.fixture(scope="session")
def wrl(registry, wl_image, tmp_path_factory):
    env = make_rl_env(tmp_path_factory.mktemp("wl-rl"))
    env.env.update(registry.env())
    for ref in (wl_image, "debian:bookworm"):
        env.run("pull", "-q", ref, check=True, timeout=900)
    side = Side("rl", env.run)
    yield side
    env.run("rm", "-f", "--all", timeout=300)
    reclaim(env.base)


@pytest.fixture(scope="session")
def wpodman(registry, wl_image, tmp_path_factory):
    base = tmp_path_factory.mktemp("wl-podman")
    p = podman_or_none(base, registry.registries_conf)
    if p is None:
        yield None
        return
    for ref in (wl_image, "debian:bookworm"):
        p.pull(ref)
    yield Side("podman", p.run)
    p.close()
    reclaim(base)


@pytest.fixture
def sides(wrl, wpodman):
    """rl, then podman where it is installed."""
    out = [wrl] + ([wpodman] if wpodman is not None else [])
    if wpodman is None:
        print("podman is not installed: rl alone, nothing to compare with")
    return out
