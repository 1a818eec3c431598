"""`rl volume create/ls/inspect/rm/prune`, as podman's."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import List, Optional

import typer

from rootless.cli.options import OPTIONS
from rootless.cli.typerapp import app

volume_app = typer.Typer(help="Manage named volumes.", no_args_is_help=True)
app.add_typer(volume_app, name="volume")


def _store():
    from rootless.config import default_paths
    from rootless.volumes import VolumeStore
    return VolumeStore(default_paths(OPTIONS.root, OPTIONS.runroot))


@volume_app.command("create")
def create(
    name: Optional[str] = typer.Argument(None, help="volume name (default: a random one)"),
    label: List[str] = typer.Option([], "--label", "-l", help="KEY=VALUE"),
    ignore: bool = typer.Option(False, "--ignore", help="no error when it already exists"),
) -> None:
    """Create a named volume; prints its name."""
    import secrets
    labels = dict(item.partition("=")[::2] for item in label)
    vol = _store().create(name or secrets.token_hex(32), labels=labels, exist_ok=ignore)
    print(vol.Name)


@volume_app.command("ls")
@volume_app.command("list")
def ls(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="names only"),
    fmt: str = typer.Option("", "--format", help="json, or a template such as {{.Name}}"),
) -> None:
    """List volumes."""
    vols = _store().list()
    if fmt == "json":
        print(json.dumps([asdict(v) for v in vols], indent=4))
    elif fmt:
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, [asdict(v) for v in vols]))
    elif quiet:
        for v in vols:
            print(v.Name)
    else:
        print(f"{'DRIVER':<11}VOLUME NAME")
        for v in vols:
            print(f"{v.Driver:<11}{v.Name}")


@volume_app.command("inspect")
def inspect(names: List[str] = typer.Argument(..., metavar="VOLUME...")) -> None:
    """Show volumes' metadata as JSON."""
    store = _store()
    print(json.dumps([asdict(store.lookup(n)) for n in names], indent=4))


@volume_app.command("rm")
def rm(
    names: List[str] = typer.Argument(..., metavar="VOLUME..."),
    force: bool = typer.Option(False, "--force", "-f", help="even when a container uses it"),
) -> None:
    """Remove volumes."""
    store = _store()
    for n in names:
        store.remove(n, force=force)
        print(n)


@volume_app.command("prune")
def prune(force: bool = typer.Option(False, "--force", "-f", help="do not ask")) -> None:
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
