"""The rl command line: parse flags, call the engine, render. The single
place that turns errors into exit statuses (podman's: 125 rl failed,
126 cannot invoke, 127 not found, else the container's own status)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import typer

from rootless.errors import EXIT_RL, ContainerExit, RlError

app = typer.Typer(
    name="rl",
    help="Rootless, daemonless containers.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class GlobalOptions:
    log_level: str = "warn"
    root: str | None = None
    runroot: str | None = None
    storage_driver: str | None = None


OPTIONS = GlobalOptions()


@app.callback()
def _global(
    log_level: str = typer.Option("warn", "--log-level", help="debug, info, warn, error"),
    root: str = typer.Option(None, "--root", help="storage root (default $XDG_DATA_HOME/rl)"),
    runroot: str = typer.Option(None, "--runroot", help="volatile state (default $XDG_RUNTIME_DIR/rl)"),
    storage_driver: str = typer.Option(None, "--storage-driver", help="fuse-overlayfs, overlay or vfs"),
) -> None:
    OPTIONS.log_level = log_level
    OPTIONS.root = root
    OPTIONS.runroot = runroot
    OPTIONS.storage_driver = storage_driver


def _register() -> None:
    # each module adds its commands to `app`; kept explicit so a reader sees the whole CLI here
    from rootless.cli import containers, images, system  # noqa: F401


def _debug() -> bool:
    return OPTIONS.log_level == "debug" or "--log-level=debug" in sys.argv or (
        "--log-level" in sys.argv and sys.argv[sys.argv.index("--log-level") + 1:][:1] == ["debug"])


def _fail(message: str, hint: str | None, code: int) -> int:
    print(f"Error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    return code


def _usage_error(e: BaseException) -> int | None:
    """Click's usage errors (vendored inside newer typer), recognised by shape
    so either typer layout works."""
    if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
        return None
    name = type(e).__name__
    if name == "Abort":
        return 130
    if name == "Exit":
        return e.exit_code
    ctx = getattr(e, "ctx", None)
    where = f"`{ctx.command_path} --help`" if ctx is not None else "`rl --help`"
    return _fail(e.format_message(), f"see {where}", EXIT_RL)


def run(argv: list[str] | None = None) -> int:
    _register()
    try:
        rv = app(args=argv, prog_name="rl", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except ContainerExit as e:
        return e.status
    except RlError as e:
        if _debug():
            import traceback
            traceback.print_exc()
        return _fail(e.message, e.hint, e.exit_code)
    except (typer.Exit, typer.Abort) as e:
        return getattr(e, "exit_code", 130)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # e.g. `rl images | head`: not an error worth a word
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # noqa: BLE001 - the one place that catches everything
        code = _usage_error(e)
        if code is not None:
            return code
        if _debug():
            import traceback
            traceback.print_exc()
        return _fail(f"internal error: {type(e).__name__}: {e}",
                     "rerun with --log-level debug for a traceback and report it", EXIT_RL)


def main() -> None:
    sys.exit(run())
