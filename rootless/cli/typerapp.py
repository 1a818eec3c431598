"""The typer application and its global options."""

from __future__ import annotations

import typer

from rootless.cli.options import OPTIONS

app = typer.Typer(
    name="rl",
    help="Rootless, daemonless containers.",
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish)
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # help texts are podman's syntax ("[ip:]hostPort[/tcp|udp]"), not rich markup
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from rootless import system
        print(system.version_line())  # `rl version X.Y.Z (podman 4.6.0)`: system.PODMAN_API_VERSION
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


def _signature(cmd):
    """A typer signature for a table command (cli/table.py)."""
    import inspect
    from typing import List, Optional

    from rootless.cli import table
    P = inspect.Parameter
    params = []
    for a in cmd.args:
        required = a.nargs in (table.ONE, table.SOME, table.REST1)
        many = a.nargs not in (table.ONE, table.OPTIONAL)
        ann = List[str] if many and required else Optional[List[str]] if many else \
            str if required else Optional[str]
        params.append(P(a.dest, P.KEYWORD_ONLY, annotation=ann,
                        default=typer.Argument(... if required else None, metavar=a.metavar,
                                               help=a.help or None)))
    for o in cmd.options:
        extra = {"hidden": True} if o.hidden else {}
        if o.metavar:
            extra["metavar"] = o.metavar
        if o.kind == table.BOOL:
            ann, default = bool, o.default
        elif o.kind == table.LIST:
            ann, default = List[str], list(o.default)
        else:
            base = {table.INT: int, table.FLOAT: float}.get(o.kind, str)
            ann, default = (base if o.default is not None else Optional[base]), o.default
            if o.flag_value is not None:
                extra.update(is_flag=False, flag_value=o.flag_value)
        params.append(P(o.dest, P.KEYWORD_ONLY, annotation=ann,
                        default=typer.Option(default, *o.decls, help=o.help or None, **extra)))
    return inspect.Signature(params, return_annotation=None)


def _wrap(cmd):
    """cmd.fn behind typer, with the values the fast path gives it."""
    from rootless.cli import table

    def run(**kw):
        for a in cmd.args:
            if a.nargs not in (table.ONE, table.OPTIONAL):
                kw[a.dest] = list(kw[a.dest] or [])
                if a.nargs in (table.REST, table.REST1) and kw[a.dest][:1] == ["--"]:
                    kw[a.dest] = kw[a.dest][1:]
        for o in cmd.options:
            if o.kind == table.LIST:
                kw[o.dest] = list(kw[o.dest] or [])
        return cmd.fn(**kw)
    sig = _signature(cmd)
    run.__signature__ = sig
    run.__annotations__ = {p.name: p.annotation for p in sig.parameters.values()}
    run.__doc__ = cmd.fn.__doc__
    run.__name__ = cmd.fn.__name__
    return run


def build(tbl) -> typer.Typer:
    """Add every table command (and its group) to `app`."""
    groups: dict[str, typer.Typer] = {}
    for name, help_ in tbl.groups.items():
        groups[name] = typer.Typer(help=help_, no_args_is_help=True)
        app.add_typer(groups[name], name=name)
    for cmd in tbl.commands:
        fn = _wrap(cmd)
        ctx = {"allow_interspersed_args": False} if cmd.rest else None
        for path in cmd.names:
            where = groups[path[0]] if len(path) == 2 else app
            where.command(path[-1], context_settings=ctx, hidden=cmd.hidden)(fn)
    return app
