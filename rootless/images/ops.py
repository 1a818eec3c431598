"""Image operations that change the store or talk to registries, behind the
CLI verbs (rmi, prune, tag, untag, import, commit's image, login/logout). No
printing: each returns data for the face to render. Read-only views
(images, inspect, history): images/query.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from rootless.config import Paths
from rootless.errors import ImageError, ImageInUse, ImageNotFound, RegistryError
from rootless.images import reference as R
from rootless.images import regconf, registry
from rootless.images.store import Image, ImageStore, write_atomic
from rootless.plain import field, record

# Other engines (containers) may register a function image_id -> [container names]
# so that rmi refuses to delete an image a container still uses.
IN_USE_CHECKS: list[Callable[[str], list[str]]] = []


@record
class RemoveReport:
    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)


def _users(image_id: str, store: ImageStore | None = None) -> list[str]:
    out: list[str] = []
    if store is not None:
        img = store.get(image_id)
        if img is not None:
            out += store.users_of(img)
    for check in IN_USE_CHECKS:
        try:
            out += check(image_id)
        except Exception:  # noqa: BLE001 - a broken checker must not block rmi -f
            pass
    return out


def remove(paths: Paths, names: list[str], *, force: bool = False, all_images: bool = False,
           ignore: bool = False) -> RemoveReport:
    """ignore: a name that names no image is skipped, not an error (podman's rmi --ignore)."""
    from rootless.errors import ImageNotFound
    store = ImageStore(paths)
    rep = RemoveReport()
    targets: list[tuple[str, Image]] = []
    if all_images:
        targets = [(img.id, img) for img in store.images()]
    else:
        for name in names:
            try:
                targets.append((name, store.lookup(name)))
            except ImageNotFound as e:
                if not ignore:
                    rep.errors.append(e)
            except ImageError as e:
                rep.errors.append(e)
    seen = set()
    for name, img in targets:
        if img.id in seen:
            continue
        by_id = all_images or name.startswith("sha256:") or (R.looks_like_id(name) and img.id.startswith(
            name.removeprefix("sha256:")) and name not in [n.rsplit(":", 1)[0] for n in img.names])
        if not by_id and len(img.names) > 1:
            # a name of an image with other names: untag only
            try:
                full = _full_name(store, name, img)
                store.untag(img, full)
                rep.untagged.append(full)
                from rootless import events  # here: the commands that emit nothing never load it
                events.emit(paths, "image", "untag", id=img.id, name=full)
            except ImageError as e:
                rep.errors.append(e)
            continue
        if by_id and len(img.names) > 1 and not (force or all_images):
            rep.errors.append(ImageError(
                f"unable to delete image {img.short_id} by ID with more than one tag ({', '.join(img.names)})",
                hint="remove the tags one by one, or use -f"))
            continue
        users = _users(img.id, store)
        if users and not force:
            rep.errors.append(ImageInUse(f"image {img.short_id} is in use by container(s): {', '.join(users)}",
                                         hint="remove the containers first; -f deletes the image but keeps the layers they use"))
            continue
        seen.add(img.id)
        removed_names = store.remove(img)
        rep.untagged += removed_names
        rep.deleted.append(img.id)
        from rootless import events
        for n in removed_names:
            events.emit(paths, "image", "untag", id=img.id, name=n)
        events.emit(paths, "image", "remove", id=img.id, name=(removed_names or [img.id])[0])
    if rep.deleted:
        store.gc()
    return rep


def _full_name(store: ImageStore, name: str, img: Image) -> str:
    for n in img.names:
        probe = Image(store, {"id": img.id, "names": [n], "digests": [], "manifest_digest": ""})
        if store._by_name(name, [probe]) is not None:
            return n
    raise ImageNotFound(f"{name}: no such name on image {img.short_id}")


def prune(paths: Paths, all_images: bool = False) -> list[str]:
    store = ImageStore(paths)
    deleted = []
    for img in store.images():
        if img.names and not all_images:
            continue
        if _users(img.id, store):
            continue
        from rootless import events
        for n in store.remove(img) or ():
            events.emit(paths, "image", "untag", id=img.id, name=n)
        events.emit(paths, "image", "remove", id=img.id, name=img.id)
        deleted.append(img.id)
    store.gc()
    return deleted


def tag(paths: Paths, image: str, targets: list[str]) -> Image:
    """Add names to an image."""
    store = ImageStore(paths)
    img = store.lookup(image)
    for t in targets:
        store.tag(img, t)
        from rootless import events
        events.emit(paths, "image", "tag", id=img.id, name=t)
    return img


def untag(paths: Paths, image: str, names: list[str] = ()) -> list[str]:
    """Remove names from an image (all of them when none are given); the names removed."""
    store = ImageStore(paths)
    img = store.lookup(image)
    removed = []
    for n in (names or img.names):
        if not store.untag(img, n):
            raise ImageError(f"{n}: not a name of image {img.short_id}")
        removed.append(n)
        from rootless import events
        events.emit(paths, "image", "untag", id=img.id, name=n)
    return removed


# ------------------------------------------------------------------ import

def import_tarball(paths: Paths, src: str, reference: str | None = None, *,
                   message: str | None = None, changes: dict | None = None,
                   instructions: list[str] = ()) -> Image:
    """A root filesystem tarball (plain, gzip or zstd; "-" = stdin) -> a one-layer image.
    changes: the image's config (Cmd, Env, ...); instructions: Dockerfile
    instructions applied on it (`--change`, images/changes.py), refused
    before anything is read."""
    if instructions:
        from rootless.images import changes as instr
        changes = instr.apply(changes or {}, list(instructions))
    store = ImageStore(paths).ensure()
    with store.lock("gc", shared=True), store.workdir() as work:
        blob = work / "blob"
        h = hashlib.sha256()
        size = 0
        try:
            inp = sys.stdin.buffer if src == "-" else open(src, "rb")
        except OSError as e:
            raise ImageError(f"cannot read {src}: {e.strerror}") from None
        with inp, open(blob, "wb") as out:
            while True:
                chunk = inp.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
        if size == 0:
            raise ImageError(f"{src} is empty")
        layer = store_layer(store, work, "sha256:" + h.hexdigest(), size)
        now = _now()
        config = {"created": now, **_platform_config(),
                  "config": changes or {}, "rootfs": {"type": "layers", "diff_ids": [layer["diff_id"]]},
                  "history": [{"created": now, "created_by": f"rl import {os.path.basename(src)}",
                               "comment": message or ""}]}
        return save_image(store, config, [layer], reference)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def store_layer(store: ImageStore, work: Path, digest: str, size: int) -> dict:
    """work/blob (a layer tar, plain or compressed, whose sha256 is digest)
    -> a layer in the store, unpacked once per diff_id, the blob kept for
    push and save. Removes work's content (subordinate IDs: from the user
    namespace). Returns the image record's entry for the layer.
    The caller holds the gc lock shared and made work with store.workdir()."""
    from rootless.images.nsworker import NsWorker
    blob = work / "blob"
    worker = NsWorker()
    try:
        stage = work / "layer"
        (stage / "diff").mkdir(parents=True)
        res = worker.call("unpack", str(blob), str(stage / "diff"), [])
        hexid = res.diff_id[7:]
        with store.lock(f"layer-{hexid}"):
            if not store.has_layer(res.diff_id):
                write_atomic(stage / "layer.json", json.dumps({
                    "diff_id": res.diff_id, "digest": digest, "compressed_size": size,
                    "tar_size": res.tar_size, "size": res.size, "entries": res.entries,
                    "skipped": res.skipped}).encode())
                os.rename(stage, store.layers / hexid)
        comp = {"gzip": "+gzip", "zstd": "+zstd"}.get(_compression(blob), "")
        if not store.has_blob(digest):
            os.rename(blob, store.blob_path(digest))  # kept for push and save
    finally:
        try:
            worker.call("remove_tree", str(work))
        except Exception:  # noqa: BLE001
            pass
        worker.close()
        store.drop_lock_file(work)
    return {"diff_id": res.diff_id, "digest": digest, "size": size,
            "media_type": "application/vnd.oci.image.layer.v1.tar" + comp, "tar_size": res.tar_size}


def save_image(store: ImageStore, config: dict, layers: list[dict], reference: str | None) -> Image:
    """Write config and an OCI manifest for layers (image record entries,
    bottom to top, as store_layer returns) and record the image under
    reference (a short name lands under localhost/)."""
    craw = json.dumps(config, separators=(",", ":")).encode()
    cdigest = "sha256:" + hashlib.sha256(craw).hexdigest()
    manifest = {"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cdigest, "size": len(craw)},
                "layers": [{"mediaType": layer["media_type"], "digest": layer["digest"], "size": layer["size"]}
                           for layer in layers]}
    mraw = json.dumps(manifest, separators=(",", ":")).encode()
    mdigest = "sha256:" + hashlib.sha256(mraw).hexdigest()
    store.put_blob(cdigest, craw)
    store.put_blob(mdigest, mraw)
    names = []
    if reference:
        ref = R.parse(reference, default_domain="localhost") if R.is_short_name(reference) else R.parse(reference)
        names = [ref.tagged]
    return store.commit(config_digest=cdigest, manifest_digest=mdigest, layers=layers, names=names,
                        digests=[])


# ------------------------------------------------------------------ commit

_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def commit_layer(paths: Paths, layer_dirs: list[str], base_ref: str, write_blob: Callable[[Path], tuple[str, int]],
                 changes: dict, reference: str | None, message: str | None = None) -> Image | None:
    """podman commit's shape: the image whose layers a container stacks
    (layer_dirs, bottom to top), unchanged, plus one new layer that
    write_blob(path) writes as a tar and returns (digest, size) of; the base
    config with `changes` as its "config" section and the new layer added
    to rootfs and history. None when layer_dirs are not layers of this
    store (a --rootfs directory): the caller squashes instead."""
    store = ImageStore(paths).ensure()
    diff_ids = _store_diff_ids(store, layer_dirs)
    if diff_ids is None:
        return None
    with store.lock("gc", shared=True):  # held from here: rmi + gc of the base cannot race the commit
        base = _image_with_layers(store, base_ref, diff_ids)
        known = {layer["diff_id"]: layer for layer in (base.layers if base else [])}
        layers = [_layer_entry(store, d, known.get(d)) for d in diff_ids]
        with store.workdir() as work:
            try:
                digest, size = write_blob(work / "blob")
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)  # only the blob, the user's own file
                store.drop_lock_file(work)
                raise
            layers.append(store_layer(store, work, digest, size))
        now = _now()
        config = json.loads(json.dumps(base.config)) if base else _platform_config()
        for stale in ("container", "container_config"):  # they describe the base's build, not this commit
            config.pop(stale, None)
        history = list(config.get("history") or [])
        if diff_ids and not any(not h.get("empty_layer") for h in history):
            # a base without history: one entry per layer keeps `rl history` sizes in line
            history = [{"created": config["created"]} if config.get("created") else {} for _ in diff_ids]
        history.append({"created": now, "created_by": "rl commit", "comment": message or ""})
        config.update({"created": now, "config": changes or {}, "history": history,
                       "rootfs": {"type": "layers", "diff_ids": [layer["diff_id"] for layer in layers]}})
        return save_image(store, config, layers, reference)


def _store_diff_ids(store: ImageStore, layer_dirs: list[str]) -> list[str] | None:
    """The diff_ids of layers/HEX/diff paths (or their l/ links), or None if
    any is not one of ours."""
    out = []
    layers = Path(os.path.realpath(store.layers))
    for d in layer_dirs:
        p = Path(os.path.realpath(d))
        if p.name != "diff" or p.parent.parent != layers:
            return None
        diff_id = "sha256:" + p.parent.name
        try:
            if not store.has_layer(diff_id):
                return None
        except ImageError:  # not a digest: not a layer directory
            return None
        out.append(diff_id)
    return out


def _image_with_layers(store: ImageStore, ref: str, diff_ids: list[str]) -> Image | None:
    """The image a container was made from: by its reference if that still
    names an image with these layers (it may have been retagged since), else
    any image with them; None when it was removed (rmi -f)."""
    cands = []
    try:
        cands.append(store.lookup(ref))
    except ImageError:
        pass
    for img in cands + store.images():
        if img.diff_ids == diff_ids:
            return img
    return None


def _layer_entry(store: ImageStore, diff_id: str, known: dict | None) -> dict:
    """An image record entry for a base layer, pointing at a blob the store
    keeps (push and save need it); the media type is the OCI one, as the
    manifest written is OCI even when the base's was Docker's."""
    info = store.layer_info(diff_id)
    entry = dict(known or {"diff_id": diff_id, "digest": None, "size": None})
    entry["tar_size"] = entry.get("tar_size") or info.get("tar_size", 0)
    found = store.layer_blob(entry)
    if found:
        digest, path, comp = found
        entry.update(digest=digest, size=path.stat().st_size,
                     media_type=_OCI_LAYER + {"gzip": "+gzip", "zstd": "+zstd"}.get(comp, ""))
    elif entry.get("digest"):
        mt = entry.get("media_type") or ""
        entry["media_type"] = _OCI_LAYER + ("+gzip" if mt.endswith("gzip") else "+zstd" if mt.endswith("zstd") else "")
    else:
        # no compressed blob was ever known: the uncompressed tar is its own
        # diff_id (push then says which blob is missing)
        entry.update(digest=diff_id, size=entry["tar_size"], media_type=_OCI_LAYER)
    return entry


def _platform_config() -> dict:
    plat = registry.host_platform()
    config = {"architecture": plat.arch, "os": plat.os}
    if plat.variant:
        config["variant"] = plat.variant
    return config


def _compression(path: Path) -> str:
    from rootless.images.unpack import detect_compression
    with open(path, "rb") as f:
        return detect_compression(f.read(4))


# ------------------------------------------------------------------ login

def _registry_key(server: str) -> str:
    server = server.removeprefix("https://").removeprefix("http://").rstrip("/")
    if server in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    return server


def login(server: str, user: str, password: str, *, authfile: str | None = None,
          tls_verify: bool | None = None, cert_dir: str | None = None) -> Path:
    key = _registry_key(server)
    host = key.split("/", 1)[0]
    conf = regconf.load()
    client = registry.Client(host, insecure=conf.insecure_host(host), tls_verify=tls_verify,
                             creds=(user, password), cert_dir=cert_dir)
    try:
        client.check_login()
    except RegistryError as e:
        if "authentication required" in e.message or "refused" in e.message:
            raise RegistryError(f"logging into {host}: invalid username/password",
                                hint="check the credentials") from None
        raise
    finally:
        client.close()
    return regconf.save_credentials(key, user, password, authfile)


def get_login(server: str, *, authfile: str | None = None) -> str:
    """The user name rl would authenticate with at a registry (auth files,
    credential helpers), as `podman login --get-login`."""
    key = _registry_key(server)
    cred = regconf.find_credentials(key, authfile)
    if not cred:
        raise ImageError(f"not logged into {server}", hint=f"rl login {server}")
    return cred[0]


def logout(server: str | None, *, authfile: str | None = None) -> bool:
    return regconf.remove_credentials(_registry_key(server) if server else None, authfile)

