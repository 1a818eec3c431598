"""What `rl run`/`create` asked for (RunRequest, the container record's
`request`), apart from the engine that acts on it (containers/run.py, which
re-exports it): `rl inspect` and `rl ps` read it without importing the
runtime."""

from __future__ import annotations

from rootless.plain import field, record


@record
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
    anon_volumes: list[str] = field(default_factory=list)  # names given to -v /PATH and image VOLUMEs at create
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
    publish: list[str] = field(default_factory=list)      # -p specs (rootless.network.ports)
    publish_all: bool = False                               # -P: the image's EXPOSE ports
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_option: list[str] = field(default_factory=list)
    add_host: list[str] = field(default_factory=list)
    no_hosts: bool = False
    network_alias: list[str] = field(default_factory=list)
    # several user networks (--network a --network b, network connect): [{"name", "aliases", "ip"}],
    # the first also in `network`; empty for a single network (network_alias/ip say it all)
    networks: list[dict] = field(default_factory=list)
    ip: str | None = None                                   # --ip on a user network
    mac_address: str | None = None                          # --mac-address on a user network (as podman)
    umask: str | None = None                                # --umask, octal; None: podman's 0022
    resources: dict = field(default_factory=dict)  # cgroup limits: rootless.cgroups.Resources.to_dict()
    # detached containers and their monitor (issue 6)
    detach: bool = False
    restart: str | None = None                  # no, on-failure[:N], always, unless-stopped
    health_cmd: str | None = None
    health_interval: str | None = None
    health_retries: str | None = None
    health_start_period: str | None = None
    health_timeout: str | None = None
    log_driver: str | None = None               # k8s-file (default) or none
    log_opt: list[str] = field(default_factory=list)
    stop_signal: str | None = None
    stop_timeout: str | None = None
    requires: list[str] = field(default_factory=list)  # --requires: IDs of containers started first
    # systemd units (rootless.systemd)
    cidfile: str | None = None                  # the ID written here at create (podman --cidfile)
    replace: bool = False                       # a container of the same name is removed first
    sdnotify: str | None = None                 # conmon: READY=1/MAINPID to $NOTIFY_SOCKET; ignore
    cgroups: str | None = None                  # enabled, no-conmon/split (monitor stays put), disabled
    label: list[str] = field(default_factory=list)  # KEY=VALUE; PODMAN_SYSTEMD_UNIT added in a generated unit
    # containers.conf defaults, filled at create (rootless.containersconf.apply_to_request)
    default_env: list[str] = field(default_factory=list)   # below the image's env and -e
    default_caps: list[str] | None = None                  # [containers] default_capabilities
    init_path: str | None = None                           # [containers] init_path
    group_add: list[str] = field(default_factory=list)  # --group-add: GID, group name, or keep-groups alone
    # pods (rootless.pods): the pod's ID, whether this is its infra container, the
    # infra's ID and the namespaces joined from it (net through --network container:INFRA)
    pod: str | None = None
    pod_infra: bool = False
    pod_infra_id: str | None = None
    pod_share: list[str] = field(default_factory=list)
    # the rest of podman's flags (issue 14; rootless.containers.runextras checks them)
    ulimit: list[str] = field(default_factory=list)    # TYPE=SOFT[:HARD], or host
    shm_size: str | None = None                         # as given; None: podman's 65536k
    sysctl: list[str] = field(default_factory=list)     # NAME=VALUE
    pull: str | None = None                             # always, missing (None), never, newer
    annotation: list[str] = field(default_factory=list)  # KEY=VALUE
    tz: str | None = None                               # local or an IANA zone name
    env_host: bool = False                              # --env-host: host_env filled at create
    host_env: list[str] = field(default_factory=list)   # rl's environment at create (--env-host)
    http_proxy: bool = True                             # the host's proxy variables passed in (podman's default)
    proxy_env: list[str] = field(default_factory=list)  # ...as they were at create
    expose: list[str] = field(default_factory=list)     # PORT[/PROTO] or FIRST-LAST[/PROTO]
    oom_score_adj: int | None = None
    hostuser: list[str] = field(default_factory=list)   # host users added to /etc/passwd
    volumes_from: list[str] = field(default_factory=list)  # CONTAINER[:ro|rw]: its volumes and binds, at create
    rmi: bool = False                                   # --rmi: the image removed after the container (with --rm)
    passwd: bool = True                                 # --passwd: lines added for -u's user
    passwd_entry: str | None = None                     # --passwd-entry template
    uts: str | None = None                              # private (None) or host
    cgroupns: str | None = None                         # private (None) or host
    personality: str | None = None                      # LINUX or LINUX32


def user_networks(req: RunRequest) -> list[tuple[str, list[str], str | None]]:
    """The user networks the container joins, in order: (name, its aliases
    there, its address or None)."""
    if req.networks:
        return [(e["name"], [*req.network_alias, *e.get("aliases", ())], e.get("ip")) for e in req.networks]
    if req.network:
        from rootless import network
        if network.parse(req.network).mode == "bridge":
            return [(req.network, list(req.network_alias), req.ip)]
    return []
