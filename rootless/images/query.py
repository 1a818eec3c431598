"""Read-only views of the image store, in podman's shapes: the listing
(`images`), `inspect`, `history`. Plain data for any face (the CLI renders
it; compose or an API service would return it). Light on purpose: `rl
inspect` and `rl images` import only this, the store and the renderers of
sizes and ages, never the registry client."""

from __future__ import annotations

from rootless.config import Paths
from rootless.errors import ImageNotFound, UsageError
from rootless.images.store import Image, ImageStore

FILTERS = "dangling=true|false, reference=PATTERN"


def _matches(pattern: str, names: list[str]) -> bool:
    import fnmatch
    return any(fnmatch.fnmatch(n, pattern) or fnmatch.fnmatch(n, f"*/{pattern}")
               or fnmatch.fnmatch(n.rsplit(":", 1)[0], pattern)
               or fnmatch.fnmatch(n.rsplit(":", 1)[0], f"*/{pattern}") for n in names)


def filter_images(images: list[Image], filters: list[str]) -> list[Image]:
    """podman's `images --filter`: dangling=true|false, reference=PATTERN (all must hold)."""
    out = list(images)
    for f in filters:
        key, _, val = f.partition("=")
        if key == "dangling":
            want = val.lower() in ("true", "1", "")
            out = [i for i in out if (not i.names) == want]
        elif key == "reference":
            out = [i for i in out if _matches(val, i.names)]
        else:
            raise UsageError(f"unsupported filter {key!r}", hint=f"supported: {FILTERS}")
    return out


def list_images(paths: Paths, filters: list[str] = (), reference: str | None = None) -> list[Image]:
    """The images `rl images [REFERENCE] [--filter ...]` lists, newest first (podman's order)."""
    from rootless.images import render
    filters = list(filters) + ([f"reference={reference}"] if reference else [])
    imgs = filter_images(ImageStore(paths).images(), filters)
    imgs.sort(key=lambda i: render.parse_time(i.created) or 0, reverse=True)
    return imgs


def rows(images: list[Image]) -> list[dict]:
    """One row per name (an image without one: its repository, tag <none>),
    with the fields podman's `images --format` templates use; ID in full,
    Created the raw RFC 3339 time."""
    from rootless.images import render
    out = []
    for img in images:
        created = img.created
        base = {"ID": img.id, "Id": img.id, "Digest": img.digest, "Created": created,
                "CreatedSince": render.since(created), "CreatedAt": created or "",
                "Size": render.human_size(img.size), "VirtualSize": img.size, "Names": img.names,
                "Digests": img.digests, "Dangling": not img.names}
        if img.names:
            for n in img.names:
                repo, _, tag = n.rpartition(":")
                out.append({**base, "Repository": repo, "Tag": tag})
        else:
            # pulled by digest only: podman shows the repository with a <none> tag
            repo = img.digests[0].split("@", 1)[0] if img.digests else "<none>"
            out.append({**base, "Repository": repo, "Tag": "<none>"})
    return out


def summary(img: Image) -> dict:
    """podman's `images --format json` object for one image."""
    from rootless.images import render
    return {"Id": img.id, "ParentId": "", "RepoTags": img.names or None,
            "RepoDigests": img.digests, "Size": img.size, "SharedSize": 0,
            "VirtualSize": img.size, "Labels": (img.config.get("config") or {}).get("Labels"),
            "Containers": 0, "Names": img.names or None, "Digest": img.digest,
            "History": img.names or None,
            "Created": int(render.parse_time(img.created) or 0),
            "CreatedAt": img.created, "Dangling": not img.names}


def inspect(img: Image) -> dict:
    """podman image inspect's shape."""
    cfg = img.config
    repo_tags = img.names
    layers_dirs = [str(p) for p in img.layer_dirs()]
    return {
        "Id": img.id,
        "Digest": img.digest,
        "RepoTags": repo_tags,
        "RepoDigests": img.digests,
        "Parent": "",
        "Comment": cfg.get("comment", ""),
        "Created": cfg.get("created"),
        "Config": cfg.get("config") or {},
        "Version": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Architecture": cfg.get("architecture", ""),
        "Variant": cfg.get("variant", ""),
        "Os": cfg.get("os", ""),
        "Size": img.size,
        "VirtualSize": img.size,
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": ":".join(reversed(layers_dirs[:-1])) if len(layers_dirs) > 1 else "",
            "UpperDir": layers_dirs[-1] if layers_dirs else ""}},
        "RootFS": {"Type": "layers", "Layers": img.diff_ids},
        "Labels": (cfg.get("config") or {}).get("Labels"),
        "Annotations": img.manifest.get("annotations", {}),
        "ManifestType": img.manifest.get("mediaType", ""),
        "User": (cfg.get("config") or {}).get("User", ""),
        "History": cfg.get("history", []),
        "NamesHistory": repo_tags,
    }


def inspect_image(paths: Paths, name: str) -> dict:
    """`rl image inspect NAME`: podman's object; ImageNotFound when there is no such image."""
    return inspect(ImageStore(paths).lookup(name))


def find_image(paths: Paths, name: str) -> dict | None:
    """The inspect object of an image by name or ID, None when there is none."""
    try:
        return inspect_image(paths, name)
    except ImageNotFound:
        return None


def exists(paths: Paths, name: str) -> bool:
    try:
        ImageStore(paths).lookup(name)
    except ImageNotFound:
        return False
    return True


def _text(v: object) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def history(img: Image) -> list[dict]:
    """Newest first: id (or <missing>), created, created_by, size, comment."""
    cfg = img.config
    hist = cfg.get("history") or []
    # the config is the image author's: entries of the wrong shape are skipped, fields shown as text
    hist = [h for h in hist if isinstance(h, dict)] if isinstance(hist, list) else []
    layers = img.layers
    sizes = [ImageStore(img.store.paths).layer_info(layer["diff_id"]).get("tar_size", 0) for layer in layers]
    out = []
    li = 0
    for h in hist:
        size = 0
        if not h.get("empty_layer"):
            size = sizes[li] if li < len(sizes) else 0
            li += 1
        out.append({"created": _text(h.get("created")) or None, "created_by": _text(h.get("created_by")),
                    "size": size, "comment": _text(h.get("comment"))})
    if not hist:
        out = [{"created": _text(cfg.get("created")) or None, "created_by": "", "size": s, "comment": ""}
               for s in sizes]
    out.reverse()
    for i, r in enumerate(out):
        r["id"] = img.id if i == 0 else "<missing>"
    return out


def image_history(paths: Paths, name: str) -> list[dict]:
    """`rl history NAME`: its rows, newest first."""
    return history(ImageStore(paths).lookup(name))
