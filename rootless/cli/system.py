"""`rl system check` and `rl info`: is this host ready for rootless containers?"""

from __future__ import annotations

import json
import os
import platform

import typer

from rootless.cli import OPTIONS, app
from rootless.errors import ExitStatus

system_app = typer.Typer(help="Manage rl itself and check the host.", no_args_is_help=True)
app.add_typer(system_app, name="system")

_MARK = {"ok": "ok   ", "warn": "WARN ", "error": "ERROR"}


@system_app.command("check")
def check(fmt: str = typer.Option("", "--format", "-f", help="json for machine-readable output")) -> None:
    """Check the host for rootless use; print each finding with its fix."""
    from rootless import hostcheck

    from rootless.config import default_paths
    findings = hostcheck.run_all(default_paths(OPTIONS.root, OPTIONS.runroot))
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


@system_app.command("prune")
def prune(
    all_: bool = typer.Option(False, "--all", "-a", help="all unused images, not only dangling ones"),
    volumes: bool = typer.Option(False, "--volumes", help="also volumes no container uses"),
    force: bool = typer.Option(False, "--force", "-f", help="do not ask"),
) -> None:
    """Remove stopped containers, unused networks, dangling (or with -a all unused) images, and with --volumes unused volumes."""
    from rootless.cli.networks import _members
    from rootless.cli.prompt import confirm
    from rootless.config import default_paths
    from rootless.containers import lifecycle
    from rootless.images import ops
    from rootless.network import networks
    from rootless.volumes import VolumeStore

    what = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        what.append("all volumes not used by at least one container")
    what.append("all images without at least one container associated with them" if all_ else "all dangling images")
    what.append("all build cache" if all_ else "all dangling build cache")
    if not force and not confirm("WARNING! This command removes:\n" + "".join(f"\t- {w}\n" for w in what) + "\n"):
        return
    paths = default_paths(OPTIONS.root, OPTIONS.runroot)
    gone = {"Containers": lifecycle.prune(paths), "Networks": []}
    for n in networks.all_networks(paths):
        if not _members(paths, n.name):
            networks.remove(paths, n.name)
            gone["Networks"].append(n.name)
    if volumes:
        gone["Volumes"] = VolumeStore(paths).prune()
    gone["Images"] = ops.prune(paths, all_images=all_)
    for kind, names in gone.items():
        if names:
            print(f"Deleted {kind}")
            for n in names:
                print(n)


@app.command("info")
def info(fmt: str = typer.Option("", "--format", "-f", help="json for machine-readable output")) -> None:
    """Show host and storage information."""
    from rootless import config, hostcheck
    from rootless.errors import RlError
    from rootless.runtime import userns

    paths = config.default_paths(OPTIONS.root, OPTIONS.runroot)
    try:
        maps = userns.user_mappings()
        idmaps = {"uidmap": [m._asdict() for m in maps.uids], "gidmap": [m._asdict() for m in maps.gids]}
    except RlError as e:
        idmaps = {"error": e.message}
    data = {
        "host": {
            "arch": platform.machine(),
            "kernel": platform.release(),
            "os": "linux",
            "hostname": platform.node(),
            "rootless": os.getuid() != 0,
            "cgroupVersion": hostcheck.cgroup_layout(),
            "idMappings": idmaps,
        },
        "store": {
            "graphRoot": str(paths.root),
            "runRoot": str(paths.runroot),
            "graphDriverName": OPTIONS.storage_driver or "fuse-overlayfs",
        },
        "version": {"rl": __import__("rootless").__version__, "python": platform.python_version()},
    }
    if fmt == "json":
        print(json.dumps(data, indent=2))
        return
    _yaml(data, 0)


def _yaml(obj, depth: int) -> None:
    pad = "  " * depth
    for k, v in obj.items():
        if isinstance(v, dict):
            print(f"{pad}{k}:")
            _yaml(v, depth + 1)
        elif isinstance(v, list):
            print(f"{pad}{k}:")
            for item in v:
                print(f"{pad}  - " + ", ".join(f"{a}: {b}" for a, b in item.items()))
        else:
            print(f"{pad}{k}: {v}")
