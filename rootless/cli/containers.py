"""Container commands. Thin: flags -> RunRequest -> engine -> exit status."""

from __future__ import annotations

import inspect
from typing import List, Optional

import typer

from rootless.cli import OPTIONS, app
from rootless.config import default_paths
from rootless.errors import ContainerExit

_RUN_CTX = {"allow_interspersed_args": False}


def _flags(
    image: str = typer.Argument(..., metavar="IMAGE", help="image reference (or a directory with --rootfs)"),
    command: Optional[List[str]] = typer.Argument(None, metavar="[COMMAND [ARG...]]"),
    interactive: bool = typer.Option(False, "--interactive", "-i", help="keep stdin open"),
    tty: bool = typer.Option(False, "--tty", "-t", help="allocate a pseudo-terminal"),
    rm: bool = typer.Option(False, "--rm", help="remove the container when it exits"),
    name: Optional[str] = typer.Option(None, "--name", help="container name (unique)"),
    hostname: Optional[str] = typer.Option(None, "--hostname", help="container host name"),
    env: List[str] = typer.Option([], "--env", "-e", help="NAME=VALUE (or NAME: taken from the host)"),
    env_file: List[str] = typer.Option([], "--env-file", help="read NAME=VALUE lines from a file"),
    entrypoint: Optional[str] = typer.Option(None, "--entrypoint", help="override the image's entrypoint"),
    workdir: Optional[str] = typer.Option(None, "--workdir", "-w", help="working directory inside"),
    user: Optional[str] = typer.Option(None, "--user", "-u", help="user[:group] (name or number)"),
    volume: List[str] = typer.Option([], "--volume", "-v", help="HOST:CONTAINER[:ro]"),
    tmpfs: List[str] = typer.Option([], "--tmpfs", help="PATH[:OPTIONS] mount a tmpfs"),
    read_only: bool = typer.Option(False, "--read-only", help="mount the rootfs read-only"),
    init: bool = typer.Option(False, "--init", help="run an init (catatonit) as PID 1"),
    network: Optional[str] = typer.Option(None, "--network", "--net", help="slirp4netns (default), none, host"),
    userns: Optional[str] = typer.Option(None, "--userns", help="keep-id: your UID/GID keep their numbers inside"),
    cap_add: List[str] = typer.Option([], "--cap-add", help="add a capability"),
    cap_drop: List[str] = typer.Option([], "--cap-drop", help="drop a capability (ALL for all)"),
    privileged: bool = typer.Option(False, "--privileged", help="all capabilities, no seccomp, no masked paths"),
    security_opt: List[str] = typer.Option([], "--security-opt", help="no-new-privileges, seccomp=unconfined|FILE"),
    rootfs: bool = typer.Option(False, "--rootfs", help="IMAGE is a root filesystem directory"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no pull progress"),
) -> None:
    pass


def _request(flags: dict):
    from rootless.containers.run import RunRequest
    f = dict(flags)
    f["command"] = list(f["command"] or [])
    return RunRequest(
        image=f["image"], command=f["command"], rootfs=f["rootfs"], name=f["name"], rm=f["rm"],
        interactive=f["interactive"], tty=f["tty"], hostname=f["hostname"], env=f["env"], env_files=f["env_file"],
        entrypoint=f["entrypoint"], workdir=f["workdir"], user=f["user"], volumes=f["volume"], tmpfs=f["tmpfs"],
        read_only=f["read_only"], init=f["init"], network=f["network"], userns=f["userns"], cap_add=f["cap_add"],
        cap_drop=f["cap_drop"], privileged=f["privileged"], security_opt=f["security_opt"],
        storage_driver=OPTIONS.storage_driver, quiet=f["quiet"])


def _paths():
    return default_paths(OPTIONS.root, OPTIONS.runroot)


def _with_flags(fn):
    """Give fn(**flags) the full `run` flag signature (run and create share it)."""
    fn.__signature__ = inspect.signature(_flags)
    fn.__annotations__ = dict(_flags.__annotations__)
    return fn


@app.command("run", context_settings=_RUN_CTX)
@_with_flags
def run(**flags) -> None:
    """Run a command in a new container."""
    from rootless.containers import run as engine
    raise ContainerExit(engine.run(_paths(), _request(flags)))


@app.command("create", context_settings=_RUN_CTX)
@_with_flags
def create(**flags) -> None:
    """Create a container without starting it; prints its ID."""
    from rootless.containers import run as engine
    print(engine.create(_paths(), _request(flags)).id)


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


# --- fast path ----------------------------------------------------------------
# typer >= 0.2x builds a pydantic TypeAdapter for every parameter at parse time,
# importing pydantic: ~100 ms on each `rl run`, more than the whole runtime.
# This parses the same flags (derived from _flags, so they cannot drift) with
# argparse; cli/__init__.py may call it before handing argv to typer. Anything
# unusual (--help, a parse error) returns None and typer takes over as usual.

class _Fallback(Exception):
    pass


class _Parser:
    def __init__(self) -> None:
        import argparse

        class P(argparse.ArgumentParser):
            def error(self, message):  # noqa: D401 - typer reports errors its own way
                raise _Fallback(message)

        self.p = P(prog="rl run", add_help=False, allow_abbrev=False)
        self.dests: list[str] = []
        sig = inspect.signature(_flags)
        for name, param in sig.parameters.items():
            info = param.default
            if name in ("image", "command"):
                continue
            ann = str(param.annotation)
            if "bool" in ann:
                self.p.add_argument(*info.param_decls, dest=name, action="store_true")
            elif "List" in ann:
                self.p.add_argument(*info.param_decls, dest=name, action="append", default=[])
            else:
                self.p.add_argument(*info.param_decls, dest=name, default=None)
        self.p.add_argument("image")
        self.p.add_argument("command", nargs="...")  # argparse.REMAINDER: the container's own args


_GLOBALS = {"--root": "root", "--runroot": "runroot", "--storage-driver": "storage_driver",
            "--log-level": "log_level"}


def fast_run(argv: list[str]) -> int | None:
    """`rl [global options] run|create ...` without typer; None when typer
    should handle argv instead. Raises like the typer command would."""
    i = 0
    while i < len(argv) and argv[i] in _GLOBALS and i + 1 < len(argv):
        setattr(OPTIONS, _GLOBALS[argv[i]], argv[i + 1])
        i += 2
    if i >= len(argv) or argv[i] not in ("run", "create") or any(a in ("-h", "--help") for a in argv[i + 1:]):
        return None
    verb = argv[i]
    try:
        ns = _Parser().p.parse_args(argv[i + 1:])
    except _Fallback:
        return None
    if "--" in ns.command[:1]:
        ns.command = ns.command[1:]
    flags = vars(ns)
    if verb == "create":
        create(**flags)
        return 0
    try:
        run(**flags)
    except ContainerExit as e:
        return e.status
    return 0
