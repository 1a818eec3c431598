"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest


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
