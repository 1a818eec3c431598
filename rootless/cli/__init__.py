"""The rl command line: parse flags, call the engine, render. The single
place that turns errors into exit statuses (podman's: 125 rl failed,
126 cannot invoke, 127 not found, else the container's own status)."""

from __future__ import annotations

import errno
import os
import sys

from rootless.cli.options import OPTIONS, GlobalOptions  # noqa: F401
from rootless.errors import EXIT_RL, ExitStatus, RlError


def __getattr__(name: str):
    # `app` is built on first use: importing typer costs ~40 ms that `rl run`'s
    # fast path never pays
    if name == "app":
        from rootless.cli.typerapp import app
        return app
    raise AttributeError(name)


_APP = []


def _typer_app():
    """typer's app with every command: for --help, completion and lines the fast path leaves to it."""
    from rootless.cli import table, typerapp
    if not _APP:  # once: building twice would register every command twice
        _APP.append(typerapp.build(table.load()))
    return _APP[0]


def _image_choice():
    from rootless.cli import prompt  # only when a short name is to be resolved
    return prompt.image_choice()


def _debug() -> bool:
    from rootless import logconf
    return logconf.debug_enabled()


def _fail(message: str, hint: str | None, code: int) -> int:
    print(f"Error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    return code


def _usage_error(e: BaseException) -> int | None:
    """Click's usage errors (vendored inside newer typer), recognised by shape
    so either typer layout works."""
    name = type(e).__name__
    if name == "Abort":
        return 130
    if name == "Exit" and hasattr(e, "exit_code"):
        return e.exit_code
    if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
        return None
    ctx = getattr(e, "ctx", None)
    where = f"`{ctx.command_path} --help`" if ctx is not None else "`rl --help`"
    if name == "NoSuchOption" and ctx is not None and ctx.command_path.split()[-1:] in (["run"], ["create"]):
        from rootless.containers import runflags
        message = runflags.refused(getattr(e, "option_name", "") or "")
        if message:  # a podman flag rl does not take: say why, not "No such option"
            return _fail(message, f"leave it out; see {where}", EXIT_RL)
    return _fail(e.format_message(), f"see {where}", EXIT_RL)


def run(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from rootless import logconf
    logconf.configure(logconf.level_from_argv(args))  # before anything can log: library modules never print
    from rootless.images import hooks
    hooks.short_name_prompt = _image_choice  # the engine asks through the face
    try:
        from rootless.cli import fast
        rv = fast.execute(args)
        if rv is not None:
            return rv
        rv = _typer_app()(args=args, prog_name="rl", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except ExitStatus as e:
        return e.status
    except RlError as e:
        if _debug():
            import traceback
            traceback.print_exc()
        return _fail(e.message, e.hint, e.exit_code)
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
        if isinstance(e, OSError) and e.errno in _FULL:
            # not a bug: the disk or quota is full (state writes are atomic, nothing was half-written)
            where = f": {e.filename}" if e.filename else ""
            return _fail(f"{e.strerror}{where}", "free some space there (df -h shows it) and try again", EXIT_RL)
        return _fail(f"internal error: {type(e).__name__}: {e}",
                     "rerun with --log-level debug for a traceback and report it", EXIT_RL)


# --preserve-fds: the fds above 2 open when rl started, before rl opened any of
# its own (which would otherwise pass for the caller's); only looked at then
CALLER_FDS: frozenset[int] = frozenset()


def _caller_fds() -> frozenset[int]:
    names = os.listdir("/proc/self/fd")  # its own directory fd is among them, and closed by now:
    found = set()
    for name in names:
        fd = int(name)
        if fd > 2:
            try:
                os.fstat(fd)
            except OSError:
                continue
            found.add(fd)
    return frozenset(found)


def main() -> None:
    global CALLER_FDS
    if any(a.startswith("--preserve-fds") for a in sys.argv[1:]):
        CALLER_FDS = _caller_fds()
    sys.exit(run())


_FULL = (errno.ENOSPC, errno.EDQUOT)
