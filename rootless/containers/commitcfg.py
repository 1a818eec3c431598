"""The image config `rl commit` writes: the container's image config with
what the container was run with (entrypoint, command, environment, working
directory, user, labels), then the `--change` instructions podman's commit
accepts (rootless/images/changes.py). Pure functions (unit-tested)."""

from __future__ import annotations

import json

# the `--change` parser is the images engine's (import takes the same instructions)
from rootless.images.changes import CHANGES, apply as apply_changes  # noqa: F401


def from_container(image_config: dict, request: dict, command: list[str]) -> dict:
    """As podman's commit: the container's entrypoint and command as it ran
    them (an --entrypoint replaces the image's and drops its Cmd, arguments
    replace Cmd), its environment, working directory, user and labels."""
    from rootless.containers import options
    cfg = json.loads(json.dumps(image_config or {}))  # a deep copy
    ep = request.get("entrypoint")
    if ep is not None:
        cfg["Entrypoint"] = options.parse_entrypoint(ep)
        cfg["Cmd"] = list(command or [])
    elif command:
        cfg["Cmd"] = list(command)
    for key in ("Entrypoint", "Cmd"):
        if not cfg.get(key):
            cfg.pop(key, None)
    env = request.get("env") or []
    if env:
        merged = options.image_env(cfg.get("Env"))
        merged.update(options.parse_env(list(env), environ={}))
        cfg["Env"] = [f"{k}={v}" for k, v in merged.items()]
    # the directory the container ran in, "/" where nothing chose one (podman's)
    cfg["WorkingDir"] = request.get("workdir") or cfg.get("WorkingDir") or "/"
    if request.get("user"):
        cfg["User"] = request["user"]
    labels = dict(cfg.get("Labels") or {})
    for item in request.get("label") or []:
        k, _, v = item.partition("=")
        labels[k] = v
    if labels:
        cfg["Labels"] = labels
    if request.get("stop_signal"):
        cfg["StopSignal"] = request["stop_signal"]
    return cfg
