"""Pull: resolve the name, fetch manifest and config, download missing layers
in parallel, unpack them in the user namespace in order, verify, commit."""

from __future__ import annotations

import time
from pathlib import Path

from rootless.config import Paths
from rootless.errors import ImageError, RegistryError
from rootless.images import reference as R
from rootless.images import regconf, registry
from rootless.images.layers import Progress, _check_manifest, check_config, install_layers
from rootless.images.store import Image, ImageStore
from rootless.plain import record

RETRIES = 2  # network failures of a blob download, as podman retries


@record
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


def resolve(reference: str, *, platform: str | None, tls_verify: bool | None, creds, authfile: str | None,
            cert_dir: str | None, progress: Progress) -> Resolved:
    conf = regconf.load()
    want_platform = registry.parse_platform(platform)
    errors: list[tuple[str, Exception]] = []
    record_as = None
    if R.is_short_name(reference):
        from rootless.images import hooks
        prompt = hooks.short_name_prompt
        plan = regconf.plan_short_name(conf, reference, prompt() if prompt is not None else None)
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
        from rootless import events
        events.emit(paths, "image", "pull", id=img.id, name=str(res.wanted))
        return img
    finally:
        client.close()
