"""`rl generate systemd`: unit files for containers (rootless.systemd), and
`rl auto-update`."""

from __future__ import annotations

from rootless.cli.options import OPTIONS
from rootless.cli.table import INT, STR, Arg, Opt, command, group

group("generate", "Generate structured data (systemd units).")


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


@command("generate systemd",
         Arg("container", metavar="CONTAINER"),
         Opt("new", "--new", help="the unit creates the container on start, removes it on stop"),
         Opt("name", "--name", "-n", help="use the container's name, not its ID"),
         Opt("files", "--files", "-f", help="write NAME.service here; print its path"),
         Opt("restart_policy", "--restart-policy", kind=STR, default="on-failure", help="the unit's Restart="),
         Opt("restart_sec", "--restart-sec", kind=INT, help="the unit's RestartSec="),
         Opt("container_prefix", "--container-prefix", kind=STR, default="container", help="unit name prefix"),
         Opt("separator", "--separator", kind=STR, default="-", help="between prefix and name"),
         Opt("stop_timeout", "--stop-timeout", "-t", kind=INT,
             help="seconds to wait on stop (default the container's, else 10)"),
         Opt("no_header", "--no-header", help="no comment header"))
def systemd(container, new, name, files, restart_policy, restart_sec, container_prefix, separator, stop_timeout,
            no_header) -> None:
    """A systemd unit for a container, in podman's form."""
    import os

    from rootless.systemd import generate as gen
    opts = gen.Options(new=new, use_name=name, restart_policy=restart_policy, restart_sec=restart_sec,
                       container_prefix=container_prefix, separator=separator, stop_timeout=stop_timeout,
                       header=not no_header)
    unit, text = gen.for_container(_paths(), container, opts)
    if files:
        path = os.path.abspath(unit)
        with open(path, "w") as f:
            f.write(text)
        print(path)
        return
    print(text, end="")


@command("auto-update",
         Opt("dry_run", "--dry-run", help="report what would be updated; change nothing"),
         Opt("rollback", "--rollback/--no-rollback", default=True, help="restore the old image if the restart fails"),
         Opt("format_", "--format", kind=STR, help="json"))
def auto_update(dry_run, rollback, format_) -> None:
    """Pull newer images for containers labelled io.containers.autoupdate=registry
    and restart their systemd units (rolling back on failure)."""
    import json
    from rootless.plain import asdict

    from rootless.errors import RlError
    from rootless.systemd import autoupdate
    reports = autoupdate.auto_update(_paths(), dry_run=dry_run, rollback=rollback)
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
