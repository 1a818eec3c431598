"""`run` flags -> runtime values, podman's semantics. Pure functions."""

from __future__ import annotations

import json
import os
import shlex

from rootless.errors import UsageError
from rootless.runtime.spec import BindMount, TmpfsMount


def parse_env(items: list[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """-e K=V sets; -e K takes the host's value (skipped when unset);
    -e 'PRE*' takes every host variable with that prefix."""
    environ = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for item in items:
        key, eq, val = item.partition("=")
        if not key:
            raise UsageError(f"invalid environment variable {item!r}", hint="use NAME=VALUE")
        if eq:
            out[key] = val
        elif key.endswith("*"):
            out.update({k: v for k, v in environ.items() if k.startswith(key[:-1])})
        elif key in environ:
            out[key] = environ[key]
    return out


def read_env_file(path: str) -> list[str]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UsageError(f"--env-file {path}: {e.strerror}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def image_env(env_list: list[str] | None) -> dict[str, str]:
    out = {}
    for item in env_list or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def parse_volume(value: str, named=None) -> BindMount:
    """HOST:CTR[:OPTS] or NAME:CTR[:OPTS] with OPTS from ro, rw, z, Z (SELinux
    labels do not apply here; accepted for compatibility). `named(NAME)` gives
    a named volume's host directory (creating it, as podman)."""
    parts = value.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise UsageError(f"invalid volume {value!r}", hint="use -v HOST_DIR:CONTAINER_DIR[:ro]")
    host, ctr = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 else []
    is_named = not host.startswith(("/", "."))
    if not ctr.startswith("/"):
        raise UsageError(f"invalid volume {value!r}: the container path must be absolute")
    readonly = chown = False
    for opt in opts:
        if opt == "ro":
            readonly = True
        elif opt in ("rw", "z", "Z", "", "rbind", "bind", "private", "rprivate"):
            continue  # z/Z: SELinux relabelling does not apply here
        elif opt == "U":
            chown = True
        else:
            raise UsageError(f"invalid volume option {opt!r} in {value!r}", hint="ro, rw or U")
    if is_named:
        if named is None:
            raise UsageError(f"named volume {host!r} given where only host paths are allowed")
        return BindMount(named(host), os.path.normpath(ctr), readonly, chown)
    host = os.path.abspath(host)
    if not os.path.exists(host):
        raise UsageError(f"volume source {host}: no such file or directory")
    return BindMount(host, os.path.normpath(ctr), readonly, chown)


def parse_tmpfs(value: str) -> TmpfsMount:
    target, _, opts = value.partition(":")
    if not target.startswith("/"):
        raise UsageError(f"invalid --tmpfs {value!r}: the path must be absolute")
    return TmpfsMount(os.path.normpath(target), opts or "rw,noexec,nosuid,nodev")


def parse_entrypoint(value: str) -> list[str]:
    """--entrypoint takes a string or a JSON array (podman)."""
    if value.startswith("["):
        try:
            parsed = json.loads(value)
            if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
                return parsed
        except ValueError:
            pass
    return [value] if value else []


def command(image_config: dict, entrypoint: str | None, cmd: list[str]) -> list[str]:
    """podman's rule: --entrypoint replaces the image's Entrypoint and drops
    its Cmd; command-line args replace Cmd."""
    if entrypoint is not None:
        return parse_entrypoint(entrypoint) + cmd
    ep = image_config.get("Entrypoint") or []
    if isinstance(ep, str):
        ep = shlex.split(ep)
    return list(ep) + (cmd or list(image_config.get("Cmd") or []))
