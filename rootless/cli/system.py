"""`rl system check` and `rl info`: is this host ready for rootless containers?"""

from __future__ import annotations

import json
import os
import platform

import typer

from rootless.cli.options import OPTIONS
from rootless.cli.typerapp import app
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
def info(fmt: str = typer.Option("", "--format", "-f", help="json, or a Go template (e.g. {{.Host.Arch}})")) -> None:
    """Show host, storage, registry and configuration information."""
    data = info_data()
    if fmt.strip() == "json":
        print(json.dumps(data, indent=2))
        return
    if fmt:
        import sys
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, [_struct(data)]))
        return
    _yaml(data, 0)


def info_data() -> dict:
    """podman info's shape (host, store, registries, version) with what rl knows."""
    import shutil
    import sys
    from rootless import config, containersconf, hostcheck, storage, tools
    from rootless.errors import RlError
    from rootless.images import regconf
    from rootless.runtime import userns

    paths = config.default_paths(OPTIONS.root, OPTIONS.runroot)
    try:
        maps = userns.user_mappings()
        idmaps = {"uidmap": [m._asdict() for m in maps.uids], "gidmap": [m._asdict() for m in maps.gids]}
    except RlError as e:
        idmaps = {"error": e.message}
    cconf = containersconf.current()
    sconf = config.storage_conf()
    try:
        driver = storage.choose(OPTIONS.storage_driver, paths.root)
    except RlError:
        driver = OPTIONS.storage_driver or "fuse-overlayfs"
    rconf = regconf.load()
    registries: dict = {}
    for reg in rconf.registries:
        registries[reg.prefix] = {"Prefix": reg.prefix, "Location": reg.location, "Insecure": reg.insecure,
                                  "Blocked": reg.blocked, "MirrorByDigestOnly": reg.mirror_by_digest_only,
                                  "Mirrors": [{"Location": m.location, "Insecure": m.insecure,
                                               "PullFromMirror": m.pull_from_mirror} for m in reg.mirrors] or None}
    if rconf.search:
        registries["search"] = list(rconf.search)
    net_cmd = "pasta" if shutil.which("pasta") and not shutil.which("slirp4netns") else "slirp4netns"
    slirp = tools.find("slirp4netns") if hasattr(tools, "find") else shutil.which("slirp4netns")
    version = __import__("rootless").__version__
    return {
        "host": {
            "arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine()),
            "kernel": platform.release(),
            "os": "linux",
            "hostname": platform.node(),
            "rootless": os.getuid() != 0,
            "cgroupVersion": hostcheck.cgroup_layout(),
            "idMappings": idmaps,
            "logDriver": cconf.get("containers.log_driver") or "k8s-file",
            "networkBackend": net_cmd,
            "ociRuntime": {"name": "rl", "package": "rl " + version, "path": sys.executable,
                           "version": f"rl version {version} (built-in runtime, Python {platform.python_version()})"},
            "slirp4netns": {"executable": str(slirp or "")},
            "security": {"rootless": os.getuid() != 0, "seccompEnabled": True,
                         "capabilities": ",".join("CAP_" + c for c in
                                                  (cconf.get("containers.default_capabilities") or
                                                   sorted(__import__("rootless.runtime.security",
                                                                     fromlist=["x"]).DEFAULT_CAPS)))},
        },
        "store": {
            "configFile": sconf.file or "",
            "graphRoot": str(paths.root),
            "runRoot": str(paths.runroot),
            "graphDriverName": driver,
            "volumePath": str(paths.root / "volumes"),
            "imageStore": {"number": _count_images(paths)},
            "containerStore": {"number": _count(paths.root / "containers")},
        },
        "registries": registries,
        "containersConf": {
            "files": cconf.files,
            "unsupportedKeys": [f"{k} ({f})" for k, f in cconf.unsupported()],
        },
        "version": {"Version": version, "OsArch": "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(
                        platform.machine(), platform.machine()), "Os": "linux",
                    "rl": version, "python": platform.python_version()},
    }


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


def _count_images(paths) -> int:
    from rootless.images.store import ImageStore
    try:
        return len(ImageStore(paths).images())
    except Exception:  # noqa: BLE001 - a damaged store still gets an info page
        return 0


def _count(d) -> int:
    try:
        return sum(1 for p in d.iterdir() if p.is_dir())
    except OSError:
        return 0


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


# The podman release whose CLI rl follows and is compared against (the oracle of the differential tests,
# Debian bookworm's podman): `rl version` reports it as the API version, where podman reports its own.
PODMAN_API_VERSION = "4.3.1"


def version_data() -> dict:
    """podman version's document: a Client only (there is no service to be a Server)."""
    import time
    from pathlib import Path

    import rootless
    try:
        built = int(Path(rootless.__file__).stat().st_mtime)  # when this rl was installed
    except OSError:
        built = 0
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {"Client": {"APIVersion": PODMAN_API_VERSION, "Version": rootless.__version__,
                       "PythonVersion": platform.python_version(), "GitCommit": "",
                       "BuiltTime": time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(built)),
                       "Built": built, "OsArch": f"linux/{arch}", "Os": "linux"}}


@app.command("version")
def version(fmt: str = typer.Option("", "--format", "-f", help="json, or a Go template (e.g. {{.Client.Version}})")
            ) -> None:
    """Show rl's version, the podman API version it follows, and the platform."""
    import sys
    data = version_data()
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
