"""`run` flags -> runtime values, podman's semantics. Pure functions."""

from __future__ import annotations

import os

from rootless import jsonio  # not json: its import costs every command ~7 ms (re)
from rootless.errors import UsageError

TYPE_CHECKING = False  # the runtime's spec is imported where a mount is made: inspect reads env only
if TYPE_CHECKING:  # pragma: no cover
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


_VOLUME_FORMS = "-v HOST_DIR:CONTAINER_DIR[:OPTIONS], -v VOLUME:CONTAINER_DIR[:OPTIONS] or -v CONTAINER_DIR"
_VOLUME_OPTIONS = "rw, ro, U, z, Z, [no]copy, [no]exec, [no]suid, [no]dev, [r]bind, [r]shared, [r]slave, [r]private"
# options that exclude each other, as podman's groups
_VOLUME_GROUPS = {"rw": "rw", "ro": "rw", "z": "z", "Z": "z", "U": "U", "copy": "copy", "nocopy": "copy",
                  "exec": "exec", "noexec": "exec", "suid": "suid", "nosuid": "suid", "dev": "dev", "nodev": "dev",
                  "bind": "bind", "rbind": "bind", **{p: "propagation" for p in (
                      "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable")}}


def anonymous_volume(value: str) -> str | None:
    """`-v /data` (the destination alone): an anonymous volume's path, else None."""
    return os.path.normpath(value) if ":" not in value and value.startswith("/") else None


def parse_volume(value: str, named=None) -> BindMount:
    """HOST:CTR[:OPTS] or NAME:CTR[:OPTS], podman's options (_VOLUME_OPTIONS;
    cached and delegated are accepted and mean nothing on Linux; z/Z relabel
    for SELinux, which does not apply here). `named(NAME)` gives a named
    volume's host directory (creating it, as podman). An anonymous `-v /data`
    is given a name when the container is created (run.create)."""
    from rootless.runtime.spec import BindMount
    parts = value.split(":")
    if len(parts) == 1 and anonymous_volume(value):
        raise UsageError(f"anonymous volume {value!r} given where only HOST:CONTAINER is allowed",
                         hint=f"use {_VOLUME_FORMS}")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise UsageError(f"invalid volume {value!r}", hint=f"use {_VOLUME_FORMS}")
    host, ctr = parts[0], parts[1]
    opts = [o for o in parts[2].split(",") if o] if len(parts) == 3 else []
    is_named = not host.startswith(("/", "."))
    if not ctr.startswith("/"):
        raise UsageError(f"invalid volume {value!r}: the container path must be absolute")
    readonly = chown = False
    copy = True
    attrs: list[str] = []
    propagation = ""
    seen: dict[str, str] = {}
    for opt in opts:
        group = _VOLUME_GROUPS.get(opt)
        if group is not None:
            if group in seen:
                raise UsageError(f"invalid volume {value!r}: {seen[group]!r} and {opt!r} exclude each other",
                                 hint="give one of them")
            seen[group] = opt
        if opt in ("cached", "delegated"):
            continue  # macOS consistency hints: no meaning on Linux (podman drops them too)
        if opt == "O":
            raise UsageError(f"volume {value!r}: overlay volumes (:O) are not supported by rl",
                             hint="mount it read-only (:ro), or copy the directory into a named volume")
        if opt.startswith("idmap"):
            raise UsageError(f"volume {value!r}: idmapped volumes (:idmap) are not supported rootless here",
                             hint="use :U to give the files to the container's user instead")
        if group is None:
            raise UsageError(f"invalid volume option {opt!r} in {value!r}", hint=_VOLUME_OPTIONS)
        if opt == "ro":
            readonly = True
        elif opt == "U":
            chown = True
        elif group == "copy":
            copy = opt == "copy"
        elif group in ("exec", "suid", "dev"):
            attrs.append(opt)
        elif group == "propagation":
            propagation = opt
        # rw, z, Z, bind, rbind: the defaults here
    ctr = os.path.normpath(ctr)
    if is_named:
        if named is None:
            raise UsageError(f"named volume {host!r} given where only host paths are allowed")
        # podman mounts volumes nosuid,nodev unless suid/dev say otherwise (host paths: as they are)
        attrs += [a for a in ("nosuid", "nodev") if a[2:] not in seen]
        return BindMount(named(host), ctr, readonly, chown, volume=host, copy=copy, attrs=tuple(attrs),
                         propagation=propagation)
    host = os.path.abspath(host)
    if not os.path.exists(host):
        raise UsageError(f"volume source {host}: no such file or directory")
    return BindMount(host, ctr, readonly, chown, attrs=tuple(attrs), propagation=propagation)


_TMPFS_FLAGS = ("rw", "ro", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "noatime")
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks")
_PROPAGATION = ("private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable")


def parse_tmpfs(value: str) -> TmpfsMount:
    """--tmpfs PATH[:OPTS], podman's options: rw/ro, [no]exec, [no]suid, [no]dev,
    noatime, size=, mode=, uid=, gid=, nr_inodes=; propagation modes are
    accepted (rl's mount namespace is private). nosuid and nodev unless
    overridden, as podman."""
    from rootless.runtime.spec import TmpfsMount
    target, _, opts = value.partition(":")
    if not target.startswith("/"):
        raise UsageError(f"invalid --tmpfs {value!r}: the path must be absolute")
    kept = []
    for opt in filter(None, opts.split(",")):
        key, eq, val = opt.partition("=")
        if opt in _TMPFS_FLAGS:
            kept.append(opt)
        elif key in _TMPFS_DATA and eq and val:
            if key == "mode" and not all(c in "01234567" for c in val):
                raise UsageError(f"invalid --tmpfs {value!r}: mode={val} is not an octal mode", hint="e.g. mode=0700")
            kept.append(opt)
        elif opt in _PROPAGATION or opt == "notmpcopyup":
            continue
        else:
            raise UsageError(f"invalid --tmpfs option {opt!r} in {value!r}",
                             hint="rw, ro, [no]exec, [no]suid, [no]dev, noatime, size=, mode=, uid=, gid=, nr_inodes=")
    return TmpfsMount(os.path.normpath(target), options=",".join(kept) if kept else "rw")


def parse_entrypoint(value: str) -> list[str]:
    """--entrypoint takes a string or a JSON array (podman)."""
    if value.startswith("["):
        try:
            parsed = jsonio.loads(value)
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
        import shlex  # rarely: shlex imports re, ~5 ms every inspect would pay
        ep = shlex.split(ep)
    return list(ep) + (cmd or list(image_config.get("Cmd") or []))


def mount_to_flag(value: str) -> tuple[str, str]:
    """podman's `--mount type=bind|volume|tmpfs,...` (what podman-compose passes) as the -v or --tmpfs
    spec that means the same: ("volume", "SRC:DST[:OPTS]") or ("tmpfs", "DST[:OPTS]")."""
    fields: dict[str, str] = {}
    opts: list[str] = []
    for item in filter(None, value.split(",")):
        k, eq, v = item.partition("=")
        k = {"src": "source", "target": "destination", "dst": "destination", "readonly": "ro"}.get(k, k)
        if k in ("type", "source", "destination"):
            fields[k] = v
        elif k == "ro" and v in ("", "true", "1"):
            opts.append("ro")
        elif (k == "ro" and v in ("false", "0")) or (k == "rw" and not eq):
            opts.append("rw")
        elif k in ("bind-propagation", "volume-propagation") and eq:
            opts.append(v)
        elif k in ("tmpfs-size", "tmpfs-mode") and eq:
            opts.append(f"{k[6:]}={v}")
        elif k in ("relabel", "z", "Z", "U", "chown", "exec", "noexec", "suid", "nosuid", "dev", "nodev") or \
                k == "bind-nonrecursive":
            opts.append(item if k not in ("relabel",) else ("z" if v == "shared" else "Z"))
        else:
            raise UsageError(f"--mount {value!r}: option {k!r} is not supported by rl",
                             hint="type=bind|volume|tmpfs,source=...,destination=...[,ro][,tmpfs-size=][,tmpfs-mode=]")
    kind, dst = fields.get("type", "volume"), fields.get("destination")
    if not dst:
        raise UsageError(f"--mount {value!r}: no destination", hint="destination=/PATH/IN/CONTAINER")
    if kind == "tmpfs":
        return "tmpfs", dst + (":" + ",".join(opts) if opts else "")
    if kind not in ("bind", "volume"):
        raise UsageError(f"--mount type={kind} is not supported by rl", hint="type=bind, volume or tmpfs")
    src = fields.get("source")
    if kind == "bind" and not src:
        raise UsageError(f"--mount {value!r}: a bind mount needs source=", hint="source=/HOST/PATH")
    return "volume", (f"{src}:{dst}" if src else dst) + (":" + ",".join(opts) if opts else "")
