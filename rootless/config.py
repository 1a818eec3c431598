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
        if self._runroot is None:
            return runtime_dir()
        return checked_runroot(self._runroot)

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def containers(self) -> Path:
        return self.root / "containers"


_warned = False
_checked: dict[str, Path] = {}

_RUNDIR_INSTEAD = ("set XDG_RUNTIME_DIR to a directory only you can write (a login through pam_systemd "
                   "sets /run/user/UID), or pass --runroot DIR")


def checked_runroot(path: Path) -> Path:
    """A runroot rl may trust (fsutil.private_dir: created 0700, else a real
    directory of this user's nobody else can write), checked once per process."""
    key = str(path)
    hit = _checked.get(key)
    if hit is None:
        from rootless import fsutil
        hit = _checked[key] = fsutil.private_dir(path, instead=_RUNDIR_INSTEAD)
    return hit


def _usable_xdg() -> tuple[Path | None, str]:
    """XDG_RUNTIME_DIR when this user may use it, else (None, why not): it
    must be a directory this user owns and can write (podman refuses one
    owned by someone else; `su` without a login keeps the old user's)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if not xdg:
        return None, "is not set"
    if not os.path.isabs(xdg):
        return None, f"({xdg}) is not an absolute path"
    try:
        st = os.stat(xdg)
    except OSError as e:
        return None, f"({xdg}): {e.strerror}"
    if not os.path.isdir(xdg):
        return None, f"({xdg}) is not a directory"
    if st.st_uid != os.getuid():
        return None, f"({xdg}) belongs to uid {st.st_uid}, not to you"
    if not os.access(xdg, os.W_OK | os.X_OK):
        return None, f"({xdg}) is not writable"
    return Path(xdg), ""


def fallback_runtime_dir() -> Path:
    """Where rl keeps runtime state without a usable XDG_RUNTIME_DIR."""
    return Path(tempfile.gettempdir()) / f"rl-{os.getuid()}"


def runtime_dir() -> Path:
    """$XDG_RUNTIME_DIR/rl, or TMPDIR/rl-UID with a warning, as podman.
    Either is created 0700 and refused (UnsafeDirectory, exit 125) when it is
    not a real directory of this user's that only this user can write: on a
    shared host another user could pre-create or symlink /tmp/rl-UID."""
    global _warned
    xdg, why = _usable_xdg()
    if xdg is not None:
        return checked_runroot(xdg / "rl")
    path = fallback_runtime_dir()
    if not _warned and os.environ.get("RL_QUIET_RUNDIR") is None:
        print(f'WARN: "XDG_RUNTIME_DIR" {why}, using {path}', file=sys.stderr)
        _warned = True
    return checked_runroot(path)


def runroot_candidates() -> list[Path]:
    """Every runtime directory this user's rl may have used (a login session's
    and the fallback), for finding containers started from another kind of
    login; none created."""
    out = []
    xdg, _ = _usable_xdg()
    for p in (xdg / "rl" if xdg else None, Path(f"/run/user/{os.getuid()}/rl"), fallback_runtime_dir()):
        if p is not None and p not in out:
            out.append(p)
    return out


def default_paths(root: str | None = None, runroot: str | None = None) -> Paths:
    paths = Paths(
        root=Path(root or os.environ.get("RL_ROOT") or data_home() / "rl"),
        _runroot=Path(runroot or os.environ["RL_RUNROOT"]) if runroot or os.environ.get("RL_RUNROOT") else None,
    )
    ensure_root(paths.root)
    return paths


def ensure_root(root: Path) -> Path:
    """The storage root, private whichever command comes first: created 0700
    (with any missing parent, as the XDG spec asks), and an existing one this
    user owns tightened to 0700 (as podman's graphroot): images' setuid
    files and containers' data are nobody else's business. A root that
    cannot be created here fails later, where it is written, with the reason."""
    try:
        make_dirs(root, 0o700)
        st = os.stat(root)
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(root, 0o700)
    except OSError:
        pass
    return root


def make_dirs(path: Path, mode: int = 0o700) -> Path:
    from rootless import fsutil
    return fsutil.make_dirs(path, mode)


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """mkdir -p, every level it creates with mode."""
    return make_dirs(path, mode)


def user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())
