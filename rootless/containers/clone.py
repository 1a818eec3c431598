"""`rl container clone`: a new container made from the options another one
was created with (its recorded run request), as podman clones one.

The clone gets its own name (SRC-clone, then SRC-clone1, ... as podman
picks them), its own anonymous volumes, no --cidfile or --replace of the
source's, and optionally another image. --destroy removes the source once
the clone exists (a running one only with --force); --run starts the clone."""

from __future__ import annotations

import os

from rootless.config import Paths
from rootless.containers.records import ACTIVE, Record, Store
from rootless.errors import ContainerError


def _free_name(store: Store, base: str) -> str:
    for i in range(10000):
        name = f"{base}-clone{i or ''}"
        if not os.path.lexists(store.names / name):
            return name
    raise ContainerError(f"no free name for a clone of {base}", hint="rl container clone SRC NAME")


def clone(paths: Paths, source: str, name: str | None = None, image: str | None = None,
          destroy: bool = False, force: bool = False, run: bool = False) -> Record:
    from rootless.containers import detached, lifecycle
    from rootless.containers import run as engine
    store = Store(paths)
    src = store.lookup(source)
    req = engine.RunRequest(**src.request)
    if req.pod_infra:
        raise ContainerError(f"{src.name} is the infra container of a pod: it is cloned with its pod",
                             hint="rl pod create makes a new one")
    if destroy and not force and store.state(src).get("state") in ACTIVE:
        # checked first: a clone that then cannot replace its source would be left behind
        raise ContainerError(f"cannot remove {src.name}: it is running",
                             hint=f"rl container clone --destroy --force {src.name}, or stop it first")
    req.name = name or _free_name(store, src.name)
    if image:
        req.image, req.rootfs = image, False
    # the clone's own anonymous volumes: the source's, recorded by name, become -v /PATH again
    anon = set(req.anon_volumes)
    # (create records them as NAME:/PATH, never with options: any other shape stays as it is)
    req.volumes = [v.split(":")[1] if v.count(":") == 1 and v.split(":")[0] in anon else v for v in req.volumes]
    req.anon_volumes = []
    req.cidfile, req.replace = None, False
    rec = engine.create(paths, req)
    if destroy:
        lifecycle.remove(paths, src.id, force=force)
    if run:
        detached.start_detached(paths, rec)
    return rec
