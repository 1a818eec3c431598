"""Network commands: `rl port` (published ports of a container)."""

from __future__ import annotations

from typing import Optional

import typer

from rootless.cli import OPTIONS, app
from rootless.config import default_paths


def _paths():
    return default_paths(OPTIONS.root, OPTIONS.runroot)


@app.command("port")
def port(
    container: Optional[str] = typer.Argument(None, metavar="CONTAINER"),
    private: Optional[str] = typer.Argument(None, metavar="[PRIVATE_PORT[/PROTO]]"),
    all_: bool = typer.Option(False, "--all", "-a", help="every container's ports"),
    latest: bool = typer.Option(False, "--latest", "-l", help="the newest container"),
) -> None:
    """List a container's published ports (podman's format)."""
    from rootless.containers.records import Store
    from rootless.errors import UsageError
    from rootless.network import ports
    store = Store(_paths())
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
    for rec in recs:
        mappings = ports.for_container(str(store.run_dir(rec.id)), rec.request)
        if want:
            hits = [m for m in mappings if (m.container_port, m.proto) == want]
            if not hits and not all_:
                raise UsageError(f"no public port {want[0]}/{want[1]} published for {rec.name}")
            for m in hits:
                print(ports.format_mapping(m).split("->")[0])
            continue
        for m in mappings:
            if all_ or latest:
                print(f"{rec.short_id}\t{m.container_port}/{m.proto} -> {ports.format_mapping(m).split('->')[0]}")
            else:
                print(f"{m.container_port}/{m.proto} -> {ports.format_mapping(m).split('->')[0]}")
