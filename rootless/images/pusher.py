"""Push: send an image's kept blobs and its manifest, byte for byte, so the
digest in the destination registry is the one in the store."""

from __future__ import annotations

from typing import Callable

from rootless.config import Paths
from rootless.errors import ImageError
from rootless.images import reference as R
from rootless.images import regconf, registry
from rootless.images.store import ImageStore


def push(paths: Paths, source: str, destination: str | None = None, *, tls_verify: bool | None = None,
         creds=None, authfile: str | None = None, cert_dir: str | None = None,
         progress: Callable[[str], None] | None = None) -> str:
    """Returns the manifest digest."""
    from rootless.images.puller import _creds
    say = progress or (lambda s: None)
    regconf.check_authfile(authfile)
    store = ImageStore(paths)
    img = store.lookup(source)
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
        body, mt, blobs = store.portable_manifest(img)
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
        return got
    finally:
        client.close()
