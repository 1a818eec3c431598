"""Shared plumbing for the `rl run` tests (no tests here): the bookworm
rootfs, extracted once inside a user namespace so the files carry mapped
owners, and cached by the tarball's size and mtime."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

TARBALL = Path(os.environ.get("RL_TEST_ROOTFS_TAR", "/var/tmp/rl-dev/bookworm.tar"))
CACHE = Path(os.environ.get("RL_TEST_CACHE", Path.home() / ".cache" / "rl-test"))


def _extract(tar: str, dest: str) -> None:
    # device nodes cannot be created rootless; /dev is a tmpfs in containers anyway
    subprocess.run(["tar", "-C", dest, "--exclude=./dev/*", "--numeric-owner", "-xpf", tar], check=True)


def bookworm_rootfs() -> Path | None:
    """The extracted rootfs, or None when the tarball is missing."""
    if not TARBALL.is_file():
        return None
    st = TARBALL.stat()
    dest = CACHE / f"bookworm-{st.st_size}-{int(st.st_mtime)}"
    done = dest.with_suffix(".done")
    if done.exists():
        return dest
    from rootless.runtime import userns
    dest.mkdir(parents=True, exist_ok=True)
    userns.run_in_userns(_extract, str(TARBALL), str(dest))
    done.touch()
    return dest
