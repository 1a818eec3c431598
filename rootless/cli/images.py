"""Image commands: pull, images, rmi, tag, inspect, history, image prune,
login, logout, import. Parsing and rendering only; the work is in
rootless.images (imported lazily: `rl run` must start fast)."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from rootless.cli.options import OPTIONS
from rootless.cli.typerapp import app
from rootless.errors import ImageError, UsageError

image_app = typer.Typer(help="Manage images.", no_args_is_help=True)
app.add_typer(image_app, name="image")

# other engines may add inspectors for other object kinds (containers):
# name -> dict or None when the name is not theirs
INSPECTORS: list = []


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


def _bool(value: Optional[str], flag: str) -> Optional[bool]:
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("true", "1", "yes", ""):
        return True
    if v in ("false", "0", "no"):
        return False
    raise UsageError(f"{flag}: expected true or false, got {value!r}")


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ pull

@app.command("pull")
@image_app.command("pull")
def pull_cmd(
    reference: str = typer.Argument(..., help="IMAGE[:TAG|@DIGEST]"),
    platform: Optional[str] = typer.Option(None, "--platform", help="OS/ARCH[/VARIANT] (default: this host)"),
    arch: Optional[str] = typer.Option(None, "--arch", help="architecture (with --os), like --platform"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="no progress output"),
    tls_verify: Optional[str] = typer.Option(None, "--tls-verify", help="true/false: require HTTPS and valid certificates"),
    creds: Optional[str] = typer.Option(None, "--creds", help="USER[:PASSWORD] for the registry"),
    authfile: Optional[str] = typer.Option(None, "--authfile", help="auth.json to use"),
    cert_dir: Optional[str] = typer.Option(None, "--cert-dir", help="directory of CA certificates (*.crt)"),
) -> None:
    """Pull an image from a registry."""
    from rootless.images import puller
    if arch and not platform:
        platform = f"linux/{arch}"
    progress = None
    if not quiet and sys.stderr.isatty():
        progress = _err
    img = puller.pull(_paths(), reference, platform=platform, quiet=quiet, tls_verify=_bool(tls_verify, "--tls-verify"),
                      creds=creds, authfile=authfile, cert_dir=cert_dir, progress=progress)
    print(img.id)


# ------------------------------------------------------------------ images

def _rows(images, *, show_all: bool = True):
    from rootless.images import render
    rows = []
    for img in images:
        created = img.created
        base = {"ID": img.id, "Id": img.id, "Digest": img.digest, "Created": created,
                "CreatedSince": render.since(created), "CreatedAt": created or "",
                "Size": render.human_size(img.size), "VirtualSize": img.size, "Names": img.names,
                "Digests": img.digests, "Dangling": not img.names}
        if img.names:
            for n in img.names:
                repo, _, tag = n.rpartition(":")
                rows.append({**base, "Repository": repo, "Tag": tag})
        else:
            # pulled by digest only: podman shows the repository with a <none> tag
            repo = img.digests[0].split("@", 1)[0] if img.digests else "<none>"
            rows.append({**base, "Repository": repo, "Tag": "<none>"})
    return rows


def _go_time(rfc3339: str) -> str:
    """2023-11-14T22:13:20Z -> 2023-11-14 22:13:20 +0000 UTC (how Go prints a time.Time)."""
    import time as _time
    from rootless.images import render
    t = render.parse_time(rfc3339)
    return _time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", _time.gmtime(t)) if t is not None else rfc3339


def _filter(images, filters: List[str]):
    out = list(images)
    for f in filters:
        key, _, val = f.partition("=")
        if key == "dangling":
            want = val.lower() in ("true", "1", "")
            out = [i for i in out if (not i.names) == want]
        elif key == "reference":
            import fnmatch
            out = [i for i in out if any(fnmatch.fnmatch(n, val) or fnmatch.fnmatch(n, f"*/{val}")
                                         or fnmatch.fnmatch(n.rsplit(":", 1)[0], val)
                                         or fnmatch.fnmatch(n.rsplit(":", 1)[0], f"*/{val}") for n in i.names)]
        else:
            raise UsageError(f"unsupported filter {key!r}", hint="supported: dangling=true|false, reference=PATTERN")
    return out


IMAGES_HEADERS = {"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Created": "CREATED"}


@app.command("images")
@image_app.command("ls")
@image_app.command("list")
def images_cmd(
    name: Optional[str] = typer.Argument(None, help="only images matching this reference"),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="image IDs only"),
    digests: bool = typer.Option(False, "--digests", help="show digests"),
    fmt: Optional[str] = typer.Option(None, "--format", help="json, or a Go template like {{.Repository}}:{{.Tag}}"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="full image IDs"),
    noheading: bool = typer.Option(False, "-n", "--noheading", help="no header line"),
    all_: bool = typer.Option(False, "-a", "--all", help="all images (rl keeps no intermediate images)"),
    filters: List[str] = typer.Option([], "-f", "--filter", help="dangling=true|false, reference=PATTERN"),
) -> None:
    """List images in local storage."""
    from rootless.images import render
    from rootless.images.store import ImageStore
    store = ImageStore(_paths())
    imgs = store.images()
    if name:
        filters = list(filters) + [f"reference={name}"]
    imgs = _filter(imgs, filters)
    # podman's order: newest image first (by its creation time)
    imgs.sort(key=lambda i: render.parse_time(i.created) or 0, reverse=True)
    rows = _rows(imgs)
    if quiet:
        seen = []
        for r in rows:
            i = r["ID"] if no_trunc else r["ID"][:12]
            if i not in seen:
                seen.append(i)
        for i in seen:
            print(i)
        return
    if fmt and fmt.strip() == "json":
        out = []
        for img in imgs:
            out.append({"Id": img.id, "ParentId": "", "RepoTags": img.names or None,
                        "RepoDigests": img.digests, "Size": img.size, "SharedSize": 0,
                        "VirtualSize": img.size, "Labels": (img.config.get("config") or {}).get("Labels"),
                        "Containers": 0, "Names": img.names or None, "Digest": img.digest,
                        "History": img.names or None,
                        "Created": int(render.parse_time(img.created) or 0),
                        "CreatedAt": img.created, "Dangling": not img.names})
        print(json.dumps(out, indent=4))
        return
    if fmt:
        from rootless.cli.gotemplate import render_rows
        # podman's template fields: ID truncated unless --no-trunc, Created human, CreatedAt Go's time format
        shown = [{**r, "ID": r["ID"] if no_trunc else r["ID"][:12], "Created": r["CreatedSince"],
                  "CreatedAt": _go_time(r["CreatedAt"])} for r in rows]
        sys.stdout.write(render_rows(fmt, shown, names=IMAGES_HEADERS, heading=not noheading))
        return
    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    table = []
    for r in rows:
        table.append([r["Repository"], r["Tag"]] + ([r["Digest"]] if digests else []) +
                     [r["ID"] if no_trunc else r["ID"][:12], r["CreatedSince"], r["Size"]])
    text = render.table(table, header)
    if noheading:
        text = "\n".join(text.splitlines()[1:])
    if text:
        print(text)


# ------------------------------------------------------------------ rmi / prune / tag

@app.command("rmi")
@image_app.command("rm")
def rmi_cmd(
    names: List[str] = typer.Argument(None, help="images to remove"),
    all_: bool = typer.Option(False, "-a", "--all", help="remove all images"),
    force: bool = typer.Option(False, "-f", "--force", help="remove even when it has several names or is in use"),
) -> None:
    """Remove images."""
    from rootless.images import ops
    if not names and not all_:
        raise UsageError("give at least one image, or -a", hint="rl rmi IMAGE...")
    rep = ops.remove(_paths(), names or [], force=force, all_images=all_)
    for n in rep.untagged:
        print(f"Untagged: {n}")
    for i in rep.deleted:
        print(f"Deleted: {i}")
    if rep.errors:
        for e in rep.errors[:-1]:
            _err(f"Error: {e}")
        last = rep.errors[-1]
        last = last if isinstance(last, ImageError) else ImageError(str(last))
        from rootless.errors import removal_status
        last.exit_code = removal_status(rep.errors)  # podman: 1 no such image, 2 in use
        raise last


@image_app.command("prune")
def prune_cmd(
    all_: bool = typer.Option(False, "-a", "--all", help="all unused images, not only dangling ones"),
    force: bool = typer.Option(False, "-f", "--force", help="do not ask"),
) -> None:
    """Remove dangling images (and layers nothing uses)."""
    from rootless.images import ops
    if not force:
        from rootless.cli.prompt import confirm
        what = "all images without at least one container associated with them" if all_ else "all dangling images"
        if not confirm(f"WARNING! This command removes {what}.\n"):
            return
    for i in ops.prune(_paths(), all_images=all_):
        print(i)


@app.command("tag")
@image_app.command("tag")
def tag_cmd(
    image: str = typer.Argument(..., help="existing image"),
    targets: List[str] = typer.Argument(..., help="new NAME[:TAG]"),
) -> None:
    """Add names to an image."""
    from rootless.images.store import ImageStore
    store = ImageStore(_paths())
    img = store.lookup(image)
    for t in targets:
        store.tag(img, t)


@app.command("untag")
@image_app.command("untag")
def untag_cmd(image: str = typer.Argument(...), names: List[str] = typer.Argument(None)) -> None:
    """Remove names from an image (all names when none are given)."""
    from rootless.images.store import ImageStore
    store = ImageStore(_paths())
    img = store.lookup(image)
    for n in (names or img.names):
        if not store.untag(img, n):
            raise ImageError(f"{n}: not a name of image {img.short_id}")


# ------------------------------------------------------------------ inspect / history

def _print_inspect(objs: list, fmt: Optional[str]) -> None:
    if fmt and fmt != "json":
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, objs))
    else:
        print(json.dumps(objs, indent=4))


@image_app.command("inspect")
def image_inspect_cmd(
    names: List[str] = typer.Argument(..., help="images"),
    fmt: Optional[str] = typer.Option(None, "-f", "--format", help="json or a Go template ({{.Id}})"),
) -> None:
    """Show an image's configuration and layers as JSON."""
    from rootless.images import ops
    from rootless.images.store import ImageStore
    store = ImageStore(_paths())
    _print_inspect([ops.inspect(store.lookup(n)) for n in names], fmt)


@app.command("inspect")
def inspect_cmd(
    names: List[str] = typer.Argument(..., help="images (or containers, when their engine registers)"),
    fmt: Optional[str] = typer.Option(None, "-f", "--format", help="json or a Go template"),
    type_: str = typer.Option("all", "-t", "--type", help="image, container or all"),
) -> None:
    """Show low-level information about images (and containers)."""
    from rootless.errors import ImageNotFound
    from rootless.images import ops
    from rootless.images.store import ImageStore
    store = ImageStore(_paths())
    out = []
    for n in names:
        found = None
        if type_ in ("all", "container"):
            for insp in INSPECTORS:
                found = insp(n)
                if found is not None:
                    break
        if found is None and type_ in ("all", "image"):
            try:
                found = ops.inspect(store.lookup(n))
            except ImageNotFound:
                found = None
        if found is None:
            raise ImageNotFound(f"no such object: {n!r}")
        out.append(found)
    _print_inspect(out, fmt)


@image_app.command("exists")
def exists_cmd(image: str = typer.Argument(...)) -> None:
    """Exit 0 when the image is in local storage, 1 when not."""
    from rootless.errors import ExitStatus, ImageNotFound
    from rootless.images.store import ImageStore
    try:
        ImageStore(_paths()).lookup(image)
    except ImageNotFound:
        raise ExitStatus(1) from None


@app.command("history")
@image_app.command("history")
def history_cmd(
    image: str = typer.Argument(...),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="IDs only"),
    no_trunc: bool = typer.Option(False, "--no-trunc", help="do not truncate"),
    human: bool = typer.Option(True, "-H", "--human", help="human sizes and times"),
    fmt: Optional[str] = typer.Option(None, "--format", help="json or a Go template"),
) -> None:
    """Show the history of an image."""
    from rootless.images import ops, render
    from rootless.images.store import ImageStore
    img = ImageStore(_paths()).lookup(image)
    rows = ops.history(img)
    if quiet:
        for r in rows:
            print(r["id"] if no_trunc or r["id"] == "<missing>" else r["id"][:12])
        return
    if fmt == "json":
        print(json.dumps(rows, indent=4))
        return
    if fmt:
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, [{"ID": r["id"], "Created": r["created"], "CreatedBy": r["created_by"],
                                            "Size": r["size"], "Comment": r["comment"]} for r in rows]))
        return
    table = []
    for r in rows:
        by = r["created_by"] if no_trunc or len(r["created_by"]) <= 45 else r["created_by"][:42] + "..."
        table.append([r["id"] if no_trunc or r["id"] == "<missing>" else r["id"][:12],
                      render.since(r["created"]) if human else (r["created"] or ""), by,
                      render.human_size(r["size"]) if human else str(r["size"]), r["comment"]])
    print(render.table(table, ["ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"]))


# ------------------------------------------------------------------ import

@app.command("import")
@image_app.command("import")
def import_cmd(
    source: str = typer.Argument(..., help="rootfs tarball (plain, gzip or zstd), or - for stdin"),
    reference: Optional[str] = typer.Argument(None, help="NAME[:TAG] for the new image"),
    message: Optional[str] = typer.Option(None, "-m", "--message", help="commit message"),
    change: List[str] = typer.Option([], "-c", "--change", help='CMD ["sh"], ENV K=V, WORKDIR /x, USER u, ENTRYPOINT [...]'),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Create an image from a root filesystem tarball."""
    from rootless.images import ops
    changes = _changes(change)
    img = ops.import_tarball(_paths(), source, reference, message=message, changes=changes)
    print(img.id if quiet else img.id)


def _changes(changes: List[str]) -> dict:
    cfg: dict = {}
    for c in changes:
        word, _, rest = c.strip().partition(" ")
        word = word.upper()
        rest = rest.strip()

        def arg_list(text: str) -> list:
            if text.startswith("["):
                try:
                    val = json.loads(text)
                    if isinstance(val, list):
                        return [str(x) for x in val]
                except ValueError:
                    pass
            return ["/bin/sh", "-c", text]
        if word == "CMD":
            cfg["Cmd"] = arg_list(rest)
        elif word == "ENTRYPOINT":
            cfg["Entrypoint"] = arg_list(rest)
        elif word == "ENV":
            k, sep, v = rest.partition("=")
            if not sep:
                k, _, v = rest.partition(" ")
            cfg.setdefault("Env", []).append(f"{k.strip()}={v.strip()}")
        elif word == "WORKDIR":
            cfg["WorkingDir"] = rest
        elif word == "USER":
            cfg["User"] = rest
        elif word == "LABEL":
            k, _, v = rest.partition("=")
            cfg.setdefault("Labels", {})[k.strip()] = v.strip().strip('"')
        elif word == "EXPOSE":
            for p in rest.split():
                cfg.setdefault("ExposedPorts", {})[p if "/" in p else f"{p}/tcp"] = {}
        elif word == "STOPSIGNAL":
            cfg["StopSignal"] = rest
        else:
            raise UsageError(f"--change: unsupported instruction {word!r}",
                             hint="CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL")
    return cfg


# ------------------------------------------------------------------ push

@image_app.command("bootstrap")
def bootstrap_cmd(
    reference: str = typer.Argument(..., help="NAME:SUITE, e.g. debian:bookworm"),
    suite: Optional[str] = typer.Option(None, "--suite", help="the release to build (default: the tag)"),
    mirror: Optional[str] = typer.Option(None, "--mirror", help="archive URL (default: this host's apt sources)"),
    include: List[str] = typer.Option([], "--include", help="extra packages (repeatable, or comma-separated)"),
    variant: str = typer.Option("minbase", "--variant", help="mmdebstrap variant: minbase, apt, important ..."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="no progress"),
) -> None:
    """Build an image from a distribution's package archive (no registry needed)."""
    from rootless.images import bootstrap
    pkgs = [p for arg in include for p in arg.split(",") if p]
    img = bootstrap.bootstrap(_paths(), reference, suite=suite, mirror=mirror, include=pkgs, variant=variant,
                              quiet=quiet)
    print(img.id)


@app.command("push")
@image_app.command("push")
def push_cmd(
    image: str = typer.Argument(..., help="local image"),
    destination: Optional[str] = typer.Argument(None, help="[docker://]REGISTRY/NAME[:TAG] (default: the image's name)"),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
    tls_verify: Optional[str] = typer.Option(None, "--tls-verify"),
    creds: Optional[str] = typer.Option(None, "--creds"),
    authfile: Optional[str] = typer.Option(None, "--authfile"),
    cert_dir: Optional[str] = typer.Option(None, "--cert-dir"),
    digestfile: Optional[str] = typer.Option(None, "--digestfile", help="write the pushed manifest digest here"),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="manifest type: oci or v2s2"),
    compression_format: Optional[str] = typer.Option(None, "--compression-format", help="gzip or zstd"),
) -> None:
    """Push an image to a registry, or to oci-archive:PATH, docker-archive:PATH or dir:PATH."""
    from rootless.images import pusher
    progress = _err if not quiet and sys.stderr.isatty() else None
    digest = pusher.push(_paths(), image, destination, tls_verify=_bool(tls_verify, "--tls-verify"), creds=creds,
                         authfile=authfile, cert_dir=cert_dir, progress=progress, fmt=fmt,
                         compression=compression_format)
    if digestfile:
        with open(digestfile, "w") as f:
            f.write(digest)


# ------------------------------------------------------------------ save / load

@app.command("save")
@image_app.command("save")
def save_cmd(
    names: List[str] = typer.Argument(..., help="images"),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="file to write (default: stdout)"),
    fmt: str = typer.Option("docker-archive", "--format", help="docker-archive or oci-archive"),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Save images to an archive."""
    from rootless.images import archive
    if output is None:
        if sys.stdout.isatty():
            raise UsageError("refusing to write an archive to a terminal", hint="use -o FILE or redirect stdout")
        archive.save(_paths(), names, sys.stdout.buffer, fmt)
        sys.stdout.flush()
        return
    import os
    tmp = f"{output}.rl-tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            archive.save(_paths(), names, f, fmt)
        os.replace(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@app.command("load")
@image_app.command("load")
def load_cmd(
    input_: Optional[str] = typer.Option(None, "-i", "--input", help="archive to read (default: stdin)"),
    quiet: bool = typer.Option(False, "-q", "--quiet"),
) -> None:
    """Load images from a docker-archive or oci-archive."""
    from rootless.images import archive
    if input_ is None and sys.stdin.isatty():
        raise UsageError("no archive given", hint="use -i FILE or pipe one on stdin")
    for img in archive.load(_paths(), input_):
        print(f"Loaded image: {', '.join(img.names) if img.names else 'sha256:' + img.id}")


# ------------------------------------------------------------------ login / logout

@app.command("login")
def login_cmd(
    server: str = typer.Argument(..., help="registry host[:port]"),
    username: Optional[str] = typer.Option(None, "-u", "--username"),
    password: Optional[str] = typer.Option(None, "-p", "--password"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin"),
    authfile: Optional[str] = typer.Option(None, "--authfile"),
    tls_verify: Optional[str] = typer.Option(None, "--tls-verify"),
    cert_dir: Optional[str] = typer.Option(None, "--cert-dir"),
    get_login: bool = typer.Option(False, "--get-login", help="print the user name stored for the registry"),
) -> None:
    """Log in to a registry (stores the credentials in auth.json)."""
    from rootless.images import ops
    if get_login:
        print(ops.get_login(server, authfile=authfile))
        return
    if password_stdin:
        if password:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        if not username:
            raise UsageError("must provide --username with --password-stdin", hint=f"rl login -u USER --password-stdin {server}")
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        # as podman: asked for, and read from stdin even when it is not a terminal
        sys.stdout.write("Username: ")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            raise UsageError("getting username and password: reading username: EOF",
                             hint=f"rl login -u USER {server} (or --password-stdin with -u)")
        username = line.strip()
    if password is None:
        if not sys.stdin.isatty():
            raise UsageError("getting username and password: reading password: stdin is not a terminal",
                             hint=f"pipe the password with: rl login -u {username} --password-stdin {server}")
        import getpass
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise UsageError("a username and a password are required")
    ops.login(server, username, password, authfile=authfile, tls_verify=_bool(tls_verify, "--tls-verify"),
              cert_dir=cert_dir)
    print("Login Succeeded!")


@app.command("logout")
def logout_cmd(
    server: Optional[str] = typer.Argument(None, help="registry host[:port]"),
    all_: bool = typer.Option(False, "-a", "--all", help="remove every stored credential"),
    authfile: Optional[str] = typer.Option(None, "--authfile"),
) -> None:
    """Remove stored registry credentials."""
    from rootless.images import ops
    if not server and not all_:
        raise UsageError("give a registry, or --all")
    removed = ops.logout(None if all_ else server, authfile=authfile)
    if all_:
        print("Removed login credentials for all registries")
    elif removed:
        print(f"Removed login credentials for {server}")
    else:
        raise ImageError(f"not logged into {server}")
