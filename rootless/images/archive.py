"""`save` and `load`: docker-archive (docker save's manifest.json layout,
uncompressed layer.tar files) and oci-archive (an OCI image layout in a tar).

Save sends the layer blobs kept at pull/import time unchanged (oci-archive)
or decompressed (docker-archive, whose layer tars are the diff_ids), so image
IDs survive a save/load round trip."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path
from typing import BinaryIO

from rootless.config import Paths
from rootless.errors import ImageError
from rootless.images import reference as R
from rootless.images import registry
from rootless.images.store import Image, ImageStore

FORMATS = ("docker-archive", "oci-archive")
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
_MTIME = 0


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, _MTIME
    tf.addfile(ti, io.BytesIO(data))


def _add_dir(tf: tarfile.TarFile, name: str) -> None:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, _MTIME
    tf.addfile(ti)


def _decompressed(f: BinaryIO) -> BinaryIO:
    head = f.read(4)
    f.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=f)  # type: ignore[return-value]
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)  # type: ignore
    return f


def save(paths: Paths, names: list[str], out: BinaryIO, fmt: str = "docker-archive") -> list[Image]:
    if fmt not in FORMATS:
        raise ImageError(f"unsupported format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    store = ImageStore(paths)
    images = [store.lookup(n) for n in names]
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        if fmt == "oci-archive":
            _save_oci(store, images, names, tf)
        else:
            _save_docker(store, images, names, tf)
    from rootless import events
    for img, n in zip(images, names):
        events.emit(paths, "image", "save", id=img.id, name=n)
    return images


def save_file(paths: Paths, names: list[str], output: str, fmt: str = "docker-archive") -> list[Image]:
    """save() into the file output, written whole or not at all (a temporary
    file beside it, renamed once complete)."""
    import os
    tmp = f"{output}.rl-tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            images = save(paths, names, f, fmt)
        os.replace(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return images


def _tags_for(img: Image, asked: str) -> list[str]:
    if asked in img.names:
        return [asked]
    try:
        ref = R.parse(asked)
    except ImageError:
        return img.names[:1]
    if ref.tagged in img.names:
        return [ref.tagged]
    return [n for n in img.names if n.endswith("/" + asked) or n.endswith("/" + ref.path + ":" + (ref.tag or ""))][
        :1] or img.names[:1]


def _save_oci(store: ImageStore, images: list[Image], names: list[str], tf: tarfile.TarFile) -> None:
    _add_bytes(tf, "oci-layout", OCI_LAYOUT)
    _add_dir(tf, "blobs")
    _add_dir(tf, "blobs/sha256")
    written: set[str] = set()
    index = {"schemaVersion": 2, "manifests": []}
    for img, asked in zip(images, names):
        mraw, mt, layer_blobs = store.portable_manifest(img)
        mdigest = "sha256:" + hashlib.sha256(mraw).hexdigest()
        if mdigest not in written:
            _add_bytes(tf, f"blobs/sha256/{mdigest[7:]}", mraw)
            written.add(mdigest)
        for d, path in [("sha256:" + img.id, store.blob_path("sha256:" + img.id))] + layer_blobs:
            if d in written:
                continue
            ti = tarfile.TarInfo(f"blobs/sha256/{d[7:]}")
            ti.size, ti.mode, ti.mtime = path.stat().st_size, 0o644, _MTIME
            with open(path, "rb") as f:
                tf.addfile(ti, f)
            written.add(d)
        desc = {"mediaType": mt, "digest": mdigest, "size": len(mraw)}
        for tag in _tags_for(img, asked) or [None]:
            d = dict(desc)
            if tag:
                d["annotations"] = {"org.opencontainers.image.ref.name": tag}
            index["manifests"].append(d)
    _add_bytes(tf, "index.json", json.dumps(index).encode())


def _save_docker(store: ImageStore, images: list[Image], names: list[str], tf: tarfile.TarFile) -> None:
    manifest = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    for img, asked in zip(images, names):
        cfg_name = f"{img.id}.json"
        if cfg_name not in written:
            _add_bytes(tf, cfg_name, store.read_blob("sha256:" + img.id))
            written.add(cfg_name)
        layer_names = []
        for layer in img.layers:
            hexid = layer["diff_id"][7:]
            name = f"{hexid}/layer.tar"
            layer_names.append(name)
            if name in written:
                continue
            size = store.layer_info(layer["diff_id"]).get("tar_size")
            if not size:
                raise ImageError(f"{img}: layer {hexid[:12]} has no recorded size", hint="pull the image again")
            _add_dir(tf, hexid)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = size, 0o644, _MTIME
            found = store.layer_blob(layer)
            if found is None:
                raise ImageError(f"{img}: no compressed blob kept for layer {hexid[:12]}", hint=f"pull {img} again")
            with open(found[1], "rb") as f:
                tf.addfile(ti, _decompressed(f))
            written.add(name)
        tags = _tags_for(img, asked)
        manifest.append({"Config": cfg_name, "RepoTags": tags, "Layers": layer_names})
        for t in tags:
            repo, _, tag = t.rpartition(":")
            repositories.setdefault(repo, {})[tag] = img.layers[-1]["diff_id"][7:] if img.layers else img.id
    _add_bytes(tf, "manifest.json", json.dumps(manifest).encode())
    _add_bytes(tf, "repositories", json.dumps(repositories).encode())


# ------------------------------------------------------------------ load

MAX_SPECIAL = 1 << 20  # pax / GNU long-name headers, as the layer reader (unpack.MAX_SPECIAL)


class _HeaderTooBig(tarfile.TarError):
    """Not a ReadError: tarfile.open("r:*") would take that for "try the next
    compression" and hide it."""


class _CappedTarInfo(tarfile.TarInfo):
    """tarfile reads a pax or GNU long-name header whole into memory,
    whatever size it declares: an archive's are capped as a layer's are."""

    def _cap(self) -> None:
        if self.size > MAX_SPECIAL:
            raise _HeaderTooBig(f"a pax or GNU long-name header of {self.size} bytes "
                                f"(more than the {MAX_SPECIAL >> 20} MiB allowed)")

    def _proc_gnulong(self, tarfile):  # noqa: ANN001 - tarfile's private hooks
        self._cap()
        return super()._proc_gnulong(tarfile)

    def _proc_pax(self, tarfile):  # noqa: ANN001
        self._cap()
        return super()._proc_pax(tarfile)


def load(paths: Paths, src: str | None, *, progress=None) -> list[Image]:
    """Load a docker-archive or oci-archive (plain or gzip); src None or "-" = stdin."""
    from rootless.images.layers import install_layers
    say = progress or (lambda s: None)
    store = ImageStore(paths).ensure()
    with store.workdir() as work:  # locked: a concurrent pull's stale sweep leaves it alone
        try:
            images = _load(store, src, work, say, install_layers)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            store.drop_lock_file(work)
    from rootless import events
    for img in images:
        events.emit(paths, "image", "load", id=img.id, name=(img.names or [img.id])[0])
    return images


def _load(store: ImageStore, src: str | None, work: Path, say, install_layers) -> list[Image]:
    if src in (None, "-"):
        tmp_copy = work / "stdin.tar"
        with open(tmp_copy, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)
        src = str(tmp_copy)
    try:
        tf = tarfile.open(src, "r:*", tarinfo=_CappedTarInfo)
        members = {m.name.removeprefix("./"): m for m in tf.getmembers()}
    except (OSError, tarfile.TarError, ValueError, OverflowError) as e:
        raise ImageError(f"cannot read {src}: {' '.join(str(e).split())[:300]}",
                         hint="rl load takes a docker-archive or oci-archive") from None
    with tf:
        def read(name: str, limit: int = registry.MAX_CONFIG) -> bytes:
            m = members.get(name)
            if m is None or not m.isfile():
                raise ImageError(f"{src}: {name} is missing from the archive")
            if m.size > limit:
                raise ImageError(f"{src}: {name} is too large")
            f = tf.extractfile(m)
            assert f is not None
            return f.read()

        def copy_member(name: str, path: Path) -> str:
            m = members.get(name)
            if m is None or not m.isfile():
                raise ImageError(f"{src}: {name} is missing from the archive")
            f = tf.extractfile(m)
            h = hashlib.sha256()
            with open(path, "wb") as out:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                    out.write(chunk)
            return "sha256:" + h.hexdigest()

        if "manifest.json" in members:
            plans = _plan_docker(read)
        elif "index.json" in members:
            plans = _plan_oci(read)
        else:
            raise ImageError(f"{src} is neither a docker-archive nor an oci-archive",
                             hint="expected manifest.json or index.json at the top")
        out = []
        with store.lock("gc", shared=True):
            for plan in plans:
                layers, diff_ids = plan["layers"], plan["diff_ids"]

                def fetch(i: int, path: Path) -> None:
                    got = copy_member(plan["members"][i], path)
                    want = layers[i]["digest"]
                    if want is None:
                        layers[i]["digest"] = got
                    elif got != want:
                        raise ImageError(f"{src}: {plan['members'][i]} does not match its digest {want[:19]}")
                    layers[i]["size"] = path.stat().st_size
                # docker-archive digests are only known once read: fill them first
                for i, layer in enumerate(layers):
                    if layer["digest"] is None:
                        m = members.get(plan["members"][i])
                        if m is None or not m.isfile():
                            raise ImageError(f"{src}: {plan['members'][i]} is missing from the archive")
                        f = tf.extractfile(m)
                        h = hashlib.sha256()
                        head = b""
                        while True:
                            chunk = f.read(1 << 20)
                            if not chunk:
                                break
                            if not head:
                                head = chunk[:4]
                            h.update(chunk)
                        layer["digest"] = "sha256:" + h.hexdigest()
                        layer["size"] = m.size
                        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar" + (
                            "+gzip" if head.startswith(b"\x1f\x8b") else
                            "+zstd" if head.startswith(b"\x28\xb5\x2f\xfd") else "")
                records = install_layers(store, layers, diff_ids, fetch, say, parallel=1)
                config_raw = plan["config"]
                cdigest = "sha256:" + hashlib.sha256(config_raw).hexdigest()
                mraw = plan.get("manifest_raw") or json.dumps({
                    "schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest,
                               "size": len(config_raw)},
                    "layers": [{"mediaType": x["mediaType"], "digest": x["digest"], "size": x["size"]}
                               for x in layers]}, separators=(",", ":")).encode()
                mdigest = "sha256:" + hashlib.sha256(mraw).hexdigest()
                store.put_blob(cdigest, config_raw)
                store.put_blob(mdigest, mraw)
                out.append(store.commit(config_digest=cdigest, manifest_digest=mdigest, layers=records,
                                        names=plan["names"], digests=[]))
        return out


def _norm_name(tag: str) -> str | None:
    try:
        ref = R.parse(tag)
    except ImageError:
        return None
    return ref.tagged if not ref.digest else None


def _plan_docker(read) -> list[dict]:
    from rootless.images.layers import check_config
    manifest = registry.parse_json(read("manifest.json"), "manifest.json in the archive")
    if not isinstance(manifest, list) or not all(
            isinstance(e, dict) and isinstance(e.get("Config"), str) and isinstance(e.get("Layers", []), list)
            and all(isinstance(x, str) for x in e.get("Layers", []))
            and isinstance(e.get("RepoTags") or [], list) for e in manifest):
        raise ImageError("manifest.json in the archive is malformed",
                         hint="rl load takes a docker-archive or oci-archive")
    plans = []
    for entry in manifest:
        config = read(entry["Config"])
        cfg = registry.parse_json(config, f"{entry['Config'][:100]} in the archive")
        diff_ids = check_config(cfg, "the archive's image", len(entry.get("Layers", [])))
        plans.append({"config": config, "diff_ids": diff_ids, "members": list(entry["Layers"]),
                      "layers": [{"digest": None, "size": None, "mediaType": None} for _ in diff_ids],
                      "names": [n for n in (_norm_name(t) for t in entry.get("RepoTags") or []
                                            if isinstance(t, str)) if n]})
    return plans


def _plan_oci(read) -> list[dict]:
    from rootless.images.layers import _check_manifest, check_config
    index = registry.parse_json(read("index.json"), "index.json in the archive")
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise ImageError("index.json in the archive is malformed (no manifests list)",
                         hint="rl load takes a docker-archive or oci-archive")
    plans = []
    for desc in manifests:
        registry.check_descriptor(desc, "index.json in the archive")
        mraw = read(f"blobs/sha256/{desc['digest'][7:]}")
        man = registry.parse_json(mraw, f"manifest {desc['digest'][:19]} in the archive")
        if desc.get("mediaType") in registry.INDEX_TYPES or (isinstance(man, dict) and "manifests" in man):
            desc2 = registry.check_descriptor(registry.select_platform(man, registry.host_platform()),
                                              "the archive's manifest list")
            mraw = read(f"blobs/sha256/{desc2['digest'][7:]}")
            man = registry.parse_json(mraw, f"manifest {desc2['digest'][:19]} in the archive")
        _check_manifest(man, "the archive's image")
        config = read(f"blobs/sha256/{man['config']['digest'][7:]}")
        cfg = registry.parse_json(config, "the archive's image config")
        diff_ids = check_config(cfg, "the archive's image", len(man.get("layers", [])))
        ref_name = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name") \
            if isinstance(desc.get("annotations"), dict) else None
        names = []
        if isinstance(ref_name, str) and ("/" in ref_name or ":" in ref_name):
            n = _norm_name(ref_name)
            if n:
                names.append(n)
        plans.append({"config": config, "diff_ids": diff_ids, "manifest_raw": mraw,
                      "members": [f"blobs/sha256/{x['digest'][7:]}" for x in man.get("layers", [])],
                      "layers": [dict(x) for x in man.get("layers", [])], "names": names})
    return plans
