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
import stat
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


def commit(paths: Paths, name: str, reference: str | None, message: str | None = None,
           changes: list[str] | None = None) -> str:
    """podman commit: the container's image with one more layer, its upper
    dir (the changes) in OCI form, and its command and environment as the
    config. A --rootfs container has no image to add to, and vfs keeps no
    changes apart from the image (its upper dir is a whole copy): those are
    squashed into a one-layer image (the export, imported) instead."""
    from rootless.containers.run import RunRequest
    from rootless.images import ops
    from rootless.runtime import userns
    store = Store(paths)
    rec = store.lookup(name)
    req = RunRequest(**rec.request)
    from rootless.containers import commitcfg
    cfg = commitcfg.apply_changes(commitcfg.from_container(rec.image_config, rec.request, rec.command), changes)
    if not req.rootfs and rec.driver != "vfs":
        upper = str(store.container_dir(rec.id) / "diff")

        def write(blob) -> tuple[str, int]:
            return userns.run_in_userns(_write_layer, upper, str(blob))
        img = ops.commit_layer(paths, list(rec.layers), rec.image, write, cfg, reference, message)
        if img is not None:
            return img.id
    return _squash(paths, rec, cfg, reference, message)


def _squash(paths: Paths, rec: Record, cfg: dict, reference: str | None, message: str | None) -> str:
    import tempfile
    from rootless.images import ops
    with tempfile.NamedTemporaryFile(dir=str(paths.root), prefix=".commit-", suffix=".tar") as tmp:
        export(paths, rec.id, tmp.fileno())
        tmp.flush()
        img = ops.import_tarball(paths, tmp.name, reference, message=message, changes=cfg)
    return img.id


OPAQUE_XATTRS = ("user.overlay.opaque", "user.fuseoverlayfs.opaque", "trusted.overlay.opaque")
OPAQUE_MARKER = ".wh..wh..opq"


def layer_entries(rel: str, mode: int, rdev: int, opaque: bool) -> list[tuple[str, bool]]:
    """What a layer tar holds for one entry of an overlay upper dir (rel: its
    path there), as (name, as_is): as_is -> the entry itself, else an empty
    regular file (an OCI whiteout). The overlay drivers mark a deletion with
    a 0/0 character device of the deleted name (OCI: `.wh.NAME`) and a
    directory that hides the lower ones' content with an opaque xattr (OCI:
    `DIR/.wh..wh..opq` beside its entries). `.wh.*` files (fuse-overlayfs's
    own whiteouts where mknod is refused) already are the OCI form."""
    if stat.S_ISCHR(mode) and rdev == 0:
        head, base = os.path.split(rel)
        return [(os.path.join(head, ".wh." + base), False)]
    if opaque and stat.S_ISDIR(mode):
        return [(rel, True), (os.path.join(rel, OPAQUE_MARKER), False)]
    return [(rel, True)]


def _is_opaque(path: str) -> bool:
    for attr in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:  # absent, or trusted.* (unreadable in a user namespace)
            continue
    return False


class _Hashing:
    """A write-only file that hashes what passes through it."""

    def __init__(self, f) -> None:
        import hashlib
        self.f, self.h, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.h.update(data)
        self.size += len(data)
        return self.f.write(data)


def _write_layer(upper: str, dest: str) -> tuple[str, int]:
    """Runs as root of a user namespace with the container's mapping, so
    files show the container's own IDs: the upper dir as an OCI layer tar
    in dest; returns its (digest, size)."""
    tarfile.pwd = tarfile.grp = None  # numeric IDs: host names mean nothing for container IDs
    with open(dest, "wb") as f:
        out = _Hashing(f)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for dirpath, dirs, files in os.walk(upper):
                rel_dir = os.path.relpath(dirpath, upper)
                if rel_dir.split("/", 1)[0] in _PSEUDO:
                    dirs.clear()  # mount points of kernel file systems: their content is not the container's
                    continue
                dirs.sort()
                for name in sorted(dirs + files):
                    full = os.path.join(dirpath, name)
                    st = os.lstat(full)
                    rel = os.path.normpath(os.path.join(rel_dir, name))
                    opaque = stat.S_ISDIR(st.st_mode) and _is_opaque(full)
                    for arc, as_is in layer_entries(rel, st.st_mode, st.st_rdev, opaque):
                        if as_is:
                            _add(tar, full, arc)
                        elif not os.path.lexists(os.path.join(upper, arc)):  # a marker may be there already
                            ti = tarfile.TarInfo(arc)
                            ti.mtime = int(st.st_mtime)
                            tar.addfile(ti)
    return "sha256:" + out.h.hexdigest(), out.size


def _add(tar: tarfile.TarFile, path: str, arcname: str) -> None:
    ti = tar.gettarinfo(path, arcname)  # a second name of an inode becomes a hard link
    if ti is None:
        return  # a socket: tar has no type for it
    ti.uname = ti.gname = ""
    if ti.isreg():
        with open(path, "rb") as f:
            tar.addfile(ti, f)
    else:
        tar.addfile(ti)
