"""Image commands: pull, images, rmi, tag, inspect, history, image prune,
login, logout, import, push, save, load. Parsing (the command table) and
rendering only; the work is in rootless.images (imported inside each
command: the fast path imports this module to find any verb)."""

from __future__ import annotations

import sys

from rootless import jsonio  # not json: its import costs every command ~7 ms (re)
from rootless.cli.options import OPTIONS
from rootless.cli.table import INT, LIST, MANY, OPTIONAL, SOME, STR, Arg, Opt, command, group

group("image", "Manage images.")

# other faces' inspectors for other object kinds (containers): name -> dict,
# or None when the name is not theirs; `rl inspect` asks them before images


def _paths():
    from rootless.config import default_paths
    return default_paths(OPTIONS.root, OPTIONS.runroot)


def _bool(value: str | None, flag: str) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("true", "1", "yes", ""):
        return True
    if v in ("false", "0", "no"):
        return False
    from rootless.errors import UsageError
    raise UsageError(f"{flag}: expected true or false, got {value!r}")


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _print_json(obj) -> None:
    print(jsonio.dumps(obj, indent=4))


# the registry options pull, push and login share
def _tls(help: str = "") -> Opt:
    return Opt("tls_verify", "--tls-verify", kind=STR, help=help)


# ------------------------------------------------------------------ pull

@command("pull", "image pull",
         Arg("reference", help="IMAGE[:TAG|@DIGEST]"),
         Opt("platform", "--platform", kind=STR, help="OS/ARCH[/VARIANT] (default: this host)"),
         Opt("arch", "--arch", kind=STR, help="architecture (with --os), like --platform"),
         Opt("quiet", "-q", "--quiet", help="no progress output"),
         _tls("true/false: require HTTPS and valid certificates"),
         Opt("creds", "--creds", kind=STR, help="USER[:PASSWORD] for the registry"),
         Opt("authfile", "--authfile", kind=STR, help="auth.json to use"),
         Opt("cert_dir", "--cert-dir", kind=STR, help="directory of CA certificates (*.crt)"))
def pull_cmd(reference, platform, arch, quiet, tls_verify, creds, authfile, cert_dir) -> None:
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

def _go_time(rfc3339: str) -> str:
    """2023-11-14T22:13:20Z -> 2023-11-14 22:13:20 +0000 UTC (how Go prints a time.Time)."""
    import time as _time
    from rootless.images import render
    t = render.parse_time(rfc3339)
    return _time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", _time.gmtime(t)) if t is not None else rfc3339


IMAGES_HEADERS = {"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Created": "CREATED"}


@command("images", "image list", "image ls",
         Arg("name", OPTIONAL, help="only images matching this reference"),
         Opt("quiet", "-q", "--quiet", help="image IDs only"),
         Opt("digests", "--digests", help="show digests"),
         Opt("fmt", "--format", kind=STR, help="json, or a Go template like {{.Repository}}:{{.Tag}}"),
         Opt("no_trunc", "--no-trunc", help="full image IDs"),
         Opt("noheading", "-n", "--noheading", help="no header line"),
         Opt("all_", "-a", "--all", help="all images (rl keeps no intermediate images)"),
         Opt("filters", "-f", "--filter", kind=LIST, help="dangling=true|false, reference=PATTERN"))
def images_cmd(name, quiet, digests, fmt, no_trunc, noheading, all_, filters) -> None:
    """List images in local storage."""
    from rootless.images import query, render
    imgs = query.list_images(_paths(), filters, name)
    rows = query.rows(imgs)
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
        _print_json([query.summary(img) for img in imgs])
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

@command("rmi", "image rm",
         Arg("names", MANY, help="images to remove"),
         Opt("all_", "-a", "--all", help="remove all images"),
         Opt("force", "-f", "--force", help="remove even when it has several names or is in use"),
         Opt("ignore", "-i", "--ignore", help="a name that names no image is not an error"))
def rmi_cmd(names, all_, force, ignore) -> None:
    """Remove images."""
    from rootless.errors import ImageError, UsageError, removal_status
    from rootless.images import ops
    if not names and not all_:
        raise UsageError("give at least one image, or -a", hint="rl rmi IMAGE...")
    rep = ops.remove(_paths(), names or [], force=force, all_images=all_, ignore=ignore)
    for n in rep.untagged:
        print(f"Untagged: {n}")
    for i in rep.deleted:
        print(f"Deleted: {i}")
    if rep.errors:
        for e in rep.errors[:-1]:
            _err(f"Error: {e}")
        last = rep.errors[-1]
        last = last if isinstance(last, ImageError) else ImageError(str(last))
        last.exit_code = removal_status(rep.errors)  # podman: 1 no such image, 2 in use
        raise last


@command("image prune",
         Opt("all_", "-a", "--all", help="all unused images, not only dangling ones"),
         Opt("force", "-f", "--force", help="do not ask"))
def prune_cmd(all_, force) -> None:
    """Remove dangling images (and layers nothing uses)."""
    from rootless.images import ops
    if not force:
        from rootless.cli.prompt import confirm
        what = "all images without at least one container associated with them" if all_ else "all dangling images"
        if not confirm(f"WARNING! This command removes {what}.\n"):
            return
    for i in ops.prune(_paths(), all_images=all_):
        print(i)


@command("tag", "image tag",
         Arg("image", help="existing image"),
         Arg("targets", SOME, help="new NAME[:TAG]"))
def tag_cmd(image, targets) -> None:
    """Add names to an image."""
    from rootless.images import ops
    ops.tag(_paths(), image, targets)


@command("untag", "image untag", Arg("image"), Arg("names", MANY))
def untag_cmd(image, names) -> None:
    """Remove names from an image (all names when none are given)."""
    from rootless.images import ops
    ops.untag(_paths(), image, names)


# ------------------------------------------------------------------ inspect / history

def _print_inspect(objs: list, fmt: str | None) -> None:
    if fmt and fmt != "json":
        from rootless.cli.gotemplate import render_rows
        sys.stdout.write(render_rows(fmt, objs))
    else:
        _print_json(objs)


@command("image inspect",
         Arg("names", SOME, help="images"),
         Opt("fmt", "-f", "--format", kind=STR, help="json or a Go template ({{.Id}})"))
def image_inspect_cmd(names, fmt) -> None:
    """Show an image's configuration and layers as JSON."""
    from rootless.images import query
    paths = _paths()
    _print_inspect([query.inspect_image(paths, n) for n in names], fmt)


@command("inspect",
         Arg("names", SOME, help="containers or images"),
         Opt("fmt", "-f", "--format", kind=STR, help="json or a Go template"),
         Opt("type_", "-t", "--type", kind=STR, default="all", help="image, container or all"))
def inspect_cmd(names, fmt, type_) -> None:
    """Show low-level information about images (and containers)."""
    from rootless.errors import ImageNotFound
    paths = _paths()
    out = []
    for n in names:
        found = None
        if type_ in ("all", "container"):  # a container first, as podman
            from rootless.containers import ops
            found = ops.inspect_if_container(paths, n)
        if found is None and type_ in ("all", "image"):
            from rootless.images import query  # here: inspect of a container never reads the image store
            found = query.find_image(paths, n)
        if found is None:
            raise ImageNotFound(f"no such object: {n!r}")
        out.append(found)
    _print_inspect(out, fmt)


@command("image exists", Arg("image"))
def exists_cmd(image) -> None:
    """Exit 0 when the image is in local storage, 1 when not."""
    from rootless.errors import ExitStatus
    from rootless.images import query
    if not query.exists(_paths(), image):
        raise ExitStatus(1)


@command("history", "image history",
         Arg("image"),
         Opt("quiet", "-q", "--quiet", help="IDs only"),
         Opt("no_trunc", "--no-trunc", help="do not truncate"),
         Opt("human", "-H", "--human", default=True, help="human sizes and times"),
         Opt("fmt", "--format", kind=STR, help="json or a Go template"))
def history_cmd(image, quiet, no_trunc, human, fmt) -> None:
    """Show the history of an image."""
    from rootless.images import query, render
    rows = query.image_history(_paths(), image)
    if quiet:
        for r in rows:
            print(r["id"] if no_trunc or r["id"] == "<missing>" else r["id"][:12])
        return
    if fmt == "json":
        _print_json(rows)
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

@command("import", "image import",
         Arg("source", help="rootfs tarball (plain, gzip or zstd), or - for stdin"),
         Arg("reference", OPTIONAL, help="NAME[:TAG] for the new image"),
         Opt("message", "-m", "--message", kind=STR, help="commit message"),
         Opt("change", "-c", "--change", kind=LIST,
             help='CMD ["sh"], ENV K=V, WORKDIR /x, USER u, ENTRYPOINT [...]'),
         Opt("quiet", "-q", "--quiet"))
def import_cmd(source, reference, message, change, quiet) -> None:
    """Create an image from a root filesystem tarball."""
    from rootless.images import ops
    img = ops.import_tarball(_paths(), source, reference, message=message, instructions=change)
    print(img.id)


# ------------------------------------------------------------------ bootstrap / push

@command("image bootstrap",
         Arg("reference", help="NAME:SUITE, e.g. debian:bookworm"),
         Opt("suite", "--suite", kind=STR, help="the release to build (default: the tag)"),
         Opt("mirror", "--mirror", kind=STR, help="archive URL (default: this host's apt sources)"),
         Opt("include", "--include", kind=LIST, help="extra packages (repeatable, or comma-separated)"),
         Opt("variant", "--variant", kind=STR, default="minbase", help="mmdebstrap variant: minbase, apt, important ..."),
         Opt("quiet", "-q", "--quiet", help="no progress"))
def bootstrap_cmd(reference, suite, mirror, include, variant, quiet) -> None:
    """Build an image from a distribution's package archive (no registry needed)."""
    from rootless.images import bootstrap
    pkgs = [p for arg in include for p in arg.split(",") if p]
    img = bootstrap.bootstrap(_paths(), reference, suite=suite, mirror=mirror, include=pkgs, variant=variant,
                              quiet=quiet)
    print(img.id)


@command("push", "image push",
         Arg("image", help="local image"),
         Arg("destination", OPTIONAL, help="[docker://]REGISTRY/NAME[:TAG] (default: the image's name)"),
         Opt("quiet", "-q", "--quiet"),
         _tls(),
         Opt("creds", "--creds", kind=STR),
         Opt("authfile", "--authfile", kind=STR),
         Opt("cert_dir", "--cert-dir", kind=STR),
         Opt("digestfile", "--digestfile", kind=STR, help="write the pushed manifest digest here"),
         Opt("fmt", "--format", "-f", kind=STR, help="manifest type: oci or v2s2"),
         Opt("compression_format", "--compression-format", kind=STR, help="gzip or zstd"))
def push_cmd(image, destination, quiet, tls_verify, creds, authfile, cert_dir, digestfile, fmt,
             compression_format) -> None:
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

@command("save", "image save",
         Arg("names", SOME, help="images"),
         Opt("output", "-o", "--output", kind=STR, help="file to write (default: stdout)"),
         Opt("fmt", "--format", kind=STR, default="docker-archive", help="docker-archive or oci-archive"),
         Opt("quiet", "-q", "--quiet"))
def save_cmd(names, output, fmt, quiet) -> None:
    """Save images to an archive."""
    from rootless.images import archive
    if output is None:
        if sys.stdout.isatty():
            from rootless.errors import UsageError
            raise UsageError("refusing to write an archive to a terminal", hint="use -o FILE or redirect stdout")
        archive.save(_paths(), names, sys.stdout.buffer, fmt)
        sys.stdout.flush()
        return
    archive.save_file(_paths(), names, output, fmt)


@command("load", "image load",
         Opt("input_", "-i", "--input", kind=STR, help="archive to read (default: stdin)"),
         Opt("quiet", "-q", "--quiet"))
def load_cmd(input_, quiet) -> None:
    """Load images from a docker-archive or oci-archive."""
    from rootless.images import archive
    if input_ is None and sys.stdin.isatty():
        from rootless.errors import UsageError
        raise UsageError("no archive given", hint="use -i FILE or pipe one on stdin")
    for img in archive.load(_paths(), input_):
        print(f"Loaded image: {', '.join(img.names) if img.names else 'sha256:' + img.id}")


# ------------------------------------------------------------------ login / logout

@command("login",
         Arg("server", help="registry host[:port]"),
         Opt("username", "-u", "--username", kind=STR),
         Opt("password", "-p", "--password", kind=STR),
         Opt("password_stdin", "--password-stdin", help="read the password from stdin"),
         Opt("authfile", "--authfile", kind=STR),
         _tls(),
         Opt("cert_dir", "--cert-dir", kind=STR),
         Opt("get_login", "--get-login", help="print the user name stored for the registry"))
def login_cmd(server, username, password, password_stdin, authfile, tls_verify, cert_dir, get_login) -> None:
    """Log in to a registry (stores the credentials in auth.json)."""
    from rootless.errors import UsageError
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


@command("logout",
         Arg("server", OPTIONAL, help="registry host[:port]"),
         Opt("all_", "-a", "--all", help="remove every stored credential"),
         Opt("authfile", "--authfile", kind=STR))
def logout_cmd(server, all_, authfile) -> None:
    """Remove stored registry credentials."""
    from rootless.errors import ImageError, UsageError
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


# ------------------------------------------------------------------ search

@command("search",
         Arg("term", help="REGISTRY/TERM (a v2 registry's catalog), or REGISTRY/NAME with --list-tags"),
         Opt("limit", "--limit", kind=INT, help="at most this many results (default 25)"),
         Opt("list_tags", "--list-tags", help="the tags of one repository"),
         Opt("filters", "-f", "--filter", kind=LIST, help="stars=N, is-official, is-automated"),
         Opt("format_", "--format", kind=STR, help="json or a Go template"),
         Opt("no_trunc", "--no-trunc", help="do not shorten descriptions"),
         _tls("true/false: require HTTPS and valid certificates"),
         Opt("creds", "--creds", kind=STR, help="USER[:PASSWORD] for the registry"),
         Opt("authfile", "--authfile", kind=STR, help="auth.json to use"),
         Opt("cert_dir", "--cert-dir", kind=STR, help="directory of CA certificates (*.crt)"))
def search_cmd(term, limit, list_tags, filters, format_, no_trunc, tls_verify, creds, authfile, cert_dir) -> None:
    """Search a registry for images (its v2 catalog), or list a repository's tags."""
    from rootless.cli.gotemplate import Template, normalize, render_rows
    from rootless.images import search
    from rootless.images.puller import _creds
    if format_ and format_.strip() != "json":
        Template(normalize(format_)[0])  # a bad template fails before the registry is asked
    rows = search.search(term, limit=limit, list_tags=list_tags, filters=filters or [],
                         tls_verify=_bool(tls_verify, "--tls-verify"), creds=_creds(creds), authfile=authfile,
                         cert_dir=cert_dir)
    if not no_trunc:
        for r in rows:  # podman shortens long descriptions to 44 characters
            if len(r["Description"]) > 44:
                r["Description"] = r["Description"][:44] + "..."
    if format_ and format_.strip() == "json":
        print(jsonio.dumps(rows, indent=4))
        return
    if not rows:
        return  # as podman: not even a header
    fmt = format_ or ("table {{.Name}}\t{{.Tag}}" if list_tags else "table {{.Name}}\t{{.Description}}")
    sys.stdout.write(render_rows(fmt, rows))
