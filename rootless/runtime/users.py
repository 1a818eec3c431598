"""`--user` resolution against the container's own /etc/passwd and
/etc/group, parsed by hand: glibc's getpwnam would dlopen NSS modules from
the container's filesystem. Pure functions plus one reader."""

from __future__ import annotations

import os
import stat
from typing import NamedTuple


class Creds(NamedTuple):
    uid: int
    gid: int
    groups: list[int]
    home: str
    name: str | None


class UnknownUser(Exception):
    """A user or group the container does not know (message is user-facing)."""


def _records(text: str, fields: int) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= fields:
            out.append(parts)
    return out


def resolve(user: str, passwd: str, group: str) -> Creds:
    """podman's semantics for -u: "name", "uid", "name:group", "uid:gid".
    A numeric uid unknown to passwd is allowed (gid 0 unless given); a name
    must exist. Supplementary groups are those listing the user by name."""
    spec_user, _, spec_group = (user or "0").partition(":")
    pw = _records(passwd, 7)
    entry = None
    if spec_user.isdigit():
        uid = int(spec_user)
        entry = next((p for p in pw if p[2] == spec_user), None)
    else:
        entry = next((p for p in pw if p[0] == spec_user), None)
        if entry is None:
            raise UnknownUser(f"unable to find user {spec_user}: no matching entries in passwd file")
        uid = int(entry[2])
    gid = int(entry[3]) if entry and entry[3].isdigit() else 0
    grp = _records(group, 4)
    if spec_group:
        if spec_group.isdigit():
            gid = int(spec_group)
        else:
            g = next((g for g in grp if g[0] == spec_group), None)
            if g is None:
                raise UnknownUser(f"unable to find group {spec_group}: no matching entries in group file")
            gid = int(g[2])
    name = entry[0] if entry else None
    groups = [gid]
    if name and not spec_group:
        for g in grp:
            if name in g[3].split(",") and g[2].isdigit() and int(g[2]) not in groups:
                groups.append(int(g[2]))
    home = entry[5] if entry and entry[5] else "/"
    return Creds(uid, gid, groups, home, name)


MAX_DB = 4 << 20  # /etc/passwd, /etc/group: bigger than any real one


def read_text(path: str, limit: int = MAX_DB) -> str:
    """The container's passwd/group file as text, or "" when missing; binary
    read so no codec import happens. The container controls the file: it must
    be a regular file (opened non-blocking, so a FIFO cannot hang us; a
    symlink inside the container's own root is followed, as /etc/passwd may
    be one) and at most `limit` bytes. Anything else raises UnknownUser, whose
    message is user-facing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnknownUser(f"{path} in the container is not a regular file: rl does not read it "
                              f"to resolve users")
        if st.st_size > limit:
            raise UnknownUser(f"{path} in the container is larger than {limit >> 20} MiB: rl does not read it "
                              f"to resolve users")
        parts, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        if got > limit:  # it grew after fstat
            raise UnknownUser(f"{path} in the container is larger than {limit >> 20} MiB: rl does not read it "
                              f"to resolve users")
        return b"".join(parts).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)
