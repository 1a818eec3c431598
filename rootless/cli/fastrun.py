"""`rl [global options] run|create ...` parsed with argparse from the flag
table in runflags.py, without importing typer (whose per-option coercion costs
~100 ms, more than the container start itself). Anything unusual (--help, a
parse error, another command) returns None and typer takes over as usual."""

from __future__ import annotations

from rootless.containers import runflags
from rootless.cli.options import GLOBAL_FLAGS, OPTIONS
from rootless.errors import ContainerExit


class _Fallback(Exception):
    pass


def _parser():
    import argparse

    class P(argparse.ArgumentParser):
        def error(self, message):  # typer reports errors its own way
            raise _Fallback(message)

    p = P(prog="rl run", add_help=False, allow_abbrev=False)
    for f in runflags.FLAGS:
        if f.kind == runflags.BOOL:
            p.add_argument(*f.decls, dest=f.dest, action="store_true")
        elif f.kind == runflags.LIST:
            p.add_argument(*f.decls, dest=f.dest, action="append", default=[])
        else:
            p.add_argument(*f.decls, dest=f.dest, default=None)
    p.add_argument("image")
    p.add_argument("command", nargs="...")  # argparse.REMAINDER: the container's own arguments
    return p


def fast_run(argv: list[str]) -> int | None:
    i = 0
    while i + 1 < len(argv) and argv[i] in GLOBAL_FLAGS:
        i += 2
    if i >= len(argv) or argv[i] not in ("run", "create"):
        return None
    verb, rest = argv[i], argv[i + 1:]
    # only rl's own options (before IMAGE) may ask for help; the container's may not
    try:
        ns = _parser().parse_args(rest)
    except _Fallback:
        return None
    own = rest[:len(rest) - len(ns.command) - 1]
    if any(a in ("-h", "--help") for a in own):
        return None
    for j in range(0, i, 2):
        setattr(OPTIONS, GLOBAL_FLAGS[argv[j]], argv[j + 1])
    if ns.command[:1] == ["--"]:
        ns.command = ns.command[1:]
    from rootless.config import default_paths
    from rootless.containers import run as engine
    paths = default_paths(OPTIONS.root, OPTIONS.runroot)
    req = runflags.to_request(vars(ns), OPTIONS.storage_driver)
    if req.pod:  # --pod: a member of the pod (new:NAME creates it)
        from rootless.pods import ops as pods
        pods.attach_request(paths, req, OPTIONS.storage_driver)
    from rootless.containers import detached, lifecycle
    if ns.detach_keys is not None:  # podman takes it everywhere; it matters to a foreground -it run
        from rootless.cli.ctrview import detach_sequence
        detach_sequence(ns.detach_keys)
    if verb == "create":
        lifecycle.validate(req)
        print(engine.create(paths, req).id)
        return 0
    if req.detach:
        print(detached.run_detached(paths, req).id)
        return 0
    try:
        from rootless.cli.ctrview import foreground
        return foreground(paths, req, ns.detach_keys)
    except ContainerExit as e:
        return e.status
