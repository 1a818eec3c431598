"""The system engine API: what `rl info`, `rl version` and `rl system prune`
report and do, as plain data for any face (podman's JSON shapes).

    info(paths, storage_driver) -> dict      podman info's document
    version() -> dict                        podman version's document ({"Client": {...}})
    prune(paths, all_images, volumes) -> {"Containers": [...], "Networks": [...], ["Volumes": [...],] "Images": [...]}
    df(paths) -> {"Images": [row], "Containers": [row], "Volumes": [row]}; df_summary(report) -> [TYPE row]
    reset(paths) -> [problem]                 everything removed, the store too
    unshare(paths, argv) -> exit status       argv run in rl's user namespace (podman unshare)

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


# ---------------------------------------------------------------- system df

def _tree_size(path) -> int:
    from rootless.containers.ops import layer_size
    return layer_size(path)


def df(paths: Paths) -> dict:
    """`rl system df`: what the store holds, as podman counts it.
    {"Images": [row], "Containers": [row], "Volumes": [row]}: each row a dict
    (images: ID, Repository, Tag, Created, Size, SharedSize, UniqueSize,
    Containers; containers: ID, Image (its ID), ImageName, Command, LocalVolumes, Size, Created,
    Status, Names, Running; volumes: Name, Links, Size); summary(report) the
    three TYPE lines."""
    from rootless.containers.records import ACTIVE, Store
    from rootless.images.store import ImageStore
    from rootless.volumes import VolumeStore
    store = Store(paths)
    recs = sorted(store.all(damaged=False), key=lambda r: r.created)  # oldest first, as podman
    used_by: dict[str, int] = {}
    ctrs = []
    for rec in recs:
        st = store.state(rec)
        used_by[rec.image_id] = used_by.get(rec.image_id, 0) + 1
        vols = [str(v).split(":", 1)[0] for v in (rec.request or {}).get("volumes") or []]
        ctrs.append({"ID": rec.id, "Image": rec.image_id, "ImageName": rec.image_name or rec.image,
                     "Command": " ".join(rec.command or []),
                     "LocalVolumes": sum(1 for v in vols if v and not v.startswith(("/", "."))),
                     "Size": _tree_size(store.container_dir(rec.id) / "diff"), "Created": rec.created,
                     "Status": st.get("state") or "unknown", "Names": rec.name,
                     "Running": st.get("state") in ACTIVE})
    imgs = []
    try:
        images = ImageStore(paths).images()
    except Exception:  # noqa: BLE001 - an unreadable store still shows its containers and volumes
        images = []
    for img in images:
        names = img.names or ["<none>:<none>"]
        repo, _, tag = names[0].rpartition(":")
        imgs.append({"ID": img.id, "Repository": repo, "Tag": tag, "Created": img.created, "Size": img.size,
                     "SharedSize": 0, "UniqueSize": img.size, "Containers": used_by.get(img.id, 0)})
    vstore = VolumeStore(paths)
    vols = []
    for vol in vstore.list():
        vols.append({"Name": vol.Name, "Links": len(vstore.users(vol.Name)),
                     "Size": _tree_size(vstore.root / vol.Name / "_data")})
    return {"Images": imgs, "Containers": ctrs, "Volumes": vols}


def df_summary(report: dict) -> list[dict]:
    """The three lines of `system df`: Type, Total, Active, RawSize, RawReclaimable (bytes)."""
    imgs, ctrs, vols = report["Images"], report["Containers"], report["Volumes"]
    return [
        {"Type": "Images", "Total": len(imgs), "Active": sum(1 for i in imgs if i["Containers"]),
         "RawSize": sum(i["Size"] for i in imgs),
         "RawReclaimable": sum(i["Size"] for i in imgs if not i["Containers"])},
        {"Type": "Containers", "Total": len(ctrs), "Active": sum(1 for c in ctrs if c["Running"]),
         "RawSize": sum(c["Size"] for c in ctrs),
         "RawReclaimable": sum(c["Size"] for c in ctrs if not c["Running"])},
        {"Type": "Local Volumes", "Total": len(vols), "Active": sum(1 for v in vols if v["Links"]),
         "RawSize": sum(v["Size"] for v in vols),
         "RawReclaimable": sum(v["Size"] for v in vols if not v["Links"])},
    ]


# ---------------------------------------------------------------- system reset

def reset(paths: Paths) -> list[str]:
    """`rl system reset`: every container (stopped first), pod, image, volume
    and network removed, then the store itself (root and runroot); nothing of
    rl's left running. Returns the problems met (each also means something
    may be left), empty when all went."""
    import signal
    import time
    from rootless import volumes as vmod
    from rootless.containers import ops as cops
    from rootless.errors import RlError
    from rootless.images import ops as iops
    from rootless.network import manage, usernet
    from rootless.pods import ops as pops
    problems: list[str] = []

    def attempt(what, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except (RlError, OSError) as e:
            problems.append(f"{what}: {getattr(e, 'message', None) or e}")
            return None
    if paths.root.exists():
        problems += [e.message for e in pops.remove_with_infra(paths, force=True)]
        for cid in attempt("containers", cops.all_ids, paths) or []:
            attempt(f"container {cid[:12]}", cops.remove, paths, cid, force=True, volumes=True, timeout=0)
        attempt("leftovers", cops.remove_leftovers, paths)
        attempt("pods", pops.prune, paths)
        for n in [n.name for n in attempt("networks", manage.ls, paths) or []]:
            attempt(f"network {n}", manage.remove, paths, n, force=True)
        vstore = vmod.VolumeStore(paths)
        for vol in attempt("volumes", vstore.list) or []:
            attempt(f"volume {vol.Name}", vstore.remove, vol.Name, force=True)
        attempt("images", iops.remove, paths, [], force=True, all_images=True)
        # the rootless netns keeper ends once no container holds it
        deadline = time.monotonic() + 10
        while usernet.pinner_pid(paths) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = usernet.pinner_pid(paths)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        # what is left (layers, blobs, the event log...) belongs to the user or to subordinate IDs
        attempt("the store", _remove_tree, paths.root)
    try:
        run = paths.runroot
    except RlError:
        run = None
    if run is not None and run.exists():
        attempt("the run directory", _remove_tree, run)
    return problems


def _remove_tree(path) -> None:
    import shutil
    try:
        shutil.rmtree(path)
    except PermissionError:
        from rootless.runtime.userns import run_in_userns
        run_in_userns(shutil.rmtree, str(path))
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------- unshare

def unshare(paths: Paths, argv: list[str]) -> int:
    """`rl unshare [COMMAND]`: run argv (default $SHELL) as root of a user
    namespace with the mapping containers get (the user's own ID as 0, the
    subordinate IDs from 1), in a mount namespace of its own; its exit status
    (127 not found, 126 not executable, 128+N killed by N). The environment
    says so as podman's does (_CONTAINERS_USERNS_CONFIGURED=done,
    _CONTAINERS_ROOTLESS_UID/GID)."""
    import shutil
    import signal
    from rootless import tools
    from rootless.errors import RlError
    from rootless.linux import Clone
    from rootless.runtime import userns
    argv = list(argv) or [os.environ.get("SHELL") or "/bin/sh"]
    env = dict(os.environ)
    env.update(_CONTAINERS_USERNS_CONFIGURED="done", _CONTAINERS_ROOTLESS_UID=str(os.getuid()),
               _CONTAINERS_ROOTLESS_GID=str(os.getgid()))
    exe = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env.get("PATH"))
    if exe is None:
        raise RlError(f"{argv[0]}: executable file not found in $PATH", hint="give the command's full path",
                      exit_code=127)
    if not os.path.isfile(exe) or not os.access(exe, os.X_OK):
        raise RlError(f"{exe}: not an executable file" if os.path.exists(exe) else f"{exe}: no such file",
                      exit_code=126 if os.path.exists(exe) else 127)

    def child() -> int:
        try:
            tools.execve(exe, argv, env)
        except OSError as e:
            os.write(2, f"Error: {exe}: {e.strerror}\n".encode())
        return 126

    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGQUIT)}
    try:
        pid = userns.fork_userns(userns.user_mappings(), child, more_flags=Clone.NEWNS, keep_fds=(),
                                 stdio=(0, 1, 2), name="rl unshare")
        return userns.wait_status(pid)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
