"""The content-addressed image store under Paths.images ($XDG_DATA_HOME/rl/images):

    blobs/sha256/HEX          manifests and configs, as pulled (byte-exact)
    layers/HEX/diff/          an unpacked layer, HEX = its diff_id (shared by
    layers/HEX/layer.json     every image that has it, stored once)
    records/HEX.json          an image, HEX = its config digest (= the image ID):
                              names (repo:tag), digests (repo@sha256), layers
    tmp/                      work in progress, invisible until renamed
    locks/                    flock(2) files

Writes are atomic (temp file + fsync + rename); a layer appears by renaming
its finished directory into layers/, so a killed pull leaves nothing
half-visible (its tmp/ leftovers are removed by the next pull). Locks:
`records.lock` guards record read-modify-write; `gc.lock` is held shared by
pulls and exclusively by layer garbage collection; `layer-HEX.lock` by
whoever creates that layer. Layer trees belong to subordinate IDs, so
removing them happens in the user namespace."""

from __future__ import annotations

import errno
import fcntl
import os
import time

TYPE_CHECKING = False  # typing is not imported: `rl run` pays for every import

from rootless import fsutil, jsonio  # not json: its import costs every command ~7 ms (re)
from rootless.config import Paths, make_dirs
from rootless.errors import ImageError, ImageNotFound
from rootless.images import reference as R
from rootless.pathlite import Path

if TYPE_CHECKING:  # pragma: no cover - typing costs import time `rl run` pays
    from typing import Any

_HEX = frozenset("0123456789abcdef")


def _hex(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not set(hexpart) <= _HEX:
        raise ImageError(f"invalid digest {digest!r}")
    return hexpart


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """A store file (blob, layer record, image record): fsutil.atomic_write, synced."""
    fsutil.atomic_write(path, data, mode, fsync=True)


def _scandir(path: Path) -> list:
    try:
        return list(os.scandir(path))
    except FileNotFoundError:
        return []


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Image:
    """An image in the store. `config` is the OCI image config JSON. (Not a
    dataclass: `rl images` pays for every import; equality as the dataclass's.)"""

    def __init__(self, store: "ImageStore", record: dict[str, Any], _config: dict | None = None):
        self.store = store
        self.record = record
        self._config = _config

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.store, self.record, self._config) == (other.store, other.record, other._config)

    __hash__ = None

    def __repr__(self):
        return "Image()"  # as the dataclass's: every field was repr=False

    @property
    def id(self) -> str:
        return self.record["id"]

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def names(self) -> list[str]:
        return list(self.record.get("names", []))

    @property
    def digests(self) -> list[str]:
        return list(self.record.get("digests", []))

    @property
    def digest(self) -> str:
        """What `podman images --digests` shows: the digest the image was
        first pulled by (an index's for a multi-arch image)."""
        return self.record.get("digest") or self.record.get("manifest_digest", "")

    @property
    def config(self) -> dict:
        if self._config is None:
            cfg = jsonio.loads(self.store.read_blob("sha256:" + self.id))
            if not isinstance(cfg.get("config"), dict):
                cfg["config"] = {}  # callers may always index config["config"]
            self._config = cfg
        return self._config

    @property
    def manifest(self) -> dict:
        return jsonio.loads(self.store.read_blob(self.record["manifest_digest"]))

    @property
    def layers(self) -> list[dict]:
        return list(self.record.get("layers", []))

    @property
    def diff_ids(self) -> list[str]:
        return [layer["diff_id"] for layer in self.record.get("layers", [])]

    def layer_dirs(self) -> list[Path]:
        """The unpacked layer trees, bottom -> top (overlay wants them reversed)."""
        return [self.store.layer_path(d) for d in self.diff_ids]

    def layer_links(self) -> list[Path]:
        """Short symlinks to layer_dirs() (images/l/HEX16), bottom -> top: an
        overlay mount's options must fit in one page, so many-layer images
        need short lowerdir paths (podman's l/ directory, same idea)."""
        return [self.store.layer_link(d) for d in self.diff_ids]

    @property
    def created(self) -> str | None:
        created = self.config.get("created")  # the image's word: text or nothing
        return created if isinstance(created, str) else None

    @property
    def size(self) -> int:
        return int(self.record.get("size", 0))

    def __str__(self) -> str:
        return self.names[0] if self.names else self.short_id


class ImageStore:
    def __init__(self, paths: Paths):
        self.paths = paths
        self.root = Path(paths.images)
        self.blobs = self.root / "blobs" / "sha256"
        self.layers = self.root / "layers"
        self.records = self.root / "records"
        self.tmp = self.root / "tmp"
        self.locks = self.root / "locks"

    def ensure(self) -> "ImageStore":
        for d in (self.blobs, self.layers, self.records, self.tmp, self.locks):
            make_dirs(d)  # every level 0700 (the storage root too, if this comes first)
        return self

    # -------------------------------------------------------------- locks

    def lock(self, name: str, shared: bool = False) -> fsutil.locked:
        make_dirs(self.locks)
        return fsutil.locked(self.locks / f"{name}.lock", shared=shared)

    # -------------------------------------------------------------- blobs

    def blob_path(self, digest: str) -> Path:
        return self.blobs / _hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def put_blob(self, digest: str, data: bytes) -> None:
        import hashlib
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise ImageError(f"blob {digest[:19]}: content does not match its digest")
        self.ensure()
        path = self.blob_path(digest)
        if not path.exists():
            write_atomic(path, data)

    def read_blob_verified(self, digest: str) -> bytes | None:
        """A stored blob whose content still matches its name, else None (a
        blob the store holds is checked, not trusted, before a pull reuses it)."""
        import hashlib
        try:
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            return None
        return data if "sha256:" + hashlib.sha256(data).hexdigest() == digest else None

    def replace_blob(self, digest: str, data: bytes) -> None:
        """put_blob, replacing a stored file whose content does not match."""
        if self.read_blob_verified(digest) is None:
            import hashlib
            if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                raise ImageError(f"blob {digest[:19]}: content does not match its digest")
            self.ensure()
            write_atomic(self.blob_path(digest), data)

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise ImageError(f"blob {digest[:19]} is missing from the image store",
                             hint="the store is damaged: remove the image (rl rmi -f) and pull it again") from None

    # -------------------------------------------------------------- layers

    def layer_path(self, diff_id: str) -> Path:
        return self.layers / _hex(diff_id) / "diff"

    def layer_link(self, diff_id: str) -> Path:
        hexid = _hex(diff_id)
        link = self.root / "l" / hexid[:16]
        if not os.path.islink(link):
            link.parent.mkdir(exist_ok=True, mode=0o700)
            tmp = link.with_name(f".{link.name}.{os.getpid()}.{time.monotonic_ns()}")
            os.symlink(f"../layers/{hexid}/diff", tmp)
            os.replace(tmp, link)
        return link

    def has_layer(self, diff_id: str) -> bool:
        return (self.layers / _hex(diff_id) / "layer.json").exists()

    def layer_info(self, diff_id: str) -> dict:
        try:
            return jsonio.loads((self.layers / _hex(diff_id) / "layer.json").read_text())
        except FileNotFoundError:
            return {}

    def layer_digests(self, diff_id: str) -> set[str]:
        """The blob digests known to produce this layer: the one it was
        unpacked from, those verified since (layer.json "digests"), and its
        diff_id itself (an uncompressed blob). Only these may be recorded as
        the layer's digest without downloading and checking the blob."""
        info = self.layer_info(diff_id)
        known = {diff_id}
        if isinstance(info.get("digest"), str):
            known.add(info["digest"])
        known.update(d for d in info.get("digests") or [] if isinstance(d, str))
        return known

    def add_layer_digest(self, diff_id: str, digest: str) -> None:
        """Record that blob `digest` was checked to decompress to this layer."""
        _hex(digest)
        with self.lock(f"layer-{_hex(diff_id)}"):
            path = self.layers / _hex(diff_id) / "layer.json"
            try:
                info = jsonio.loads(path.read_text())
            except FileNotFoundError:
                return
            if digest in self.layer_digests(diff_id):
                return
            info["digests"] = list(info.get("digests") or []) + [digest]
            write_atomic(path, jsonio.dumps(info).encode())

    def layer_blob(self, layer: dict) -> tuple[str, Path, str] | None:
        """(digest, path, compression) of a kept compressed blob for an image's
        layer record: its own, else the one the layer was unpacked from."""
        from rootless.images.unpack import detect_compression
        for digest in (layer.get("digest"), self.layer_info(layer["diff_id"]).get("digest")):
            if digest and self.has_blob(digest):
                path = self.blob_path(digest)
                with open(path, "rb") as f:
                    return digest, path, detect_compression(f.read(4))
        return None

    def portable_manifest(self, img: "Image") -> tuple[bytes, str, list[tuple[str, Path]]]:
        """The manifest to send elsewhere and the blobs it needs: the stored
        manifest byte for byte when every layer blob was kept, else one
        rewritten to reference the kept blobs (a new digest, as podman's
        recompression gives)."""
        raw = self.read_blob(img.record["manifest_digest"])
        man = jsonio.loads(raw)
        blobs: list[tuple[str, Path]] = []
        changed = False
        docker = man.get("mediaType") == "application/vnd.docker.distribution.manifest.v2+json"
        for desc, layer in zip(man.get("layers", []), img.layers):
            found = self.layer_blob(layer)
            if found is None:
                raise ImageError(f"{img}: no compressed blob kept for layer {layer['diff_id'][:19]}",
                                 hint=f"pull {img} again")
            digest, path, comp = found
            blobs.append((digest, path))
            if digest != desc["digest"]:
                changed = True
                desc["digest"], desc["size"] = digest, path.stat().st_size
                if docker:
                    desc["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar" + (
                        ".gzip" if comp == "gzip" else "")
                else:
                    desc["mediaType"] = "application/vnd.oci.image.layer.v1.tar" + (
                        {"gzip": "+gzip", "zstd": "+zstd"}.get(comp, ""))
        if changed:
            raw = jsonio.dumps(man, separators=(",", ":")).encode()
        mt = man.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
        return raw, mt, blobs

    # -------------------------------------------------------------- records

    def _record_path(self, image_id: str) -> Path:
        return self.records / f"{image_id}.json"

    def _load(self, path: Path) -> dict | None:
        try:
            return jsonio.loads(path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise ImageError(f"image record {path} is damaged",
                             hint=f"remove it ({path}) and pull the image again") from None

    def images(self) -> list[Image]:
        """Every image, newest pull first."""
        out = []
        for name in fsutil.record_files(self.records):
            rec = self._load(self.records / name)
            if rec:
                out.append(Image(self, rec))
        out.sort(key=lambda i: i.record.get("pulled", 0), reverse=True)
        return out

    def get(self, image_id: str) -> Image | None:
        rec = self._load(self._record_path(image_id))
        return Image(self, rec) if rec else None

    def _save(self, rec: dict) -> None:
        self.ensure()
        write_atomic(self._record_path(rec["id"]), jsonio.dumps(rec, indent=1).encode())

    # -------------------------------------------------------------- lookup

    def lookup(self, name_or_id: str) -> Image:
        """By reference (short names as podman matches them), full ID or
        unique ID prefix. Raises ImageNotFound."""
        text = name_or_id.strip()
        images = self.images()
        if not text:
            raise ImageNotFound("no image name given")
        hexid = text[7:] if text.startswith("sha256:") else text
        if len(hexid) == 64 and set(hexid) <= _HEX:
            for img in images:
                if img.id == hexid:
                    return img
            raise ImageNotFound(f"{text}: image not known")
        found = self._by_name(text, images)
        if found is not None:
            return found
        if R.looks_like_id(text):
            matches = [img for img in images if img.id.startswith(hexid)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise ImageError(f'"{text}" matches {len(matches)} images', hint="give more characters of the ID")
        raise ImageNotFound(f"{text}: image not known",
                            hint=f"pull it first: rl pull {text}" if not R.looks_like_id(text) else None)

    def _by_name(self, text: str, images: list[Image]) -> Image | None:
        """Match a reference against image names and digests. A short name is
        tried under localhost/, then each search registry, then against any
        name whose repository path ends with it (podman's matching)."""
        try:
            ref = R.parse(text)
        except ImageError:
            return None

        def match(img: Image, full: R.Reference) -> bool:
            if full.digest:
                return f"{full.repository}@{full.digest}" in img.digests or (
                    full.digest == img.digest and any(n.rpartition(":")[0] == full.repository for n in img.names))
            return full.tagged in img.names

        if not R.is_short_name(text):
            return next((img for img in images if match(img, ref)), None)
        local = R.parse(text, default_domain="localhost")
        found = next((img for img in images if match(img, local)), None)
        if found is not None:
            return found  # the first candidate: registries.conf is not read for it (`rl inspect` stays fast)
        cands: list = []
        try:
            from rootless.images import regconf
            cands = regconf.load().resolve_short(text)
        except ImageError:
            pass
        for c in cands:
            for img in images:
                if match(img, c):
                    return img
        path = R.parse(text, default_domain="x").path  # no library/ added
        for img in images:
            for n in img.names:
                repo, _, tag = n.rpartition(":")
                if not (repo.endswith("/" + path) or repo.endswith("/library/" + path)):
                    continue
                if ref.digest:
                    if ref.digest == img.digest or f"{repo}@{ref.digest}" in img.digests:
                        return img
                elif tag == (ref.tag or R.DEFAULT_TAG):
                    return img
        return None

    # -------------------------------------------------------------- changes

    def commit(self, *, config_digest: str, manifest_digest: str, layers: list[dict],
               names: list[str], digests: list[str], top_digest: str | None = None) -> Image:
        """Create or update an image record; names move from other images.
        top_digest: what the pulled tag pointed at (an index for a multi-arch
        image); the image's .Digest is the first one it was created with, as
        podman's (a later pull from elsewhere adds repo digests only)."""
        image_id = _hex(config_digest)
        with self.lock("records"):
            for img in self.images():
                if img.id == image_id:
                    continue
                moved = [n for n in img.record.get("names", []) if n in names]
                if moved:
                    img.record["names"] = [n for n in img.record["names"] if n not in names]
                    self._save(img.record)
            rec = self._load(self._record_path(image_id)) or {
                "id": image_id, "names": [], "digests": [], "created_at": time.time()}
            rec["manifest_digest"] = manifest_digest
            rec.setdefault("digest", top_digest or manifest_digest)
            rec["layers"] = layers
            rec["size"] = sum(int(layer.get("tar_size", 0)) for layer in layers)
            rec["pulled"] = time.time()
            rec["names"] = names + [n for n in rec.get("names", []) if n not in names]
            rec["digests"] = list(dict.fromkeys(digests + rec.get("digests", [])))
            self._save(rec)
        return Image(self, rec)

    def tag(self, image: Image, name: str) -> str:
        ref = R.parse(name, default_domain="localhost") if R.is_short_name(name) else R.parse(name)
        if ref.digest:
            raise ImageError(f"cannot tag with a digest: {name}", hint="give NAME[:TAG]")
        full = ref.tagged
        with self.lock("records"):
            for img in self.images():
                if full in img.record.get("names", []) and img.id != image.id:
                    img.record["names"].remove(full)
                    self._save(img.record)
            rec = self._load(self._record_path(image.id))
            if rec is None:
                raise ImageNotFound(f"{image.id[:12]}: image not known")
            if full not in rec["names"]:
                rec["names"].append(full)
            self._save(rec)
            image.record = rec
        return full

    def untag(self, image: Image, name: str) -> bool:
        full = R.parse(name).tagged if not R.is_short_name(name) else None
        with self.lock("records"):
            rec = self._load(self._record_path(image.id))
            if rec is None:
                return False
            cands = [full] if full else [n for n in rec["names"] if self._by_name(name, [Image(self, {
                "id": image.id, "names": [n], "digests": []})])]
            removed = [n for n in rec["names"] if n in cands]
            if not removed:
                return False
            rec["names"] = [n for n in rec["names"] if n not in removed]
            self._save(rec)
            image.record = rec
        return True

    def remove(self, image: Image) -> list[str]:
        """Delete the record (not the layers: see gc). Returns the names it had."""
        with self.lock("records"):
            rec = self._load(self._record_path(image.id))
            if rec is None:
                raise ImageNotFound(f"{image.id[:12]}: image not known")
            self._record_path(image.id).unlink()
            fsync_dir(self.records)
        return rec.get("names", [])

    def container_layers(self) -> dict[str, list[str]]:
        """Container name -> the layer dirs its rootfs stacks, read from the
        container records (paths.containers/ID/config.json, "layers"), so that
        neither rmi nor gc pulls layers from under a container."""
        out: dict[str, list[str]] = {}
        try:
            entries = list(os.scandir(self.paths.containers))
        except (FileNotFoundError, NotADirectoryError):
            return out
        for e in entries:
            try:
                with open(os.path.join(e.path, "config.json")) as f:
                    rec = jsonio.loads(f.read())
            except (OSError, ValueError):
                continue
            if isinstance(rec, dict) and isinstance(rec.get("layers"), list):
                out[str(rec.get("name") or e.name)] = [str(x) for x in rec["layers"]]
        return out

    def users_of(self, img: "Image") -> list[str]:
        dirs = [str(p) for p in img.layer_dirs()]
        return sorted(name for name, layers in self.container_layers().items() if layers == dirs)

    def unreferenced_layers(self) -> list[Path]:
        used = {_hex(d) for img in self.images() for d in img.diff_ids}
        for layers in self.container_layers().values():
            for d in layers:
                p = Path(d)
                if p.name == "diff" and p.parent.parent == self.layers:
                    used.add(p.parent.name)
        try:
            return [Path(e.path) for e in os.scandir(self.layers) if e.name not in used and len(e.name) == 64]
        except FileNotFoundError:
            return []

    def unreferenced_blobs(self) -> list[Path]:
        used = set()
        for img in self.images():
            used.add(img.id)
            used.add(_hex(img.record["manifest_digest"]))
            used.update(_hex(d) for d in img.record.get("index_digests", []))
            used.update(_hex(layer["digest"]) for layer in img.record.get("layers", []) if layer.get("digest"))
        try:
            for e in os.scandir(self.layers):  # the blob each layer was made from
                digest = self.layer_info("sha256:" + e.name).get("digest") if len(e.name) == 64 else None
                if digest:
                    used.add(_hex(digest))
        except FileNotFoundError:
            pass
        try:
            return [Path(e.path) for e in os.scandir(self.blobs) if e.name not in used]
        except FileNotFoundError:
            return []

    def gc(self) -> int:
        """Remove layers and blobs no image references. Waits for running pulls."""
        with self.lock("gc"):
            layers = self.unreferenced_layers()
            stale_tmp = self.stale_tmp()
            if layers or stale_tmp:
                self.ensure()
                trash = []
                for p in layers:
                    dest = self.tmp / f"trash-{p.name}-{os.getpid()}"
                    try:
                        os.rename(p, dest)  # gone from view at once
                        trash.append(str(dest))
                    except FileNotFoundError:
                        pass
                from rootless.runtime.userns import run_in_userns
                from rootless.images import unpack
                for p in trash + [str(p) for p in stale_tmp]:
                    run_in_userns(unpack.remove_tree, p)
            for b in self.unreferenced_blobs():
                b.unlink(missing_ok=True)
            for e in _scandir(self.root / "l"):
                if not os.path.exists(e.path):  # its layer is gone
                    _unlink(e.path)
            # no pull runs (they hold gc shared): lock files of absent layers can go
            for e in _scandir(self.locks):
                if e.name.startswith("layer-") and not (self.layers / e.name[6:-5]).exists():
                    _unlink(e.path)
            return len(layers)

    def stale_tmp(self) -> list[Path]:
        """tmp/ entries whose owner is gone (its lock file is not held)."""
        out = []
        try:
            entries = list(os.scandir(self.tmp))
        except FileNotFoundError:
            return []
        for e in entries:
            if e.name.endswith(".lock"):
                continue
            if e.name.startswith("trash-"):
                out.append(Path(e.path))
                continue
            lock = self.tmp / f"{e.name}.lock"
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                out.append(Path(e.path))
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                out.append(Path(e.path))
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    raise
            finally:
                os.close(fd)
        return out

    def workdir(self) -> _Workdir:
        """`with store.workdir() as path:` a private tmp/ directory, locked
        while in use; removed by the caller (its content may belong to
        subordinate IDs) or by a later stale sweep."""
        return _Workdir(self)

    def drop_lock_file(self, work: Path) -> None:
        (self.tmp / f"{work.name}.lock").unlink(missing_ok=True)


class _Workdir:
    """ImageStore.workdir's context manager (a class: contextlib's import is
    ~4 ms of every `rl images`)."""

    def __init__(self, store: ImageStore):
        self.store = store

    def __enter__(self) -> Path:
        self.store.ensure()
        name = f"pull-{os.getpid()}-{time.monotonic_ns()}"
        self.lock = self.store.tmp / f"{name}.lock"
        self.fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.path = self.store.tmp / name
            self.path.mkdir(mode=0o700)
        except BaseException:
            os.close(self.fd)
            raise
        return self.path

    def __exit__(self, *exc) -> None:
        os.close(self.fd)
        if not self.path.exists():
            self.lock.unlink(missing_ok=True)
