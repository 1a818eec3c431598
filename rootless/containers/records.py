"""Container records: a 64-hex ID, a unique name, a config written once
under the storage root and a small state file under the runroot, both
replaced atomically. The full lifecycle (ps, rm, monitor) builds on this."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rootless.config import Paths, ensure_dir
from rootless.errors import ContainerError

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

    @property
    def short_id(self) -> str:
        return self.id[:12]


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


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

    def create(self, image: str, command: list[str], driver: str, name: str | None = None) -> Record:
        ensure_dir(self.names)
        cid = os.urandom(32).hex()
        if name:
            if "/" in name or name.startswith("."):
                raise ContainerError(f"invalid container name {name!r}")
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
        rec = Record(cid, name, image, command, driver)
        d = ensure_dir(self.container_dir(cid))
        for sub in ("diff", "work", "merged"):
            (d / sub).mkdir(mode=0o755, exist_ok=True)
        ensure_dir(self.run_dir(cid))
        write_json(d / "config.json", asdict(rec))
        return rec

    def set_state(self, rec: Record, state: str, **extra) -> None:
        write_json(self.run_dir(rec.id) / "state.json", {"state": state, "time": time.time(), **extra})

    def remove(self, rec: Record) -> None:
        """Drop the record; storage owned by subordinate IDs must be gone
        already (the namespace side deletes it with --rm)."""
        try:
            if os.readlink(self.names / rec.name) == rec.id:
                os.unlink(self.names / rec.name)
        except OSError:
            pass
        shutil.rmtree(self.run_dir(rec.id), ignore_errors=True)
        shutil.rmtree(self.container_dir(rec.id), ignore_errors=True)
