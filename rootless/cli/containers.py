"""Container commands: flags (the command table) -> the container engine
(rootless.containers: ops, run, detached, lifecycle, copy, health) -> what
is printed and the exit status. The terminal side (logs to stdout/stderr,
attach, foreground -it) is in cli/ctrview.py."""

from __future__ import annotations

import sys

from rootless.cli.options import OPTIONS
from rootless.cli.table import FLOAT, INT, LIST, MANY, ONE, OPTIONAL, REST, REST1, SOME, STR, Arg, Opt, command, \
    group
from rootless.containers import runflags
from rootless.errors import ContainerExit

group("container", "Manage containers.")
group("healthcheck", "Healthchecks.")


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


# run and create: IMAGE [COMMAND [ARG...]] and every flag of runflags.FLAGS (declared there, once)
_RUN = (
    Arg("image", ONE, metavar="IMAGE", help="image reference (or a directory with --rootfs)"),
    Arg("command", REST, metavar="[COMMAND [ARG...]]"),
    *(Opt(f.dest, *f.decls, kind=STR, flag_value="true", help=f.help) if f.kind == runflags.OPTBOOL else
      Opt(f.dest, *f.decls, kind=f.kind, help=f.help) for f in runflags.FLAGS),
)


@command("run", *_RUN)
def run(**flags) -> None:
    """Run a command in a new container."""
    from rootless.containers import detached
    req = runflags.to_request(flags, OPTIONS.storage_driver)
    keep_fds = 0
    if flags.get("preserve_fds"):  # this process's fds: never part of the container's record
        from rootless.containers import runextras
        from rootless.errors import UsageError
        from rootless import cli
        keep_fds = runextras.preserve_fds(flags["preserve_fds"], cli.CALLER_FDS)
        if keep_fds and req.detach:
            raise UsageError("--preserve-fds with -d is not supported by rl: the fds are passed by a foreground "
                             "run's own process", hint="run in the foreground, or drop --preserve-fds")
    if req.pod:  # --pod: a member of the pod (new:NAME creates it)
        from rootless.pods import ops as pods
        pods.attach_request(_paths(), req, OPTIONS.storage_driver)
    if flags.get("detach_keys") is not None:  # podman takes it everywhere; it matters to a foreground -it run
        from rootless.cli.ctrview import detach_sequence
        detach_sequence(flags["detach_keys"])
    if req.detach:
        print(detached.run_detached(_paths(), req).id)
        return
    from rootless.cli.ctrview import foreground
    raise ContainerExit(foreground(_paths(), req, flags.get("detach_keys"), preserve_fds=keep_fds))


@command("create", *_RUN)
def create(**flags) -> None:
    """Create a container without starting it; prints its ID."""
    from rootless.containers import lifecycle, run as engine
    req = runflags.to_request(flags, OPTIONS.storage_driver)
    for dest, flag, why in (("preserve_fds", "--preserve-fds", "the fds are the running process's own"),
                            ("rmi", "--rmi", "the image goes when the run's container is done")):
        if flags.get(dest):
            from rootless.errors import UsageError
            raise UsageError(f"{flag} is an option of rl run: {why}", hint=f"rl run {flag} ...")
    if req.pod:  # --pod: a member of the pod (new:NAME creates it)
        from rootless.pods import ops as pods
        pods.attach_request(_paths(), req, OPTIONS.storage_driver)
    if flags.get("detach_keys") is not None:
        from rootless.cli.ctrview import detach_sequence
        detach_sequence(flags["detach_keys"])
    lifecycle.validate(req)
    print(engine.create(_paths(), req).id)


_FILTER_HELP = "restart-policy=POLICY, name=NAME, id=ID"


@command("start",
         Arg("containers", MANY, metavar="CONTAINER..."),
         Opt("attach", "--attach", "-a", help="attach stdout/stderr; exit with its status"),
         Opt("interactive", "--interactive", "-i", help="attach stdin"),
         Opt("all_", "--all", help="every container (with --filter: every matching one)"),
         Opt("filter_", "--filter", "-f", kind=LIST, help=_FILTER_HELP),
         Opt("detach_keys", "--detach-keys", kind=STR,
             help='keys that detach -ai from a -it container (default "ctrl-p,ctrl-q"; "" disables)'))
def start(containers, attach, interactive, all_, filter_, detach_keys) -> None:
    """Start created or exited containers (detached unless -a)."""
    from rootless.containers import detached, ops
    from rootless.containers.records import Store
    from rootless.errors import UsageError
    paths = _paths()
    if attach:
        from rootless.containers import run as engine
        if len(containers) != 1:
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
        containers = [*containers, *ops.matching(paths, filter_)]
    elif not containers:
        raise UsageError("start needs a container", hint="rl start NAME, or --all")
    # podman names only the containers it started: one running already is left alone, silently
    _each(containers, False, lambda n: n if detached.start_detached(paths, Store(paths).lookup(n)) else None)


def _each(names: list[str], all_: bool, fn, status=None) -> None:
    """Apply fn to each container, podman-style: report every failure, fail at
    the end (with status(errors) as the exit status, where given)."""
    from rootless.errors import RlError
    if all_:
        from rootless.containers import ops
        names = ops.all_ids(_paths())
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


@command("stop",
         Arg("containers", MANY, metavar="CONTAINER..."),
         Opt("time_", "--time", "-t", kind=FLOAT, help="seconds to wait before SIGKILL"),
         Opt("all_", "--all", "-a", help="stop every running container"),
         Opt("ignore", "--ignore", "-i", help="a missing container is not an error"),
         Opt("cidfile", "--cidfile", kind=LIST, help="read the container ID from this file"),
         Opt("filter_", "--filter", "-f", kind=LIST, help=_FILTER_HELP))
def stop(containers, time_, all_, ignore, cidfile, filter_) -> None:
    """Stop containers: StopSignal, then SIGKILL after the timeout."""
    from rootless.containers import lifecycle, ops
    if filter_:
        containers, all_ = [*containers, *ops.matching(_paths(), filter_)], False
    _each(ops.read_cidfiles(containers, cidfile, ignore), all_,
          _ignoring(ignore, lambda n: lifecycle.stop(_paths(), n, time_, warn=_warn) and n))


def _warn(message: str) -> None:
    print(f"WARN: {message}", file=sys.stderr, flush=True)


@command("kill",
         Arg("containers", MANY, metavar="CONTAINER..."),
         Opt("signal_", "--signal", "-s", kind=STR, default="KILL", help="signal to send (name or number)"),
         Opt("all_", "--all", "-a"))
def kill(containers, signal_, all_) -> None:
    """Send a signal to containers' PID 1."""
    from rootless.containers import lifecycle
    _each(containers, all_, lambda n: lifecycle.kill(_paths(), n, signal_) and n)


@command("restart",
         Arg("containers", SOME, metavar="CONTAINER..."),
         Opt("time_", "--time", "-t", kind=FLOAT))
def restart(containers, time_) -> None:
    """Stop and start containers again (detached)."""
    from rootless.containers import detached
    _each(containers, False, lambda n: detached.restart(_paths(), n, time_) and n)


@command("wait",
         Arg("containers", SOME, metavar="CONTAINER..."),
         Opt("condition", "--condition", kind=LIST, help="stopped (default), running, healthy, ..."),
         Opt("interval", "--interval", "-i", kind=STR, default="250ms", help="polling interval"),
         Opt("ignore", "--ignore", help="a missing container is not an error (its exit code: -1)"))
def wait(containers, condition, interval, ignore) -> None:
    """Wait for containers to reach a condition; print their exit codes
    (-1 for a condition other than stopped/exited, as podman's)."""
    from rootless.containers import lifecycle, policy
    from rootless.errors import ContainerNotFound
    step = min(policy.parse_duration(interval, 0.25), 0.25)
    for name in containers:
        try:
            code = lifecycle.wait(_paths(), name, condition or None, interval=step)
        except ContainerNotFound:
            if not ignore:
                raise
            code = -1
        print(code)


@command("rm",
         Arg("containers", MANY, metavar="CONTAINER..."),
         Opt("force", "--force", "-f", help="kill a running container first"),
         Opt("volumes", "--volumes", "-v", help="also remove the container's anonymous volumes"),
         Opt("all_", "--all", "-a", help="remove every container"),
         Opt("ignore", "--ignore", "-i", help="a missing container is not an error"),
         Opt("cidfile", "--cidfile", kind=LIST, help="read the container ID from this file"),
         Opt("time_", "--time", "-t", kind=FLOAT, help="seconds to wait before SIGKILL (with -f)"))
def rm(containers, force, volumes, all_, ignore, cidfile, time_) -> None:
    """Remove containers: processes, mounts, helpers, record, storage."""
    from rootless.containers import ops
    from rootless.errors import removal_status
    paths = _paths()
    names = ops.read_cidfiles(containers, cidfile, ignore)
    if not ignore and not all_:
        ops.check_exist(paths, names)  # as podman: a typo among the names removes nothing (exit 1)
    if all_ and force:
        ops.remove_leftovers(paths)
    if all_:  # as podman: the pods whose infra containers go, with them
        from rootless.pods import ops as pods
        for e in pods.remove_with_infra(paths, force=force):
            print(f"Error: {e.message}", file=sys.stderr)
    _each(names, all_, _ignoring(ignore, lambda n: ops.remove(paths, n, force=force, volumes=volumes,
                                                               timeout=time_) and n),
          status=removal_status)


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


@command("pause", Arg("containers", SOME, metavar="CONTAINER..."))
def pause(containers) -> None:
    """Freeze containers (needs the cgroup freezer)."""
    from rootless.containers import lifecycle
    _each(containers, False, lambda n: lifecycle.pause(_paths(), n) and n)


@command("unpause", Arg("containers", SOME, metavar="CONTAINER..."))
def unpause(containers) -> None:
    """Thaw frozen containers (needs the cgroup freezer)."""
    from rootless.containers import lifecycle
    _each(containers, False, lambda n: lifecycle.unpause(_paths(), n) and n)


@command("rename", Arg("container", ONE), Arg("new_name", ONE))
def rename(container, new_name) -> None:
    """Give a container a new name."""
    from rootless.containers import lifecycle
    lifecycle.rename(_paths(), container, new_name)


@command("container clone", Arg("container", ONE), Arg("name", OPTIONAL), Arg("image", OPTIONAL),
         Opt("name_opt", "--name", kind=STR, help="the clone's name (default CONTAINER-clone, -clone1, ...)"),
         Opt("destroy", "--destroy", help="remove the original once the clone exists"),
         Opt("force", "-f", "--force", help="with --destroy: remove the original even if it runs"),
         Opt("run", "--run", help="start the clone"))
def clone(container, name, image, name_opt, destroy, force, run) -> None:
    """Create a container with the options another one was created with."""
    from rootless.containers import clone as engine
    rec = engine.clone(_paths(), container, name=name_opt or name, image=image, destroy=destroy, force=force,
                       run=run)
    print(rec.id)


PS_HEADERS = {"ID": "CONTAINER ID", "CreatedHuman": "CREATED", "CreatedAt": "CREATED AT", "RunningFor": "CREATED"}


@command("ps",
         Opt("all_", "--all", "-a", help="all containers, not only running ones"),
         Opt("quiet", "--quiet", "-q", help="IDs only"),
         Opt("size", "--size", "-s", help="the size of each container's writable layer"),
         Opt("filter_", "--filter", "-f", kind=LIST, help="KEY=VALUE: id, name, status, exited, ..."),
         Opt("format_", "--format", kind=STR, help="json, or a Go template"),
         Opt("last", "--last", "-n", kind=INT, default=-1, help="the N most recently created"),
         Opt("latest", "--latest", "-l", help="the most recently created"),
         Opt("no_trunc", "--no-trunc", help="full IDs and commands"),
         Opt("pod", "--pod", "-p", help="the POD ID and PODNAME columns"))
def ps(all_, quiet, size, filter_, format_, last, latest, no_trunc, pod) -> None:
    """List containers."""
    import time

    from rootless.containers import ops
    trunc = not no_trunc
    as_json = format_ in ("json", "{{json .}}")
    pods = {}
    if pod or format_ or any(f.startswith("pod=") for f in filter_):
        from rootless.pods.store import PodStore  # the pods layer sits above the containers engine
        pods = {p.id: p.name for p in PodStore(_paths()).all()}
    listed = ops.ps(_paths(), ops.PsOptions(all=all_, filters=filter_, last=1 if latest else last,
                                            size=size and not quiet and not as_json, pod_names=pods))
    if quiet:
        for x in listed:
            print(x.record.id[:12] if trunc else x.record.id)
        return
    now = time.time()
    if as_json:
        import json
        print(json.dumps(ops.ps_json(listed, now), indent=4))
        return
    from rootless.images.render import human_size, table
    rows = [ops.ps_fields(x, now, trunc, size=human_size(x.size) if x.size is not None else "") for x in listed]
    if format_:
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(format_, rows, names=PS_HEADERS))
        return
    header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] + (["SIZE"] if size else [])
    keys = ["ID", "Image", "Command", "Created", "Status", "Ports", "Names"] + (["Size"] if size else [])
    if pod:
        header += ["POD ID", "PODNAME"]
        keys += ["Pod", "PodName"]
    print(table([[f[k] for k in keys] for f in rows], header))


@command("logs",
         Arg("containers", SOME, metavar="CONTAINER..."),
         Opt("follow", "--follow", "-f", help="keep printing while it runs"),
         Opt("since", "--since", kind=STR, help="RFC3339 time, Unix time or duration (10m)"),
         Opt("until", "--until", kind=STR, help="RFC3339 time, Unix time or duration"),
         Opt("tail", "--tail", kind=INT, default=-1, help="the last N lines (-1: all)"),
         Opt("timestamps", "--timestamps", "-t", help="prefix each line with its time"),
         Opt("names", "--names", "-n", help="prefix with names, not IDs (several containers)"),
         Opt("color", "--color", help="a colour per container for the prefix"))
def logs_(containers, follow, since, until, tail, timestamps, names, color) -> None:
    """Print containers' output (k8s-file log); several are prefixed with their IDs (-n: names)."""
    from rootless.cli import ctrview
    from rootless.containers.ops import LogOptions
    opts = LogOptions(since=since, until=until, tail=tail, follow=follow)
    if len(containers) > 1:  # prefixed, merged in time order (as podman: one container's lines never are)
        ctrview.logs_many(_paths(), containers, opts, timestamps=timestamps, prefix="name" if names else "id",
                          color=color)
        return
    ctrview.logs(_paths(), containers[0], opts, timestamps=timestamps, color=0 if color else None)


_TRUTH = {"true": True, "1": True, "yes": True, "": True, "false": False, "0": False, "no": False}


@command("attach",
         Arg("container", ONE),
         Opt("no_stdin", "--no-stdin", help="do not send stdin"),
         Opt("detach_keys", "--detach-keys", kind=STR, default="ctrl-p,ctrl-q",
             help='keys that detach: ctrl-<x> or characters, comma-separated; "" disables'),
         Opt("sig_proxy", "--sig-proxy", kind=STR, default="true", flag_value="true",
             help="forward received signals to the container (without -t): true/false"))
def attach(container, no_stdin, detach_keys, sig_proxy) -> None:
    """Attach to a detached container's output (and stdin); ctrl-p ctrl-q detaches."""
    from rootless.cli import ctrview
    from rootless.errors import UsageError
    proxy = _TRUTH.get(sig_proxy.strip().lower())
    if proxy is None:
        raise UsageError(f"--sig-proxy: expected true or false, got {sig_proxy!r}")
    raise ContainerExit(ctrview.attach(_paths(), container, stdin=not no_stdin, detach_keys=detach_keys,
                                       sig_proxy=proxy))


@command("exec",
         Arg("container", ONE),
         Arg("command", REST1, metavar="COMMAND [ARG...]"),
         Opt("interactive", "--interactive", "-i"),
         Opt("tty", "--tty", "-t"),
         Opt("detach", "--detach", "-d"),
         Opt("user", "--user", "-u", kind=STR),
         Opt("env", "--env", "-e", kind=LIST),
         Opt("workdir", "--workdir", "-w", kind=STR),
         Opt("privileged", "--privileged"))
def exec_(container, command, interactive, tty, detach, user, env, workdir, privileged) -> None:
    """Run a command in a running container (its namespaces and security settings)."""
    from rootless.containers import lifecycle
    raise ContainerExit(lifecycle.exec_(_paths(), container, list(command), env=env, user=user, workdir=workdir,
                                        tty=tty, interactive=interactive, detach=detach, privileged=privileged))


@command("top", Arg("container", ONE), Arg("descriptors", MANY))
def top(container, descriptors) -> None:
    """The processes of a running container."""
    from rootless.containers import ops
    from rootless.images.render import table
    header, rows = ops.top(_paths(), container, descriptors)
    print(table(rows, header))


@command("healthcheck run", Arg("container", ONE))
def healthcheck_run(container) -> None:
    """Run a container's healthcheck now; exit 1 when unhealthy."""
    from rootless.containers import health
    status = health.healthcheck_run(_paths(), container)
    if status != "healthy":
        print(status)
        raise ContainerExit(1)


@command("container inspect",
         Arg("containers", SOME, metavar="CONTAINER..."),
         Opt("format_", "--format", "-f", kind=STR, help="a Go template, e.g. {{.State.Status}}"))
def container_inspect(containers, format_) -> None:
    """Show containers' configuration and state as podman does."""
    import json

    from rootless.containers import ops
    from rootless.errors import ContainerNotFound
    out = []
    missing = None
    for name in containers:
        try:
            out.append(ops.inspect(_paths(), name))
        except ContainerNotFound as e:
            missing = e
    if format_ and format_ != "json":
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(format_, out))
    else:
        print(json.dumps(out, indent=4))
    if missing is not None:
        raise missing


@command("container prune", Opt("force", "--force", "-f", help="do not ask"))
def container_prune(force) -> None:
    """Remove every container that is not running."""
    from rootless.containers import lifecycle
    if not force:
        from rootless.cli.prompt import confirm
        if not confirm("WARNING! This will remove all non running containers.\n"):
            return
    for cid in lifecycle.prune(_paths()):
        print(cid)


@command("cp", Arg("src", ONE, metavar="SRC"), Arg("dst", ONE, metavar="DEST"))
def cp(src, dst) -> None:
    """Copy files between a container and the host (CONTAINER:PATH on one side); IDs stay mapped."""
    from rootless.containers import copy
    copy.cp(_paths(), src, dst)


@command("export", Arg("container", ONE),
         Opt("output", "--output", "-o", kind=STR, help="file to write (default stdout)"))
def export(container, output) -> None:
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


@command("diff", Arg("container", ONE), Opt("format_", "--format", kind=STR, help="json"))
def diff(container, format_) -> None:
    """Files added (A), changed (C) and deleted (D) in a container."""
    from rootless.containers import copy, ops
    changes = copy.diff(_paths(), container)
    if format_ == "json":
        import json
        print(json.dumps(ops.diff_report(changes), indent=4))
        return
    for kind, path in changes:
        print(f"{kind} {path}")


@command("commit",
         Arg("container", OPTIONAL, metavar="CONTAINER"),
         Arg("image", OPTIONAL),
         Opt("message", "--message", "-m", kind=STR),
         Opt("change", "--change", "-c", kind=LIST,
             help="CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR instruction "
                  "for the image config"),
         Opt("quiet", "--quiet", "-q"),
         Opt("pause", "--pause", "-p", kind=STR, flag_value="true",
             help="pause the container while it is read (default true; --pause=false reads it running)"))
def commit(container, image, message, change, quiet, pause) -> None:
    """Save a container's filesystem as a new image (its image plus one layer); prints its ID."""
    from rootless.containers import commitcfg, copy
    from rootless.errors import UsageError
    words = {k: v for k, v in _TRUTH.items() if k}
    if pause is not None and pause.lower() not in words:
        # a bare --pause/-p took the next word (the container) as its value: podman's
        # bool flag does not, so give the positionals back their order
        container, image, pause = pause, container, "true"
    if container is None:
        raise UsageError("commit needs a container", hint="rl commit [--pause=false] CONTAINER [IMAGE]")
    commitcfg.apply_changes({}, change)  # a bad instruction is refused before anything is written
    print(copy.commit(_paths(), container, image, message, pause=words[pause.lower()] if pause else True,
                      changes=change))
