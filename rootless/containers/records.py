"""Container records: a 64-hex ID, a unique name, a config under the storage
root and a small state file under the runroot, both replaced atomically.

State never lies: a "running" record names the process that owns the
container (the monitor, or a foreground `rl run`) by pid *and* start time;
when that process is gone the container is reported exited, with the reason,
whatever the file says. Commands that change a container hold its lock
(flock on ID/lock); state updates take a second, short lock so the monitor
can record an exit while `rl stop` holds the first."""

from __future__ import annotations

import os
import stat
import time

from rootless import fsutil, jsonio  # not json: its import costs every command ~7 ms (re)
from rootless.config import Paths, ensure_dir, runroot_candidates
from rootless.errors import ContainerDamaged, ContainerError, ContainerNotFound, RlError
from rootless.names import is_id, valid_name
from rootless.pathlite import Path
from rootless.plain import Fields
from rootless.procfs import start_time  # noqa: F401 - the owner check below; callers import it from here


def _rmtree(path) -> None:
    """shutil.rmtree(path, ignore_errors=True) without importing shutil (it
    imports bz2, lzma and zlib, which rm, ps, logs and inspect never use).
    Symlinks are removed, never followed: os.fwalk opens each directory
    relative to its parent's fd and walks it only if it is the directory
    listed; a symlink at path removes nothing. What cannot be removed stays
    (the caller's user namespace removes what belongs to subordinate IDs)."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return  # shutil refuses a symlink, and a file is no tree
        for _, dirs, files, fd in os.fwalk(path, topdown=False, follow_symlinks=False):
            for name in files:
                try:
                    os.unlink(name, dir_fd=fd)
                except OSError:
                    pass
            for name in dirs:  # emptied already (bottom-up)
                try:
                    os.rmdir(name, dir_fd=fd)
                except NotADirectoryError:  # a symlink to a directory: fwalk lists it with them
                    try:
                        os.unlink(name, dir_fd=fd)
                    except OSError:
                        pass
                except OSError:
                    pass
        os.rmdir(path)
    except OSError:
        pass


_ADJ = ("brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
        "nifty", "proud", "quirky", "serene", "tender", "vivid", "witty", "zealous")
_NOUN = ("babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "khayyam", "lovelace",
         "meitner", "noether", "pascal", "ritchie", "shannon", "turing", "wozniak")


_UNSET = object()  # a parameter not given (None is a value a record may hold)


class Record(Fields):
    """A container's config.json. Not a dataclass (every container command
    pays for building one and for importing dataclasses): its fields, in
    order, are FIELDS; to_dict() is what dataclasses.asdict gave."""
    FIELDS = ("id", "name", "image", "command", "driver", "created", "layers", "image_config", "request", "image_id",
              "image_name")

    def __init__(self, id: str, name: str, image: str, command: list[str], driver: str, created: float = _UNSET,
                 layers: list[str] = _UNSET, image_config: dict = _UNSET, request: dict = _UNSET,
                 image_id: str = "", image_name: str = ""):
        self.id = id
        self.name = name
        self.image = image
        self.command = command
        self.driver = driver
        self.created = time.time() if created is _UNSET else created
        self.layers = [] if layers is _UNSET else layers                    # rootfs lower dirs, bottom to top
        self.image_config = {} if image_config is _UNSET else image_config  # the image's OCI "config" section
        self.request = {} if request is _UNSET else request                 # the run/create options, to start it again
        self.image_id = image_id      # the image's ID (its config digest), as inspect's .Image
        self.image_name = image_name  # the image's full name, as podman's ImageName and ps IMAGE


    # not a field (never written): why this record could not be read, for a
    # damaged container (config.json missing or corrupt: a crash or a full
    # disk during create); such a record carries only its ID and name
    damaged = ""

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def labels(self) -> dict:
        """As podman's: the image's labels, then its own --label KEY=VALUE (which win)."""
        out = dict((self.image_config or {}).get("Labels") or {})
        for item in (self.request or {}).get("label") or []:
            k, _, v = item.partition("=")
            out[k] = v
        return out


def write_json(path: Path, data: dict) -> None:
    """Atomically: the old file or the new, never half of one (a full disk
    fails here, naming the file, and leaves the old one); its temporary file
    created O_EXCL|O_NOFOLLOW."""
    fsutil.atomic_write(path, jsonio.dumps(data))


def read_json(path: Path):
    """A state file rl wrote, never read through a symlink or from a file
    that is not a regular one of this user's (OSError, as a missing file)."""
    return jsonio.loads(fsutil.read_private(path))


def _rmtree_all(paths: list[str]) -> None:
    for p in paths:
        _rmtree(p)


def same_process(pid, started) -> bool:
    return isinstance(pid, int) and pid > 0 and started is not None and start_time(pid) == started


ACTIVE = ("starting", "running", "stopping", "paused")
CREATE_LOCK = ".create.lock"  # shared by every create under way; exclusive while damage is judged
STOP_MARK = "stop-requested"  # in the run dir, by rl stop/kill/rm: the monitor restarts nothing after it
KILL_MARK = b"kill"  # the mark's content after `rl kill`
EXIT_FILE = "exit"   # written by rl-monitor the moment the container exits
RUNROOT_FILE = "runroot"  # in the container's persistent dir: the runroot its last start used


def flocked(path: Path, timeout: float | None = None) -> fsutil.locked:
    """An exclusive flock on path; with timeout, TimeoutError when another
    holder keeps it that long."""
    return fsutil.locked(path, timeout=timeout)


class Store:
    def __init__(self, paths: Paths):
        self.paths = paths
        self.dir = paths.containers
        self.names = self.dir / "names"
        self._runroots: dict[str, Path] = {}

    @property
    def rundir(self) -> Path:
        return self.paths.runroot / "containers"

    def container_dir(self, cid: str) -> Path:
        return self.dir / cid

    def run_dir(self, cid: str) -> Path:
        """The container's runtime state, in the runroot it was started with:
        a login without XDG_RUNTIME_DIR (su, ssh, cron) uses another runroot
        than a desktop session, and must still find its running containers."""
        rr = self._runroots.get(cid)
        if rr is None:
            rr = self._runroots[cid] = self._runroot_of(cid)
        return rr / "containers" / cid

    def _runroot_of(self, cid: str) -> Path:
        current = self.paths.runroot
        try:
            recorded = Path(fsutil.read_private(self.container_dir(cid) / RUNROOT_FILE).decode())
        except (OSError, UnicodeDecodeError):
            recorded = None
        if recorded is not None and recorded.is_absolute():
            return recorded if self._trusted(recorded, current) else current
        # recorded by no rl before this one: wherever its state is
        for cand in [current, *runroot_candidates()]:
            if os.path.isdir(cand / "containers" / cid) and self._trusted(cand, current):
                return cand
        return current

    @staticmethod
    def _trusted(runroot: Path, current: Path) -> bool:
        """Another session's runroot, under the same rules as this one's."""
        if runroot == current:
            return True
        try:
            fsutil.private_dir(runroot, create=False)
            return True
        except (OSError, RlError):
            return False  # gone (a reboot) or not safely ours: its state is not read

    def claim_run_dir(self, rec: Record) -> Path:
        """Before a start: this session's runroot becomes the container's, and
        is recorded under the storage root so that every login finds it.
        A container running from another runroot keeps that one."""
        current = self.paths.runroot
        old = self._runroots.get(rec.id) or self._runroot_of(rec.id)
        self._runroots[rec.id] = old
        if old != current and self.state(rec).get("state") in ACTIVE:
            return self.run_dir(rec.id)
        marker = self.container_dir(rec.id) / RUNROOT_FILE
        try:
            same = fsutil.read_private(marker).decode() == str(current)
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            fsutil.atomic_write(marker, str(current))
        self._runroots[rec.id] = current
        if old != current:
            _rmtree(old / "containers" / rec.id)  # the last run's, elsewhere
        return ensure_dir(self.run_dir(rec.id))

    def _name_running(self, name: str) -> bool:
        """Whether the container holding name runs (the hint then says rm -f)."""
        try:
            return self.state(self.load(os.readlink(self.names / name))).get("state") in ACTIVE
        except Exception:  # noqa: BLE001 - only a hint: a damaged record gives the plain one
            return False

    def _claim(self, name: str, cid: str) -> bool:
        try:
            os.symlink(cid, self.names / name)  # atomic: exactly one claimant wins
            return True
        except FileExistsError:
            return False

    def _create_lock(self, exclusive: bool) -> fsutil.locked:
        """Creates hold it shared from the name's claim to config.json; the
        judgement "this container is damaged" is made holding it exclusively,
        so a container being created is never taken for a damaged one."""
        ensure_dir(self.dir)
        return fsutil.locked(self.dir / CREATE_LOCK, shared=not exclusive)

    def create(self, image: str, command: list[str], driver: str, name: str | None = None, **extra) -> Record:
        runroot = self.paths.runroot  # an unsafe runtime directory is refused before anything is recorded
        ensure_dir(self.names)
        with self._create_lock(exclusive=False):
            return self._create(runroot, image, command, driver, name, **extra)

    def _create(self, runroot: Path, image: str, command: list[str], driver: str, name: str | None,
                **extra) -> Record:
        cid = os.urandom(32).hex()
        if name:
            if not valid_name(name):
                raise ContainerError(f"invalid container name {name!r}",
                                     hint="names match [a-zA-Z0-9][a-zA-Z0-9_.-]*, as podman's")
            if not self._claim(name, cid):
                raise ContainerError(f'the container name "{name}" is already in use',
                                     hint=f"choose another --name, or remove the old one: rl rm "
                                          f"{'-f ' if self._name_running(name) else ''}{name}")
        else:
            for _ in range(100):
                import random  # here: ps, logs and inspect never name a container
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
        fsutil.atomic_write(d / RUNROOT_FILE, str(runroot))
        self._runroots[cid] = runroot
        ensure_dir(self.run_dir(cid))
        write_json(d / "config.json", rec.to_dict())
        return rec

    def lock(self, rec: Record, timeout: float | None = None):
        """Serialises commands on one container (others run in parallel)."""
        return flocked(self.container_dir(rec.id) / "lock", timeout)

    def set_state(self, rec: Record, state: str, **extra) -> None:
        self.update_state(rec, replace=True, state=state, **extra)

    def update_state(self, rec: Record, replace: bool = False, **changes) -> dict:
        """Read-modify-write of state.json under its own short lock."""
        rundir = ensure_dir(self.run_dir(rec.id))
        with flocked(rundir / "state.lock"):
            st = {} if replace else self._read_state(rec) or {}
            st.update(changes)
            st["time"] = time.time()
            write_json(rundir / "state.json", st)
        if changes.get("state") not in (None, "created"):
            (self.container_dir(rec.id) / "started").touch()
        return st

    def _exit_file(self, rec: Record) -> tuple[int, float] | None:
        """(status, when) from rl-monitor's exit file."""
        path = self.run_dir(rec.id) / EXIT_FILE
        try:
            return int(fsutil.read_private(path, 64)), os.lstat(path).st_mtime
        except (OSError, ValueError):
            return None

    def clear_exit_file(self, rec: Record) -> None:
        """Before a start: the last run's exit must not stand for this one."""
        try:
            os.unlink(self.run_dir(rec.id) / EXIT_FILE)
        except FileNotFoundError:
            pass

    def _read_state(self, rec: Record) -> dict | None:
        try:
            return read_json(self.run_dir(rec.id) / "state.json")
        except (OSError, ValueError):
            return None

    def state(self, rec: Record) -> dict:
        """The recorded state, corrected when its owner is gone (a runroot
        wiped by a reboot, a monitor killed outright, a full disk)."""
        if not is_id(rec.id):  # a damaged name pointing at no container ID
            return {"state": "created", "damaged": rec.damaged}
        st = self._state(rec)
        if rec.damaged:
            st["damaged"] = rec.damaged
        return st

    def _state(self, rec: Record) -> dict:
        st = self._read_state(rec)
        if st is None:
            if not (self.container_dir(rec.id) / "started").exists():
                return {"state": "created"}
            return {"state": "exited", "exit_code": -1,
                    "reason": "its runtime state is gone (the runtime directory was cleared, e.g. by a reboot)"}
        if st.get("state") in ACTIVE:
            ended = self._exit_file(rec)
            if ended is not None:  # rl-monitor saw the exit; its way back into rl has not recorded it yet
                st.update(state="exited", exit_code=ended[0], finished=ended[1], pid=None)
                return st
        if st.get("state") in ACTIVE and not same_process(st.get("monitor"), st.get("monitor_start")):
            st["state"] = "exited"
            st.setdefault("exit_code", -1)
            st.setdefault("finished", st.get("time"))
            st["reason"] = ("its monitor died without recording an exit status "
                            "(killed, or the disk was full); the container died with it")
        return st

    def all(self, damaged: bool = True) -> list[Record]:
        out = []
        try:
            entries = os.listdir(self.dir)
        except FileNotFoundError:
            return out
        unreadable = []
        for name in entries:
            if len(name) == 64:
                try:
                    out.append(self.load(name))
                except ContainerNotFound:
                    unreadable.append(name)  # being created right now, or damaged
        out.sort(key=lambda r: r.created, reverse=True)
        if damaged:
            out += self._damaged_records(unreadable)
        return out

    def _damaged_records(self, unreadable: list[str]) -> list[Record]:
        """Containers whose config.json is missing or corrupt, and names that
        point at no container: judged while no create is under way."""
        try:
            names = os.listdir(self.names)
        except OSError:
            names = []
        links = {}
        for n in names:
            try:
                links[n] = os.readlink(self.names / n)
            except OSError:
                continue
        dangling = [n for n, cid in links.items() if not self._dir_exists(cid)]
        if not unreadable and not dangling:
            return []
        out = []
        with self._create_lock(exclusive=True):
            for cid in unreadable:
                try:
                    self.load(cid)
                    continue  # its create finished meanwhile: all() lists it next time
                except ContainerNotFound:
                    pass
                if self._dir_exists(cid):
                    out.append(self._damaged(cid))
            for n in dangling:
                cid = links[n]
                if not self._dir_exists(cid) and os.path.islink(self.names / n):
                    out.append(self._damaged(cid, name=n))
        return out

    def _dir_exists(self, cid: str) -> bool:
        return (is_id(cid) and os.path.isdir(self.container_dir(cid))
                and not os.path.islink(self.container_dir(cid)))

    def _damaged(self, cid: str, name: str | None = None) -> Record:
        """The record of a container rl cannot read: enough to find its
        processes (the runroot's state names them) and remove every trace."""
        if not self._dir_exists(cid):
            why = "its directory is missing"
        elif not os.path.lexists(self.container_dir(cid) / "config.json"):
            why = "config.json missing"
        else:
            why = "config.json unreadable"
        if name is None:
            try:
                name = next((n for n in sorted(os.listdir(self.names))
                             if os.path.islink(self.names / n) and os.readlink(self.names / n) == cid), None)
            except OSError:
                name = None
        rec = Record(cid, name or cid[:12], "", [], "")
        try:
            rec.created = os.lstat(self.container_dir(cid)).st_mtime
        except OSError:
            rec.created = 0.0
        rec.damaged = why
        return rec

    def _damaged_or_missing(self, cid: str, name: str | None, allow_damaged: bool, asked: str) -> Record:
        """After a failed load: a damaged container (judged with no create
        under way), returned where allowed, else an error saying how to remove it."""
        with self._create_lock(exclusive=True):
            try:
                return self.load(cid)
            except ContainerNotFound:
                pass
            if not self._dir_exists(cid) and not (name and os.path.islink(self.names / name)):
                raise ContainerNotFound(f"no container with name or ID {asked!r}", hint="rl ps -a lists containers")
            rec = self._damaged(cid, name)
        if allow_damaged:
            return rec
        raise ContainerDamaged(f"container {rec.name} is damaged ({rec.damaged})",
                               hint=f"rl rm -f {rec.name} stops its processes and removes what is left of it")

    def rename(self, rec: Record, new: str) -> Record:
        if not valid_name(new):
            raise ContainerError(f"invalid container name {new!r}",
                                 hint="names match [a-zA-Z0-9][a-zA-Z0-9_.-]*, as podman's")
        if not self._claim(new, rec.id):
            raise ContainerError(f'the container name "{new}" is already in use')
        old, rec.name = rec.name, new
        write_json(self.container_dir(rec.id) / "config.json", rec.to_dict())
        try:
            os.unlink(self.names / old)
        except OSError:
            pass
        return rec

    def load(self, cid: str) -> Record:
        try:
            data = read_json(self.container_dir(cid) / "config.json")
        except (OSError, ValueError):
            raise ContainerNotFound(f"no container with name or ID {cid!r}") from None
        return Record(**data)

    def lookup(self, name_or_id: str, allow_damaged: bool = False) -> Record:
        """By name, full ID, or unambiguous ID prefix (as podman). A damaged
        container (config.json missing or corrupt) is an error that says how
        to remove it, or with allow_damaged (stop, kill, rm) a bare record."""
        try:
            cid = os.readlink(self.names / name_or_id)
        except OSError:
            cid = None
        if cid is not None:
            try:
                return self.load(cid)
            except ContainerNotFound:
                return self._damaged_or_missing(cid, name_or_id, allow_damaged, name_or_id)
        if len(name_or_id) >= 3 and all(c in "0123456789abcdef" for c in name_or_id):
            hits = [d.name for d in self.dir.iterdir()
                    if d.name.startswith(name_or_id) and is_id(d.name)] if self.dir.exists() else []
            if len(hits) > 1:
                raise ContainerError(f"{name_or_id!r} matches {len(hits)} containers", hint="give more of the ID")
            if hits:
                try:
                    return self.load(hits[0])
                except ContainerNotFound:
                    return self._damaged_or_missing(hits[0], None, allow_damaged, name_or_id)
        if self.names.exists():  # an unambiguous name prefix
            hits = [n for n in os.listdir(self.names) if n.startswith(name_or_id)]
            if len(hits) > 1:
                raise ContainerError(f"{name_or_id!r} matches {len(hits)} container names", hint="give the full name")
            if hits:
                try:
                    cid = os.readlink(self.names / hits[0])
                except OSError:
                    cid = None
                if cid is not None:
                    try:
                        return self.load(cid)
                    except ContainerNotFound:
                        return self._damaged_or_missing(cid, hits[0], allow_damaged, name_or_id)
        raise ContainerNotFound(f"no container with name or ID {name_or_id!r}",
                                hint="rl ps -a lists containers")

    def remove(self, rec: Record) -> None:
        """Drop the record and its storage. Files a container created belong
        to subordinate IDs: only the user namespace can delete those."""
        if rec.damaged:
            self._remove_names_of(rec)
            if not is_id(rec.id):
                return  # a name that pointed at nothing: nothing else is its
        self._keep_exit_code(rec)
        cdir = self.container_dir(rec.id)
        for sub in ("diff", "work"):
            if (cdir / sub).exists():
                _rmtree(cdir / sub)
        if (cdir / "diff").exists() or (cdir / "work").exists():
            from rootless.runtime import userns
            userns.run_in_userns(_rmtree_all, [str(cdir / "diff"), str(cdir / "work")])
        try:
            if os.readlink(self.names / rec.name) == rec.id:
                os.unlink(self.names / rec.name)
        except OSError:
            pass
        _rmtree(self.run_dir(rec.id))
        # out of sight at once: a directory half removed is never taken for a damaged container
        gone = self.dir / f".removing-{rec.id}"
        try:
            os.rename(cdir, gone)
        except OSError:
            gone = cdir
        _rmtree(gone)
        from rootless import events
        events.container(self.paths, rec, "remove")

    def _remove_names_of(self, rec: Record) -> None:
        try:
            names = os.listdir(self.names)
        except OSError:
            return
        for n in names:
            try:
                if os.readlink(self.names / n) == rec.id:
                    os.unlink(self.names / n)
            except OSError:
                continue

    def leftovers(self) -> list[Path]:
        """What an interrupted remove left under the storage root."""
        try:
            return sorted(self.dir / n for n in os.listdir(self.dir) if n.startswith(".removing-"))
        except OSError:
            return []

    def remove_leftovers(self) -> list[Path]:
        out = self.leftovers()
        for p in out:
            _rmtree(p)
            if p.exists():
                from rootless.runtime import userns
                userns.run_in_userns(_rmtree_all, [str(p)])
        return out

    # A removed container's exit code outlives it for a while, as podman keeps
    # one: `rl wait` on a `run -d --rm` container still gets the status.
    EXIT_CODES_KEPT = 300  # seconds

    def _keep_exit_code(self, rec: Record) -> None:
        code = (self._read_state(rec) or {}).get("exit_code")
        try:
            d = ensure_dir(self.run_dir(rec.id).parent.parent / "exits")
            now = time.time()
            for old in d.iterdir():
                if now - old.stat().st_mtime > self.EXIT_CODES_KEPT:
                    old.unlink(missing_ok=True)
            if code is not None:
                write_json(d / rec.id, {"exit_code": code})
        except OSError:
            pass  # a full disk: only a late `wait` loses the code

    def exit_code_of_removed(self, cid: str) -> int | None:
        for runroot in [self.paths.runroot, *runroot_candidates()]:
            if runroot != self.paths.runroot and not self._trusted(runroot, self.paths.runroot):
                continue
            try:
                return read_json(runroot / "exits" / cid)["exit_code"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return None
