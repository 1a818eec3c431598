"""The typer application and its global options."""

from __future__ import annotations

import typer

from rootless.cli.options import OPTIONS

app = typer.Typer(
    name="rl",
    help="Rootless, daemonless containers.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # help texts are podman's syntax ("[ip:]hostPort[/tcp|udp]"), not rich markup
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        import rootless
        print(f"rl version {rootless.__version__}")  # podman's `podman version X.Y.Z` shape
        raise typer.Exit(0)


@app.callback()
def _global(
    _version: bool = typer.Option(False, "--version", "-v", is_eager=True, callback=_print_version,
                                  help="print rl's version and exit"),
    log_level: str = typer.Option("warn", "--log-level", help="debug, info, warn, error"),
    root: str = typer.Option(None, "--root", help="storage root (default $XDG_DATA_HOME/rl)"),
    runroot: str = typer.Option(None, "--runroot", help="volatile state (default $XDG_RUNTIME_DIR/rl)"),
    storage_driver: str = typer.Option(None, "--storage-driver", help="fuse-overlayfs, overlay or vfs"),
) -> None:
    OPTIONS.log_level = log_level
    OPTIONS.root = root
    OPTIONS.runroot = runroot
    OPTIONS.storage_driver = storage_driver
