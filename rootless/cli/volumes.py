"""`rl volume create/ls/inspect/rm/prune`, as podman's."""

from __future__ import annotations

import sys

from rootless import jsonio  # not json: its import costs every command ~7 ms (re)
from rootless.cli.options import OPTIONS
from rootless.cli.table import LIST, OPTIONAL, SOME, STR, Arg, Opt, command, group

group("volume", "Manage named volumes.")


def _store():
    from rootless.config import default_paths
    from rootless.volumes import VolumeStore
    return VolumeStore(default_paths(OPTIONS.root, OPTIONS.runroot))


@command("volume create",
         Arg("name", OPTIONAL, help="volume name (default: a random one)"),
         Opt("label", "--label", "-l", kind=LIST, help="KEY=VALUE"),
         Opt("ignore", "--ignore", help="no error when it already exists"))
def create(name, label, ignore) -> None:
    """Create a named volume; prints its name."""
    import secrets
    labels = dict(item.partition("=")[::2] for item in label)
    vol = _store().create(name or secrets.token_hex(32), labels=labels, exist_ok=ignore)
    print(vol.Name)


@command("volume ls", "volume list",
         Opt("quiet", "--quiet", "-q", help="names only"),
         Opt("fmt", "--format", kind=STR, default="", help="json, or a template such as {{.Name}}"),
         Opt("filter_", "--filter", "-f", kind=LIST,
             help="name=REGEX, label=KEY[=VALUE], label!=, driver=, scope=, dangling=true|false"),
         Opt("noheading", "--noheading", help="no header line"))
def ls(quiet, fmt, filter_, noheading) -> None:
    """List volumes."""
    vols = _store().list(filter_)
    if fmt == "json":
        print(jsonio.dumps([v.to_dict() for v in vols], indent=4))
    elif fmt:
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, [v.to_dict() for v in vols], names={"Name": "VOLUME NAME"}))
    elif quiet:
        for v in vols:
            print(v.Name)
    else:
        # podman's tabwriter: a column at least 12 wide, 2 spaces after its longest cell
        drivers = [v.Driver for v in vols] + ([] if noheading else ["DRIVER"])
        w = max([12] + [len(d) + 2 for d in drivers])
        if not noheading:
            print(f"{'DRIVER':<{w}}VOLUME NAME")
        for v in vols:
            print(f"{v.Driver:<{w}}{v.Name}")


@command("volume inspect", Arg("names", SOME, metavar="VOLUME..."))
def inspect(names) -> None:
    """Show volumes' metadata as JSON."""
    store = _store()
    print(jsonio.dumps([store.lookup(n).to_dict() for n in names], indent=4))


@command("volume rm", Arg("names", SOME, metavar="VOLUME..."),
         Opt("force", "--force", "-f", help="even when a container uses it"))
def rm(names, force) -> None:
    """Remove volumes."""
    store = _store()
    for n in names:
        store.remove(n, force=force)
        print(n)


@command("volume prune", Opt("force", "--force", "-f", help="do not ask"))
def prune(force) -> None:
    """Remove every volume no container uses."""
    store = _store()
    if not force:
        from rootless.cli.prompt import confirm
        unused = store.unused()
        if not unused:  # podman: nothing to ask about
            print("WARNING! This will remove all volumes not used by at least one container. "
                  "The following volumes will be removed:\nNo dangling volumes found")
            return
        if not confirm("WARNING! This will remove all volumes not used by at least one container. "
                       "The following volumes will be removed:\n" + "".join(f"{n}\n" for n in unused)):
            return
    for n in store.prune():
        print(n)
