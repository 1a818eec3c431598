"""`rl image bootstrap`: an image built rootless from a distribution's package
archive, for machines that reach a Debian mirror but no container registry
(air-gapped sites, these CI machines). The modern form of
`debootstrap buster my_debian_root`: mmdebstrap in its unshare mode builds the
root filesystem as the user (inside a user namespace mapping the user's
subordinate IDs, so package files get their real owners), then the tarball is
imported as a one-layer image through the same path as `rl import`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from rootless import tools
from rootless.config import Paths, make_dirs
from rootless.errors import ImageError
from rootless.images import reference as R

# image name -> what mmdebstrap can build; the tag is the suite
DISTROS = {"library/debian": "debian", "library/ubuntu": "ubuntu"}
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def plan(reference: str, suite: str | None = None) -> tuple[str, str]:
    """(normalised image name, suite) for a reference like debian:bookworm."""
    ref = R.parse(reference)
    if ref.digest:
        raise ImageError(f"{reference}: a bootstrapped image cannot have a digest", hint="name it NAME:TAG")
    if suite is None:
        if ref.path not in DISTROS or ref.domain != R.DEFAULT_DOMAIN:
            raise ImageError(f"{reference}: cannot tell which distribution to build",
                             hint=f"name it debian:SUITE or ubuntu:SUITE, or pass --suite, "
                                  f"e.g. rl image bootstrap --suite bookworm {reference}")
        suite = ref.tag or "latest"
        if suite == "latest":
            raise ImageError(f"{reference}: say which release to build",
                             hint="e.g. rl image bootstrap debian:bookworm")
    return ref.tagged, suite


def bootstrap(paths: Paths, reference: str, *, suite: str | None = None, mirror: str | None = None,
              include: list[str] | None = None, variant: str = "minbase", quiet: bool = False):
    from rootless.images import ops
    name, suite = plan(reference, suite)
    exe = tools.require("mmdebstrap", "it builds the root filesystem from the package archive")
    work = paths.images / "tmp"
    make_dirs(work)
    fd, out = tempfile.mkstemp(prefix="bootstrap-", suffix=".tar", dir=work)
    os.close(fd)
    cmd = [exe, "--mode=unshare", f"--variant={variant}", "--format=tar"]
    if include:
        cmd.append("--include=" + ",".join(include))
    cmd += [suite, out]
    if mirror:
        cmd.append(mirror)
    try:
        # mmdebstrap reports progress on stderr: show it unless asked not to
        res = tools.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE if quiet or not sys.stderr.isatty() else None, text=True)
        if res.returncode != 0:
            lines = [ln for ln in (res.stderr or "").splitlines() if ln.strip()]
            why = next((ln for ln in reversed(lines) if "E:" in ln or "error" in ln.lower()),
                       lines[-1] if lines else f"exit {res.returncode}")
            raise ImageError(f"mmdebstrap could not build {suite}: {why.strip()}",
                             hint="check the suite name and that the mirror serves it "
                                  "(--mirror URL; default: this host's apt sources)")
        changes = {"Cmd": ["bash"], "Env": [PATH_ENV]}
        return ops.import_tarball(paths, out, name, message=f"mmdebstrap --variant={variant} {suite}",
                                  changes=changes)
    finally:
        try:
            os.unlink(out)
        except OSError:
            pass
