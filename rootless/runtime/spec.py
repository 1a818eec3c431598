"""What to run: everything the runtime needs, decided before any fork. The
runtime knows nothing of images or records; it gets a mounted-rootfs recipe
and this spec."""

from __future__ import annotations

from rootless.plain import field, record

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@record(frozen=True)
class BindMount:
    source: str            # host path (a file or a directory)
    target: str            # path inside the container
    readonly: bool = False
    chown: bool = False    # :U, the tree is given to the container's user before exec
    volume: str = ""       # the named (or anonymous) volume's name; "" for a host path
    copy: bool = True      # a new volume gets the image's content at target (podman; :nocopy opts out)
    attrs: tuple[str, ...] = ()  # noexec, nosuid, nodev (set) and exec, suid, dev (cleared)
    propagation: str = ""  # shared, slave, private, r*, unbindable: the bind's propagation


@record(frozen=True)
class TmpfsMount:
    target: str
    idmap: tuple[str, str] | None = None  # fuse-overlayfs uidmapping/gidmapping (keep-id)
    options: str = "rw,nosuid,nodev"  # podman's --tmpfs defaults (no noexec)


@record(frozen=True)
class Storage:
    """The rootfs recipe: the driver stacks lower_dirs (bottom to top) under
    a writable upper dir and mounts the result on target."""
    driver: str
    lower_dirs: tuple[str, ...]
    upper: str
    work: str
    target: str
    idmap: tuple[str, str] | None = None  # fuse-overlayfs uidmapping/gidmapping (keep-id)


@record
class Spec:
    args: list[str]
    storage: Storage
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    user: str = ""                 # "" (root), "name", "uid", "name:group", "uid:gid"
    hostname: str = "rl"
    terminal: bool = False         # -t
    stdin: bool = False            # -i
    readonly: bool = False         # --read-only
    binds: list[BindMount] = field(default_factory=list)
    tmpfs: list[TmpfsMount] = field(default_factory=list)
    etc_files: dict[str, str] = field(default_factory=dict)  # /etc/hosts -> host file
    caps: frozenset[str] = frozenset()   # bounding set, names without CAP_
    added_caps: frozenset[str] = frozenset()  # --cap-add: also ambient for a non-root user
    seccomp_bpf: bytes | None = None     # compiled filter (security.seccomp_program); None: unconfined
    no_new_privs: bool = False
    masked: bool = True            # masked and read-only /proc, /sys paths (off when --privileged)
    netns: bool = True             # own network namespace (else the host's)
    wait_network: bool = False     # block exec until the parent says the network is up
    join_netns: str | None = None  # --network container:X: X's netns (/proc/PID/ns/net) instead of a new one
    # a pod's infra container's other namespaces joined instead of new ones: {"ipc"|"uts": /proc/PID/ns/KIND}
    join_ns: dict[str, str] = field(default_factory=dict)
    init: str | None = None        # host path of a static init binary to run as PID 1
    own_init: bool = False         # --init without one installed: rl's PID 1 stays and reaps
    remove_storage: bool = False   # --rm: the namespace side deletes upper/work (subuid-owned)
    nested_maps: tuple[str, str] | None = None  # keep-id: uid_map/gid_map of a nested user namespace
    keep_id_user: dict | None = None  # keep-id: the host user's name/uid/gid/gecos/home/group for /etc/passwd
    group_add: list[str] = field(default_factory=list)  # --group-add: numbers, names, or keep-groups
    user_files: tuple[str, str] | None = None  # --read-only: host files for generated /etc/passwd, /etc/group
    reaper: str | None = None      # rl-monitor: the namespace side execs its shim mode instead of waiting in Python
    umask: int = 0o022             # --umask: the container's, podman's default whatever rl's own processes use
    # issue 14: --ulimit (name, soft, hard), --shm-size (bytes; 0: no limit), --sysctl, --oom-score-adj
    rlimits: list = field(default_factory=list)
    shm_size: int = 65536000
    sysctls: dict[str, str] = field(default_factory=dict)
    oom_score_adj: int | None = None
    preserve_fds: int = 0          # --preserve-fds: fds 3..N+2 of the starting process, passed through
    passwd: bool = True            # --passwd=false: no /etc/passwd, /etc/group lines for -u's user
    passwd_entry: str | None = None  # --passwd-entry: the template of that /etc/passwd line
    uts_host: bool = False         # --uts=host: the host's UTS namespace (and name), none of its own
    cgroupns_host: bool = False    # --cgroupns=host: the cgroup namespace rl runs in
    personality: int | None = None  # --personality: personality(2)'s persona, set before the exec
    host_users: list[dict] = field(default_factory=list)  # --hostuser: name/uid/gid/gecos of host users
