"""Push: send an image's kept blobs and its manifest, byte for byte, so the
digest in the destination registry is the one in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rootless.config import Paths
from rootless.errors import ImageError
from rootless.images import reference as R
from rootless.images import regconf, registry
from rootless.images.store import ImageStore


def push(paths: Paths, source: str, destination: str | None = None, *, tls_verify: bool | None = None,
         creds=None, authfile: str | None = None, cert_dir: str | None = None,
         progress: Callable[[str], None] | None = None, fmt: str | None = None,
         compression: str | None = None) -> str:
    """Returns the manifest digest. fmt (oci, v2s2) and compression (gzip,
    zstd) rewrite the manifest and recompress layers as asked; without them
    the stored manifest and blobs go byte for byte. Destinations: a registry
    ([docker://]HOST/NAME[:TAG]), oci-archive:PATH[:REF], docker-archive:PATH[:REF], dir:PATH."""
    from rootless.images.puller import _creds
    say = progress or (lambda s: None)
    _check_format(fmt, compression)
    local = bool(destination and destination.startswith(LOCAL_TRANSPORTS))
    if not local:
        regconf.check_authfile(authfile)  # before anything else, as podman
    store = ImageStore(paths)
    img = store.lookup(source)
    if local:
        return _push_local(store, img, source, destination, fmt, compression, say)
    dest_text = (destination or source).removeprefix("docker://")
    if destination is None and source not in img.names:
        full = [n for n in img.names if store._by_name(source, [img]) is not None]
        dest_text = full[0] if full else dest_text
    if R.is_short_name(dest_text):
        dest = R.parse(dest_text, default_domain="localhost")
        if dest.domain == "localhost":
            raise ImageError(f"{dest_text}: give the destination registry",
                             hint=f"rl push {source} REGISTRY/NAMESPACE/NAME[:TAG]")
    else:
        dest = R.parse(dest_text)
    conf = regconf.load()
    src = conf.sources(dest)[-1]  # the location, never a mirror
    client = registry.Client(src.ref.domain, insecure=src.insecure or conf.insecure_host(src.ref.domain),
                             tls_verify=tls_verify, creds=_creds(creds), authfile=authfile, cert_dir=cert_dir)
    client.actions = "pull,push"
    repo = src.ref.path
    try:
        say("Getting image source signatures")
        body, mt, blobs = _manifest_for(store, img, fmt, compression)
        blobs.append(("sha256:" + img.id, store.blob_path("sha256:" + img.id)))
        for d, p in blobs:
            if client.blob_exists(repo, d):
                say(f"Copying blob {d[7:19]} skipped: already exists")
                continue
            size = p.stat().st_size
            client.upload_blob(repo, d, size, lambda p=p: open(p, "rb"))
            say(f"Copying blob {d[7:19]} done")
        say("Writing manifest to image destination")
        got = client.put_manifest(repo, dest.digest or dest.tag or "latest", body, mt)
        from rootless import events
        events.emit(paths, "image", "push", id=img.id, name=str(dest))
        return got
    finally:
        client.close()


# ---------------------------------------------------------------- formats and local destinations

LOCAL_TRANSPORTS = ("oci-archive:", "docker-archive:", "dir:")
FORMATS = {"oci": "oci", "v2s2": "v2s2", "docker": "v2s2"}
COMPRESSIONS = ("gzip", "zstd")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
_LAYER_TYPES = {("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
                ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
                ("oci", "none"): "application/vnd.oci.image.layer.v1.tar",
                ("v2s2", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
                ("v2s2", "none"): "application/vnd.docker.image.rootfs.diff.tar"}


def _check_format(fmt: str | None, compression: str | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise ImageError(f"unsupported manifest type {fmt!r}", hint="--format oci or v2s2")
    if compression is not None and compression not in COMPRESSIONS:
        raise ImageError(f"unsupported compression format {compression!r}", hint="--compression-format gzip or zstd")
    if fmt and FORMATS[fmt] == "v2s2" and compression == "zstd":
        raise ImageError("a v2s2 (docker) manifest cannot carry zstd layers",
                         hint="use --format oci with --compression-format zstd")


def _recompress(store: ImageStore, src: Path, algo: str) -> tuple[str, Path]:
    """A layer blob in `algo`, written into the store's blobs (digest named)."""
    import hashlib
    import os
    import tempfile
    from rootless.images.archive import _decompressed
    blobs = store.blob_path("sha256:" + "0" * 64).parent
    blobs.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=blobs, prefix=".recompress-")
    h = hashlib.sha256()

    class _Hashing:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            h.update(b)
            return self.f.write(b)

        def flush(self):
            self.f.flush()

    try:
        with open(src, "rb") as raw, os.fdopen(fd, "wb") as out:
            plain = _decompressed(raw)
            sink = _Hashing(out)
            if algo == "gzip":
                import gzip
                with gzip.GzipFile(fileobj=sink, mode="wb", mtime=0, filename="") as z:  # type: ignore[arg-type]
                    _copy(plain, z)
            else:
                import zstandard
                with zstandard.ZstdCompressor().stream_writer(sink, closefd=False) as z:  # type: ignore[arg-type]
                    _copy(plain, z)
        digest = "sha256:" + h.hexdigest()
        dest = store.blob_path(digest)
        os.replace(tmp, dest)
        return digest, dest
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _copy(src, dst) -> None:
    while True:
        chunk = src.read(1 << 20)
        if not chunk:
            return
        dst.write(chunk)


def _manifest_for(store: ImageStore, img, fmt: str | None, compression: str | None
                  ) -> tuple[bytes, str, list[tuple[str, Path]]]:
    """The manifest to write and its layer blobs: the stored one when neither
    a format nor a compression is asked (or both match it), else rewritten."""
    import json
    from rootless.images.unpack import detect_compression
    body, mt, blobs = store.portable_manifest(img)
    if fmt is None and compression is None:
        return body, mt, blobs
    man = json.loads(body)
    kind = FORMATS[fmt] if fmt else ("v2s2" if mt == DOCKER_MANIFEST else "oci")
    out_blobs: list[tuple[str, Path]] = []
    layers = []
    for desc, (digest, path) in zip(man.get("layers", []), blobs):
        with open(path, "rb") as f:
            have = detect_compression(f.read(4)) or "none"
        want = compression or (have if (kind, have) in _LAYER_TYPES else "gzip")
        if want != have:
            digest, path = _recompress(store, path, want)
        out_blobs.append((digest, path))
        layers.append({"mediaType": _LAYER_TYPES[(kind, want)], "digest": digest, "size": path.stat().st_size})
    cfg = dict(man["config"])
    cfg["mediaType"] = DOCKER_CONFIG if kind == "v2s2" else OCI_CONFIG
    new = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST if kind == "v2s2" else OCI_MANIFEST,
           "config": cfg, "layers": layers}
    if kind == "oci" and man.get("annotations"):
        new["annotations"] = man["annotations"]
    raw = json.dumps(new, separators=(",", ":")).encode()
    if raw == body:
        return body, mt, blobs
    return raw, new["mediaType"], out_blobs


def _push_local(store: ImageStore, img, source: str, destination: str, fmt: str | None,
                compression: str | None, say) -> str:
    """oci-archive:, docker-archive: (rl save's writers) and dir: (skopeo's
    directory layout: manifest.json, one file per blob named by its hex
    digest, and a version file)."""
    import hashlib
    import os
    import shutil
    transport, _, rest = destination.partition(":")
    if transport == "dir":
        if not rest:
            raise ImageError("dir: needs a directory path", hint="rl push IMAGE dir:/path/to/dir")
        target = Path(rest)
        target.mkdir(parents=True, exist_ok=True)
        body, _, blobs = _manifest_for(store, img, fmt, compression)
        blobs = [*blobs, ("sha256:" + img.id, store.blob_path("sha256:" + img.id))]
        say("Getting image source signatures")
        for d, p in blobs:
            shutil.copyfile(p, target / d.split(":", 1)[1])
            say(f"Copying blob {d[7:19]} done")
        (target / "manifest.json").write_bytes(body)
        (target / "version").write_text("Directory Transport Version: 1.1\n")
        say("Writing manifest to image destination")
        return "sha256:" + hashlib.sha256(body).hexdigest()
    from rootless.images import archive
    path, _, ref = rest.partition(":")
    if not path:
        raise ImageError(f"{transport}: needs a file path", hint=f"rl push IMAGE {transport}:/path/file.tar")
    if compression or (fmt and FORMATS[fmt] != ("oci" if transport == "oci-archive" else "v2s2")):
        raise ImageError(f"{transport}: --format and --compression-format are not supported for archives by rl",
                         hint=f"{transport} writes its own format: leave the flags out")
    if ref:
        raise ImageError(f"{destination}: a reference after the archive path is not supported by rl",
                         hint=f"tag the image first (rl tag {source} NAME), then push it to {transport}:{path}")
    name = source
    tmp = Path(path).with_name(f".{Path(path).name}.{os.getpid()}.tmp")
    fmt_name = "oci-archive" if transport == "oci-archive" else "docker-archive"
    try:
        with open(tmp, "wb") as out:
            archive.save(store.paths, [name], out, fmt_name)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    say("Writing manifest to image destination")
    body, _, _ = store.portable_manifest(img)
    return "sha256:" + hashlib.sha256(body).hexdigest()
