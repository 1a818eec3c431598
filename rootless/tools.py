"""External helper binaries, found once per process, with install hints;
and the one way rl runs them: `run`, `popen` and `execve` log each
command's argv (never its environment) at --log-level debug before running
it (tests/unit/test_fork_sites.py keeps subprocess and os.exec* here)."""

from __future__ import annotations

import os

from rootless import logconf
from rootless.errors import ToolMissing

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")


def quote_argv(argv) -> str:
    """argv as a shell would read it back (shlex.join's quoting, without
    importing anything: this also runs after a container's pivot_root)."""
    out = []
    for a in argv:
        a = os.fsdecode(a) if isinstance(a, bytes) else str(a)
        out.append(a if a and all(c in _PLAIN for c in a) else "'" + a.replace("'", "'\"'\"'") + "'")
    return " ".join(out)


def log_command(argv, how: str = "running") -> None:
    """The debug line of one external command: its argv only (an
    environment can hold secrets; argv is what ps shows anyway)."""
    if logconf.debug_enabled():  # logging imported only then: it is ~5 ms of every `rl run`
        import logging
        logging.getLogger(__name__).debug("%s %s", how, quote_argv(argv))


def run(argv, **kwargs):
    """subprocess.run(argv, **kwargs), logged."""
    import subprocess
    log_command(argv)
    return subprocess.run(argv, **kwargs)


def popen(argv, **kwargs):
    """subprocess.Popen(argv, **kwargs), logged."""
    import subprocess
    log_command(argv)
    return subprocess.Popen(argv, **kwargs)


def execve(path: str, argv, env=None) -> None:
    """os.execv(e) in place of this process, logged; returns only by
    raising (the logged line says what was tried)."""
    log_command(argv if argv and argv[0] == path else [path, *argv[1:]], "exec")
    if env is None:
        os.execv(path, argv)
    else:
        os.execve(path, argv, env)

# binary -> Debian/Ubuntu package that ships it
PACKAGES = {
    "newuidmap": "uidmap",
    "newgidmap": "uidmap",
    "fuse-overlayfs": "fuse-overlayfs",
    "fusermount3": "fuse3",
    "slirp4netns": "slirp4netns",
    "pasta": "passt",
    "mmdebstrap": "mmdebstrap",
    "catatonit": "catatonit",
    "tini": "tini",
}

# sbin dirs are not on an ordinary user's PATH on Debian, but uidmap lives in /usr/bin
_EXTRA_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/libexec/podman")


_found: dict[str, str | None] = {}


def find(name: str) -> str | None:
    """name's path: on PATH (as shutil.which, whose import with shutil's
    compressors is ~3 ms of every `rl run`), else in an sbin directory; once per process."""
    if name not in _found:
        _found[name] = _which(name) or next(
            (p for p in (os.path.join(d, name) for d in _EXTRA_DIRS) if os.access(p, os.X_OK)), None)
    return _found[name]


def _which(name: str) -> str | None:
    if os.path.dirname(name):
        return name if _executable(name) else None
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        p = os.path.join(d, name)
        if _executable(p):
            return p
    return None


def _executable(path: str) -> bool:
    return os.access(path, os.F_OK | os.X_OK) and not os.path.isdir(path)


def require(name: str, why: str) -> str:
    path = find(name)
    if path is None:
        pkg = PACKAGES.get(name, name)
        raise ToolMissing(f"{name} is not installed ({why})",
                          hint=f"sudo apt-get install {pkg}   (or your distribution's {pkg} package)")
    return path


MONITOR_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libexec", "rl-monitor.c")


def monitor_name() -> str:
    """rl-monitor-<hash of its source>: an upgrade of rl builds a new one."""
    import hashlib
    try:
        with open(MONITOR_SOURCE, "rb") as f:
            return "rl-monitor-" + hashlib.sha256(f.read()).hexdigest()[:16]
    except OSError as e:
        raise ToolMissing(f"rl's monitor source is missing ({MONITOR_SOURCE}: {e.strerror})",
                          hint="reinstall rl") from None


_monitor: list[str] = []


def monitor() -> str:
    """rl's compiled monitor (rootless/libexec/rl-monitor.c): what stays
    resident per detached container. RL_MONITOR names a prebuilt one;
    otherwise it is built once per source version into the user's cache.
    Found once per process."""
    if _monitor:
        return _monitor[0]
    forced = os.environ.get("RL_MONITOR")
    if forced:
        return forced
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    target = os.path.join(cache, "rl", "libexec", monitor_name())
    if not os.access(target, os.X_OK):
        build_monitor(target)
    _monitor.append(target)
    return target


def build_monitor(target: str, static: bool = False) -> None:
    """Compile rl-monitor to target (atomically: concurrent builds each
    rename a whole binary into place)."""
    cc = os.environ.get("CC") or find("cc") or find("gcc")
    if cc is None:
        raise ToolMissing("no C compiler to build rl's container monitor (detached containers need it)",
                          hint="sudo apt-get install gcc   (or set RL_MONITOR to a prebuilt rl-monitor)")
    import tempfile
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".build-")
    os.close(fd)
    try:
        argv = [cc, "-O2", *(["-static"] if static else []), "-o", tmp, MONITOR_SOURCE]
        try:
            out = run(argv, capture_output=True, text=True)
        except OSError as e:
            raise ToolMissing(f"cannot run the C compiler {cc}: {e.strerror}",
                              hint="sudo apt-get install gcc   (or set RL_MONITOR to a prebuilt rl-monitor)") from None
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            raise ToolMissing(f"cannot build rl's container monitor: {last}",
                              hint="check the C compiler, or set RL_MONITOR to a prebuilt rl-monitor")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
