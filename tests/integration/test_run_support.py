"""Shared plumbing for the `rl run` tests (no tests here): a minbase
bookworm rootfs, extracted once inside a user namespace so its files carry
mapped owners, cached by the tarball's identity.

The tarball is the registry fixture's own (mmdebstrap, cached by recipe,
built on first use), so a fresh clone needs nothing else; RL_TEST_ROOTFS_TAR
points elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("RL_TEST_CACHE", Path.home() / ".cache" / "rl-test"))


def _tarball() -> Path | None:
    forced = os.environ.get("RL_TEST_ROOTFS_TAR")
    if forced:
        return Path(forced) if Path(forced).is_file() else None
    if not shutil.which("mmdebstrap"):
        return None
    from tests.fixture import cache, images
    path, _ = cache.entry("rootfs", images.rootfs_key(), images.build_rootfs)
    return path / "rootfs.tar"


def _extract(tar: str, dest: str) -> None:
    # device nodes cannot be created rootless; /dev is a tmpfs in containers anyway
    subprocess.run(["tar", "-C", dest, "--exclude=./dev/*", "--numeric-owner", "-xpf", tar], check=True)


def bookworm_rootfs() -> Path | None:
    """The extracted rootfs, or None when no tarball can be had."""
    tar = _tarball()
    if tar is None:
        return None
    st = tar.stat()
    dest = CACHE / f"bookworm-{st.st_size}-{int(st.st_mtime)}"
    done = dest.with_suffix(".done")
    if done.exists():
        return dest
    from rootless.runtime import userns
    if dest.exists():  # a half-done extraction: files of subordinate IDs, removed from inside
        userns.run_in_userns(shutil.rmtree, str(dest), ignore_errors=True)
    dest.mkdir(parents=True, exist_ok=True)
    userns.run_in_userns(_extract, str(tar), str(dest))
    done.touch()
    return dest


def require_rootfs() -> str:
    """For fixtures: the rootfs path; skipped locally, failed in CI (CI=true)
    when it cannot be had, as the conftest treats every missing need."""
    import pytest
    path = bookworm_rootfs()
    if path is None:
        why = "no rootfs tarball: mmdebstrap is not installed and RL_TEST_ROOTFS_TAR is unset"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return str(path)
