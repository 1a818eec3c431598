"""Network commands: `rl port` (a container's published ports) and `rl network` (user networks).
Parsing and rendering only: the engine is rootless.network.manage and rootless.containers.published."""

from __future__ import annotations

import sys

from rootless.cli.options import OPTIONS
from rootless.cli.table import LIST, OPTIONAL, SOME, STR, Arg, Opt, command, group


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


@command("port",
         Arg("container", OPTIONAL, metavar="CONTAINER"),
         Arg("private", OPTIONAL, metavar="[PRIVATE_PORT[/PROTO]]"),
         Opt("all_", "--all", "-a", help="every container's ports"),
         Opt("latest", "--latest", "-l", help="the newest container"))
def port(container, private, all_, latest) -> None:
    """List a container's published ports (podman's format)."""
    from rootless.containers import published
    from rootless.network import ports
    for ctr in published.ports(_paths(), container, private, all_=all_, latest=latest):
        for m in ctr.mappings:
            if private:
                print(ports.host_address(m))
            elif all_ or latest:
                print(f"{ctr.short_id}\t{m.container_port}/{m.proto} -> {ports.host_address(m)}")
            else:
                print(f"{m.container_port}/{m.proto} -> {ports.host_address(m)}")


group("network", "Manage user networks.")


@command("network create",
         Arg("name", metavar="NAME"),
         Opt("subnet", "--subnet", kind=STR, help="IPv4 CIDR (default: a free /24 of 10.89.0.0/16)"),
         Opt("gateway", "--gateway", kind=STR, help="gateway address (default: the first one)"),
         Opt("driver", "--driver", "-d", kind=STR, default="bridge", help="bridge (the only driver)"),
         Opt("label", "--label", kind=LIST, help="KEY=VALUE"))
def network_create(name, subnet, gateway, driver, label) -> None:
    """Create a user network: its containers reach each other by name."""
    from rootless.network import manage
    labels = dict(item.partition("=")[::2] for item in label)
    print(manage.create(_paths(), name, subnet, gateway, driver, labels).name)


@command("network ls", "network list",
         Opt("quiet", "--quiet", "-q", help="names only"),
         Opt("format_", "--format", kind=STR, help="json, or a Go template"),
         Opt("filter_", "--filter", "-f", kind=LIST, help="name=, id=, driver=, label=KEY[=VALUE]"),
         Opt("noheading", "--noheading", "-n", help="no header line"),
         Opt("no_trunc", "--no-trunc", help="full network IDs"))
def network_ls(quiet, format_, filter_, noheading, no_trunc) -> None:
    """List user networks."""
    from rootless.network import manage, networks
    nets = manage.ls(_paths(), filter_)
    if quiet:
        for n in nets:
            print(n.name)
    elif format_ == "json":
        import json
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


@command("network exists", Arg("name", metavar="NETWORK"))
def network_exists(name) -> None:
    """Exit 0 when the network exists, 1 when not."""
    from rootless.errors import ExitStatus
    from rootless.network import manage
    if not manage.exists(_paths(), name):
        raise ExitStatus(1)


@command("network inspect",
         Arg("names", SOME, metavar="NETWORK..."),
         Opt("format_", "--format", "-f", kind=STR, help="json, or a Go template"))
def network_inspect(names, format_) -> None:
    """Show networks as JSON (podman's shape)."""
    from rootless.network import manage
    out = manage.inspect(_paths(), names)
    if format_ and format_ != "json":
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(format_, out))
        return
    import json
    print(json.dumps(out, indent=4))


@command("network connect",
         Arg("network", metavar="NETWORK"),
         Arg("container", metavar="CONTAINER"),
         Opt("alias", "--alias", kind=LIST, help="another name for the container on this network"),
         Opt("ip", "--ip", kind=STR, help="its IPv4 address on this network"))
def network_connect(network, container, alias, ip) -> None:
    """Connect a container (created or running) to a user network."""
    from rootless.containers import netconnect
    netconnect.connect(_paths(), container, network, alias, ip)


@command("network disconnect",
         Arg("network", metavar="NETWORK"),
         Arg("container", metavar="CONTAINER"),
         Opt("force", "--force", "-f", help="disconnect even if its interface cannot be removed"))
def network_disconnect(network, container, force) -> None:
    """Disconnect a container (created or running) from a user network."""
    from rootless.containers import netconnect
    netconnect.disconnect(_paths(), container, network, force)


@command("network rm",
         Arg("names", SOME, metavar="NETWORK..."),
         Opt("force", "--force", "-f", help="no error for a missing network"))
def network_rm(names, force) -> None:
    """Remove networks no running container uses."""
    from rootless.network import manage
    paths = _paths()
    for name in names:
        if manage.remove(paths, name, force=force):
            print(name)


@command("network prune", Opt("force", "--force", "-f", help="do not ask"))
def network_prune(force) -> None:
    """Remove every user network no running container uses."""
    from rootless.network import manage
    if not force:
        from rootless.cli.prompt import confirm
        if not confirm("WARNING! This will remove all networks not used by at least one container.\n"):
            return
    for name in manage.prune(_paths()):
        print(name)
