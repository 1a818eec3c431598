"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from tests.podman import podman  # noqa: F401 - the oracle fixture, for `both`


@pytest.fixture
def rlr(rl, registry):
    """rl configured for the registry fixture (registries.conf mirror, certs).
    Its pulled layers belong to subordinate IDs: the `rl` fixture reclaims
    them from inside a user namespace."""
    rl.env.update(registry.env())
    return rl


@pytest.fixture(scope="module")
def rootfs() -> str:
    """The test Debian rootfs (a directory), for `--rootfs` containers."""
    from tests.integration.test_run_support import require_rootfs
    return require_rootfs()


@pytest.fixture
def rlc(rl):
    """rl whose containers are all removed afterwards, whatever the test did."""
    yield rl
    rl.run("rm", "-f", "--all", timeout=120)


@pytest.fixture
def both(rl, registry, podman):  # noqa: F811 - differential tests: one image in both
    """rl and podman with the same image: (rl, podman, image name for each)."""
    from tests.podman import load_image
    rl.env.update(registry.env())
    img = load_image(podman, registry)
    assert rl.run("pull", "-q", "debian:bookworm").returncode == 0
    yield rl, podman, img
    rl.run("rm", "-af", "-t", "0")
