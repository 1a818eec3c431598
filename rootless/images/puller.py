"""Pull: resolve the name, fetch manifest and config, download missing layers
in parallel, unpack them in the user namespace in order, verify, commit."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rootless.config import Paths
from rootless.errors import ImageError, RegistryError
from rootless.images import reference as R
from rootless.images import regconf, registry
from rootless.images.store import Image, ImageStore, write_atomic

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
RETRIES = 2  # network failures of a blob download, as podman retries

Progress = Callable[[str], None]


@dataclass
class Resolved:
    client: registry.Client
    source: R.Reference          # where it came from (mirror or location)
    wanted: R.Reference          # the name the user asked for, normalised
    manifest: bytes
    manifest_digest: str
    top_digest: str              # the digest of what the tag points at (index or manifest)
    index_digest: str | None
    record_alias: str | None = None  # a short name chosen at the prompt, recorded after the pull


def _creds(creds) -> tuple[str, str] | None:
    if creds is None or isinstance(creds, tuple):
        return creds
    user, sep, pw = str(creds).partition(":")
    if not user:
        raise ImageError("--creds needs USER[:PASSWORD]")
    if not sep:
        import getpass
        pw = getpass.getpass(f"Password for {user}: ")
    return user, pw


def candidates(reference: str, conf: regconf.RegistriesConf) -> list[R.Reference]:
    if R.is_short_name(reference):
        return conf.resolve_short(reference)
    return [R.parse(reference)]


def _terminal_choice():
    """A numbered menu on the terminal, or None without one (podman prompts
    only when stdin and stdout are both terminals)."""
    import sys
    try:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            return None
    except (AttributeError, ValueError):
        return None

    def choose(cands: list[R.Reference]) -> int:
        sys.stdout.write("? Please select an image:\n")
        for i, c in enumerate(cands, 1):
            sys.stdout.write(f"  {i}) {c}\n")
        while True:
            sys.stdout.write(f"Enter a number [1-{len(cands)}]: ")
            sys.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                raise ImageError("short-name resolution: no image selected (end of input)",
                                 hint="use a fully qualified name")
            line = line.strip()
            if line.isdigit() and 1 <= int(line) <= len(cands):
                return int(line) - 1
            sys.stdout.write(f"{line!r} is not one of the numbers above\n")
    return choose


def resolve(reference: str, *, platform: str | None, tls_verify: bool | None, creds, authfile: str | None,
            cert_dir: str | None, progress: Progress) -> Resolved:
    conf = regconf.load()
    want_platform = registry.parse_platform(platform)
    errors: list[tuple[str, Exception]] = []
    record_as = None
    if R.is_short_name(reference):
        plan = regconf.plan_short_name(conf, reference, _terminal_choice())
        wanted_list, record_as = plan.candidates, plan.record_as
    else:
        wanted_list = [R.parse(reference)]
    for wanted in wanted_list:
        progress(f"Trying to pull {wanted}...")
        for src in conf.sources(wanted):
            client = registry.Client(src.ref.domain, insecure=src.insecure or conf.insecure_host(src.ref.domain),
                                     tls_verify=tls_verify, creds=creds, authfile=authfile, cert_dir=cert_dir)
            try:
                body, mt, digest = client.get_manifest(src.ref.path, src.ref.manifest_ref)
                top, index_digest = digest, None
                if mt in registry.INDEX_TYPES:
                    index_digest = digest
                    index = registry.parse_json(body, f"{wanted}: the manifest list")
                    desc = registry.check_descriptor(registry.select_platform(index, want_platform),
                                                     f"{wanted}: the manifest list's entry for {want_platform}")
                    body, mt, digest = client.get_manifest(src.ref.path, desc["digest"])
                    if mt in registry.INDEX_TYPES:
                        raise RegistryError(f"{wanted}: nested manifest lists are not supported")
                return Resolved(client, src.ref, wanted, body, digest, top, index_digest, record_as)
            except RegistryError as e:
                client.close()
                errors.append((str(src.ref), e))
                continue
    if len(errors) == 1:
        raise errors[0][1]
    last = errors[-1][1]
    tried = "; ".join(f"{where}: {e}" for where, e in errors)
    raise RegistryError(f"pulling {reference}: every source failed: {tried}",
                        hint=getattr(last, "hint", None))


def _hash_file(path: Path, n: int):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while n > 0:
            chunk = f.read(min(n, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            n -= len(chunk)
    return h


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


def pull(paths: Paths, reference: str, *, platform: str | None = None, quiet: bool = False,
         tls_verify: bool | None = None, creds=None, authfile: str | None = None,
         cert_dir: str | None = None, progress: Progress | None = None) -> Image:
    """Pull an image into the store and return it. `progress` gets one line
    per step (podman's wording); nothing is printed here."""
    say: Progress = (lambda s: None) if quiet or progress is None else progress
    if reference.startswith("docker://"):
        reference = reference[len("docker://"):]
    elif reference.startswith(("oci-archive:", "docker-archive:")):
        from rootless.images import archive
        images = archive.load(paths, reference.split(":", 1)[1], progress=say)
        if not images:
            raise ImageError(f"{reference}: the archive holds no image")
        return images[0]
    regconf.check_authfile(authfile)
    store = ImageStore(paths).ensure()
    res = resolve(reference, platform=platform, tls_verify=tls_verify, creds=_creds(creds),
                  authfile=authfile, cert_dir=cert_dir, progress=say)
    client, repo = res.client, res.source.path
    try:
        m = registry.parse_json(res.manifest, f"{res.wanted}: the manifest")
        _check_manifest(m, str(res.wanted))
        cdesc = m["config"]
        config_digest = cdesc["digest"]
        say("Getting image source signatures")
        config_raw = store.read_blob_verified(config_digest)  # a stored blob is checked, not trusted
        if config_raw is None:
            config_raw = client.get_blob_bytes(repo, config_digest, cdesc.get("size"))
        config = registry.parse_json(config_raw, f"{res.wanted}: the image config")
        layers = m.get("layers", [])
        diff_ids = check_config(config, str(res.wanted), len(layers))
        with store.lock("gc", shared=True):
            def download(i: int, path: Path) -> None:
                for attempt in range(RETRIES + 1):
                    try:
                        # append-only: a retry resumes where the last try stopped
                        with open(path, "ab") as f:
                            have, prior = f.tell(), None
                            if have:
                                prior = _hash_file(path, have)
                            client.fetch_blob(repo, layers[i]["digest"], layers[i].get("size"), f,
                                              resume=have, prior=prior)
                        return
                    except RegistryError as e:
                        if attempt == RETRIES or not getattr(e, "retryable", False):
                            raise
                        client.close()
                        time.sleep(0.5 * (attempt + 1))
            records = install_layers(store, layers, diff_ids, download, say)
            store.replace_blob(config_digest, config_raw)
            store.put_blob(res.manifest_digest, res.manifest)
            say(f"Copying config {config_digest[7:19]} done")
            say("Writing manifest to image destination")
            digests = [f"{res.wanted.repository}@{res.top_digest}"]
            if res.manifest_digest != res.top_digest:
                digests.append(f"{res.wanted.repository}@{res.manifest_digest}")
            names = [res.wanted.tagged] if res.wanted.tag else []
            img = store.commit(config_digest=config_digest, manifest_digest=res.manifest_digest,
                               layers=records, names=names, digests=digests, top_digest=res.top_digest)
        if res.record_alias:
            regconf.record_short_name_alias(res.record_alias, res.wanted.repository)
        return img
    finally:
        client.close()


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

