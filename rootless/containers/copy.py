"""cp, export, diff and commit: file work on a container's root filesystem.

Every side that touches container files runs as root of a user namespace
with the container's own ID mapping, so ownership is carried over exactly
(a file of the container's UID 1000 lands on the host as subordinate ID
1000+N, the user's own files appear as root inside):

    running container: fork, setns into PID 1's user (+ mount) namespace;
                       its root is the container's root
    stopped container: a fresh mapped user + mount namespace mounts the
                       rootfs as `rl run` would, then chroots into it

Between the two sides of a copy flows a tar stream. Nothing is imported
after entering a container's mount namespace, and tarfile's user-name
lookups are switched off there (NSS would load the image's libraries)."""

from __future__ import annotations

import os
import sys
import tarfile

from rootless.config import Paths
from rootless.containers.records import Record, Store, same_process
from rootless.errors import ContainerError, UsageError

_PSEUDO = ("proc", "sys", "dev")  # kernel file systems: never exported


def _container(store: Store, rec: Record) -> int | None:
    st = store.state(rec)
    if st.get("state") == "running" and same_process(st.get("pid"), st.get("pid_start")):
        return st["pid"]
    return None


def _join(pid: int, mount: bool) -> None:
    from rootless import linux
    for name, flag in (("user", linux.Clone.NEWUSER), ("mnt", linux.Clone.NEWNS)):
        if name == "mnt" and not mount:
            continue
        fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        linux.setns(fd, flag)
        os.close(fd)


def _mount_rootfs(rec: Record, store: Store) -> None:
    """Stopped: mount the container's rootfs here and chroot into it."""
    from rootless import storage
    cdir = store.container_dir(rec.id)
    drv = storage.driver(rec.driver)
    drv.mount(list(rec.layers), str(cdir / "diff"), str(cdir / "work"), str(cdir / "merged"))
    os.chroot(str(cdir / "merged"))
    os.chdir("/")


def _side(store: Store, rec: Record, pid: int | None, in_container: bool, body, close_fd: int | None = None) -> int:
    """Fork a process that enters the right namespaces and runs body();
    returns its pid (exit 0 on success, 125 with the message on stderr).
    close_fd: the other side's end of the pipe (held here, it would hide EOF)."""
    def main() -> int:
        if close_fd is not None:
            os.close(close_fd)
        tarfile.pwd = tarfile.grp = None  # numeric IDs only: no NSS inside the container
        if pid is None and in_container:
            _mount_rootfs(rec, store)
        if in_container:
            sys.meta_path.clear()
        body()
        return 0

    if pid is not None:
        child = os.fork()
        if child == 0:
            code = 125
            try:
                _join(pid, in_container)
                code = main()
            except BaseException as e:  # noqa: BLE001 - a forked child must never return
                _say(e)
            finally:
                os._exit(code)
        return child
    from rootless.linux import Clone
    from rootless.runtime import userns

    def guarded() -> int:
        try:
            return main()
        except BaseException as e:  # noqa: BLE001
            _say(e)
            return 125
    return userns.fork_userns(userns.user_mappings(), guarded, more_flags=Clone.NEWNS)


def _say(e: BaseException) -> None:
    msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    if isinstance(e, OSError) and e.filename:
        msg = f"{e.filename}: {msg}"
    try:
        os.write(2, f"Error: {msg}\n".encode())
    except OSError:
        pass


def _check_member(m: tarfile.TarInfo, dest: str) -> None:
    """Refuse what would land outside dest (absolute names, .., a symlink
    already on the way, links pointing out)."""
    name = os.path.normpath(m.name)
    if name.startswith(("/", "..")) or "/../" in f"/{name}/":
        raise OSError(1, f"refusing {m.name!r}: outside the destination")
    parent = os.path.realpath(os.path.join(dest, os.path.dirname(name)))
    root = os.path.realpath(dest)
    if parent != root and not parent.startswith(root + "/"):
        raise OSError(1, f"refusing {m.name!r}: a symlink on its way leads outside the destination")
    if m.islnk() and os.path.normpath(m.linkname).startswith(("/", "..")):
        raise OSError(1, f"refusing hard link {m.name!r} -> {m.linkname!r}")


def _produce(path: str, fd: int, arcname: str, exclude_pseudo: bool = False):
    def body() -> None:
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            if exclude_pseudo:
                def skip(ti):
                    top = ti.name.split("/", 1)[0]
                    return ti if not (top in _PSEUDO and "/" in ti.name) else None
                tar.add(path, arcname=arcname, filter=skip)
            else:
                tar.add(path, arcname=arcname)
    return body


def _consume(dest_dir: str, rename: str | None, fd: int):
    def body() -> None:
        with os.fdopen(fd, "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
            for m in tar:
                if rename is not None:
                    head, sep, tail = m.name.partition("/")
                    m.name = rename + sep + tail
                _check_member(m, dest_dir)
                tar.extract(m, dest_dir, numeric_owner=True)
    return body


def _split(arg: str) -> tuple[str | None, str]:
    name, sep, path = arg.partition(":")
    if sep and name and not name.startswith(("/", ".")):
        return name, path or "/"
    return None, arg


def _wait(pids: list[int]) -> int:
    from rootless.runtime import userns
    codes = [userns.wait_status(p) for p in pids]
    return max(codes)


def cp(paths: Paths, src: str, dst: str) -> None:
    """`rl cp CTR:PATH HOSTPATH` or `rl cp HOSTPATH CTR:PATH`."""
    (sname, spath), (dname, dpath) = _split(src), _split(dst)
    if (sname is None) == (dname is None):
        raise UsageError("cp copies between a container and the host",
                         hint="rl cp CONTAINER:PATH HOST_PATH, or rl cp HOST_PATH CONTAINER:PATH")
    store = Store(paths)
    rec = store.lookup(sname or dname)
    pid = _container(store, rec)
    if dname is None:
        dpath = os.path.abspath(dpath)
    else:
        spath = os.path.abspath(spath)
        if not os.path.lexists(spath):
            raise ContainerError(f"{src}: no such file or directory")
    # the destination decides the name: into an existing directory, or as dpath itself
    dest_is_dir = dpath.endswith("/")
    r, w = os.pipe()
    base = os.path.basename(spath.rstrip("/")) or "."
    dest_dir, rename = (dpath, None) if dest_is_dir else (os.path.dirname(dpath) or "/", os.path.basename(dpath))
    if dname is None and os.path.isdir(dpath):
        dest_dir, rename = dpath, None

    def consumer_body():
        nonlocal dest_dir, rename
        if dname is not None and os.path.isdir(dpath):  # decided inside the container
            dest_dir, rename = dpath, None
        _consume(dest_dir, rename, r)()
    producer = _side(store, rec, pid, sname is not None, _produce(spath, w, base), close_fd=r)
    consumer = _side(store, rec, pid, dname is not None, consumer_body, close_fd=w)
    os.close(r)
    os.close(w)
    if _wait([producer, consumer]):
        raise ContainerError(f"cp {src} {dst} failed (see the message above)")


def export(paths: Paths, name: str, out_fd: int) -> None:
    """The container's whole filesystem as a tar stream on out_fd."""
    store = Store(paths)
    rec = store.lookup(name)
    pid = _container(store, rec)

    def body() -> None:
        os.chdir("/")
        with os.fdopen(os.dup(out_fd), "wb") as f, tarfile.open(fileobj=f, mode="w|",
                                                                 format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(os.listdir(".")):
                if entry in _PSEUDO:
                    tar.add(entry, recursive=False)
                else:
                    tar.add(entry)
    child = _side(store, rec, pid, True, body)
    if _wait([child]):
        raise ContainerError(f"export of {rec.name} failed (see the message above)")


def diff(paths: Paths, name: str) -> list[tuple[str, str]]:
    """podman diff: (A|C|D, path) from the container's upper layer."""
    from rootless.runtime import userns
    store = Store(paths)
    rec = store.lookup(name)
    return userns.run_in_userns(_diff, str(store.container_dir(rec.id) / "diff"), list(rec.layers))


def _diff(upper: str, lowers: list[str]) -> list[tuple[str, str]]:
    import stat
    out = []
    for dirpath, dirs, files in os.walk(upper):
        for n in sorted(dirs + files):
            if n.startswith(".wh."):
                continue  # the overlay drivers' own markers (opaque directories), not container files
            full = os.path.join(dirpath, n)
            rel = "/" + os.path.relpath(full, upper)
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(("D", rel))
            elif any(os.path.lexists(os.path.join(low, rel.lstrip("/"))) for low in lowers):
                out.append(("C", rel))
            else:
                out.append(("A", rel))
    return sorted(out, key=lambda x: x[1])


def commit(paths: Paths, name: str, reference: str | None, message: str | None = None) -> str:
    """The container's filesystem as a new one-layer image (squashed: the
    export, imported), with its command and environment as the config."""
    import tempfile
    from rootless.containers.run import RunRequest
    from rootless.images import ops
    store = Store(paths)
    rec = store.lookup(name)
    req = RunRequest(**rec.request)
    cfg = dict(rec.image_config or {})
    if rec.command:
        cfg["Cmd"] = list(rec.command)
    if req.env:
        cfg["Env"] = list(cfg.get("Env") or []) + list(req.env)
    if req.workdir:
        cfg["WorkingDir"] = req.workdir
    with tempfile.NamedTemporaryFile(dir=str(paths.root), prefix=".commit-", suffix=".tar") as tmp:
        export(paths, rec.id, tmp.fileno())
        tmp.flush()
        img = ops.import_tarball(paths, tmp.name, reference, message=message, changes=cfg)
    return img.id

