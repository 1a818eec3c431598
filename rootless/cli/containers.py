"""Container commands. Thin: flags -> RunRequest -> engine -> exit status."""

from __future__ import annotations

import inspect
import sys
from typing import List, Optional

import typer

from rootless.cli.options import OPTIONS
from rootless.cli.typerapp import app
from rootless.containers import runflags
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
    from rootless.containers import detached, run as engine
    req = runflags.to_request(flags, OPTIONS.storage_driver)
    if flags.get("detach_keys") is not None:
        from rootless.cli.ctrview import detach_sequence
        detach_sequence(flags["detach_keys"])
    if req.detach:
        print(detached.run_detached(_paths(), req).id)
        return
    from rootless.cli.ctrview import foreground
    raise ContainerExit(foreground(_paths(), req, flags.get("detach_keys")))


@app.command("create", context_settings=_RUN_CTX)
@_with_flags
def create(**flags) -> None:
    """Create a container without starting it; prints its ID."""
    from rootless.containers import lifecycle, run as engine
    req = runflags.to_request(flags, OPTIONS.storage_driver)
    if flags.get("detach_keys") is not None:
        from rootless.cli.ctrview import detach_sequence
        detach_sequence(flags["detach_keys"])
    lifecycle.validate(req)
    print(engine.create(_paths(), req).id)


@app.command("start")
def start(
    containers: List[str] = typer.Argument(None, metavar="CONTAINER..."),
    attach: bool = typer.Option(False, "--attach", "-a", help="attach stdout/stderr; exit with its status"),
    interactive: bool = typer.Option(False, "--interactive", "-i", help="attach stdin"),
    all_: bool = typer.Option(False, "--all", help="every container (with --filter: every matching one)"),
    filter_: List[str] = typer.Option([], "--filter", "-f", help="restart-policy=POLICY, name=NAME, id=ID"),
    detach_keys: Optional[str] = typer.Option(None, "--detach-keys",
                                              help='keys that detach -ai from a -it container (default '
                                                   '"ctrl-p,ctrl-q"; "" disables)'),
) -> None:
    """Start created or exited containers (detached unless -a)."""
    from rootless.containers import detached, run as engine
    from rootless.containers.records import Store
    from rootless.errors import UsageError
    paths = _paths()
    if attach:
        if len(containers or []) != 1:
            raise UsageError("--attach takes exactly one container")
        from rootless.cli import ctrview
        from rootless.containers.records import ACTIVE
        if detach_keys is not None:
            ctrview.detach_sequence(detach_keys)
        store = Store(paths)
        rec = store.lookup(containers[0])
        detached.start_requirements(paths, rec)  # --requires: those first, as podman
        if interactive and ctrview.attaches_through_monitor(engine.RunRequest(**{**rec.request, "detach": False}), True) \
                and store.state(rec).get("state") not in ACTIVE:
            raise ContainerExit(ctrview.start_attached(paths, rec, detach_keys))
        raise ContainerExit(engine.start(paths, rec, interactive=interactive or None))
    if all_ or filter_:
        containers = [*(containers or []), *_matching(filter_)]
    elif not containers:
        raise UsageError("start needs a container", hint="rl start NAME, or --all")
    # podman names only the containers it started: one running already is left alone, silently
    _each(containers, False, lambda n: n if detached.start_detached(paths, Store(paths).lookup(n)) else None)


def _matching(filters: List[str]) -> List[str]:
    """IDs of the containers matching every KEY=VALUE (podman's --filter, the
    keys rl-restart.service needs): restart-policy, name, id."""
    from rootless.containers.records import Store
    from rootless.errors import UsageError
    want = []
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq or k not in ("restart-policy", "name", "id"):
            raise UsageError(f"invalid --filter {f!r}", hint="restart-policy=always, name=NAME or id=ID")
        want.append((k, v))

    def value(rec, k):
        if k == "restart-policy":
            return ((rec.request or {}).get("restart") or "no").partition(":")[0]
        return rec.name if k == "name" else rec.id
    return [r.id for r in Store(_paths()).all()
            if all(value(r, k) == v or (k == "id" and r.id.startswith(v)) for k, v in want)]


def _each(names: List[str], all_: bool, fn, status=None) -> None:
    """Apply fn to each container, podman-style: report every failure, fail at
    the end (with status(errors) as the exit status, where given)."""
    from rootless.containers.records import Store
    from rootless.errors import RlError
    if all_:
        names = [r.id for r in Store(_paths()).all()]
    errors = []
    for name in names:
        try:
            out = fn(name)
            if out is not None:
                print(out)
        except RlError as e:
            errors.append(e)
    if errors and status is not None:
        errors[-1].exit_code = status(errors)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        for e in errors[:-1]:
            print(f"Error: {e.message}", file=sys.stderr)
        raise errors[-1]


@app.command("stop")
def stop(
    containers: List[str] = typer.Argument(None, metavar="CONTAINER..."),
    time_: Optional[float] = typer.Option(None, "--time", "-t", help="seconds to wait before SIGKILL"),
    all_: bool = typer.Option(False, "--all", "-a", help="stop every running container"),
    ignore: bool = typer.Option(False, "--ignore", "-i", help="a missing container is not an error"),
    cidfile: List[str] = typer.Option([], "--cidfile", help="read the container ID from this file"),
    filter_: List[str] = typer.Option([], "--filter", "-f", help="restart-policy=POLICY, name=NAME, id=ID"),
) -> None:
    """Stop containers: StopSignal, then SIGKILL after the timeout."""
    from rootless.containers import lifecycle
    if filter_:
        containers, all_ = [*(containers or []), *_matching(filter_)], False
    _each(_cids(containers, cidfile, ignore), all_,
          _ignoring(ignore, lambda n: lifecycle.stop(_paths(), n, time_, warn=_warn) and n))


def _warn(message: str) -> None:
    print(f"WARN: {message}", file=sys.stderr, flush=True)


@app.command("kill")
def kill(
    containers: List[str] = typer.Argument(None, metavar="CONTAINER..."),
    signal_: str = typer.Option("KILL", "--signal", "-s", help="signal to send (name or number)"),
    all_: bool = typer.Option(False, "--all", "-a"),
) -> None:
    """Send a signal to containers' PID 1."""
    from rootless.containers import lifecycle
    _each(containers or [], all_, lambda n: lifecycle.kill(_paths(), n, signal_) and n)


@app.command("restart")
def restart(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER..."),
    time_: Optional[float] = typer.Option(None, "--time", "-t"),
) -> None:
    """Stop and start containers again (detached)."""
    from rootless.containers import detached
    _each(containers, False, lambda n: detached.restart(_paths(), n, time_) and n)


@app.command("wait")
def wait(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER..."),
    condition: List[str] = typer.Option([], "--condition", help="stopped (default), running, healthy, ..."),
    interval: str = typer.Option("250ms", "--interval", "-i", help="polling interval"),
) -> None:
    """Wait for containers to reach a condition; print their exit codes."""
    from rootless.containers import lifecycle, policy
    step = min(policy.parse_duration(interval, 0.25), 0.25)
    for name in containers:
        print(lifecycle.wait(_paths(), name, condition or None, interval=step))


@app.command("rm")
def rm(
    containers: List[str] = typer.Argument(None, metavar="CONTAINER..."),
    force: bool = typer.Option(False, "--force", "-f", help="kill a running container first"),
    volumes: bool = typer.Option(False, "--volumes", "-v", help="also remove the container's anonymous volumes"),
    all_: bool = typer.Option(False, "--all", "-a", help="remove every container"),
    ignore: bool = typer.Option(False, "--ignore", "-i", help="a missing container is not an error"),
    cidfile: List[str] = typer.Option([], "--cidfile", help="read the container ID from this file"),
    time_: Optional[float] = typer.Option(None, "--time", "-t", help="seconds to wait before SIGKILL (with -f)"),
) -> None:
    """Remove containers: processes, mounts, helpers, record, storage."""
    from rootless.containers import lifecycle

    def rm_one(n):
        if force and time_ is not None:  # podman: -t is the stop timeout a forced removal gives
            lifecycle.stop(_paths(), n, time_)
        rec = lifecycle.remove(_paths(), n, force=force)
        if volumes and rec:  # podman: -v takes the anonymous ones; named volumes stay
            from rootless import volumes as vols
            vols.remove_anonymous(_paths(), (rec.request or {}).get("anon_volumes"))
        return rec and n
    from rootless.containers.records import Store
    from rootless.errors import ContainerNotFound, removal_status
    names = _cids(containers, cidfile, ignore)
    if not ignore and not all_:
        store = Store(_paths())
        for n in names:  # as podman: a typo among the names removes nothing (exit 1)
            try:
                store.lookup(n, allow_damaged=True)
            except ContainerNotFound as e:
                e.exit_code = 1
                raise
    if all_ and force:  # what an interrupted removal left behind goes too
        Store(_paths()).remove_leftovers()
    _each(names, all_, _ignoring(ignore, rm_one), status=removal_status)


def _cids(names: Optional[List[str]], cidfiles: List[str], ignore: bool) -> List[str]:
    """CONTAINER arguments plus the IDs in --cidfile files (a missing file: skipped with --ignore)."""
    from rootless.errors import ContainerNotFound
    from rootless.containers.runhooks import read_cidfile
    out = list(names or [])
    for path in cidfiles:
        try:
            out.append(read_cidfile(path))
        except ContainerNotFound:
            if not ignore:
                raise
    return out


def _ignoring(ignore: bool, fn):
    """--ignore: a container that does not exist is skipped silently."""
    from rootless.errors import ContainerNotFound

    def call(n):
        try:
            return fn(n)
        except ContainerNotFound:
            if not ignore:
                raise
            return None
    return call


@app.command("pause")
def pause(containers: List[str] = typer.Argument(..., metavar="CONTAINER...")) -> None:
    """Freeze containers (needs the cgroup freezer)."""
    from rootless.containers import lifecycle
    _each(containers, False, lambda n: lifecycle.pause(_paths(), n) and n)


@app.command("unpause")
def unpause(containers: List[str] = typer.Argument(..., metavar="CONTAINER...")) -> None:
    """Thaw frozen containers (needs the cgroup freezer)."""
    from rootless.containers import lifecycle
    _each(containers, False, lambda n: lifecycle.unpause(_paths(), n) and n)


@app.command("rename")
def rename(container: str = typer.Argument(...), new_name: str = typer.Argument(...)) -> None:
    """Give a container a new name."""
    from rootless.containers import lifecycle
    lifecycle.rename(_paths(), container, new_name)


@app.command("ps")
def ps(
    all_: bool = typer.Option(False, "--all", "-a", help="all containers, not only running ones"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="IDs only"),
    size: bool = typer.Option(False, "--size", "-s", help="the size of each container's writable layer"),
    filter_: List[str] = typer.Option([], "--filter", "-f", help="KEY=VALUE: id, name, status, exited, ..."),
    format_: Optional[str] = typer.Option(None, "--format", help="json, or a Go template"),
    last: int = typer.Option(-1, "--last", "-n", help="the N most recently created"),
    latest: bool = typer.Option(False, "--latest", "-l", help="the most recently created"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="full IDs and commands"),
) -> None:
    """List containers."""
    from rootless.cli import ctrview
    ctrview.ps(_paths(), all_=all_, quiet=quiet, size=size, filters=filter_, fmt=format_,
               last=1 if latest else last, trunc=not no_trunc)


def _inspect_one(name: str):
    """`rl inspect` (cli/images.py) asks each engine in turn: a container's view, or None."""
    from rootless.cli import ctrview
    from rootless.containers.records import Store
    from rootless.errors import ContainerDamaged, ContainerError
    store = Store(_paths())
    try:
        rec = store.lookup(name)
    except ContainerDamaged:
        raise  # it exists: say what is wrong with it, not "no such object"
    except ContainerError:
        return None
    return ctrview.inspect_obj(store, rec)


from rootless.cli import images as _images  # noqa: E402 - its `inspect` command consults INSPECTORS
_images.INSPECTORS.append(_inspect_one)


@app.command("logs")
def logs_(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER..."),
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing while it runs"),
    since: Optional[str] = typer.Option(None, "--since", help="RFC3339 time, Unix time or duration (10m)"),
    until: Optional[str] = typer.Option(None, "--until", help="RFC3339 time, Unix time or duration"),
    tail: int = typer.Option(-1, "--tail", help="the last N lines (-1: all)"),
    timestamps: bool = typer.Option(False, "--timestamps", "-t", help="prefix each line with its time"),
    names: bool = typer.Option(False, "--names", "-n", help="prefix with names, not IDs (several containers)"),
    color: bool = typer.Option(False, "--color", help="a colour per container for the prefix"),
) -> None:
    """Print containers' output (k8s-file log); several are prefixed with their IDs (-n: names)."""
    from rootless.cli import ctrview
    multi = len(containers) > 1  # as podman: one container's lines are never prefixed, -n or not
    for i, name in enumerate(containers):
        ctrview.logs(_paths(), name, follow=follow, since=since, until=until, tail=tail, timestamps=timestamps,
                     prefix=("name" if names else "id") if multi else None, color=i if color else None)


@app.command("attach")
def attach(
    container: str = typer.Argument(...),
    no_stdin: bool = typer.Option(False, "--no-stdin", help="do not send stdin"),
    detach_keys: str = typer.Option("ctrl-p,ctrl-q", "--detach-keys",
                                    help='keys that detach: ctrl-<x> or characters, comma-separated; "" disables'),
    sig_proxy: str = typer.Option("true", "--sig-proxy", is_flag=False, flag_value="true",
                                  help="forward received signals to the container (without -t): true/false"),
) -> None:
    """Attach to a detached container's output (and stdin); ctrl-p ctrl-q detaches."""
    from rootless.cli import ctrview
    raise ContainerExit(ctrview.attach(_paths(), container, stdin=not no_stdin, detach_keys=detach_keys,
                                       sig_proxy=_images._bool(sig_proxy, "--sig-proxy")))


@app.command("exec", context_settings=_RUN_CTX)
def exec_(
    container: str = typer.Argument(...),
    command: List[str] = typer.Argument(..., metavar="COMMAND [ARG...]"),
    interactive: bool = typer.Option(False, "--interactive", "-i"),
    tty: bool = typer.Option(False, "--tty", "-t"),
    detach: bool = typer.Option(False, "--detach", "-d"),
    user: Optional[str] = typer.Option(None, "--user", "-u"),
    env: List[str] = typer.Option([], "--env", "-e"),
    workdir: Optional[str] = typer.Option(None, "--workdir", "-w"),
    privileged: bool = typer.Option(False, "--privileged"),
) -> None:
    """Run a command in a running container (its namespaces and security settings)."""
    from rootless.containers import lifecycle
    raise ContainerExit(lifecycle.exec_(_paths(), container, list(command), env=env, user=user, workdir=workdir,
                                        tty=tty, interactive=interactive, detach=detach, privileged=privileged))


@app.command("top")
def top(container: str = typer.Argument(...), descriptors: List[str] = typer.Argument(None)) -> None:
    """The processes of a running container."""
    from rootless.cli import ctrview
    ctrview.top(_paths(), container, descriptors)


healthcheck_app = typer.Typer(help="Healthchecks.", no_args_is_help=True)
app.add_typer(healthcheck_app, name="healthcheck")


@healthcheck_app.command("run")
def healthcheck_run(container: str = typer.Argument(...)) -> None:
    """Run a container's healthcheck now; exit 1 when unhealthy."""
    from rootless.containers import health
    status = health.healthcheck_run(_paths(), container)
    if status != "healthy":
        print(status)
        raise ContainerExit(1)


container_app = typer.Typer(help="Manage containers.", no_args_is_help=True)
app.add_typer(container_app, name="container")


@container_app.command("inspect")
def container_inspect(
    containers: List[str] = typer.Argument(..., metavar="CONTAINER..."),
    format_: Optional[str] = typer.Option(None, "--format", "-f", help="a Go template, e.g. {{.State.Status}}"),
) -> None:
    """Show containers' configuration and state as podman does."""
    from rootless.cli import ctrview
    ctrview.inspect(_paths(), containers, format_)


@container_app.command("prune")
def container_prune(force: bool = typer.Option(False, "--force", "-f", help="do not ask")) -> None:
    """Remove every container that is not running."""
    from rootless.containers import lifecycle
    if not force:
        from rootless.cli.prompt import confirm
        if not confirm("WARNING! This will remove all non running containers.\n"):
            return
    for cid in lifecycle.prune(_paths()):
        print(cid)


@app.command("cp")
def cp(src: str = typer.Argument(..., metavar="SRC"), dst: str = typer.Argument(..., metavar="DEST")) -> None:
    """Copy files between a container and the host (CONTAINER:PATH on one side); IDs stay mapped."""
    from rootless.containers import copy
    copy.cp(_paths(), src, dst)


@app.command("export")
def export(container: str = typer.Argument(...),
           output: Optional[str] = typer.Option(None, "--output", "-o", help="file to write (default stdout)")) -> None:
    """A container's filesystem as a tar archive."""
    import os
    from rootless.containers import copy
    from rootless.errors import UsageError
    if output is None and sys.stdout.isatty():
        raise UsageError("refusing to write a tar archive to a terminal", hint="use -o FILE or redirect stdout")
    if output is None:
        sys.stdout.flush()
        copy.export(_paths(), container, 1)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        copy.export(_paths(), container, fd)
    finally:
        os.close(fd)


@app.command("diff")
def diff(container: str = typer.Argument(...),
         format_: Optional[str] = typer.Option(None, "--format", help="json")) -> None:
    """Files added (A), changed (C) and deleted (D) in a container."""
    import json
    from rootless.containers import copy
    changes = copy.diff(_paths(), container)
    if format_ == "json":
        out = {"changed": [p for k, p in changes if k == "C"], "added": [p for k, p in changes if k == "A"],
               "deleted": [p for k, p in changes if k == "D"]}
        print(json.dumps({k: v for k, v in out.items() if v}, indent=4))
        return
    for kind, path in changes:
        print(f"{kind} {path}")


@app.command("commit")
def commit(container: Optional[str] = typer.Argument(None, metavar="CONTAINER"),
           image: Optional[str] = typer.Argument(None),
           message: Optional[str] = typer.Option(None, "--message", "-m"),
           change: List[str] = typer.Option([], "--change", "-c",
                                            help="CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, "
                                                 "VOLUME or WORKDIR instruction for the image config"),
           quiet: bool = typer.Option(False, "--quiet", "-q"),
           pause: Optional[str] = typer.Option(None, "--pause", "-p", is_flag=False, flag_value="true",
                                               help="pause the container while it is read (default true; "
                                                    "--pause=false reads it running)")) -> None:
    """Save a container's filesystem as a new image (its image plus one layer); prints its ID."""
    from rootless.containers import commitcfg, copy
    from rootless.errors import UsageError
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if pause is not None and pause.lower() not in words:
        # a bare --pause/-p took the next word (the container) as its value: podman's
        # bool flag does not, so give the positionals back their order
        container, image, pause = pause, container, "true"
    if container is None:
        raise UsageError("commit needs a container", hint="rl commit [--pause=false] CONTAINER [IMAGE]")
    commitcfg.apply_changes({}, change)  # a bad instruction is refused before anything is written
    print(copy.commit(_paths(), container, image, message, pause=words[pause.lower()] if pause else True,
                      changes=change))
