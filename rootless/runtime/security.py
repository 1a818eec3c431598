"""Capabilities, seccomp and no_new_privs: podman's defaults and the flags
that change them. Building (pure, testable) is split from applying (in the
container's PID 1, just before exec)."""

from __future__ import annotations

import os
import signal


from rootless import jsonio, linux
from rootless.errors import UsageError
from rootless.runtime.seccomp_default import PROFILE as DEFAULT_PROFILE

CAPS = ("CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
        "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
        "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
        "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
        "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
        "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE")
CAP_NUMBER = {name: i for i, name in enumerate(CAPS)}

# podman's default_capabilities (containers.conf)
DEFAULT_CAPS = frozenset({"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
                          "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})


def last_cap() -> int:
    """The highest capability number the running kernel knows, asked of the
    kernel itself (PR_CAPBSET_READ fails with EINVAL past it), as libcap
    does: never read from a file, which inside a container could be a volume
    or a rootfs of the image's making rather than the kernel's procfs."""
    last = -1
    for cap in range(64):  # capability masks are 64 bits wide
        try:
            linux.cap_bound_has(cap)
        except OSError:
            break
        last = cap
    return last


def all_caps() -> frozenset[str]:
    return frozenset(CAPS[: last_cap() + 1])


def cap_name(raw: str) -> str:
    name = raw.strip().upper()
    name = name[4:] if name.startswith("CAP_") else name
    if name != "ALL" and name not in CAP_NUMBER:
        raise UsageError(f"unknown capability {raw!r}", hint="names as in capabilities(7), e.g. NET_ADMIN")
    return name


def resolve_caps(add: list[str], drop: list[str], privileged: bool = False,
                 base: list[str] | None = None) -> tuple[frozenset[str], frozenset[str]]:
    """(bounding set, explicitly added) after --privileged/--cap-add/--cap-drop,
    with podman's order: drop ALL first, then add, then drop. `base` replaces
    the default set (containers.conf default_capabilities)."""
    adds = {cap_name(c) for c in add}
    drops = {cap_name(c) for c in drop}
    default = DEFAULT_CAPS if base is None else frozenset(cap_name(c) for c in base) - {"ALL"}
    caps = set(all_caps() if privileged else default)
    if "ALL" in drops:
        caps.clear()
    caps |= all_caps() if "ALL" in adds else adds - {"ALL"}
    caps -= drops - {"ALL"} - adds
    explicit = frozenset(all_caps() if "ALL" in adds else adds - {"ALL"})
    return frozenset(caps), explicit


def mask(caps: frozenset[str] | set[str]) -> int:
    m = 0
    for c in caps:
        m |= 1 << CAP_NUMBER[c]
    return m


# --- seccomp ----------------------------------------------------------------
_MACHINE = os.uname().machine  # platform.machine(), without importing platform
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(_MACHINE, _MACHINE)
_SUBARCH = {"SCMP_ARCH_X86": "X86", "SCMP_ARCH_X32": "X32", "SCMP_ARCH_ARM": "ARM"}
_OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ")
EPERM, ENOSYS = 1, 38
PROFILE_VERSION = "1"  # bump when seccomp_default.PROFILE changes: it keys the BPF cache


def _action(seccomp, name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(EPERM if errno_ret is None else errno_ret)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return seccomp.KILL
    if name == "SCMP_ACT_KILL_PROCESS":
        return seccomp.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return seccomp.TRAP
    if name == "SCMP_ACT_LOG":
        return seccomp.LOG
    raise UsageError(f"seccomp profile: unsupported action {name}")


def _applies(rule: dict, caps: frozenset[str]) -> bool:
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    rule_caps = lambda d: {c.upper().removeprefix("CAP_") for c in d.get("caps") or []}  # noqa: E731
    if inc.get("arches") and _GO_ARCH not in inc["arches"]:
        return False
    if exc.get("arches") and _GO_ARCH in exc["arches"]:
        return False
    if rule_caps(inc) and not rule_caps(inc) <= caps:
        return False
    if rule_caps(exc) and rule_caps(exc) & caps:
        return False
    return True


def load_profile(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return jsonio.loads(f.read())
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read seccomp profile {path}: {e}") from None


def build_filter(profile: dict, caps: frozenset[str]):
    """A libseccomp filter from a Docker/podman JSON profile, for a process
    holding `caps` (rules carry includes/excludes by capability and arch)."""
    from rootless.linux.seccomp_lib import seccomp  # ~6 ms: only when no cached program fits
    default = _action(seccomp, profile.get("defaultAction", "SCMP_ACT_ERRNO"), profile.get("defaultErrnoRet"))
    filt = seccomp.SyscallFilter(default)
    filt.set_attr(seccomp.Attr.CTL_NNP, 0)  # no_new_privs only when asked for (--security-opt)
    native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}.get(_GO_ARCH)
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            for sub in entry.get("subArchitectures") or []:
                if sub in _SUBARCH:
                    filt.add_arch(getattr(seccomp.Arch, _SUBARCH[sub]))
    for rule in profile.get("syscalls") or []:
        if not _applies(rule, caps):
            continue
        action = _action(seccomp, rule["action"], rule.get("errnoRet"))
        if action == default:
            continue  # libseccomp refuses rules that repeat the default
        args = [seccomp.Arg(a["index"], getattr(seccomp, a["op"].removeprefix("SCMP_CMP_")), a["value"],
                            a.get("valueTwo", 0))
                for a in rule.get("args") or []]
        for name in rule.get("names") or [rule.get("name")]:
            try:
                filt.add_rule(action, name, *args)
            except (OSError, ValueError, RuntimeError):
                pass  # a syscall this architecture/libseccomp does not know
    return filt


def seccomp_program(setting: str | None, caps: frozenset[str], cache_dir: str | None = None) -> bytes | None:
    """The BPF program for a seccomp setting ("default", a profile path, or
    None for unconfined), compiled by libseccomp once and cached: building
    the default profile costs ~25 ms, reading the cache ~0.1 ms."""
    if setting is None:
        return None
    if setting == "default":
        profile, key = DEFAULT_PROFILE, f"default-{PROFILE_VERSION}"
    else:
        with open(setting, "rb") as f:
            raw = f.read()
        import hashlib  # a profile of the user's only: OpenSSL's start is ~3 ms of every `rl run`
        profile, key = load_profile(setting), hashlib.sha256(raw).hexdigest()[:32]
    cache = None
    if cache_dir:
        # the filter a container gets: read only from a directory only this
        # user can write, never through a symlink, only a regular file of ours
        from rootless import fsutil
        fsutil.private_dir(cache_dir, what="seccomp cache", instead="pass another --runroot")
        cache = os.path.join(cache_dir, f"{key}-{mask(caps):x}-{_MACHINE}.bpf")
        try:
            program = fsutil.read_private(cache)
            if program and len(program) % 8 == 0:  # whole struct sock_filter instructions
                return program
        except OSError:
            pass
    filt = build_filter(profile, caps)
    with os.fdopen(os.memfd_create("rl-seccomp", os.MFD_CLOEXEC), "w+b") as f:  # no file to plant
        filt.export_bpf(f)
        f.seek(0)
        program = f.read()
    if cache:
        try:
            fsutil.atomic_write(cache, program)
        except OSError:
            pass  # a full disk: compiled again next time
    return program


def parse_security_opts(opts: list[str]) -> tuple[str | None, bool]:
    """--security-opt values -> (seccomp setting, no_new_privs)."""
    seccomp_setting: str | None = "default"
    nnp = False
    for opt in opts:
        key, _, val = opt.partition("=") if "=" in opt else opt.partition(":")
        if key in ("no-new-privileges", "no_new_privileges"):
            nnp = val in ("", "true", "1")
        elif key == "seccomp":
            if val == "unconfined":
                seccomp_setting = None
            elif val:
                seccomp_setting = os.path.abspath(val)
                load_profile(seccomp_setting)  # fail early, on the host
            else:
                raise UsageError("--security-opt seccomp needs a value", hint="seccomp=unconfined or seccomp=FILE.json")
        elif key in ("label", "apparmor", "mask", "unmask", "proc-opts"):
            continue  # no SELinux/AppArmor here; accepted for compatibility
        else:
            raise UsageError(f"unknown --security-opt {opt!r}",
                             hint="no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json")
    return seccomp_setting, nnp


def apply(*, bounding: frozenset[str], uid: int, gid: int, groups: list[int] | None, added: frozenset[str],
          seccomp_bpf: bytes | None, no_new_privs: bool) -> None:
    """Drop to the container's credentials. Runs in PID 1 after pivot_root:
    nothing here may import. seccomp is loaded first while CAP_SYS_ADMIN is
    held (unless no_new_privs allows it unprivileged); the default profile
    allows every call that follows."""
    top = last_cap()  # before seccomp: a custom profile may forbid prctl
    if no_new_privs:
        linux.set_no_new_privs()
    if seccomp_bpf is not None:
        linux.seccomp_load_bpf(seccomp_bpf)
    for cap in range(top + 1):
        if cap >= len(CAPS) or CAPS[cap] not in bounding:  # one rl does not know yet: dropped too
            linux.cap_bound_drop(cap)
    if groups is not None:  # None: --group-add keep-groups, the inherited groups stay
        os.setgroups(groups)
    os.setresgid(gid, gid, gid)
    if uid != 0:
        linux.set_keepcaps(True)
    os.setresuid(uid, uid, uid)
    linux.set_pdeathsig(signal.SIGKILL)  # a credential change cleared it
    if uid == 0:
        full = mask(bounding)
        linux.capset(full, full, 0)
    else:
        # podman: a non-root user gets only what --cap-add granted, as ambient caps
        keep = mask(added & bounding)
        linux.capset(keep, keep, keep)
        for c in sorted(added & bounding):
            linux.cap_ambient_raise(CAP_NUMBER[c])
