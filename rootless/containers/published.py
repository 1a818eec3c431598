"""The ports containers publish on the host (`rl port`): engine API.

    ports(paths, container, private, all_=False, latest=False) -> [Published]

Plain data for any face; the CLI prints it in podman's format."""

from __future__ import annotations

from rootless.config import Paths
from rootless.errors import UsageError
from rootless.plain import field, record


@record
class Published:
    id: str
    short_id: str
    name: str
    mappings: list = field(default_factory=list)  # network.ports.PortMapping, in publishing order


def ports(paths: Paths, container: str | None = None, private: str | None = None,
          all_: bool = False, latest: bool = False) -> list[Published]:
    """The published ports of one container, of every one (all_), or of the
    newest one (latest), as podman's `port`. private (PORT[/PROTO]): only the
    mappings of that container port; a UsageError when a named container (or
    the newest) does not publish it. With all_ or latest, a lone argument is
    the private port."""
    from rootless.containers.records import Store
    from rootless.network import ports as netports
    store = Store(paths)
    if all_ or latest:
        if private is None and container is not None:
            private = container
        recs = [store.load(d.name) for d in sorted(store.dir.iterdir())
                if d.is_dir() and (d / "config.json").exists()] if store.dir.exists() else []
        if latest:
            recs = sorted(recs, key=lambda r: r.created)[-1:]
    elif container is None:
        raise UsageError("rl port needs a container", hint="rl port CONTAINER, or rl port --all")
    else:
        recs = [store.lookup(container)]
    want = None
    if private:
        num, _, proto = private.partition("/")
        if not num.isdigit():
            raise UsageError(f"{private!r}: expected PORT[/PROTO]")
        want = (int(num), proto or "tcp")
    out = []
    for rec in recs:
        mappings = netports.for_container(str(store.run_dir(rec.id)), rec.request)
        if want:
            mappings = [m for m in mappings if (m.container_port, m.proto) == want]
            if not mappings and not all_:
                raise UsageError(f"no public port {want[0]}/{want[1]} published for {rec.name}")
        out.append(Published(rec.id, rec.short_id, rec.name, mappings))
    return out
