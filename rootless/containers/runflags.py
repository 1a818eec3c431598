"""The flags of `rl run` and `rl create`, declared once, without typer.

cli/containers.py turns them into the options of the command table
(cli/table.py), from which both parsers are generated: the argparse fast path
every plain `rl run` takes, and typer (help, completion, errors). Add a flag
here, then map it in to_request()."""

from __future__ import annotations


BOOL, STR, LIST = "bool", "str", "list"
OPTBOOL = "optbool"  # podman's `--x` / `--x=false` (a string option whose value may be left out: true)


class Flag:
    """One flag (frozen; compared and hashed by its fields; not a dataclass:
    every container command imports this table)."""
    __slots__ = ("dest", "decls", "kind", "help")

    def __init__(self, dest: str, decls: tuple[str, ...], kind: str, help: str):
        object.__setattr__(self, "dest", dest)
        object.__setattr__(self, "decls", decls)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "help", help)

    def _values(self) -> tuple:
        return (self.dest, self.decls, self.kind, self.help)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self):
        return f"Flag(dest={self.dest!r}, decls={self.decls!r}, kind={self.kind!r}, help={self.help!r})"

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}")

    def __reduce__(self):  # pickle and copy through __init__ (the slots are frozen)
        return (Flag, self._values())


FLAGS: tuple[Flag, ...] = (
    Flag("interactive", ("--interactive", "-i"), BOOL, "keep stdin open"),
    Flag("tty", ("--tty", "-t"), BOOL, "allocate a pseudo-terminal"),
    Flag("rm", ("--rm",), BOOL, "remove the container when it exits"),
    Flag("name", ("--name",), STR, "container name (unique)"),
    Flag("hostname", ("--hostname",), STR, "container host name"),
    Flag("env", ("--env", "-e"), LIST, "NAME=VALUE (or NAME: taken from the host)"),
    Flag("env_file", ("--env-file",), LIST, "read NAME=VALUE lines from a file"),
    Flag("entrypoint", ("--entrypoint",), STR, "override the image's entrypoint"),
    Flag("workdir", ("--workdir", "-w"), STR, "working directory inside"),
    Flag("user", ("--user", "-u"), STR, "user[:group] (name or number)"),
    Flag("volume", ("--volume", "-v"), LIST, "HOST:CONTAINER[:ro]"),
    Flag("tmpfs", ("--tmpfs",), LIST, "PATH[:OPTIONS] mount a tmpfs"),
    Flag("read_only", ("--read-only",), BOOL, "mount the rootfs read-only"),
    Flag("init", ("--init",), BOOL, "run an init (catatonit) as PID 1"),
    Flag("network", ("--network", "--net"), LIST,
         "slirp4netns[:opts] (default), none, host, pasta[:opts], container:NAME, or NAME[:alias=A,ip=IP] "
         "of a user network (repeat for several)"),
    Flag("publish", ("--publish", "-p"), LIST, "[IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp] publish a port"),
    Flag("publish_all", ("--publish-all", "-P"), BOOL, "publish the image's EXPOSE ports on random host ports"),
    Flag("dns", ("--dns",), LIST, "DNS server for /etc/resolv.conf"),
    Flag("dns_search", ("--dns-search",), LIST, "DNS search domain (. for none)"),
    Flag("dns_option", ("--dns-option",), LIST, "resolv.conf option (e.g. ndots:2)"),
    Flag("add_host", ("--add-host",), LIST, "NAME:IP line added to /etc/hosts"),
    Flag("no_hosts", ("--no-hosts",), BOOL, "keep the image's /etc/hosts"),
    Flag("network_alias", ("--network-alias",), LIST, "another name for the container on its network"),
    Flag("ip", ("--ip",), STR, "the container's address on a user network"),
    Flag("mac_address", ("--mac-address",), STR, "the container's MAC address on a user network"),
    Flag("userns", ("--userns",), STR, "keep-id: your UID/GID keep their numbers inside"),
    Flag("group_add", ("--group-add",), LIST, "another group (GID or name in the image; keep-groups: yours)"),
    Flag("cap_add", ("--cap-add",), LIST, "add a capability"),
    Flag("cap_drop", ("--cap-drop",), LIST, "drop a capability (ALL for all)"),
    Flag("privileged", ("--privileged",), BOOL, "all capabilities, no seccomp, no masked paths"),
    Flag("security_opt", ("--security-opt",), LIST, "no-new-privileges, seccomp=unconfined|FILE"),
    Flag("rootfs", ("--rootfs",), BOOL, "IMAGE is a root filesystem directory"),
    Flag("umask", ("--umask",), STR, "the container processes' umask, octal (default 0022)"),
    Flag("quiet", ("--quiet", "-q"), BOOL, "no pull progress"),
)

# podman's run/create flags rl does not take, each with the reason (a compose file's `pid: host`,
# `ipc:`, `devices:`, `x-podman.uidmaps` reach rl as these): the CLI says it in place of "No such option"
REFUSED: dict[str, str] = {
    "--pid": "every rl container has its own PID namespace (no host, container: or ns: PID namespace)",
    "--ipc": "every rl container has its own IPC namespace, or its pod's (rl pod create --share ipc)",
    "--uidmap": "rl maps the user's subordinate IDs as one range (or --userns=keep-id), not custom maps",
    "--gidmap": "rl maps the user's subordinate IDs as one range (or --userns=keep-id), not custom maps",
    "--device": "rl passes no host device into a container",
}


def refused(option: str) -> str | None:
    """The message for a podman run/create flag rl does not take, or None."""
    reason = REFUSED.get(option.split("=", 1)[0])
    return f"{option.split('=', 1)[0]} is not supported by rl: {reason}" if reason else None


# cgroup limits (podman's names); parsed by rootless.cgroups.parse, also used by `rl update`
RESOURCE_FLAGS: tuple[Flag, ...] = (
    Flag("memory", ("--memory", "-m"), STR, "memory limit (e.g. 512m, 1g)"),
    Flag("memory_reservation", ("--memory-reservation",), STR, "memory soft limit (memory.low)"),
    Flag("memory_swap", ("--memory-swap",), STR, "memory plus swap limit (-1: unlimited swap)"),
    Flag("cpus", ("--cpus",), STR, "number of CPUs (e.g. 0.5)"),
    Flag("cpu_shares", ("--cpu-shares", "-c"), STR, "CPU shares (relative weight, v1 scale)"),
    Flag("cpu_weight", ("--cpu-weight",), STR, "CPU weight 1-10000 (cpu.weight)"),
    Flag("cpu_quota", ("--cpu-quota",), STR, "CPU time per period, microseconds"),
    Flag("cpu_period", ("--cpu-period",), STR, "CPU period, microseconds"),
    Flag("cpuset_cpus", ("--cpuset-cpus",), STR, "CPUs allowed (e.g. 0-1,3)"),
    Flag("cpuset_mems", ("--cpuset-mems",), STR, "memory nodes allowed"),
    Flag("pids_limit", ("--pids-limit",), STR, "maximum number of processes (default 2048; -1: unlimited)"),
    Flag("blkio_weight", ("--blkio-weight",), STR, "block IO weight 10-1000"),
    Flag("device_read_bps", ("--device-read-bps",), LIST, "limit reads from a device: PATH:RATE (e.g. 1mb)"),
    Flag("device_write_bps", ("--device-write-bps",), LIST, "limit writes to a device: PATH:RATE"),
)
FLAGS = FLAGS + RESOURCE_FLAGS

# detached containers: the monitor's settings (podman's names)
LIFECYCLE_FLAGS: tuple[Flag, ...] = (
    Flag("detach", ("--detach", "-d"), BOOL, "run in the background under a monitor; print the ID"),
    Flag("restart", ("--restart",), STR, "no, on-failure[:N], always, unless-stopped"),
    Flag("health_cmd", ("--health-cmd",), STR, "healthcheck command (shell string or JSON array)"),
    Flag("health_interval", ("--health-interval",), STR, "time between healthchecks (default 30s)"),
    Flag("health_retries", ("--health-retries",), STR, "failures before unhealthy (default 3)"),
    Flag("health_start_period", ("--health-start-period",), STR, "failures not counted this long after start"),
    Flag("health_timeout", ("--health-timeout",), STR, "a check taking longer fails (default 30s)"),
    Flag("log_driver", ("--log-driver",), STR, "k8s-file (default) or none"),
    Flag("log_opt", ("--log-opt",), LIST, "max-size=SIZE: rotate the log at this size"),
    Flag("stop_signal", ("--stop-signal",), STR, "signal rl stop sends first (default the image's, else TERM)"),
    Flag("stop_timeout", ("--stop-timeout",), STR, "seconds rl stop waits before SIGKILL (default 10)"),
    # systemd units (rl generate systemd, Quadlet)
    Flag("cidfile", ("--cidfile",), STR, "write the container ID to this file (which must not exist)"),
    Flag("replace", ("--replace",), BOOL, "remove a container of the same name first"),
    Flag("sdnotify", ("--sdnotify",), STR, "conmon: tell $NOTIFY_SOCKET READY=1 once PID 1 runs; ignore"),
    Flag("cgroups", ("--cgroups",), STR, "enabled (default), no-conmon/split: the monitor stays in "
         "the caller's cgroup, disabled: no cgroup"),
    Flag("label", ("--label", "-l"), LIST, "KEY=VALUE (io.containers.autoupdate=registry: rl auto-update)"),
)
FLAGS = FLAGS + LIFECYCLE_FLAGS

# what podman-compose passes (issue 13)
COMPOSE_FLAGS: tuple[Flag, ...] = (
    Flag("requires", ("--requires",), LIST, "containers (comma-separated) started before this one"),
    Flag("mount", ("--mount",), LIST, "type=bind|volume|tmpfs,source=,destination=[,ro]: as -v or --tmpfs"),
    Flag("pod", ("--pod",), STR, "join this pod (its network, IPC and UTS namespaces); new:NAME creates it"),
    Flag("no_healthcheck", ("--no-healthcheck",), BOOL, "no healthcheck (not the image's either)"),
    # podman's startup healthchecks run only with --health-startup-cmd, which rl does not have: like
    # podman without it, the interval (podman-compose passes a service's start_interval) changes nothing
    Flag("health_startup_interval", ("--health-startup-interval",), STR,
         "interval of startup healthchecks (rl has none: no effect, as podman's without --health-startup-cmd)"),
)
FLAGS = FLAGS + COMPOSE_FLAGS

# the CLI's own, not recorded in the container (podman's names)
ATTACH_FLAGS: tuple[Flag, ...] = (
    Flag("detach_keys", ("--detach-keys",), STR,
         'keys that detach a foreground -it run, leaving it running (default "ctrl-p,ctrl-q"; "" disables)'),
)
FLAGS = FLAGS + ATTACH_FLAGS

# the rest of podman's run/create flags (issue 14), parsed by rootless.containers.runextras
EXTRA_FLAGS: tuple[Flag, ...] = (
    Flag("ulimit", ("--ulimit",), LIST, "TYPE=SOFT[:HARD] resource limit (nofile, nproc, core, ...; -1: unlimited); "
         "host: rl's own"),
    Flag("shm_size", ("--shm-size",), STR, "size of /dev/shm, NUMBER[UNIT] (b, k, m, g; default 65536k; 0: no limit)"),
    Flag("sysctl", ("--sysctl",), LIST, "NAME=VALUE namespaced sysctl (net.* with its own network; "
         "kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* with its own IPC)"),
    Flag("pull", ("--pull",), STR, "always, missing (default), never or newer: when to pull the image"),
    Flag("label_file", ("--label-file",), LIST, "read KEY=VALUE labels from a file (--label wins)"),
    Flag("annotation", ("--annotation",), LIST, "KEY=VALUE annotation (shown by inspect)"),
    Flag("tz", ("--tz",), STR, "the container's time zone: an IANA name (Europe/Paris) or local (the host's)"),
    Flag("env_host", ("--env-host",), BOOL, "pass rl's whole environment in (below --env-file and -e)"),
    Flag("http_proxy", ("--http-proxy",), OPTBOOL, "pass the host's http_proxy, https_proxy, ftp_proxy, no_proxy "
         "(either case) in (default true; --http-proxy=false: not)"),
    Flag("expose", ("--expose",), LIST, "PORT[/PROTO] or FIRST-LAST[/PROTO] exposed (published by -P)"),
    Flag("oom_score_adj", ("--oom-score-adj",), STR, "the container's OOM score adjustment, -1000..1000 "
         "(rootless: not below rl's own)"),
    Flag("hostuser", ("--hostuser",), LIST, "a host user (name or UID) added to the container's /etc/passwd"),
    Flag("rmi", ("--rmi",), BOOL, "remove the image once the container has exited and gone, unless another "
         "container uses it (implies --rm; rl run only)"),
    Flag("preserve_fds", ("--preserve-fds",), STR, "pass N more of rl's open fds (3 to N+2) into the container "
         "(run in the foreground only)"),
    Flag("passwd", ("--passwd",), OPTBOOL, "add /etc/passwd and /etc/group lines for a --user the image lacks "
         "(default true)"),
    Flag("passwd_entry", ("--passwd-entry",), STR, "that /etc/passwd line's template: $USERNAME, $UID, $GID, $NAME "
         "and $HOME are filled in"),
    Flag("uts", ("--uts",), STR, "private (default: its own, named after the container) or host: the host's UTS "
         "namespace and name"),
    Flag("cgroupns", ("--cgroupns",), STR, "private (default: its own cgroup namespace) or host: the host's"),
    Flag("personality", ("--personality",), STR, "execution domain: LINUX, or LINUX32 (uname -m reports a "
         "32-bit machine)"),
    Flag("volumes_from", ("--volumes-from",), LIST, "CONTAINER[:ro|rw]: mount that container's volumes and "
         "bind mounts at the same places (ro/rw: all of them so)"),
)
FLAGS = FLAGS + EXTRA_FLAGS


def defaults() -> dict:
    return {f.dest: (False if f.kind == BOOL else [] if f.kind == LIST else None) for f in FLAGS}


def to_request(flags: dict, storage_driver: str | None):
    """Parsed flags (either parser) -> the engine's RunRequest."""
    from rootless.containers.run import RunRequest
    f = {**defaults(), **flags}
    if f.get("mount"):  # --mount: the -v or --tmpfs it means
        from rootless.containers.options import mount_to_flag
        for kind, spec in map(mount_to_flag, f["mount"]):
            f["volume" if kind == "volume" else "tmpfs"] = [*f["volume" if kind == "volume" else "tmpfs"], spec]
    if f["no_healthcheck"]:
        if f["health_cmd"] and f["health_cmd"].lower() != "none":
            from rootless.errors import UsageError
            raise UsageError("--no-healthcheck and --health-cmd conflict", hint="give one of them")
        f["health_cmd"] = "none"
    from rootless.containers import runextras
    extra = runextras.from_flags(f)  # checked and normalised; --label-file's labels come before --label
    if f["health_startup_interval"]:
        from rootless.containers import policy
        policy.parse_duration(f["health_startup_interval"], 0)  # a bad value is refused, as podman's
    return RunRequest(
        image=f["image"], command=list(f["command"] or []), rootfs=f["rootfs"], name=f["name"], rm=f["rm"] or f["rmi"],
        interactive=f["interactive"], tty=f["tty"], hostname=f["hostname"], env=f["env"],
        env_files=f["env_file"], entrypoint=f["entrypoint"], workdir=f["workdir"], user=f["user"],
        volumes=f["volume"], tmpfs=f["tmpfs"], read_only=f["read_only"], init=f["init"], network=_network(f["network"]),
        userns=f["userns"], group_add=f["group_add"], cap_add=f["cap_add"], cap_drop=f["cap_drop"],
        privileged=f["privileged"],
        security_opt=f["security_opt"], storage_driver=storage_driver, quiet=f["quiet"],
        resources=_resources(f), publish=f["publish"], publish_all=f["publish_all"], dns=f["dns"],
        dns_search=f["dns_search"], dns_option=f["dns_option"], add_host=f["add_host"], no_hosts=f["no_hosts"],
        network_alias=f["network_alias"], ip=f["ip"], mac_address=f["mac_address"] or None, umask=f["umask"],
        requires=f["requires"], pod=f["pod"] or None, **{x.dest: f[x.dest] for x in LIFECYCLE_FLAGS}, **extra)


def _network(values):
    """--network given once: its value; several times (user networks): the
    list, which create() checks and splits (run._networks); never: None."""
    if isinstance(values, str) or values is None:
        return values
    return None if not values else values[0] if len(values) == 1 else list(values)


def _resources(f: dict) -> dict:
    from rootless import cgroups
    return cgroups.parse({k.dest: f.get(k.dest) for k in RESOURCE_FLAGS}).to_dict()
