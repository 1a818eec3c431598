"""Containers' cgroups: systemd delegation (a transient scope over D-Bus),
cgroup v2 limits and stats. Imports only the stdlib and rootless.errors.

    resources.py  podman's limit flags -> cgroup v2 files (pure)
    layout.py     v2/hybrid/v1, this process's cgroup, what is delegated
    dbus.py       the few D-Bus calls systemd needs, stdlib only
    manager.py    systemd / cgroupfs / none; placing PID 1; OOM after exit
    stats.py      usage read back (rl stats), limits changed (rl update)
"""

from __future__ import annotations

from rootless.cgroups.manager import Placement, plan
from rootless.cgroups.resources import CgroupError, Resources, parse

__all__ = ["CgroupError", "Placement", "Resources", "check", "parse", "placement", "plan"]


def check(resources: dict | None) -> None:
    """Fail fast (before an image is pulled) when limits were asked for that
    this host cannot enforce."""
    res = Resources.from_dict(resources)
    if res.requested():
        plan(res)


def placement(resources: dict | None, cid: str, state_dir: str | None = None, name: str = "") -> Placement | None:
    """The runtime's cgroup step for one container (RunOptions.cgroup), or
    None when it gets no cgroup: nothing delegated and nothing asked for."""
    from rootless.cgroups import manager
    return manager.placement(Resources.from_dict(resources), cid, state_dir, name)
