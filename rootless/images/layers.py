"""Image layers made present in the store, shared by pull and load: a
manifest's and a config's checks, then download (or copy) and unpack of each
missing layer in one user-namespace helper, verified against the config's
diff_ids."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Callable

from rootless.errors import ImageError
from rootless.images import registry
from rootless.images.store import ImageStore, write_atomic

Progress = Callable[[str], None]

LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
}
CONFIG_TYPES = {"application/vnd.oci.image.config.v1+json",
                "application/vnd.docker.container.image.v1+json"}
PARALLEL_DOWNLOADS = 3
STREAM = os.environ.get("RL_PULL_STREAM", "1") != "0"  # unpack while downloading


def _check_manifest(m: object, name: str) -> None:
    """An image manifest's shape, media types and every digest and size,
    before any of them becomes a URL, a path in the store or a read size."""
    if not isinstance(m, dict):
        raise ImageError(f"{name}: the manifest is not a JSON object")
    cfg = m.get("config")
    if not isinstance(cfg, dict):
        raise ImageError(f"{name} is not a container image (the manifest has no config descriptor)")
    if cfg.get("mediaType") not in CONFIG_TYPES:
        raise ImageError(f"{name} is not a container image (config type {str(cfg.get('mediaType'))[:100]!r})")
    registry.check_descriptor(cfg, f"{name}: the config descriptor")
    layers = m.get("layers", [])
    if not isinstance(layers, list):
        raise ImageError(f"{name}: the manifest's layers are not a list")
    for n, layer in enumerate(layers):
        registry.check_descriptor(layer, f"{name}: layer {n + 1}")
        if layer.get("mediaType") not in LAYER_TYPES:
            raise ImageError(f"{name}: unsupported layer type {str(layer.get('mediaType'))[:100]!r}")


def check_config(config: object, name: str, layers: int) -> list[str]:
    """An image config's diff_ids, checked: one valid sha256 digest per layer."""
    if not isinstance(config, dict):
        raise ImageError(f"{name}: the image config is not a JSON object")
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    diff_ids = diff_ids or []
    if not isinstance(diff_ids, list):
        raise ImageError(f"{name}: the image config's diff_ids are not a list")
    if len(diff_ids) != layers:
        raise ImageError(f"{name}: the config lists {len(diff_ids)} layers, the manifest {layers}",
                         hint="the image is malformed")
    for d in diff_ids:
        registry.check_digest(d, f"{name}: a diff_id in the image config")
    return diff_ids


def install_layers(store: ImageStore, layers: list[dict], diff_ids: list[str],
                   fetch: Callable[[int, Path], None], say: Progress, parallel: int = PARALLEL_DOWNLOADS
                   ) -> list[dict]:
    """Make every layer present: fetch(i, path) writes layer i's blob (already
    verified against layers[i]["digest"]) to path; blobs are fetched in
    parallel threads, unpacked in order in one user-namespace helper, checked
    against diff_ids, renamed into place. The verified compressed blob is kept
    (push and save send it unchanged). Returns the layer records."""
    missing = [i for i, d in enumerate(diff_ids) if not store.has_layer(d)]
    records: list[dict] = [{} for _ in layers]
    for i, d in enumerate(diff_ids):
        if i not in missing:
            say(f"Copying blob {layers[i]['digest'][7:19]} skipped: already exists")
    stale = store.stale_tmp()
    if not missing and not stale:
        verify_layer_digests(store, layers, diff_ids, fetch, say)
        return [_layer_record(store, layers[i], diff_ids[i]) for i in range(len(layers))]
    from rootless.images.nsworker import NsWorker
    with store.workdir() as work:
        worker = NsWorker()  # fork before any thread starts
        try:
            for p in stale:
                with contextlib.suppress(OSError, ImageError):
                    worker.call("remove_tree", str(p))
                    with contextlib.suppress(FileNotFoundError):
                        (store.tmp / f"{p.name}.lock").unlink()
            if missing:
                _download_and_unpack(store, fetch, layers, diff_ids, missing, work, worker, say, parallel)
        finally:
            try:
                worker.call("remove_tree", str(work))
            except Exception:  # noqa: BLE001 - the next pull sweeps it
                pass
            worker.close()
            if not work.exists():
                store.drop_lock_file(work)
    verify_layer_digests(store, layers, diff_ids, fetch, say)
    for i in range(len(layers)):
        records[i] = _layer_record(store, layers[i], diff_ids[i])
    return records


def verify_layer_digests(store: ImageStore, layers: list[dict], diff_ids: list[str],
                         fetch: Callable[[int, Path], None], say: Progress) -> None:
    """A layer the store already has (by diff_id) is recorded with the blob
    digest this manifest names only when that digest is known to produce it
    (the blob it was unpacked from, or one checked before): otherwise a
    manifest could pair any blob with any stored layer, and push or save
    would later send that blob as this layer. An unknown pairing is checked
    by fetching the blob (its digest verified) and hashing it decompressed."""
    todo = [i for i in range(len(layers)) if layers[i]["digest"] not in store.layer_digests(diff_ids[i])]
    if not todo:
        return
    import shutil
    from rootless.images.unpack import blob_diff_id
    with store.workdir() as work:
        try:
            for i in todo:
                digest, diff_id = layers[i]["digest"], diff_ids[i]
                if digest in store.layer_digests(diff_id):
                    continue  # checked meanwhile (the same blob twice in one image)
                path = work / f"check-{i}"
                fetch(i, path)
                got = blob_diff_id(str(path))
                if got != diff_id:
                    raise ImageError(f"layer {digest[:19]}: its content does not match the image config "
                                     f"(diff_id {got[:19]}, expected {diff_id[:19]})",
                                     hint="the image is corrupted or was tampered with")
                if not store.has_blob(digest):
                    with contextlib.suppress(OSError):
                        os.rename(path, store.blob_path(digest))
                store.add_layer_digest(diff_id, digest)
                say(f"Copying blob {digest[7:19]} done")
        finally:
            shutil.rmtree(work, ignore_errors=True)
            store.drop_lock_file(work)


def _layer_record(store: ImageStore, desc: dict, diff_id: str) -> dict:
    info = store.layer_info(diff_id)
    return {"diff_id": diff_id, "digest": desc["digest"], "size": desc.get("size"),
            "media_type": desc.get("mediaType"), "tar_size": info.get("tar_size", 0)}


def _download_and_unpack(store: ImageStore, fetch: Callable[[int, Path], None], layers: list[dict],
                         diff_ids: list[str], missing: list[int], work: Path, worker, say: Progress,
                         parallel: int) -> None:
    def download(i: int) -> Path:
        path = work / f"blob-{i}"
        try:
            fetch(i, path)
        finally:
            (work / f"blob-{i}.done").touch()  # the unpacker may be following the file
        return path

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="rl-pull")
    try:
        for i in missing:  # the unpacker may open a blob before its download starts
            (work / f"blob-{i}").touch()
        futures = {i: pool.submit(download, i) for i in missing}
        for i in missing:
            diff_id, desc = diff_ids[i], layers[i]
            short = desc["digest"][7:19]
            hexid = diff_id[7:]
            with store.lock(f"layer-{hexid}"):
                if store.has_layer(diff_id):  # another pull made it meanwhile
                    say(f"Copying blob {short} skipped: already exists")
                    continue
                t0 = time.monotonic()
                blob = work / f"blob-{i}"
                stage = work / f"layer-{hexid}"
                (stage / "diff").mkdir(parents=True, mode=0o700)
                lowers = [str(store.layer_path(d)) for d in reversed(diff_ids[:i]) if store.has_layer(d)]
                # unpack while the blob downloads; nothing is committed before both
                # the blob's digest and the layer's diff_id are verified
                if not STREAM:
                    futures[i].result()
                try:
                    res = worker.call("unpack", str(blob), str(stage / "diff"), lowers,
                                      str(work / f"blob-{i}.done") if STREAM else None)
                except Exception:
                    futures[i].result()  # a failed download is the better message
                    raise
                futures[i].result()
                if res.diff_id != diff_id:
                    raise ImageError(f"layer {desc['digest'][:19]}: its content does not match the image config "
                                     f"(diff_id {res.diff_id[:19]}, expected {diff_id[:19]})",
                                     hint="the image is corrupted or was tampered with")
                write_atomic(stage / "layer.json", json.dumps({
                    "diff_id": diff_id, "digest": desc["digest"], "compressed_size": desc.get("size"),
                    "tar_size": res.tar_size, "size": res.size, "entries": res.entries,
                    "skipped": res.skipped}).encode())
                try:
                    os.rename(stage, store.layers / hexid)
                except OSError as e:
                    raise ImageError(f"cannot store layer {diff_id[:19]}: {e.strerror}") from None
                with contextlib.suppress(OSError):
                    if store.has_blob(desc["digest"]):
                        blob.unlink()
                    else:
                        os.rename(blob, store.blob_path(desc["digest"]))
                say(f"Copying blob {short} done   {time.monotonic() - t0:.1f}s")
    finally:
        for f in futures.values() if "futures" in locals() else []:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)

