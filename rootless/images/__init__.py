"""Images: references, registries, the content-addressed store, layer unpacking.

Public API (what the runtime and the CLI use; everything else is internal):

    from rootless.images import ImageStore, Image, pull

    store = ImageStore(paths)                 # paths: rootless.config.Paths
    img = store.lookup("debian")              # by reference, full ID or unique ID prefix;
                                              # raises rootless.errors.ImageNotFound
    img.id                                    # config digest hex (64 chars)
    img.config                                # the OCI image config dict;
    img.config["config"]                      #   Env, Entrypoint, Cmd, WorkingDir, User,
                                              #   StopSignal, ExposedPorts, Labels ...
    img.layer_dirs()                          # list[Path], bottom -> top
    img.layer_links()                         # the same as short symlinks (images/l/HEX16),
                                              # for overlay options that must fit in a page
    img.names                                 # ["docker.io/library/debian:latest", ...]

    img = pull(paths, "debian:bookworm", platform=None, quiet=False, tls_verify=None,
               creds=None, authfile=None)     # -> Image (also cert_dir=, progress=callable)

Layer directories use the overlay on-disk form described at the top of
rootless/images/unpack.py: whiteouts are 0/0 character devices, opaque
directories carry user.overlay.opaque=y and user.fuseoverlayfs.opaque=y.
Layers belong to subordinate IDs: mount them from the user namespace, and
delete them only there (unpack.remove_tree via runtime.userns.run_in_userns).

Modules:
    reference.py  parse and normalise image references (pure)
    regconf.py    registries.conf, auth.json, certs.d: podman's files and order
    registry.py   Distribution API v2 client (auth, TLS, redirects, platforms, verified blobs)
    store.py      the content-addressed store: blobs, layers, image records, locks
    unpack.py     tar -> layer directory, in the user namespace, safe and fast
    nsworker.py   one user-namespace helper process per pull/load/import
    puller.py     pull: resolve, download in parallel, unpack while downloading, verify, commit
    pusher.py     push: blobs and manifest, byte for byte
    archive.py    save/load: docker-archive and oci-archive
    ops.py        rmi, prune, inspect, history, import, login/logout for the CLI
    render.py     podman's human sizes/ages and a small Go-template subset

A container keeps its image's layers alive: rmi and gc read the "layers" of
the records under Paths.containers (ID/config.json) and never remove those."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported: `rl run` pays for every import

if TYPE_CHECKING:  # pragma: no cover
    from rootless.images.store import Image, ImageStore  # noqa: F401

__all__ = ["Image", "ImageStore", "pull"]


def __getattr__(name: str):
    # lazy: `rl run` imports this package and must stay fast
    if name in ("Image", "ImageStore"):
        from rootless.images import store
        return getattr(store, name)
    raise AttributeError(name)


def pull(paths, reference: str, *, platform: str | None = None, quiet: bool = False,
         tls_verify: bool | None = None, creds=None, authfile: str | None = None, **kw):
    """Pull `reference` into the store under `paths` and return the Image."""
    from rootless.images import puller as _pull
    return _pull.pull(paths, reference, platform=platform, quiet=quiet, tls_verify=tls_verify,
                      creds=creds, authfile=authfile, **kw)
