"""podman with a test image loaded from a docker-archive (the volume tests'
hand-made images); the oracle itself is tests/podman.py."""

from __future__ import annotations

from pathlib import Path

from tests.podman import Podman, require_podman


def podman_or_skip(base: Path, driver: str = "vfs") -> Podman:
    require_podman()
    return Podman(base, driver)


def podman_with_archive(base: Path, archive: Path) -> Podman:
    """A podman (overlay storage) that has loaded the docker-archive."""
    podman = podman_or_skip(base, driver="overlay")
    res = podman.run("load", "-q", "-i", str(archive))
    assert res.returncode == 0, f"podman cannot load the test image: {res.stderr.strip()[-300:]}"
    return podman
