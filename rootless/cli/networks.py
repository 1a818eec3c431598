"""Network commands: `rl port` (a container's published ports) and `rl network` (user networks)."""

from __future__ import annotations

import sys

from typing import List, Optional

import typer

from rootless.cli.options import OPTIONS
from rootless.cli.typerapp import app
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
                print(ports.host_address(m))
            continue
        for m in mappings:
            if all_ or latest:
                print(f"{rec.short_id}\t{m.container_port}/{m.proto} -> {ports.host_address(m)}")
            else:
                print(f"{m.container_port}/{m.proto} -> {ports.host_address(m)}")


network_app = typer.Typer(help="Manage user networks.", no_args_is_help=True)
app.add_typer(network_app, name="network")


def _members(paths, name: str) -> list[str]:
    """Running containers on a network (from the live members file)."""
    from rootless.network import usernet
    try:
        members = usernet._read_members(usernet._members_path(paths, name))
    except OSError:
        return []
    return [n for m in members.values() for n in m.get("names", [])[:1]]


@network_app.command("create")
def network_create(
    name: str = typer.Argument(..., metavar="NAME"),
    subnet: Optional[str] = typer.Option(None, "--subnet", help="IPv4 CIDR (default: a free /24 of 10.89.0.0/16)"),
    gateway: Optional[str] = typer.Option(None, "--gateway", help="gateway address (default: the first one)"),
    driver: str = typer.Option("bridge", "--driver", "-d", help="bridge (the only driver)"),
    label: List[str] = typer.Option([], "--label", help="KEY=VALUE"),
) -> None:
    """Create a user network: its containers reach each other by name."""
    from rootless.errors import UsageError
    from rootless.network import networks
    if driver != "bridge":
        raise UsageError(f"--driver {driver}: only bridge is supported")
    labels = dict(item.partition("=")[::2] for item in label)
    print(networks.create(_paths(), name, subnet, gateway, labels).name)


def _net_filter(nets, filters: List[str]):
    """podman's network ls filters: name (regex), id (prefix), driver, label (KEY or KEY=VALUE);
    one key's values OR together, different keys AND."""
    import re

    from rootless.errors import UsageError
    by_key: dict = {}
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq or k not in ("name", "id", "driver", "label", "label!"):
            raise UsageError(f"invalid filter {f!r}", hint="name=, id=, driver=, label=KEY[=VALUE]")
        by_key.setdefault(k, []).append(v)

    def label_ok(n, v):
        key, eq, val = v.partition("=")
        return key in n.labels and (not eq or n.labels[key] == val)
    out = []
    for n in nets:
        ok = all(any(
            re.search(v, n.name) if k == "name" else n.id.startswith(v) if k == "id" else
            n.driver == v if k == "driver" else label_ok(n, v) if k == "label" else not label_ok(n, v)
            for v in vals) for k, vals in by_key.items())
        if ok:
            out.append(n)
    return out


@network_app.command("ls")
@network_app.command("list")
def network_ls(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="names only"),
    format_: Optional[str] = typer.Option(None, "--format", help="json, or a Go template"),
    filter_: List[str] = typer.Option([], "--filter", "-f", help="name=, id=, driver=, label=KEY[=VALUE]"),
    noheading: bool = typer.Option(False, "--noheading", "-n", help="no header line"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="full network IDs"),
) -> None:
    """List user networks."""
    import json

    from rootless.network import networks
    nets = _net_filter(networks.all_networks(_paths()), filter_)
    if quiet:
        for n in nets:
            print(n.name)
    elif format_ == "json":
        print(json.dumps([networks.inspect(n) for n in nets], indent=4))
    elif format_:
        from rootless.cli.gotemplate import render_rows
        rows = [{**networks.inspect(n), "Name": n.name, "ID": n.id if no_trunc else n.id[:12],
                 "Driver": n.driver, "Labels": n.labels, "Created": networks.inspect(n)["created"]}
                for n in nets]
        sys.stdout.write(render_rows(format_, rows, names={"ID": "NETWORK ID"}, heading=not noheading))
    else:
        if not noheading:
            print(f"{'NETWORK ID':<14}{'NAME':<20}{'DRIVER':<10}SUBNET")
        for n in nets:
            print(f"{n.id if no_trunc else n.id[:12]:<14}{n.name:<20}{n.driver:<10}{n.subnet}")


@network_app.command("exists")
def network_exists(name: str = typer.Argument(..., metavar="NETWORK")) -> None:
    """Exit 0 when the network exists, 1 when not."""
    from rootless.errors import ExitStatus
    from rootless.network import networks
    if not networks.exists(_paths(), name):
        raise ExitStatus(1)


@network_app.command("inspect")
def network_inspect(
    names: List[str] = typer.Argument(..., metavar="NETWORK..."),
    format_: Optional[str] = typer.Option(None, "--format", "-f", help="json, or a Go template"),
) -> None:
    """Show networks as JSON (podman's shape)."""
    import json

    from rootless.network import networks
    paths = _paths()
    out = []
    for name in names:
        d = networks.inspect(networks.load(paths, name))
        d["containers"] = _members(paths, name)
        out.append(d)
    if format_ and format_ != "json":
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(format_, out))
        return
    print(json.dumps(out, indent=4))


@network_app.command("connect")
def network_connect(
    network: str = typer.Argument(..., metavar="NETWORK"),
    container: str = typer.Argument(..., metavar="CONTAINER"),
    alias: List[str] = typer.Option([], "--alias", help="another name for the container on this network"),
    ip: Optional[str] = typer.Option(None, "--ip", help="its IPv4 address on this network"),
) -> None:
    """Connect a container (created or running) to a user network."""
    from rootless.containers import netconnect
    netconnect.connect(_paths(), container, network, alias, ip)


@network_app.command("disconnect")
def network_disconnect(
    network: str = typer.Argument(..., metavar="NETWORK"),
    container: str = typer.Argument(..., metavar="CONTAINER"),
    force: bool = typer.Option(False, "--force", "-f", help="disconnect even if its interface cannot be removed"),
) -> None:
    """Disconnect a container (created or running) from a user network."""
    from rootless.containers import netconnect
    netconnect.disconnect(_paths(), container, network, force)


@network_app.command("rm")
def network_rm(
    names: List[str] = typer.Argument(..., metavar="NETWORK..."),
    force: bool = typer.Option(False, "--force", "-f", help="no error for a missing network"),
) -> None:
    """Remove networks no running container uses."""
    from rootless.errors import ContainerError
    from rootless.network import networks
    paths = _paths()
    for name in names:
        if force and not networks.exists(paths, name):
            continue
        users = _members(paths, name)
        if users:
            raise ContainerError(f"network {name} is in use by {', '.join(users)}", hint="stop those containers first")
        networks.remove(paths, name)
        print(name)


@network_app.command("prune")
def network_prune(force: bool = typer.Option(False, "--force", "-f", help="do not ask")) -> None:
    """Remove every user network no running container uses."""
    from rootless.network import networks
    if not force:
        from rootless.cli.prompt import confirm
        if not confirm("WARNING! This will remove all networks not used by at least one container.\n"):
            return
    paths = _paths()
    for n in networks.all_networks(paths):
        if not _members(paths, n.name):
            networks.remove(paths, n.name)
            print(n.name)
