"""The user namespace primitive, shared by layer unpacking and the runtime.

A freshly forked child (single-threaded by construction, so unshare(2) of a
user namespace is allowed) creates the namespace and waits; the parent maps
the user's ID ranges with the setuid newuidmap/newgidmap; then the child goes
on as root of the namespace. Other namespaces are unshared afterwards, so the
user namespace owns them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from rootless import config, linux, logconf, tools
from rootless.linux.spawn import SpawnError, spawn
from rootless.errors import EXIT_RL, HostSetupError, RlError, RuntimeSetupError
from rootless.plain import record
from rootless.runtime import idmap
from rootless.runtime.idmap import IdMap

log = logconf.logger(__name__)  # logging imported only if something is logged

TYPE_CHECKING = False  # typing is not imported: `rl run` pays for every import
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

SUBUID_FILE = "/etc/subuid"
SUBGID_FILE = "/etc/subgid"


@record(frozen=True)
class IdMappings:
    uids: list[IdMap]
    gids: list[IdMap]


def _read(path: str) -> list[idmap.SubIdEntry]:
    try:
        with open(path) as f:
            return idmap.parse_subid(f.read())
    except FileNotFoundError:
        return []


def setup_hint(user: str, entries: list[idmap.SubIdEntry]) -> str:
    r = idmap.suggest_free_range(entries)
    span = f"{r.start}-{r.end - 1}"
    return f"sudo usermod --add-subuids {span} --add-subgids {span} {user}"


def user_ranges() -> tuple[list[idmap.SubRange], list[idmap.SubRange]]:
    """The calling user's subordinate uid and gid ranges; a clear error when
    either is missing or too small for a container."""
    user, uid, gid = config.user_name(), os.getuid(), os.getgid()
    result = []
    all_entries = _read(SUBUID_FILE) + _read(SUBGID_FILE)
    for path, own in ((SUBUID_FILE, uid), (SUBGID_FILE, uid)):
        ranges = idmap.ranges_for(_read(path), user, own)
        if not ranges:
            raise HostSetupError(f'cannot map user IDs: no range for "{user}" in {path}',
                                 hint=setup_hint(user, all_entries))
        if idmap.total(ranges) < idmap.SUBID_MIN:
            raise HostSetupError(
                f'cannot map user IDs: "{user}" has {idmap.total(ranges)} IDs in {path}, '
                f'a container needs {idmap.SUBID_MIN}', hint=setup_hint(user, all_entries))
        result.append(ranges)
    del gid
    return result[0], result[1]


def user_mappings(keep_id: bool = False) -> IdMappings:
    uranges, granges = user_ranges()
    uid, gid = os.getuid(), os.getgid()
    if keep_id:
        try:
            return IdMappings(idmap.keep_id_maps(uid, uranges), idmap.keep_id_maps(gid, granges))
        except ValueError as e:
            raise HostSetupError(f"--userns=keep-id: {e}") from None
    return IdMappings(idmap.root_maps(uid, uranges), idmap.root_maps(gid, granges))


def write_maps(pid: int, maps: IdMappings) -> None:
    # both helpers run at once: each is a setuid exec (~4-10 ms) on the start path
    procs = []
    for tool, m in (("newuidmap", maps.uids), ("newgidmap", maps.gids)):
        exe = tools.require(tool, "it maps the subordinate IDs into the user namespace")
        procs.append((tool, exe, tools.popen([exe, str(pid), *idmap.newidmap_args(m)],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
    failures = []
    for tool, exe, proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            failures.append((tool, exe, err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"))
    if failures:
        tool, exe, detail = failures[0]
        hint = None
        st = os.stat(exe)
        if not (st.st_mode & 0o4000 and st.st_uid == 0) and not _has_file_caps(exe):
            hint = f"{exe} must be setuid root: sudo chmod u+s {exe}   (or reinstall the uidmap package)"
        elif "Invalid argument" in detail:  # the kernel refused the map: overlapping host IDs
            detail, hint = _einval_explained(tool, detail)
        raise HostSetupError(f"cannot map user IDs: {tool} failed: {detail}", hint=hint)


def _einval_explained(tool: str, detail: str) -> tuple[str, str]:
    """newuidmap's "write to uid_map failed: Invalid argument": the ranges in
    /etc/subuid overlap each other or hold the user's own ID. Which lines,
    and the usermod commands that repair them."""
    user, uid = config.user_name(), os.getuid()
    kind = "uid" if tool == "newuidmap" else "gid"
    path = SUBUID_FILE if kind == "uid" else SUBGID_FILE
    try:
        with open(path) as f:
            lines = idmap.parse_subid_lines(f.read())
    except OSError:
        lines = []
    problems = idmap.subid_problems(lines, user, uid, path, kind)
    if problems:
        return f"{detail}: {problems[0].detail}", problems[0].fix
    return detail, f"the {kind} ranges of {user} in {path} must not overlap; rl system check names the lines"


def _has_file_caps(path: str) -> bool:
    try:
        return bool(os.getxattr(path, "security.capability"))
    except OSError:
        return False


def _child_fail(exc: BaseException) -> int:
    if isinstance(exc, RlError):
        log.error(exc.message)
        return exc.exit_code
    if isinstance(exc, OSError):
        log.error(exc.strerror)
        return EXIT_RL
    log.error(f"{type(exc).__name__}: {exc}", exc_info=exc)
    return EXIT_RL


def fork_userns(maps: IdMappings, child_main: Callable[[], int], *, more_flags: int = 0,
                pdeathsig: int = signal.SIGKILL, join: str | None = None, keep_fds=None,
                stdio: tuple[int, int, int] | None = None, setsid: bool = False,
                name: str = "the user namespace helper") -> int:
    """Fork a child (through linux.spawn) that enters a new, mapped user
    namespace (then unshares `more_flags`) and runs child_main(); its return
    value is the child's exit status. Returns the child's pid once the maps
    are written. keep_fds: the fds it keeps besides 0-2 (None: every
    inherited one, for a short-lived child whose caller's fds are its work);
    stdio: its fds 0-2 (its log records still go to the starter's stderr);
    setsid: a session of its own."""
    go_r, go_w = os.pipe()
    # a child may flush the stdio buffers it inherited when it ends: what this
    # process has not yet written (a pipe's block buffer) must not be written by both
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: nothing more reaches it anyway
        pass

    def target(reporter) -> int:
        os.close(go_w)
        if join:  # an existing, already mapped namespace (another container's)
            linux.setns_path(join, linux.Clone.NEWUSER)
        else:
            linux.unshare(linux.Clone.NEWUSER)
        reporter.ready()  # the starter writes the maps and says go
        code = EXIT_RL
        try:
            if os.read(go_r, 1) != b"1":
                return EXIT_RL  # the starter reported why
            os.close(go_r)
            if more_flags:
                linux.unshare(more_flags)
            code = child_main()
        except BaseException as exc:  # noqa: BLE001 - a forked child must never return
            code = _child_fail(exc)
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        return code if isinstance(code, int) else EXIT_RL

    if keep_fds is None:
        keep = _all_fds()
    else:
        keep = {*keep_fds, go_r, go_w}
    try:
        helper = spawn(target, name=name, keep_fds=keep, stdio=stdio, setsid=setsid,
                       death_signal=pdeathsig or None, log_to_starter=True)
    except SpawnError as e:
        verb = "join the user namespace" if join else "create a user namespace"
        raise HostSetupError(
            f"cannot {verb}: {e.message}",
            hint=None if join else "check `sysctl user.max_user_namespaces` (must be > 0) and, on Ubuntu, "
                 "kernel.apparmor_restrict_unprivileged_userns=0; `rl system check` tells more") from None
    finally:
        os.close(go_r)
    pid = helper.pid
    try:
        if not join:
            write_maps(pid, maps)
        os.write(go_w, b"1")
    except BaseException:
        helper.kill()
        raise
    finally:
        os.close(go_w)
    return pid


def _all_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def wait_status(pid: int) -> int:
    """Wait for a child; return its exit code, or 128+N when killed by N."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run_in_userns(func: Callable[..., Any], *args: Any, maps: IdMappings | None = None,
                  more_flags: int = 0, **kwargs: Any) -> Any:
    """Call func(*args, **kwargs) as root of a fresh mapped user namespace
    and return its result; an exception raised there is raised here."""
    import pickle  # here, not at the top: most commands never call this (the import is ~2 ms)
    maps = maps or user_mappings()
    res_r, res_w = os.pipe()

    def child() -> int:
        os.close(res_r)
        try:
            out = ("ok", func(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - carried to the parent
            if not isinstance(exc, (RlError, OSError, ValueError)):
                import traceback  # only for an unexpected error: its import is ~3 ms
                exc = RuntimeSetupError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            out = ("err", exc)
        try:
            payload = pickle.dumps(out)
        except Exception as exc:  # noqa: BLE001
            payload = pickle.dumps(("err", RuntimeSetupError(f"unpicklable result: {exc}")))
        with os.fdopen(res_w, "wb") as f:
            f.write(payload)
        return 0

    try:
        pid = fork_userns(maps, child, more_flags=more_flags, keep_fds=(res_r, res_w))
    except BaseException:
        os.close(res_r)
        os.close(res_w)
        raise
    os.close(res_w)
    with os.fdopen(res_r, "rb") as f:
        data = f.read()
    code = wait_status(pid)
    if not data:
        raise RuntimeSetupError(f"user namespace helper died (status {code})")
    kind, value = pickle.loads(data)
    if kind == "err":
        raise value
    return value
