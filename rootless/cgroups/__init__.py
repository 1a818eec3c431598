"""Containers' cgroups: systemd delegation (a transient scope over D-Bus),
cgroup v2 limits and stats. Imports only the stdlib and rootless.errors.

    resources.py  podman's limit flags -> cgroup v2 files (pure)
    layout.py     v2/hybrid/v1, this process's cgroup, what is delegated
    dbus.py       the few D-Bus calls systemd needs, stdlib only
    manager.py    systemd / cgroupfs / none; placing PID 1; OOM after exit
    stats.py      usage read back (rl stats), limits changed (rl update)
"""

from __future__ import annotations

# submodules load on first use: every `rl run` comes through here
__all__ = ["CgroupError", "Resources", "check", "parse", "placement"]


def __getattr__(name: str):
    if name in ("CgroupError", "Resources", "parse"):
        from rootless.cgroups import resources
        return getattr(resources, name)
    raise AttributeError(name)


def check(resources: dict | None) -> None:
    """Fail fast (before an image is pulled) when limits were asked for that
    this host cannot enforce."""
    if resources:
        from rootless.cgroups import manager
        from rootless.cgroups.resources import Resources
        res = Resources.from_dict(resources)
        if res.requested():
            manager.plan(res, warn=True)


def placement(resources: dict | None, cid: str, state_dir: str | None = None, name: str = ""):
    """The runtime's cgroup step for one container (RunOptions.cgroup: a
    manager.Placement), or None when it gets no cgroup: nothing delegated
    and nothing asked for."""
    from rootless.cgroups import manager
    from rootless.cgroups.resources import Resources
    return manager.placement(Resources.from_dict(resources), cid, state_dir, name)
