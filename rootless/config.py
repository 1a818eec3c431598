"""Where rl keeps things, following podman's conventions. No side effects
beyond creating rl's own directories when asked to."""

from __future__ import annotations

import os
import pwd
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _xdg(var: str, default: str) -> Path:
    val = os.environ.get(var)
    return Path(val) if val and os.path.isabs(val) else Path.home() / default


def data_home() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share")


def config_home() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


@dataclass(frozen=True)
class Paths:
    root: Path                    # persistent: images, layers, containers' upper dirs
    _runroot: Path | None = None  # volatile: pids, sockets, mounts; gone after a reboot

    @property
    def runroot(self) -> Path:
        # resolved on first use: image commands never need it, so they never
        # print the runtime-dir fallback warning
        return self._runroot or runtime_dir()

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def containers(self) -> Path:
        return self.root / "containers"


_warned = False


def runtime_dir() -> Path:
    """$XDG_RUNTIME_DIR/rl, or /tmp/rl-UID (0700) with a warning, as podman."""
    global _warned
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.access(xdg, os.W_OK):
        return Path(xdg) / "rl"
    uid = os.getuid()
    if not _warned and os.environ.get("RL_QUIET_RUNDIR") is None:
        print(f'WARN: "XDG_RUNTIME_DIR" is not set or not writable, using {tempfile.gettempdir()}/rl-{uid}',
              file=sys.stderr)
        _warned = True
    return Path(tempfile.gettempdir()) / f"rl-{uid}"


def default_paths(root: str | None = None, runroot: str | None = None) -> Paths:
    return Paths(
        root=Path(root or os.environ.get("RL_ROOT") or data_home() / "rl"),
        _runroot=Path(runroot or os.environ["RL_RUNROOT"]) if runroot or os.environ.get("RL_RUNROOT") else None,
    )


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    return path


def user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())
