"""`rl system check`, `rl system prune`, `rl info` and `rl version`. Parsing and
rendering only: the engine is rootless.system (and rootless.hostcheck)."""

from __future__ import annotations

import json
import sys

from rootless.cli.options import OPTIONS
from rootless.cli.table import STR, Opt, command, group
from rootless.errors import ExitStatus

group("system", "Manage rl itself and check the host.")

_MARK = {"ok": "ok   ", "warn": "WARN ", "error": "ERROR"}


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


@command("system check", Opt("fmt", "--format", "-f", kind=STR, default="", help="json for machine-readable output"))
def check(fmt) -> None:
    """Check the host for rootless use; print each finding with its fix."""
    from rootless import hostcheck
    findings = hostcheck.run_all(_paths())
    ok = hostcheck.ready(findings)
    if fmt == "json":
        print(json.dumps({"ready": ok, "findings": [f.as_dict() for f in findings]}, indent=2))
    else:
        width = max(len(f.name) for f in findings)
        for f in findings:
            print(f"{_MARK[f.status]} {f.name:<{width}}  {f.detail}")
            if f.fix and f.status != "ok":
                print(f"      {'':<{width}}  fix: {f.fix}")
        print("ready for rootless containers" if ok else "NOT ready: fix the ERROR lines above")
    if not ok:
        raise ExitStatus(1)


@command("system prune",
         Opt("all_", "--all", "-a", help="all unused images, not only dangling ones"),
         Opt("volumes", "--volumes", help="also volumes no container uses"),
         Opt("force", "--force", "-f", help="do not ask"))
def prune(all_, volumes, force) -> None:
    """Remove stopped containers, unused networks, dangling (or with -a all unused) images, and with --volumes unused volumes."""
    from rootless import system
    from rootless.cli.prompt import confirm
    what = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        what.append("all volumes not used by at least one container")
    what.append("all images without at least one container associated with them" if all_ else "all dangling images")
    what.append("all build cache" if all_ else "all dangling build cache")
    if not force and not confirm("WARNING! This command removes:\n" + "".join(f"\t- {w}\n" for w in what) + "\n"):
        return
    for kind, names in system.prune(_paths(), all_images=all_, volumes=volumes).items():
        if names:
            print(f"Deleted {kind}")
            for n in names:
                print(n)


@command("info", Opt("fmt", "--format", "-f", kind=STR, default="",
                     help="json, or a Go template (e.g. {{.Host.Arch}})"))
def info(fmt) -> None:
    """Show host, storage, registry and configuration information."""
    from rootless import system
    data = system.info(_paths(), OPTIONS.storage_driver)
    if fmt.strip() == "json":
        print(json.dumps(data, indent=2))
        return
    if fmt:
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, [_struct(data)]))
        return
    _yaml(data, 0)


_GO_NAMES = {"os": "OS", "ociRuntime": "OCIRuntime"}


def _struct(v, maps=("registries", "idMappings")):
    """The info document as podman's Go structs for templates: exported
    (capitalised) field names, so an unknown field is an error as podman's;
    maps (registries) keep their keys."""
    if isinstance(v, dict):
        return {_GO_NAMES.get(k, k[:1].upper() + k[1:]): (val if k in maps else _struct(val)) for k, val in v.items()}
    if isinstance(v, list):
        return [_struct(x) for x in v]
    return v


def _yaml(obj, depth: int) -> None:
    pad = "  " * depth
    for k, v in obj.items():
        if isinstance(v, dict):
            print(f"{pad}{k}:")
            _yaml(v, depth + 1)
        elif isinstance(v, list):
            print(f"{pad}{k}:")
            for item in v:
                if isinstance(item, dict):
                    print(f"{pad}  - " + ", ".join(f"{a}: {b}" for a, b in item.items()))
                else:
                    print(f"{pad}  - {item}")
        else:
            print(f"{pad}{k}: {v}")


@command("version", Opt("fmt", "--format", "-f", kind=STR, default="",
                        help="json, or a Go template (e.g. {{.Client.Version}})"))
def version(fmt) -> None:
    """Show rl's version, the podman API version it follows, and the platform."""
    from rootless import system
    data = system.version()
    if fmt.strip() == "json":
        print(json.dumps(data, separators=(",", ":")))
        return
    if fmt:
        from rootless.cli.gotemplate import render_rows
        # as podman without a service: .Server's fields are the client's
        sys.stdout.write(render_rows(fmt.replace(".Server.", ".Client."), [data]))
        return
    from rootless.cli.gotemplate import tabwrite
    c = data["Client"]
    rows = [("Client:", "rl"), ("Version:", c["Version"]), ("API Version:", c["APIVersion"]),
            ("Python Version:", c["PythonVersion"]), ("Built:", c["BuiltTime"]), ("OS/Arch:", c["OsArch"])]
    print(tabwrite("\n".join(f"{k}\t{v}" for k, v in rows)))
