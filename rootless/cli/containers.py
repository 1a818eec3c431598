"""Container commands. Thin: flags -> RunRequest -> engine -> exit status."""

from __future__ import annotations

from typing import List, Optional

import typer

from rootless.cli import OPTIONS, app
from rootless.config import default_paths
from rootless.errors import ContainerExit

_RUN_CTX = {"allow_interspersed_args": False}


@app.command("run", context_settings=_RUN_CTX)
def run(
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
    """Run a command in a new container."""
    from rootless.containers.run import RunRequest, run as run_container

    req = RunRequest(
        image=image, command=list(command or []), rootfs=rootfs, name=name, rm=rm, interactive=interactive,
        tty=tty, hostname=hostname, env=env, env_files=env_file, entrypoint=entrypoint, workdir=workdir,
        user=user, volumes=volume, tmpfs=tmpfs, read_only=read_only, init=init, network=network,
        userns=userns, cap_add=cap_add, cap_drop=cap_drop, privileged=privileged, security_opt=security_opt,
        storage_driver=OPTIONS.storage_driver, quiet=quiet)
    raise ContainerExit(run_container(default_paths(OPTIONS.root, OPTIONS.runroot), req))
