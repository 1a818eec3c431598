"""Is this host ready for rootless containers? Each check tries the real
thing where it can (a user namespace, a mount) and returns a finding with
the exact fix. No printing: the CLI renders findings."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from rootless import config, tools
from rootless.errors import RlError
from rootless.plain import asdict, record
from rootless.runtime import idmap, userns

OK, WARN, ERROR = "ok", "warn", "error"


@record
class Finding:
    name: str
    status: str  # ok | warn | error
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def check_idmap_tools() -> list[Finding]:
    out = []
    for name in ("newuidmap", "newgidmap"):
        path = tools.find(name)
        if path is None:
            out.append(Finding(name, ERROR, "not installed", "sudo apt-get install uidmap"))
            continue
        st = os.stat(path)
        setuid = bool(st.st_mode & stat.S_ISUID) and st.st_uid == 0
        caps = _file_caps(path)
        if setuid or caps:
            how = "setuid root" if setuid else "file capabilities"
            out.append(Finding(name, OK, f"{path} ({how})"))
        else:
            out.append(Finding(name, ERROR, f"{path} is neither setuid root nor has file capabilities",
                               f"sudo chmod u+s {path}   (or: sudo setcap cap_set{name[3:6]}id+ep {path})"))
    return out


def _file_caps(path: str) -> bool:
    try:
        return bool(os.getxattr(path, "security.capability"))
    except OSError:
        return False


def _subid_file(path: str) -> str:
    """The file to diagnose: /etc/subuid (/etc/subgid), or the copy
    RL_SUBUID_FILE (RL_SUBGID_FILE) names, which lets tests check a layout
    they cannot write to /etc. Only this diagnosis reads it: what rl maps is
    decided by newuidmap from the real file."""
    env = "RL_SUBUID_FILE" if path == userns.SUBUID_FILE else "RL_SUBGID_FILE"
    return os.environ.get(env) or path


def _read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def check_subids() -> list[Finding]:
    user, uid = config.user_name(), os.getuid()
    out = []
    texts = {p: _read_text(_subid_file(p)) for p in (userns.SUBUID_FILE, userns.SUBGID_FILE)}
    all_entries = [e for t in texts.values() for e in idmap.parse_subid(t)]
    for path, kind in ((userns.SUBUID_FILE, "uid"), (userns.SUBGID_FILE, "gid")):
        shown = _subid_file(path)
        lines = idmap.parse_subid_lines(texts[path])
        entries = [ln.entry for ln in lines]
        mine = idmap.ranges_for(entries, user, uid)
        name = Path(path).name
        fix = userns.setup_hint(user, all_entries)
        if not mine:
            out.append(Finding(name, ERROR, f'no range for "{user}" in {shown}', fix))
            continue
        problems = idmap.subid_problems(lines, user, uid, shown, kind)
        for p in problems:
            out.append(Finding(name, ERROR, p.detail, p.fix))
        if problems:
            continue
        if idmap.total(mine) < idmap.SUBID_MIN:
            out.append(Finding(name, ERROR, f"{idmap.total(mine)} IDs for {user}; a container needs "
                                            f"{idmap.SUBID_MIN}", fix))
        else:
            spans = ", ".join(f"{r.start}-{r.end - 1}" for r in mine)
            out.append(Finding(name, OK, f"{idmap.total(mine)} IDs ({spans})"))
    return out


def check_userns() -> list[Finding]:
    out = []
    mx = _sysctl("user.max_user_namespaces")
    if mx == "0":
        out.append(Finding("user namespaces", ERROR, "user.max_user_namespaces = 0",
                           "sudo sysctl -w user.max_user_namespaces=28633"))
        return out
    clone = _sysctl("kernel.unprivileged_userns_clone")
    if clone == "0":
        out.append(Finding("user namespaces", ERROR, "kernel.unprivileged_userns_clone = 0",
                           "sudo sysctl -w kernel.unprivileged_userns_clone=1"))
        return out
    restrict = _sysctl("kernel.apparmor_restrict_unprivileged_userns")
    try:
        maps = userns.user_mappings()
    except RlError as e:
        out.append(Finding("user namespaces", ERROR, f"not tried: {e.message}", e.hint))
        return out
    try:
        got = userns.run_in_userns(_read_uid_map, maps=maps)
    except RlError as e:
        fix = e.hint
        if restrict == "1":
            fix = "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
        out.append(Finding("user namespaces", ERROR, e.message, fix))
        return out
    except OSError as e:
        out.append(Finding("user namespaces", ERROR, f"unshare: {e.strerror}",
                           "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
                           if restrict == "1" else "check user.max_user_namespaces"))
        return out
    mapped = sum(m.size for m in idmap.parse_proc_map(got))
    out.append(Finding("user namespaces", OK, f"created one; {mapped} IDs mapped (max {mx})"))
    return out


def _read_uid_map() -> str:
    return Path("/proc/self/uid_map").read_text()


def _device(path: str, label: str, helper: str, why: str) -> list[Finding]:
    out = []
    dev = os.environ.get(f"RL_{label.upper()}_DEVICE", path)  # lets tests point at a 0600 copy
    try:
        st = os.stat(dev)
    except FileNotFoundError:
        out.append(Finding(label, ERROR, f"{dev} does not exist",
                           f"sudo modprobe {label}  (and check the container/VM exposes {dev})"))
    else:
        try:
            os.close(os.open(dev, os.O_RDWR))
            out.append(Finding(label, OK, f"{dev} usable (mode {stat.S_IMODE(st.st_mode):04o})"))
        except OSError as e:
            mode = f"{stat.S_IMODE(st.st_mode):04o}"
            out.append(Finding(label, ERROR, f"{dev} not usable by this user: {e.strerror} (mode {mode}; "
                                             f"ordinary distributions ship it 0666)",
                               f"sudo chmod 0666 {dev}   (persist with a udev rule: "
                               f'KERNEL=="{Path(dev).name}", MODE="0666")'))
    if tools.find(helper):
        out.append(Finding(helper, OK, f"{tools.find(helper)} ({why})"))
    else:
        out.append(Finding(helper, ERROR, f"not installed ({why})",
                           f"sudo apt-get install {tools.PACKAGES.get(helper, helper)}"))
    return out


def check_fuse() -> list[Finding]:
    return _device("/dev/fuse", "fuse", "fuse-overlayfs", "the default storage driver")


def check_tun() -> list[Finding]:
    return _device("/dev/net/tun", "tun", "slirp4netns", "the default network")


_OVERLAY_PROBE = r"""
import os, sys, tempfile
from rootless import linux
from rootless.runtime import userns
def probe():
    linux.unshare(linux.Clone.NEWNS)
    linux.mount(None, "/", None, linux.Mount.REC | linux.Mount.PRIVATE)
    d = tempfile.mkdtemp(prefix="rl-overlay-probe-")
    for s in ("l", "u", "w", "m"):
        os.mkdir(os.path.join(d, s))
    try:
        linux.mount("overlay", d + "/m", "overlay", 0,
                    f"lowerdir={d}/l,upperdir={d}/u,workdir={d}/w,userxattr")
        linux.umount2(d + "/m")
    finally:
        for s in ("w/work", "w/index", "l", "u", "w", "m"):
            try: os.rmdir(os.path.join(d, s))
            except OSError: pass
        os.rmdir(d)
userns.run_in_userns(probe)
"""


def check_overlay() -> list[Finding]:
    res = tools.run([sys.executable, "-c", _OVERLAY_PROBE], capture_output=True, text=True, timeout=30)
    if res.returncode == 0:
        return [Finding("kernel overlay", OK, "mountable in a user namespace with userxattr")]
    why = (res.stderr.strip().splitlines() or ["failed"])[-1]
    return [Finding("kernel overlay", WARN, f"not usable rootless ({why}); fuse-overlayfs or vfs is used",
                    "kernel >= 5.11 mounts overlay in a user namespace")]


def check_monitor() -> list[Finding]:
    """rl-monitor, what stays resident per detached container: built (once)
    here if it is not yet, so a missing compiler shows now, not at run -d."""
    try:
        path = tools.monitor()
    except RlError as e:
        return [Finding("monitor", WARN, f"{e.message}: detached containers (run -d) cannot start", e.hint)]
    return [Finding("monitor", OK, f"rl-monitor at {path}")]


def cgroup_layout() -> str:
    from rootless.cgroups import layout
    return layout.mounted_layout()


def check_cgroups() -> list[Finding]:
    from rootless.cgroups import layout
    ok, detail, fix = layout.delegation()
    return [Finding("cgroups", OK if ok else WARN, detail, fix)]


def check_containers(paths=None) -> list[Finding]:
    """Containers rl cannot read (config.json missing or corrupt: a crash or
    a full disk during create), names that point at no container, and what an
    interrupted removal left: each with the command that removes it."""
    from rootless.containers.records import Store
    store = Store(paths or config.default_paths())
    out = []
    damaged = [r for r in store.all() if r.damaged]
    for rec in damaged:
        st = store.state(rec)
        running = " and still running" if st.get("state") in ("starting", "running", "stopping", "paused") else ""
        out.append(Finding("containers", ERROR, f"container {rec.name} ({rec.id[:12]}) is damaged "
                                                f"({rec.damaged}){running}", f"rl rm -f {rec.name}"))
    left = store.leftovers()
    if left:
        out.append(Finding("containers", WARN, f"{len(left)} interrupted removal(s) left files: "
                                               + ", ".join(str(p) for p in left), "rl rm -f --all"))
    if not out:
        out.append(Finding("containers", OK, "every container record is readable"))
    return out


def run_all(paths=None) -> list[Finding]:
    findings: list[Finding] = []
    for check in (check_idmap_tools, check_subids, check_userns, check_fuse, check_tun, check_overlay,
                  check_monitor, check_cgroups, lambda: check_containers(paths)):
        try:
            findings += check()
        except Exception as e:  # noqa: BLE001 - a broken probe is itself a finding
            name = "containers" if check.__name__ == "<lambda>" else check.__name__.removeprefix("check_")
            findings.append(Finding(name, ERROR, f"probe failed: {e}"))
    return findings


def ready(findings: list[Finding]) -> bool:
    return all(f.status != ERROR for f in findings)
