"""`rl run`: options + image -> record + spec -> runtime, and back to an
exit status. The CLI builds a RunRequest and calls run(); nothing here
prints except what the container itself writes."""

from __future__ import annotations

import os
import socket
import time

from rootless import cgroups, events, fsutil, network, storage, tools, volumes
from rootless.config import Paths, ensure_root
from rootless.containers import options, runextras
from rootless.containers.execsettings import save_exec_settings
from rootless.containers.records import Store, start_time
from rootless.containers.records import Record
from rootless.containers.request import RunRequest, user_networks  # noqa: F401 - its home; callers import it from here
from rootless.errors import ContainerError, RlError, UsageError
from rootless.plain import asdict, record
from rootless.runtime import create as runtime, keepid, security, userns
from rootless.runtime.spec import BindMount, Spec, Storage


@record
class _Source:
    ref: str
    layers: list[str]
    config: dict
    image_id: str = ""
    image_name: str = ""


def _image(paths: Paths, req: RunRequest) -> _Source:
    if req.rootfs:
        path = os.path.abspath(req.image)
        if not os.path.isdir(path):
            raise UsageError(f"--rootfs {req.image}: not a directory")
        return _Source(path, [path], {})
    from rootless.images import ImageStore, pull
    from rootless.errors import ImageNotFound
    policy = req.pull or "missing"
    img = None
    if policy in ("missing", "never"):
        try:
            img = ImageStore(paths).lookup(req.image)
        except ImageNotFound:
            if policy == "never":
                raise
    if img is None:
        try:
            img = pull(paths, req.image, quiet=req.quiet)
        except Exception:
            if policy != "newer":
                raise
            # newer: the registry could not say; the local image, as podman's
            img = ImageStore(paths).lookup(req.image)
    cfg = (img.config or {}).get("config") or {}
    want = req.image.split("@")[0]
    name = next((n for n in img.names if n == want or n.endswith("/" + want) or n.endswith("/library/" + want)),
                img.names[0] if img.names else "")
    return _Source(req.image, [str(d) for d in img.layer_dirs()], cfg, img.id, name)


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


def build_spec(req: RunRequest, src: _Source, store: Store, rec, mode) -> Spec:
    cfg = src.config
    env = options.parse_env(req.default_env) if req.default_env else {}  # containers.conf env, lowest
    env.update(options.image_env(cfg.get("Env")))
    env.update(options.parse_env(list(req.host_env), environ={}))   # --env-host, as it was at create
    env.update(options.parse_env(list(req.proxy_env), environ={}))  # --http-proxy (podman's default)
    env_items = [item for path in req.env_files for item in options.read_env_file(path)] + list(req.env)
    env.update(options.parse_env(env_items))
    args = options.command(cfg, req.entrypoint, req.command)
    if not args:
        raise UsageError("no command specified", hint="give a command after the image, or use --entrypoint")
    caps, added = security.resolve_caps(req.cap_add, req.cap_drop, req.privileged, base=req.default_caps)
    seccomp_setting, nnp = security.parse_security_opts(req.security_opt)
    if req.privileged:
        seccomp_setting = None
    rundir = store.run_dir(rec.id)
    etc = {}
    net = mode if isinstance(mode, network.NetSpec) else network.parse(mode)
    # --network host: the host's own name, as podman (the host's /etc/hosts names it)
    hostname = req.hostname or (socket.gethostname() if net.mode == "host" or req.uts == "host" else rec.short_id)
    binds = [options.parse_volume(v, named=lambda n: volumes.resolve(store.paths, n)) for v in req.volumes]
    user_bound = {os.path.normpath("/" + b.target.lstrip("/")) for b in binds}
    texts = {"/etc/hostname": hostname + "\n", **network.etc_texts(
        net, hostname, names=[rec.name, *req.network_alias], dns=req.dns, dns_search=req.dns_search,
        dns_options=req.dns_option, add_hosts=req.add_host, no_hosts=req.no_hosts)}
    for ctr_path, text in texts.items():
        if ctr_path in user_bound:
            continue  # the user's -v on it wins, as in podman: nothing generated, nothing updated
        host_file = rundir / os.path.basename(ctr_path)
        fsutil.atomic_write(host_file, text, 0o644)  # never through a symlink; 0644 whatever rl's umask
        etc[ctr_path] = str(host_file)
    cwd = req.workdir or cfg.get("WorkingDir") or "/"
    user_files = None
    if req.read_only:  # generated /etc/passwd and /etc/group go here, bound over the image's (podman)
        user_files = (str(rundir / "passwd"), str(rundir / "group"))
        for host_file in user_files:
            fsutil.atomic_write(host_file, "", 0o644)
    if req.tz:  # a copy of the zone's file over the image's /etc/localtime (its symlink's target), as podman
        with open(runextras.timezone_file(req.tz), "rb") as f:
            fsutil.atomic_write(rundir / "localtime", f.read(), 0o644)
        binds.append(BindMount(str(rundir / "localtime"), "/etc/localtime"))
    cdir = store.container_dir(rec.id)
    init_path = (req.init_path or _init_binary()) if req.init else None
    nested = idmap = None
    if _keep_id(req):
        nested, idmap = _keep_id_maps()
    return Spec(
        args=args,
        storage=Storage(rec.driver, tuple(src.layers), str(cdir / "diff"), str(cdir / "work"), str(cdir / "merged"),
                        idmap=idmap),
        env=env, cwd=cwd, user=req.user or _default_user(req, cfg),
        hostname=hostname, terminal=req.tty, stdin=req.interactive, readonly=req.read_only,
        binds=binds, tmpfs=[options.parse_tmpfs(t) for t in req.tmpfs],
        etc_files=etc, caps=caps, added_caps=added,
        seccomp_bpf=security.seccomp_program(seccomp_setting, caps, str(store.paths.runroot / "seccomp")), no_new_privs=nnp,
        masked=not req.privileged, netns=net.mode != "host", wait_network=net.needs_helper,
        init=init_path, own_init=req.init and init_path is None, remove_storage=req.rm, nested_maps=nested,
        umask=parse_umask(req.umask),
        keep_id_user=_keep_id_user(cwd, binds) if nested else None, group_add=list(req.group_add),
        user_files=user_files,
        rlimits=runextras.rlimits(req.ulimit), shm_size=runextras.parse_shm_size(req.shm_size),
        sysctls=runextras.sysctls(req.sysctl, net.mode), oom_score_adj=req.oom_score_adj,
        host_users=runextras.host_users(req.hostuser), passwd=req.passwd, passwd_entry=req.passwd_entry,
        uts_host=req.uts == "host", cgroupns_host=req.cgroupns == "host",
        personality=runextras.PERSONALITIES[req.personality] if req.personality else None)


def parse_umask(value: str | None) -> int:
    """--umask as podman takes it: 1 to 4 octal digits; unset is 0022."""
    if value is None:
        return 0o022
    if not (1 <= len(value) <= 4 and all(c in "01234567" for c in value)):
        raise UsageError(f"invalid umask {value!r}: not an octal mask", hint="e.g. --umask 0022 or --umask 077")
    return int(value, 8) & 0o777


def _keep_id_user(cwd: str, binds) -> dict:
    """keep-id's passwd/group entry: the host user's name, IDs and GECOS;
    HOME the working directory unless the user's home (or a directory
    above it) is mounted in, as podman."""
    import grp
    import pwd
    uid, gid = os.getuid(), os.getgid()
    try:
        pw = pwd.getpwuid(uid)
        name, gecos, home = pw.pw_name, pw.pw_gecos.split(",")[0], pw.pw_dir
    except KeyError:
        name, gecos, home = str(uid), "", ""
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    targets = {os.path.normpath("/" + b.target.lstrip("/")) for b in binds}
    mounted = bool(home) and any(home == t or home.startswith(t.rstrip("/") + "/") for t in targets if t != "/")
    return {"name": name, "uid": uid, "gid": gid, "gecos": gecos.replace(":", " "),
            "home": home if mounted else cwd, "group": group}


def _keep_id(req: RunRequest) -> bool:
    if req.userns and req.userns not in ("keep-id", "auto", ""):
        raise UsageError(f"unsupported --userns {req.userns!r}", hint="keep-id, or leave it unset")
    return req.userns == "keep-id"


def create(paths: Paths, req: RunRequest) -> Record:
    """Resolve the image and record the container; nothing runs yet."""
    # --- containers.conf: what the user left unset comes from podman's config files
    from rootless import containersconf
    containersconf.apply_to_request(req)
    # ---
    _networks(req)
    net = network.parse(req.network)
    if net.mode == "bridge" and net.options:  # NAME:alias=...,ip=...: recorded as --network-alias/--ip
        if net.options.get("ip") and req.ip and req.ip != net.options["ip"]:
            raise UsageError(f"--ip {req.ip} conflicts with --network {req.network}", hint="give the address once")
        req.network_alias = [*req.network_alias, *net.options.get("aliases", ())]
        req.ip = req.ip or net.options.get("ip")
        req.network = net.target
    _ports(req, net, {})  # bad -p/--network fail before any pull
    runextras.sysctls(req.sysctl, net.mode)  # net.* on a network not the container's own: refused now
    runextras.host_users(req.hostuser)  # an unknown --hostuser too
    if req.env_host and not req.host_env:  # podman takes both from its environment at create
        req.host_env = runextras.host_env()
    if req.http_proxy and not req.proxy_env:
        req.proxy_env = runextras.proxy_env()
    _mac_address(req, net)
    if net.mode == "bridge":
        from rootless.network import networks
        for name in [e["name"] for e in req.networks] or [net.target]:
            networks.load(paths, name)  # an unknown network: a clear error now
    cgroups.check(req.resources)  # limits this host cannot enforce fail before any pull
    _keep_id(req)
    if "keep-groups" in req.group_add and len(req.group_add) > 1:  # podman's rule and words
        raise UsageError("the '--group-add keep-groups' option is not allowed with any other --group-add options")
    if req.volumes_from:  # the sources' volumes and binds become -v specs of this container
        store = Store(paths)
        srcs = [(v.partition(":")[2], list(store.lookup(v.partition(":")[0]).request.get("volumes") or []))
                for v in req.volumes_from]
        req.volumes = [*req.volumes, *runextras.volumes_from(srcs, req.volumes)]
    _check_volumes(req)  # bad -v fail before any pull
    if req.requires:  # each must exist now; recorded by ID (a rename keeps the dependency)
        req.requires = [Store(paths).lookup(n).id for item in req.requires for n in item.split(",") if n]
    parse_umask(req.umask)  # a bad --umask fails before any pull
    from rootless.containers import runhooks
    runhooks.before_create(paths, req)  # --sdnotify/--cgroups/--cidfile checked, --replace
    ensure_root(paths.root)
    driver = storage.choose(req.storage_driver, paths.root)
    src = _image(paths, req)
    store = Store(paths)
    _anonymous_volumes(paths, req, src.config)
    try:
        rec = store.create(src.ref, req.command, driver, req.name, layers=src.layers, image_config=src.config,
                           request=asdict(req), image_id=src.image_id, image_name=src.image_name)
    except BaseException:
        volumes.remove_anonymous(paths, req.anon_volumes)
        raise
    # the upper dir is the container's "/": 0755 as the image's, not masked by the
    # caller's umask (a 0700 "/" locks every non-root process out of the rootfs)
    os.chmod(store.container_dir(rec.id) / "diff", 0o755)
    store.set_state(rec, "created")
    events.container(paths, rec, "create")
    runhooks.after_create(req, rec)  # --cidfile
    return rec


# podman's modes, which only a first --network may name (ParseNetworkFlag)
_NOT_EXTRA = ("bridge", "slirp4netns", "pasta", "pod", "none", "default", "private", "ns", "container", "host")


def _networks(req: RunRequest) -> None:
    """--network given several times: user networks only (podman's rule and
    words), split into req.networks; req.network keeps the first's name."""
    if not isinstance(req.network, list):
        return
    values = [v for v in req.network if v is not None]
    if len(values) <= 1:
        req.network = values[0] if values else None
        return
    first = network.parse(values[0])
    if first.mode != "bridge":
        raise UsageError(f"cannot set multiple networks without bridge network mode, selected mode {first.mode}",
                         hint="several --network options name user networks only (rl network create NAME)")
    entries: dict[str, dict] = {}
    for i, value in enumerate(values):
        name = value.partition(":")[0]
        if not name:
            raise UsageError("network name cannot be empty", hint="--network NAME[:alias=A,ip=IP]")
        if i and name in _NOT_EXTRA:
            raise UsageError(f"can only set extra network names, selected mode {name} conflicts with bridge",
                             hint="several --network options name user networks only (rl network create NAME)")
        spec = network.parse(value)
        entries[spec.target] = {"name": spec.target, "aliases": list(spec.options.get("aliases", ())),
                                "ip": spec.options.get("ip")}
    if len(entries) > 1:
        for flag, value in (("--ip", req.ip), ("--mac-address", req.mac_address)):
            if value:
                raise UsageError(f"{flag} can only be set for a single network",
                                 hint="give it per network: --network NAME:ip=ADDRESS")
    req.networks = list(entries.values()) if len(entries) > 1 else []
    if not req.networks:  # the same network named twice: one
        only = next(iter(entries.values()))
        req.network_alias = [*req.network_alias, *only["aliases"]]
        req.ip = req.ip or only["ip"]
    req.network = next(iter(entries))


def _mac_address(req: RunRequest, net) -> None:
    """--mac-address: a valid unicast address (podman checks the syntax first),
    on a user network only. podman refuses it for slirp4netns, pasta, host,
    none and container: (their interface is not its to address), and so does rl."""
    if not req.mac_address:
        return
    req.mac_address = network.parse_mac(req.mac_address)
    if net.mode != "bridge":
        raise UsageError(f"--mac-address can only be set when the network mode is bridge, not {net.mode}",
                         hint="a user network: rl network create NAME; rl run --network NAME --mac-address ...")


def _check_volumes(req: RunRequest) -> None:
    for v in req.volumes:
        if options.anonymous_volume(v) is None:
            options.parse_volume(v, named=_valid_volume_name)


def _valid_volume_name(name: str) -> str:
    if not volumes.valid_name(name):
        raise UsageError(f"invalid volume name {name!r}",
                         hint="names start with a letter or digit, then letters, digits, _ . -")
    return name


def _anonymous_volumes(paths: Paths, req: RunRequest, image_config: dict) -> None:
    """`-v /data` and the image's VOLUME paths (those no -v or --tmpfs covers)
    become volumes of their own, named now so a restart finds them again; as
    podman, they go with the container on --rm or rm -v."""
    taken = {options.anonymous_volume(v) or os.path.normpath(v.split(":")[1]) for v in req.volumes}
    taken |= {os.path.normpath(t.partition(":")[0]) for t in req.tmpfs}
    wanted = []
    for i, v in enumerate(req.volumes):
        path = options.anonymous_volume(v)
        if path is not None:
            wanted.append((i, path))
    for path in sorted((image_config or {}).get("Volumes") or {}):
        if path.startswith("/") and os.path.normpath(path) not in taken:
            wanted.append((None, os.path.normpath(path)))
    for i, path in wanted:
        name = volumes.create_anonymous(paths)
        req.anon_volumes.append(name)
        if i is None:
            req.volumes.append(f"{name}:{path}")
        else:
            req.volumes[i] = f"{name}:{path}"


def start(paths: Paths, rec: Record, *, interactive: bool | None = None, hooks=None, preserve_fds: int = 0) -> int:
    """Run a recorded container attached to this terminal; its exit status.
    hooks (the detached monitor): .stdio, .supervise, .started(pid), .reaper(),
    see runtime.RunOptions; with them this returns only by raising."""
    store = Store(paths)
    req = RunRequest(**rec.request)
    if interactive is not None:
        req.interactive = interactive
    st = store.state(rec)
    if st.get("state") in ("running", "starting"):
        raise ContainerError(f"container {rec.name} is already running")
    # the owner (rl itself, or the monitor) by pid and start time: if it dies, ps says so
    me = os.getpid()
    store.claim_run_dir(rec)  # this login's runroot, recorded for every other login
    store.clear_exit_file(rec)
    store.update_state(rec, state="starting", monitor=me, monitor_start=start_time(me), pid=None, exit_code=None,
                       detached=hooks is not None, oom_killed=False)
    try:
        mode = network.parse(req.network)
        join = _join_target(store, mode)
        ports = _ports(req, mode, rec.image_config, choose=True)
        join_userns = f"/proc/{join}/ns/user" if join else None
        pod_ns = _pod_namespaces(store, req)  # a pod's IPC/UTS: its infra's, with the user namespace owning them
        if pod_ns:
            join_userns = join_userns or pod_ns["user"]
        if mode.mode == "bridge":  # user networks: their namespace owns the container's netns
            mode = network.prepare_usernets(paths, [(name, [rec.name, *aliases], ip)
                                                    for name, aliases, ip in user_networks(req)],
                                            rec.id, mac=req.mac_address)
            join_userns = f"/proc/{mode.options['pinner']}/ns/user"
        spec = build_spec(req, _Source(rec.image, rec.layers, rec.image_config), store, rec, mode)
        if join:
            spec.join_netns = f"/proc/{join}/ns/net"
            if req.pod_infra_id and req.network == f"container:{req.pod_infra_id}":
                # a pod shares its infra's /etc/hosts and resolv.conf with its network
                _pod_etc_files(store, req.pod_infra_id, spec)
        spec.join_ns = {k: v for k, v in pod_ns.items() if k != "user"}
        spec.preserve_fds = preserve_fds if hooks is None else 0  # a foreground run's own fds 3..N+2
        if mode.mode == "bridge" and "/etc/hosts" in spec.etc_files:
            from rootless.network import usernet
            hosts_file = spec.etc_files["/etc/hosts"]
            with open(hosts_file) as f:
                usernet.publish_hosts(paths, mode.target, rec.id, hosts_file, f.read())
        if ports:
            from rootless.network import ports as netports
            netports.save(str(store.run_dir(rec.id)), ports)
        state_dir, net_mode, net_ports = str(store.run_dir(rec.id)), mode, tuple(ports)
        opts = runtime.RunOptions(start_network=lambda netns_pid, userns_pid: network.start(
                                      net_mode, netns_pid, state_dir, net_ports, userns=userns_pid),
                                  join_userns=join_userns,
                                  cgroup=None if req.cgroups == "disabled" else
                                  cgroups.placement(req.resources, rec.id, str(store.run_dir(rec.id)), rec.name))
        from rootless.containers import runhooks
        if opts.cgroup is not None and runhooks.monitor_stays(req):
            opts.cgroup.move_owner = False
        save_exec_settings(store, rec, spec)
        if hooks is not None:
            opts.stdio, opts.supervise = hooks.stdio, hooks.supervise
            spec.reaper = hooks.reaper()
        else:  # foreground (run, start -a): logged as the monitor logs, and relayed to this terminal
            from rootless.containers import logs
            opts.log = logs.writer_for(rec.request, rec.id, rec.name, str(store.container_dir(rec.id) / "ctr.log"))

        def started(pid):
            store.update_state(rec, state="running", pid=pid, pid_start=start_time(pid) if pid else None,
                               started=time.time(), finished=None, reason=None)
            runhooks.ready(req, me)  # --sdnotify=conmon, before `rl run -d` returns
            events.container(paths, rec, "init")
            events.container(paths, rec, "start")
            if hooks is None:  # this terminal is the container's
                events.container(paths, rec, "attach")
            if hooks is not None:
                hooks.started(pid)
        code = runtime.run(spec, opts, on_started=started)
        events.container(paths, rec, "died", exit_code=code)  # before `wait` can see the exit
        store.update_state(rec, state="exited", exit_code=code, finished=time.time(), pid=None,
                           oom_killed=bool(getattr(opts.cgroup, "oom_killed", False)))
        return code
    finally:
        if req.rm and hooks is None:  # a monitor removes it after its last restart
            store.remove(rec)
            volumes.remove_anonymous(paths, req.anon_volumes)
            if req.rmi and not req.rootfs:
                remove_image(paths, req.image)


def remove_image(paths: Paths, ref: str) -> None:
    """--rmi: the image the container ran, as `rl rmi REF` removes it (a
    name among several is untagged), unless a container still uses it:
    then, or when it is gone already, nothing and no error (podman's)."""
    from rootless.images import ops as image_ops
    try:
        image_ops.remove(paths, [ref], ignore=True)
    except RlError:
        pass


def _ports(req: RunRequest, net, image_config: dict, choose: bool = False) -> list:
    """-p/-P -> PortMappings; with choose, host ports picked and checked free."""
    if not (req.publish or req.publish_all or req.ip):
        return []  # the common case imports nothing more
    from rootless.network import ports
    exposed = {**((image_config or {}).get("ExposedPorts") or {}), **{p: {} for p in req.expose}}  # and --expose
    mappings = ports.parse_all(req.publish, req.publish_all, exposed)
    if req.ip and net.mode != "bridge":
        raise UsageError("--ip needs a user network", hint="rl network create NAME; rl run --network NAME --ip ...")
    if mappings and not net.publishes:
        raise UsageError(f"cannot publish ports with --network {net.mode}",
                         hint="ports are published by slirp4netns or pasta (the default network)")
    return ports.choose_host_ports(mappings) if choose else mappings


def _join_target(store: Store, net) -> int | None:
    """--network container:NAME: the pid whose namespaces we join."""
    if net.mode != "container":
        return None
    target = store.lookup(net.target)
    st = store.state(target)
    if st.get("state") != "running" or not st.get("pid"):
        raise ContainerError(f"container {target.name} is not running",
                             hint=f"--network container:{net.target} joins a running container's network")
    from rootless.runtime.init import namespace_pid
    return namespace_pid(int(st["pid"]))  # its PID 2 when PID 1 is rl's non-dumpable init


def _pod_namespaces(store: Store, req: RunRequest) -> dict[str, str]:
    """A pod member's IPC and UTS namespaces (as its --pod shares them):
    /proc/PID/ns/KIND of its running infra container, and "user", the user
    namespace that owns them; {} outside a pod."""
    kinds = [k for k in ("ipc", "uts") if k in (req.pod_share or ())]
    if not kinds or not req.pod_infra_id:
        return {}
    try:
        infra = store.load(req.pod_infra_id)
    except ContainerError:
        raise ContainerError("the pod's infra container is gone",
                             hint="remove the pod and create it again (rl pod rm -f POD)") from None
    st = store.state(infra)
    if st.get("state") != "running" or not st.get("pid"):
        raise ContainerError(f"the pod's infra container {infra.name} is not running",
                             hint="start the pod first: rl pod start POD")
    from rootless.runtime.init import namespace_pid
    pid = namespace_pid(int(st["pid"]))
    return {"user": f"/proc/{pid}/ns/user", **{k: f"/proc/{pid}/ns/{k}" for k in kinds}}


def _pod_etc_files(store: Store, infra_id: str, spec: Spec) -> None:
    """The infra container's /etc/hosts and /etc/resolv.conf texts, for a
    member joining its network (the files of that network, as podman's)."""
    for ctr_path in ("/etc/hosts", "/etc/resolv.conf"):
        if ctr_path not in spec.etc_files:
            continue  # the user's -v or --no-hosts wins
        try:
            with open(store.run_dir(infra_id) / os.path.basename(ctr_path)) as f:
                text = f.read()
        except OSError:
            continue
        fsutil.atomic_write(spec.etc_files[ctr_path], text, 0o644)


def run(paths: Paths, req: RunRequest) -> int:
    """Create and run in the foreground (what it --requires: detached.run_foreground)."""
    return start(paths, create(paths, req))
