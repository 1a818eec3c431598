"""Where rl keeps things, following podman's conventions. No side effects
beyond creating rl's own directories when asked to."""

from __future__ import annotations

import os
import pwd

from rootless.pathlite import Path


def _xdg(var: str, default: str) -> Path:
    val = os.environ.get(var)
    return Path(val) if val and os.path.isabs(val) else Path.home() / default


def data_home() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share")


def config_home() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


class _Record:
    """A frozen record: equality, hash and repr over its fields, as a frozen
    dataclass's (config is on every command's path: building dataclasses
    and importing their module cost each command several ms)."""
    _FIELDS: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self._FIELDS)

    def __eq__(self, other):
        if not (other.__class__ is self.__class__):
            return NotImplemented
        return other._values() == self._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._FIELDS)})"

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}")


class Paths(_Record):
    _FIELDS = ("root", "_runroot")

    def __init__(self, root: Path, _runroot: Path | None = None):
        object.__setattr__(self, "root", root)          # persistent: images, layers, containers' upper dirs
        object.__setattr__(self, "_runroot", _runroot)  # volatile: pids, sockets, mounts; gone after a reboot

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


def _warn(message: str) -> None:
    import logging  # here: a command that never warns never imports logging (logconf.configure)
    logging.getLogger(__name__).warning(message)


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
    import tempfile  # rarely needed: it imports shutil, random and more
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
        _warn(f'"XDG_RUNTIME_DIR" {why}, using {path}')
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
    """--root/--runroot, else RL_ROOT/RL_RUNROOT, else storage.conf's graphroot
    and runroot (rl's own subdirectory `rl` in each), else the XDG defaults."""
    sc = storage_conf()
    root = root or os.environ.get("RL_ROOT") or (str(Path(sc.graphroot) / "rl") if sc.graphroot else None)
    runroot = runroot or os.environ.get("RL_RUNROOT") or (str(Path(sc.runroot) / "rl") if sc.runroot else None)
    paths = Paths(
        root=Path(root or data_home() / "rl"),
        _runroot=Path(runroot) if runroot else None,
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


# ---------------------------------------------------------------- storage.conf

SYSTEM_STORAGE_CONF = Path("/etc/containers/storage.conf")


class StorageConf(_Record):
    """What rl takes from containers-storage.conf(5), for a rootless user:
    $CONTAINERS_STORAGE_CONF when set, else $XDG_CONFIG_HOME/containers/storage.conf,
    else the system file (whose graphroot/runroot are root's: only its
    driver and rootless_storage_path apply to a user, as podman's).

    graphroot and runroot hold podman's own store layout, which rl must not
    write into: rl keeps its store in their subdirectory `rl` (same disk,
    same tmpfs), so a graphroot moved to a bigger disk moves rl's too."""
    _FIELDS = ("file", "graphroot", "runroot", "driver", "podman_driver")

    def __init__(self, file: str | None = None, graphroot: str | None = None, runroot: str | None = None,
                 driver: str | None = None, podman_driver: str | None = None):
        object.__setattr__(self, "file", file)
        object.__setattr__(self, "graphroot", graphroot)
        object.__setattr__(self, "runroot", runroot)
        object.__setattr__(self, "driver", driver)                # rl's name: fuse-overlayfs, overlay or vfs
        object.__setattr__(self, "podman_driver", podman_driver)  # as written in the file


_storage_conf: dict[str, StorageConf] = {}
_storage_warned: set[str] = set()


def storage_conf_file(env: dict[str, str] | None = None) -> tuple[Path | None, bool]:
    """(the storage.conf that applies, whether it is the user's own) or (None, False)."""
    env = os.environ if env is None else env
    if env.get("CONTAINERS_STORAGE_CONF"):
        return Path(env["CONTAINERS_STORAGE_CONF"]), True
    val = env.get("XDG_CONFIG_HOME")
    home = Path(val) if val and os.path.isabs(val) else Path(env.get("HOME") or str(Path.home())) / ".config"
    user = home / "containers" / "storage.conf"
    if user.exists():
        return user, True
    if SYSTEM_STORAGE_CONF.exists():
        return SYSTEM_STORAGE_CONF, False
    return None, False


def _expand(path: str) -> str:
    path = path.replace("$UID", str(os.getuid())).replace("$USER", user_name())
    return os.path.expanduser(os.path.expandvars(path))


def map_driver(driver: str, mount_program: str, where: str) -> str | None:
    """podman's driver name -> rl's: overlay with a fuse-overlayfs
    mount_program is rl's fuse-overlayfs, plain overlay the kernel's."""
    if driver == "overlay":
        return "fuse-overlayfs" if os.path.basename(mount_program or "").startswith("fuse-overlayfs") else "overlay"
    if driver == "vfs":
        return "vfs"
    if driver and where not in _storage_warned:
        _storage_warned.add(where)
        _warn(f'storage.conf: driver "{driver}" ({where}) is not supported by rl '
              "(fuse-overlayfs, overlay, vfs); using rl's default")
    return None


def parse_storage_conf(text: str, where: str, user_file: bool = True) -> StorageConf:
    import tomllib
    from rootless.errors import RlError
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        from rootless.containersconf import toml_error
        raise RlError(f"{where}: {toml_error(e, text)}", hint="fix the TOML syntax (see containers-storage.conf(5))") from None
    st = data.get("storage", {})
    if not isinstance(st, dict):
        raise RlError(f"{where}: [storage] must be a table")
    opts = st.get("options", {}) if isinstance(st.get("options", {}), dict) else {}
    overlay = opts.get("overlay", {}) if isinstance(opts.get("overlay", {}), dict) else {}
    for key in ("driver", "graphroot", "runroot", "rootless_storage_path"):
        if key in st and not isinstance(st[key], str):
            raise RlError(f"{where}: {key} in [storage] must be a string")
    mount_program = str(overlay.get("mount_program") or opts.get("mount_program") or "")
    driver = str(st.get("driver") or "")
    graph = str(st.get("graphroot") or "") if user_file else ""
    run = str(st.get("runroot") or "") if user_file else ""
    if not graph and opts.get("rootless_storage_path"):
        graph = _expand(str(opts["rootless_storage_path"]))
    if not graph and st.get("rootless_storage_path"):
        graph = _expand(str(st["rootless_storage_path"]))
    return StorageConf(where, graph or None, run or None,
                       map_driver(driver, mount_program, where) if driver else None, driver or None)


def storage_conf() -> StorageConf:
    """This user's storage.conf as rl applies it (read once per process)."""
    path, user_file = storage_conf_file()
    key = str(path)
    hit = _storage_conf.get(key)
    if hit is None:
        if path is None:
            hit = StorageConf()
        else:
            try:
                text = path.read_text()
            except FileNotFoundError:
                text = ""
            except OSError as e:
                from rootless.errors import RlError
                raise RlError(f"cannot read {path}: {e.strerror}") from None
            hit = parse_storage_conf(text, str(path), user_file)
        _storage_conf[key] = hit
    return hit
