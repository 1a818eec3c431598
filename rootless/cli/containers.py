"""Container commands. Thin: flags -> RunRequest -> engine -> exit status."""

from __future__ import annotations

import inspect
from typing import List, Optional

import typer

from rootless.cli import OPTIONS, app, runflags
from rootless.config import default_paths
from rootless.errors import ContainerExit

_RUN_CTX = {"allow_interspersed_args": False}


def _signature() -> inspect.Signature:
    """The typer signature of run/create, generated from runflags.FLAGS."""
    P = inspect.Parameter
    params = [
        P("image", P.KEYWORD_ONLY, annotation=str,
          default=typer.Argument(..., metavar="IMAGE", help="image reference (or a directory with --rootfs)")),
        P("command", P.KEYWORD_ONLY, annotation=Optional[List[str]],
          default=typer.Argument(None, metavar="[COMMAND [ARG...]]")),
    ]
    kinds = {runflags.BOOL: (bool, False), runflags.STR: (Optional[str], None), runflags.LIST: (List[str], [])}
    for f in runflags.FLAGS:
        ann, default = kinds[f.kind]
        params.append(P(f.dest, P.KEYWORD_ONLY, annotation=ann,
                        default=typer.Option(default, *f.decls, help=f.help)))
    return inspect.Signature(params, return_annotation=None)


def _paths():
    return default_paths(OPTIONS.root, OPTIONS.runroot)


def _with_flags(fn):
    """Give fn(**flags) the full `run` flag signature (run and create share it)."""
    sig = _signature()
    fn.__signature__ = sig
    fn.__annotations__ = {p.name: p.annotation for p in sig.parameters.values()}
    return fn


@app.command("run", context_settings=_RUN_CTX)
@_with_flags
def run(**flags) -> None:
    """Run a command in a new container."""
    from rootless.containers import run as engine
    raise ContainerExit(engine.run(_paths(), runflags.to_request(flags, OPTIONS.storage_driver)))


@app.command("create", context_settings=_RUN_CTX)
@_with_flags
def create(**flags) -> None:
    """Create a container without starting it; prints its ID."""
    from rootless.containers import run as engine
    print(engine.create(_paths(), runflags.to_request(flags, OPTIONS.storage_driver)).id)


@app.command("start")
def start(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER..."),
    attach: bool = typer.Option(False, "--attach", "-a", help="attach stdout/stderr; exit with its status"),
    interactive: bool = typer.Option(False, "--interactive", "-i", help="attach stdin"),
) -> None:
    """Start created or exited containers."""
    from rootless.containers import run as engine
    from rootless.containers.records import Store
    from rootless.errors import UsageError
    if not attach:
        raise UsageError("detached start needs the container monitor, which is not there yet",
                         hint=f"attach instead: rl start -a {containers[0]}")
    if len(containers) != 1:
        raise UsageError("--attach takes exactly one container")
    paths = _paths()
    raise ContainerExit(engine.start(paths, Store(paths).lookup(containers[0]), interactive=interactive or None))


@app.command("rm")
def rm(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER..."),
    force: bool = typer.Option(False, "--force", "-f", help="kill a running container first"),
) -> None:
    """Remove containers: record, storage, state."""
    from rootless.containers import run as engine
    for name in containers:
        engine.remove(_paths(), name, force=force)
        print(name)
