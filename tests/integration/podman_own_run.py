"""`podman_own`: the podman oracle (tests/podman.py), which already runs
with a runtime directory, HOME and store of its own (other sessions' podman
runs under the same user once broke a shared one: "open
.../libpod/tmp/pause.pid: no such file or directory")."""

from __future__ import annotations

import pytest

from tests.podman import podman  # noqa: F401 - fixture


@pytest.fixture
def podman_own(podman):  # noqa: F811
    return podman
