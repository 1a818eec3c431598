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
