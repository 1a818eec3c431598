"""Named volumes: directories rl owns under the storage root, mounted into
containers with `-v NAME:/path`, kept when containers go. Layout as podman's
local driver: volumes/NAME/_data holds the content, volumes/NAME/volume.json
the metadata. Creation is atomic (built under a temporary name, renamed into
place), so two `rl volume create X` racing leave one volume and one clear
error."""

from __future__ import annotations

import os
import time

from rootless import jsonio  # not json: its import costs every command ~7 ms (re)
from rootless.config import Paths, ensure_dir, ensure_root
from rootless.errors import VolumeError, VolumeNotFound
from rootless.names import valid_name
from rootless.pathlite import Path
from rootless.plain import Fields



FILTER_KEYS = ("name", "label", "label!", "driver", "scope", "dangling")


def parse_filters(filters) -> dict[str, list[str]]:
    """podman's `volume ls --filter KEY=VALUE`s grouped by key (a UsageError for an unknown key)."""
    from rootless.errors import UsageError
    by_key: dict[str, list[str]] = {}
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq or k not in FILTER_KEYS:
            raise UsageError(f"invalid volume filter {f!r}", hint="name=, label=KEY[=VALUE], label!=, driver=, "
                             "scope=, dangling=true|false")
        if k == "dangling" and v.lower() not in ("true", "false"):
            raise UsageError(f"invalid volume filter {f!r}: dangling takes true or false")
        by_key.setdefault(k, []).append(v)
    return by_key


class Volume(Fields):
    """A named volume as podman's `volume inspect` shows it. NeedsCopyUp and
    NeedsChown: podman's volume state, never populated yet (the first
    container copies the image's content in), not yet given to the image
    directory's owner (runtime/copyup.py keeps them, and its CopiedUp, in
    volume.json). Not a dataclass: `rl volume ls` pays for every import."""
    FIELDS = ("Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope", "Options", "NeedsCopyUp", "NeedsChown")

    def __init__(self, Name: str, Driver: str = "local", Mountpoint: str = "", CreatedAt: str = "",
                 Labels: dict | None = None, Scope: str = "local", Options: dict | None = None,
                 NeedsCopyUp: bool = False, NeedsChown: bool = False):
        self.Name = Name
        self.Driver = Driver
        self.Mountpoint = Mountpoint
        self.CreatedAt = CreatedAt
        self.Labels = {} if Labels is None else Labels
        self.Scope = Scope
        self.Options = {} if Options is None else Options
        self.NeedsCopyUp = NeedsCopyUp
        self.NeedsChown = NeedsChown


    @classmethod
    def from_json(cls, data: dict) -> "Volume":
        return cls(**{k: v for k, v in data.items() if k in cls.FIELDS})


class VolumeStore:
    def __init__(self, paths: Paths):
        self.paths = paths
        self.root = paths.root / "volumes"

    def _dir(self, name: str) -> Path:
        if not valid_name(name):
            raise VolumeError(f"invalid volume name {name!r}",
                              hint="names start with a letter or digit, then letters, digits, _ . -")
        return self.root / name

    def create(self, name: str, labels: dict | None = None, exist_ok: bool = False) -> Volume:
        final = self._dir(name)
        if final.exists():
            if exist_ok:
                return self.lookup(name)
            raise VolumeError(f"volume with name {name} already exists",
                              hint="pick another name, or pass --ignore to reuse it")
        ensure_dir(ensure_root(self.paths.root) / "volumes")  # private, whichever command comes first
        tmp = self.root / f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        (tmp / "_data").mkdir(parents=True, mode=0o755)
        os.chmod(tmp / "_data", 0o755)  # podman's mode whatever the umask (a detached run's monitor has 077)
        vol = Volume(Name=name, Mountpoint=str(final / "_data"), Labels=dict(labels or {}),
                     CreatedAt=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), NeedsCopyUp=True, NeedsChown=True)
        (tmp / "volume.json").write_text(jsonio.dumps(vol.to_dict()))
        try:
            os.rename(tmp, final)  # fails when another create won the race
        except OSError:
            import shutil  # here, as below: `rl volume ls` does not pay for it
            shutil.rmtree(tmp, ignore_errors=True)
            if exist_ok:
                return self.lookup(name)
            raise VolumeError(f"volume with name {name} already exists") from None
        from rootless import events  # here: the commands that emit nothing never load it
        events.emit(self.paths, "volume", "create", name=name)
        return vol

    def lookup(self, name: str) -> Volume:
        try:
            data = jsonio.loads((self._dir(name) / "volume.json").read_text())
        except FileNotFoundError:
            raise VolumeNotFound(f"no such volume {name}", hint="rl volume ls lists them") from None
        return Volume.from_json(data)

    def list(self, filters: list[str] | tuple = ()) -> list[Volume]:
        """The volumes, filtered as podman's `volume ls --filter`: name (regex), label (KEY or
        KEY=VALUE), label!, driver, scope, dangling (true: no container uses it); one key's
        values OR together, different keys AND."""
        by_key = parse_filters(filters)
        if not self.root.is_dir():
            return []
        out = []
        for d in sorted(self.root.iterdir()):
            if d.name.startswith(".") or not (d / "volume.json").exists():
                continue
            vol = Volume.from_json(jsonio.loads((d / "volume.json").read_text()))
            if all(any(self._matches(vol, k, v) for v in vals) for k, vals in by_key.items()):
                out.append(vol)
        return out

    def _matches(self, vol: Volume, key: str, value: str) -> bool:
        if key == "name":
            import re  # only a name filter needs it
            return re.search(value, vol.Name) is not None
        if key in ("label", "label!"):
            k, eq, v = value.partition("=")
            has = k in vol.Labels and (not eq or vol.Labels[k] == v)
            return has if key == "label" else not has
        if key == "driver":
            return vol.Driver == value
        if key == "scope":
            return vol.Scope == value
        return (not self.users(vol.Name)) == (value.lower() == "true")  # dangling

    def users(self, name: str) -> list[str]:
        """IDs of containers whose request mounts this volume."""
        found = []
        base = self.paths.containers
        for cfg in base.glob("*/config.json") if base.is_dir() else []:
            try:
                rec = jsonio.loads(cfg.read_text())
            except (OSError, ValueError):
                continue
            if any(str(v).split(":", 1)[0] == name for v in rec.get("request", {}).get("volumes", [])):
                found.append(rec.get("id", cfg.parent.name))
        return found

    def remove(self, name: str, force: bool = False) -> None:
        self.lookup(name)
        users = self.users(name)
        if users and not force:
            raise VolumeError(f"volume {name} is being used by container {users[0][:12]}",
                              hint=f"remove the container first, or rl volume rm -f {name}")
        _remove_tree(self._dir(name))
        from rootless import events
        events.emit(self.paths, "volume", "remove", name=name)

    def unused(self) -> list[str]:
        """Names of the volumes no container uses: what prune would remove."""
        return [vol.Name for vol in self.list() if not self.users(vol.Name)]

    def prune(self) -> list[str]:
        gone = []
        for name in self.unused():
            if not self.users(name):  # a container created meanwhile keeps it
                _remove_tree(self._dir(name))
                from rootless import events
                events.emit(self.paths, "volume", "remove", name=name)
                gone.append(name)
        return gone


def _remove_tree(path: Path) -> None:
    # containers write files owned by subordinate IDs: only root of a user
    # namespace mapping them may delete those; rename first so a half-removed
    # volume is never visible under its name
    grave = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.rm")
    os.rename(path, grave)
    import shutil
    try:
        shutil.rmtree(grave)
    except PermissionError:
        from rootless.runtime.userns import run_in_userns
        run_in_userns(shutil.rmtree, str(grave))


def create_anonymous(paths: Paths) -> str:
    """A volume for `-v /data` or an image's VOLUME: a random name, as podman's."""
    import secrets
    return VolumeStore(paths).create(secrets.token_hex(32)).Name


def remove_anonymous(paths: Paths, names) -> None:
    """A container's anonymous volumes, once it is removed with --rm or rm -v
    (named volumes are kept; one another container still uses is kept too)."""
    store = VolumeStore(paths)
    for name in names or ():
        try:
            store.remove(name)
        except VolumeError:  # VolumeNotFound included
            pass


def resolve(paths: Paths, name: str) -> str:
    """The host directory behind `-v NAME:...`; created on first use, as podman."""
    return VolumeStore(paths).create(name, exist_ok=True).Mountpoint
