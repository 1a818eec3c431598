"""External helper binaries, found once per process, with install hints."""

from __future__ import annotations

import functools
import os
import shutil

from rootless.errors import ToolMissing

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


@functools.cache
def find(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in _EXTRA_DIRS:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def require(name: str, why: str) -> str:
    path = find(name)
    if path is None:
        pkg = PACKAGES.get(name, name)
        raise ToolMissing(f"{name} is not installed ({why})",
                          hint=f"sudo apt-get install {pkg}   (or your distribution's {pkg} package)")
    return path
