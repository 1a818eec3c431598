"""Exec settings: what `rl exec` and healthchecks reuse of the container's
spec, saved at start (exec.json) and read back."""

from __future__ import annotations

from rootless.containers.records import Record, Store, read_json, same_process, write_json
from rootless.errors import ContainerError


def save_exec_settings(store: Store, rec: Record, spec) -> None:
    write_json(store.run_dir(rec.id) / "exec.json", {
        "env": spec.env, "user": spec.user, "cwd": spec.cwd, "hostname": spec.hostname,
        "group_add": list(spec.group_add), "caps": sorted(spec.caps), "added_caps": sorted(spec.added_caps),
        "no_new_privs": spec.no_new_privs,
        "seccomp": spec.seccomp_bpf.hex() if spec.seccomp_bpf else None, "umask": spec.umask,
        # podman's exec: the container's limits (nofile's soft one raised to its hard), its OOM score adjustment
        "rlimits": [[n, h if n == "nofile" else s, h] for n, s, h in spec.rlimits],
        "oom_score_adj": spec.oom_score_adj, "personality": spec.personality})


def exec_spec(store: Store, rec: Record, args: list[str], *, env: list[str] = (), user: str | None = None,
              workdir: str | None = None, tty: bool = False, interactive: bool = False, detach: bool = False,
              privileged: bool = False, die_with_parent: bool = False):
    from rootless.containers import options
    from rootless.runtime import security
    from rootless.runtime.exec import ExecSpec
    try:
        s = read_json(store.run_dir(rec.id) / "exec.json")  # its seccomp filter: never a planted one
    except (OSError, ValueError):
        raise ContainerError(f"container {rec.name} is not running", hint=f"rl start {rec.name}") from None
    e = dict(s["env"])
    e.setdefault("container", "rl")  # what run gives PID 1 (runtime/child.py), as podman's exec
    e.setdefault("TERM", "xterm")
    e.update(options.parse_env(list(env)))
    caps = frozenset(s["caps"])
    seccomp = bytes.fromhex(s["seccomp"]) if s["seccomp"] else None
    if privileged:
        caps, seccomp = security.all_caps(), None
    # exec and healthchecks run with umask 0022 (ExecSpec's default) whatever the
    # container's --umask: podman 4.3's exec does the same
    return ExecSpec(list(args), env=e, cwd=workdir or s["cwd"], user=s["user"] if user is None else user,
                    hostname=s["hostname"], terminal=tty, stdin=interactive, detach=detach, caps=caps,
                    added_caps=frozenset(s["added_caps"]), seccomp_bpf=seccomp, no_new_privs=s["no_new_privs"],
                    die_with_parent=die_with_parent, group_add=list(s.get("group_add") or []),
                    rlimits=[tuple(x) for x in s.get("rlimits") or []], oom_score_adj=s.get("oom_score_adj"),
                    personality=s.get("personality"))


def running_pid(store: Store, rec: Record) -> int:
    """The host pid of the container's PID 1; an error unless it runs."""
    st = store.state(rec)
    if st.get("state") != "running" or not same_process(st.get("pid"), st.get("pid_start")):
        raise ContainerError(f"container {rec.name} is not running", hint=f"rl start {rec.name}")
    return st["pid"]
