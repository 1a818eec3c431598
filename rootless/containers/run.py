"""`rl run`: options + image -> record + spec -> runtime, and back to an
exit status. The CLI builds a RunRequest and calls run(); nothing here
prints except what the container itself writes."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import asdict, dataclass, field

from rootless import cgroups, network, storage, tools
from rootless.config import Paths, ensure_dir
from rootless.containers import options
from rootless.containers.records import Store
from rootless.containers.records import Record
from rootless.errors import ContainerError, ImageError, UsageError
from rootless.runtime import create as runtime, keepid, security, userns
from rootless.runtime.spec import Spec, Storage


@dataclass
class RunRequest:
    image: str                       # an image reference, or a directory with rootfs=True
    command: list[str] = field(default_factory=list)
    rootfs: bool = False
    name: str | None = None
    rm: bool = False
    interactive: bool = False
    tty: bool = False
    hostname: str | None = None
    env: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    entrypoint: str | None = None
    workdir: str | None = None
    user: str | None = None
    volumes: list[str] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    read_only: bool = False
    init: bool = False
    network: str | None = None
    userns: str | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)
    storage_driver: str | None = None
    quiet: bool = False
    resources: dict = field(default_factory=dict)  # cgroup limits: rootless.cgroups.Resources.to_dict()


@dataclass
class _Source:
    ref: str
    layers: list[str]
    config: dict


def _image(paths: Paths, req: RunRequest) -> _Source:
    if req.rootfs:
        path = os.path.abspath(req.image)
        if not os.path.isdir(path):
            raise UsageError(f"--rootfs {req.image}: not a directory")
        return _Source(path, [path], {})
    try:
        from rootless.images import ImageStore, pull
    except ImportError:
        raise ImageError("image support is not available in this build",
                         hint="run a directory instead: rl run --rootfs DIR COMMAND") from None
    from rootless.errors import ImageNotFound
    try:
        img = ImageStore(paths).lookup(req.image)
    except ImageNotFound:
        img = pull(paths, req.image, quiet=req.quiet)
    cfg = (img.config or {}).get("config") or {}
    return _Source(req.image, [str(d) for d in img.layer_dirs()], cfg)


def _init_binary() -> str | None:
    """A statically linked init (it runs whatever libc the image has), or
    None for rl's own. RL_INIT_PATH overrides, as containers.conf init_path;
    RL_INIT_PATH=builtin forces rl's own."""
    forced = os.environ.get("RL_INIT_PATH")
    if forced:
        return None if forced == "builtin" else forced
    for name in ("catatonit", "tini-static"):
        path = tools.find(name)
        if path:
            return path
    return None


def _keep_id_maps() -> tuple[tuple[str, str], tuple[str, str]]:
    """(nested uid_map/gid_map texts, fuse uidmapping/gidmapping)."""
    uranges, granges = userns.user_ranges()
    out = []
    for own, ranges in ((os.getuid(), uranges), (os.getgid(), granges)):
        try:
            out.append(keepid.nested_maps(own, 1 + sum(r.count for r in ranges)))
        except ValueError as e:
            raise UsageError(f"--userns=keep-id: {e}") from None
    return ((keepid.map_text(out[0]), keepid.map_text(out[1])),
            (keepid.fuse_mapping(out[0]), keepid.fuse_mapping(out[1])))


def _default_user(req: RunRequest, cfg: dict) -> str:
    if _keep_id(req):
        return f"{os.getuid()}:{os.getgid()}"  # podman: keep-id runs as your own IDs
    return cfg.get("User") or ""


def build_spec(req: RunRequest, src: _Source, store: Store, rec, mode: str) -> Spec:
    cfg = src.config
    env = options.image_env(cfg.get("Env"))
    env_items = [item for path in req.env_files for item in options.read_env_file(path)] + list(req.env)
    env.update(options.parse_env(env_items))
    args = options.command(cfg, req.entrypoint, req.command)
    if not args:
        raise UsageError("no command specified", hint="give a command after the image, or use --entrypoint")
    caps, added = security.resolve_caps(req.cap_add, req.cap_drop, req.privileged)
    seccomp_setting, nnp = security.parse_security_opts(req.security_opt)
    if req.privileged:
        seccomp_setting = None
    hostname = req.hostname or rec.short_id
    rundir = store.run_dir(rec.id)
    etc = {}
    try:
        with open("/etc/resolv.conf") as f:
            host_resolv = f.read()
    except OSError:
        host_resolv = ""
    for ctr_path, text in (("/etc/hostname", hostname + "\n"), ("/etc/hosts", network.hosts(mode, hostname)),
                           ("/etc/resolv.conf", network.resolv_conf(mode, host_resolv))):
        host_file = rundir / os.path.basename(ctr_path)
        host_file.write_text(text)
        etc[ctr_path] = str(host_file)
    cdir = store.container_dir(rec.id)
    init_path = _init_binary() if req.init else None
    nested = idmap = None
    if _keep_id(req):
        nested, idmap = _keep_id_maps()
    return Spec(
        args=args,
        storage=Storage(rec.driver, tuple(src.layers), str(cdir / "diff"), str(cdir / "work"), str(cdir / "merged"),
                        idmap=idmap),
        env=env, cwd=req.workdir or cfg.get("WorkingDir") or "/", user=req.user or _default_user(req, cfg),
        hostname=hostname, terminal=req.tty, stdin=req.interactive, readonly=req.read_only,
        binds=[options.parse_volume(v) for v in req.volumes], tmpfs=[options.parse_tmpfs(t) for t in req.tmpfs],
        etc_files=etc, caps=caps, added_caps=added,
        seccomp_bpf=security.seccomp_program(seccomp_setting, caps, str(store.paths.runroot / "seccomp")), no_new_privs=nnp,
        masked=not req.privileged, netns=mode != "host", wait_network=mode == "slirp4netns",
        init=init_path, own_init=req.init and init_path is None, remove_storage=req.rm, nested_maps=nested)


def _keep_id(req: RunRequest) -> bool:
    if req.userns and req.userns not in ("keep-id", "auto", ""):
        raise UsageError(f"unsupported --userns {req.userns!r}", hint="keep-id, or leave it unset")
    return req.userns == "keep-id"


def create(paths: Paths, req: RunRequest) -> Record:
    """Resolve the image and record the container; nothing runs yet."""
    network.parse_mode(req.network)
    cgroups.check(req.resources)  # limits this host cannot enforce fail before any pull
    _keep_id(req)
    ensure_dir(paths.root)
    driver = storage.choose(req.storage_driver, paths.root)
    src = _image(paths, req)
    store = Store(paths)
    rec = store.create(src.ref, req.command, driver, req.name, layers=src.layers, image_config=src.config,
                       request=asdict(req))
    store.set_state(rec, "created")
    return rec


def start(paths: Paths, rec: Record, *, interactive: bool | None = None) -> int:
    """Run a recorded container attached to this terminal; its exit status."""
    store = Store(paths)
    req = RunRequest(**rec.request)
    if interactive is not None:
        req.interactive = interactive
    st = store.state(rec)
    if st.get("state") in ("running", "starting"):
        raise ContainerError(f"container {rec.name} is already running")
    store.set_state(rec, "starting", pid=os.getpid())  # rl itself until PID 1 exists
    try:
        mode = network.parse_mode(req.network)
        spec = build_spec(req, _Source(rec.image, rec.layers, rec.image_config), store, rec, mode)
        opts = runtime.RunOptions(network=mode, state_dir=str(store.run_dir(rec.id)),
                                  cgroup=cgroups.placement(req.resources, rec.id, str(store.run_dir(rec.id)), rec.name))
        code = runtime.run(spec, opts, on_started=lambda pid: store.set_state(rec, "running", pid=pid))
        store.set_state(rec, "exited", exit_code=code)
        return code
    finally:
        if req.rm:
            store.remove(rec)


def run(paths: Paths, req: RunRequest) -> int:
    rec = create(paths, req)
    return start(paths, rec)


def remove(paths: Paths, name_or_id: str, force: bool = False) -> Record:
    store = Store(paths)
    rec = store.lookup(name_or_id)
    st = store.state(rec)
    if st.get("state") in ("running", "starting"):
        if not force:
            raise ContainerError(f"container {rec.name} is running",
                                 hint=f"stop it first, or: rl rm -f {rec.name}")
        try:
            os.kill(st["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while store.state(rec).get("state") in ("running", "starting") and time.monotonic() < deadline:
            time.sleep(0.02)
    store.remove(rec)
    return rec
