"""`rl generate systemd`: unit files for containers (rootless.systemd)."""

from __future__ import annotations

import os
from typing import Optional

import typer

from rootless.cli.options import OPTIONS
from rootless.cli.typerapp import app
from rootless.config import default_paths

generate_app = typer.Typer(help="Generate structured data (systemd units).", no_args_is_help=True)
app.add_typer(generate_app, name="generate")


@generate_app.command("systemd")
def systemd(
    container: str = typer.Argument(..., metavar="CONTAINER"),
    new: bool = typer.Option(False, "--new", help="the unit creates the container on start, removes it on stop"),
    name: bool = typer.Option(False, "--name", "-n", help="use the container's name, not its ID"),
    files: bool = typer.Option(False, "--files", "-f", help="write NAME.service here; print its path"),
    restart_policy: str = typer.Option("on-failure", "--restart-policy", help="the unit's Restart="),
    restart_sec: Optional[int] = typer.Option(None, "--restart-sec", help="the unit's RestartSec="),
    container_prefix: str = typer.Option("container", "--container-prefix", help="unit name prefix"),
    separator: str = typer.Option("-", "--separator", help="between prefix and name"),
    stop_timeout: Optional[int] = typer.Option(None, "--stop-timeout", "-t",
                                               help="seconds to wait on stop (default the container's, else 10)"),
    no_header: bool = typer.Option(False, "--no-header", help="no comment header"),
) -> None:
    """A systemd unit for a container, in podman's form."""
    from rootless.containers.records import Store
    from rootless.systemd import generate as gen
    paths = default_paths(OPTIONS.root, OPTIONS.runroot)
    store = Store(paths)
    rec = store.lookup(container)
    opts = gen.Options(new=new, use_name=name, restart_policy=restart_policy, restart_sec=restart_sec,
                       container_prefix=container_prefix, separator=separator, stop_timeout=stop_timeout,
                       header=not no_header)
    unit, text = gen.generate(rec, str(store.run_dir(rec.id)), opts)
    if files:
        path = os.path.abspath(unit)
        with open(path, "w") as f:
            f.write(text)
        print(path)
        return
    print(text, end="")


@app.command("auto-update")
def auto_update(
    dry_run: bool = typer.Option(False, "--dry-run", help="report what would be updated; change nothing"),
    rollback: bool = typer.Option(True, "--rollback/--no-rollback", help="restore the old image if the restart fails"),
    format_: Optional[str] = typer.Option(None, "--format", help="json"),
) -> None:
    """Pull newer images for containers labelled io.containers.autoupdate=registry
    and restart their systemd units (rolling back on failure)."""
    import json
    from dataclasses import asdict

    from rootless.errors import RlError
    from rootless.systemd import autoupdate
    reports = autoupdate.auto_update(default_paths(OPTIONS.root, OPTIONS.runroot), dry_run=dry_run,
                                     rollback=rollback)
    if format_ == "json":
        print(json.dumps([asdict(r) for r in reports], indent=4))
    else:
        rows = [("UNIT", "CONTAINER", "IMAGE", "POLICY", "UPDATED")] + [
            (r.unit, r.container, r.image, r.policy, r.updated + (f" ({r.error})" if r.error else ""))
            for r in reports]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[4])
    bad = [r.unit for r in reports if r.updated in ("failed", "rolled back")]
    if bad:
        raise RlError(f"auto-update of {', '.join(bad)} failed",
                      hint=f"journalctl --user -u {bad[0]} shows why")
