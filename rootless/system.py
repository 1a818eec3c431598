"""The system engine API: what `rl info`, `rl version` and `rl system prune`
report and do, as plain data for any face (podman's JSON shapes).

    info(paths, storage_driver) -> dict      podman info's document
    version() -> dict                        podman version's document ({"Client": {...}})
    prune(paths, all_images, volumes) -> {"Containers": [...], "Networks": [...], ["Volumes": [...],] "Images": [...]}

`rl system check` is hostcheck.run_all(paths) -> [Finding] and hostcheck.ready(findings)."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # `rl --version` (podman-compose asks before every action) imports neither pathlib nor platform
if TYPE_CHECKING:  # pragma: no cover
    from rootless.config import Paths


def info(paths: Paths, storage_driver: str | None = None) -> dict:
    """`rl info`: podman info's document (host, store, registries, version) with
    what rl knows. storage_driver: the one asked for (--storage-driver), if any."""
    import platform
    import shutil
    import sys
    from rootless import config, containersconf, hostcheck, storage, tools
    from rootless.errors import RlError
    from rootless.images import regconf
    from rootless.runtime import userns

    try:
        maps = userns.user_mappings()
        idmaps = {"uidmap": [m._asdict() for m in maps.uids], "gidmap": [m._asdict() for m in maps.gids]}
    except RlError as e:
        idmaps = {"error": e.message}
    cconf = containersconf.current()
    sconf = config.storage_conf()
    try:
        driver = storage.choose(storage_driver, paths.root)
    except RlError:
        driver = storage_driver or "fuse-overlayfs"
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
    from rootless import __version__ as ver
    from rootless.runtime.security import DEFAULT_CAPS
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
            "ociRuntime": {"name": "rl", "package": "rl " + ver, "path": sys.executable,
                           "version": f"rl version {ver} (built-in runtime, Python {platform.python_version()})"},
            "slirp4netns": {"executable": str(slirp or "")},
            "security": {"rootless": os.getuid() != 0, "seccompEnabled": True,
                         "capabilities": ",".join("CAP_" + c for c in
                                                  (cconf.get("containers.default_capabilities") or
                                                   sorted(DEFAULT_CAPS)))},
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
        "version": {"Version": ver, "OsArch": "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(
                        platform.machine(), platform.machine()), "Os": "linux",
                    "rl": ver, "python": platform.python_version()},
    }


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


# The podman CLI level rl follows, in one place: `rl version`'s API Version and the last word of
# `rl --version`. Tools that drive a podman-compatible CLI read podman's version from that last word:
# podman-compose 1.6 skips `depends_on: condition: service_healthy` and `up --wait` below 4.6.0, and from
# 5.6.0 on calls `pull --policy` (which rl lacks), so this says 4.6.0 (rl's `wait --condition=healthy`
# and the `--health-*` flags podman-compose passes behave as podman 4.6's).
PODMAN_API_VERSION = "4.6.0"


def version_line() -> str:
    """`rl --version`: rl's own version as podman's third field (`rl version X.Y.Z`, for scripts
    reading it) and, last, the podman level rl follows (what tools reading podman's version parse)."""
    import rootless
    return f"rl version {rootless.__version__} (podman {PODMAN_API_VERSION})"


def version() -> dict:
    """podman version's document: a Client only (there is no service to be a Server)."""
    import platform
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


def prune(paths: Paths, all_images: bool = False, volumes: bool = False) -> dict[str, list[str]]:
    """Remove stopped containers, networks no running container uses, with
    volumes unused volumes, and dangling (all_images: all unused) images; what
    went, by kind, in that order."""
    from rootless.containers import lifecycle
    from rootless.images import ops
    from rootless.network import manage
    from rootless.volumes import VolumeStore
    gone = {"Containers": lifecycle.prune(paths), "Networks": manage.prune(paths)}
    if volumes:
        gone["Volumes"] = VolumeStore(paths).prune()
    gone["Images"] = ops.prune(paths, all_images=all_images)
    return gone
