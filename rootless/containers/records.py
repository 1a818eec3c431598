"""Container records: a 64-hex ID, a unique name, a config written once
under the storage root and a small state file under the runroot, both
replaced atomically. The full lifecycle (ps, rm, monitor) builds on this."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rootless.config import Paths, ensure_dir
from rootless.errors import ContainerError, ContainerNotFound

_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_ADJ = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "proud", "quirky", "serene", "tender", "vivid", "witty", "zealous")
_NOUN = ("babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "khayyam", "lovelace",
         "meitner", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak")


@dataclass
class Record:
    id: str
    name: str
    image: str
    command: list[str]
    driver: str
    created: float = field(default_factory=time.time)
    layers: list[str] = field(default_factory=list)   # rootfs lower dirs, bottom to top
    image_config: dict = field(default_factory=dict)  # the image's OCI "config" section
    request: dict = field(default_factory=dict)       # the run/create options, to start it again

    @property
    def short_id(self) -> str:
        return self.id[:12]


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _rmtree_all(paths: list[str]) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Store:
    def __init__(self, paths: Paths):
        self.paths = paths
        self.dir = paths.containers
        self.names = self.dir / "names"
        self.rundir = paths.runroot / "containers"

    def container_dir(self, cid: str) -> Path:
        return self.dir / cid

    def run_dir(self, cid: str) -> Path:
        return self.rundir / cid

    def _claim(self, name: str, cid: str) -> bool:
        try:
            os.symlink(cid, self.names / name)  # atomic: exactly one claimant wins
            return True
        except FileExistsError:
            return False

    def create(self, image: str, command: list[str], driver: str, name: str | None = None, **extra) -> Record:
        ensure_dir(self.names)
        cid = os.urandom(32).hex()
        if name:
            if not _NAME_RE.fullmatch(name):
                raise ContainerError(f"invalid container name {name!r}",
                                     hint="names match [a-zA-Z0-9][a-zA-Z0-9_.-]*, as podman's")
            if not self._claim(name, cid):
                raise ContainerError(f'the container name "{name}" is already in use',
                                     hint=f"choose another --name, or remove the old one: rl rm {name}")
        else:
            for _ in range(100):
                name = f"{random.choice(_ADJ)}_{random.choice(_NOUN)}"
                if self._claim(name, cid):
                    break
            else:
                name = cid[:12]
                self._claim(name, cid)
        rec = Record(cid, name, image, command, driver, **extra)
        d = ensure_dir(self.container_dir(cid))
        for sub in ("diff", "work", "merged"):
            (d / sub).mkdir(mode=0o755, exist_ok=True)
        ensure_dir(self.run_dir(cid))
        write_json(d / "config.json", asdict(rec))
        return rec

    def set_state(self, rec: Record, state: str, **extra) -> None:
        ensure_dir(self.run_dir(rec.id))
        write_json(self.run_dir(rec.id) / "state.json", {"state": state, "time": time.time(), **extra})

    def state(self, rec: Record) -> dict:
        """The recorded state, corrected when its process is gone (a
        runroot wiped by a reboot, an rl killed outright)."""
        try:
            st = json.loads((self.run_dir(rec.id) / "state.json").read_text())
        except (OSError, ValueError):
            return {"state": "exited"}  # the runroot is volatile: gone after a reboot
        if st.get("state") in ("running", "starting") and not _alive(st.get("pid")):
            st["state"] = "exited"
        return st

    def load(self, cid: str) -> Record:
        try:
            data = json.loads((self.container_dir(cid) / "config.json").read_text())
        except (OSError, ValueError):
            raise ContainerNotFound(f"no container with name or ID {cid!r}") from None
        return Record(**data)

    def lookup(self, name_or_id: str) -> Record:
        """By name, full ID, or unambiguous ID prefix (as podman)."""
        try:
            return self.load(os.readlink(self.names / name_or_id))
        except OSError:
            pass
        if len(name_or_id) >= 3 and all(c in "0123456789abcdef" for c in name_or_id):
            hits = [d.name for d in self.dir.iterdir() if d.name.startswith(name_or_id)] if self.dir.exists() else []
            if len(hits) > 1:
                raise ContainerError(f"{name_or_id!r} matches {len(hits)} containers", hint="give more of the ID")
            if hits:
                return self.load(hits[0])
        raise ContainerNotFound(f"no container with name or ID {name_or_id!r}",
                                hint="rl ps -a lists containers")

    def remove(self, rec: Record) -> None:
        """Drop the record and its storage. Files a container created belong
        to subordinate IDs: only the user namespace can delete those."""
        cdir = self.container_dir(rec.id)
        for sub in ("diff", "work"):
            if (cdir / sub).exists():
                shutil.rmtree(cdir / sub, ignore_errors=True)
        if (cdir / "diff").exists() or (cdir / "work").exists():
            from rootless.runtime import userns
            userns.run_in_userns(_rmtree_all, [str(cdir / "diff"), str(cdir / "work")])
        try:
            if os.readlink(self.names / rec.name) == rec.id:
                os.unlink(self.names / rec.name)
        except OSError:
            pass
        shutil.rmtree(self.run_dir(rec.id), ignore_errors=True)
        shutil.rmtree(self.container_dir(rec.id), ignore_errors=True)
