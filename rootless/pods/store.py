"""Pod records: a 64-hex ID, a unique name and pod.json under
`$root/pods/ID`, written atomically (fsutil.atomic_write), names as symlinks
in `$root/pods/names` (claimed with one symlink(2): exactly one creator wins).
A pod's containers are not listed here: each container records its pod's ID
(RunRequest.pod), so the two can never disagree."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from rootless import fsutil
from rootless.config import Paths, ensure_dir
from rootless.errors import ContainerError, RlError, UsageError
from rootless.names import is_id, valid_name
from rootless.plain import asdict, field, fields, record



class PodNotFound(RlError):
    """No pod of that name or ID."""


@record
class Pod:
    id: str
    name: str
    created: float = field(default_factory=time.time)
    labels: dict = field(default_factory=dict)
    infra: bool = True                 # --infra: a pause container holds the shared namespaces
    share: list = field(default_factory=list)  # net, ipc, uts (what members join)
    infra_id: str = ""                 # the infra container's ID
    infra_name: str = ""
    hostname: str = ""                 # --hostname as given ("" = the pod's name inside)
    add_host: list = field(default_factory=list)
    dns: list = field(default_factory=list)
    dns_search: list = field(default_factory=list)
    dns_option: list = field(default_factory=list)
    publish: list = field(default_factory=list)
    network: list = field(default_factory=list)
    no_hosts: bool = False
    share_parent: bool = True          # recorded, as podman's; rl gives each container its own cgroup
    exit_policy: str = "continue"
    create_command: list = field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id[:12]


class PodStore:
    def __init__(self, paths: Paths):
        self.paths = paths
        self.dir = paths.root / "pods"
        self.names = self.dir / "names"

    def pod_dir(self, pid: str) -> Path:
        return self.dir / pid

    def create(self, pod: Pod) -> Pod:
        """Record pod under a fresh ID; its name claimed atomically."""
        ensure_dir(self.names)
        if not valid_name(pod.name):
            raise UsageError(f"invalid pod name {pod.name!r}",
                             hint="names match [a-zA-Z0-9][a-zA-Z0-9_.-]*, as podman's")
        try:
            os.symlink(pod.id, self.names / pod.name)
        except FileExistsError:
            raise ContainerError(f'the pod name "{pod.name}" is already in use',
                                 hint=f"choose another --name, or remove the old pod: rl pod rm -f {pod.name}") \
                from None
        ensure_dir(self.pod_dir(pod.id))
        self.save(pod)
        return pod

    def save(self, pod: Pod) -> None:
        fsutil.atomic_write(self.pod_dir(pod.id) / "pod.json", json.dumps(asdict(pod)))

    def load(self, pid: str) -> Pod:
        try:
            data = json.loads(fsutil.read_private(self.pod_dir(pid) / "pod.json"))
        except (OSError, ValueError):
            raise PodNotFound(f"no pod with name or ID {pid} found", hint="rl pod ps lists pods") from None
        known = {f.name for f in fields(Pod)}
        return Pod(**{k: v for k, v in data.items() if k in known})

    def all(self) -> list[Pod]:
        """Every pod, newest first (podman's default order)."""
        out = []
        try:
            entries = os.listdir(self.dir)
        except FileNotFoundError:
            return out
        for name in entries:
            if is_id(name):
                try:
                    out.append(self.load(name))
                except PodNotFound:
                    continue  # being created or removed right now
        out.sort(key=lambda p: p.created, reverse=True)
        return out

    def lookup(self, name_or_id: str) -> Pod:
        """By name, full ID or unambiguous ID prefix, as podman."""
        try:
            return self.load(os.readlink(self.names / name_or_id))
        except (OSError, PodNotFound):
            pass
        if len(name_or_id) >= 1 and all(c in "0123456789abcdef" for c in name_or_id):
            try:
                hits = [n for n in os.listdir(self.dir) if is_id(n) and n.startswith(name_or_id)]
            except FileNotFoundError:
                hits = []
            if len(hits) > 1:
                raise ContainerError(f"more than one result for pod ID {name_or_id}", hint="give more of the ID")
            if hits:
                return self.load(hits[0])
        raise PodNotFound(f"no pod with name or ID {name_or_id} found", hint="rl pod ps lists pods")

    def exists(self, name_or_id: str) -> bool:
        try:
            self.lookup(name_or_id)
            return True
        except (PodNotFound, ContainerError):
            return False

    def remove(self, pod: Pod) -> None:
        try:
            if os.readlink(self.names / pod.name) == pod.id:
                os.unlink(self.names / pod.name)
        except OSError:
            pass
        gone = self.dir / f".removing-{pod.id}"
        try:
            os.rename(self.pod_dir(pod.id), gone)
        except OSError:
            gone = self.pod_dir(pod.id)
        shutil.rmtree(gone, ignore_errors=True)

    def infra_rootfs(self) -> Path:
        """The infra container's root filesystem: the mount points rl's runtime
        needs and nothing else (its one program, catatonit, is bound in read-only
        from the host). Made once, shared read-only by every infra container
        (each has its own upper dir)."""
        root = self.dir / "infra-rootfs"
        if (root / "etc").is_dir():
            return root
        ensure_dir(self.dir)
        tmp = self.dir / f".infra-rootfs-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o755)
        for d in ("etc", "proc", "dev", "sys", "run", "tmp"):
            (tmp / d).mkdir(mode=0o755)
        os.chmod(tmp / "tmp", 0o1777)
        fsutil.atomic_write(tmp / "etc" / "passwd", "root:x:0:0:root:/:/catatonit\n", 0o644)
        fsutil.atomic_write(tmp / "etc" / "group", "root:x:0:\n", 0o644)
        try:
            os.rename(tmp, root)
        except OSError:  # another create made it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        return root
