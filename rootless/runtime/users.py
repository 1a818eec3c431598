"""`--user` resolution against the container's own /etc/passwd and
/etc/group, parsed by hand: glibc's getpwnam would dlopen NSS modules from
the container's filesystem. Pure functions plus one reader."""

from __future__ import annotations

import os
import stat
from collections import namedtuple


# uid: int, gid: int, groups: list[int], home: str, name: str | None
# (collections', not typing's NamedTuple: typing's import is ~3 ms of every `rl run`)
Creds = namedtuple("Creds", "uid gid groups home name")


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


KEEP_GROUPS = "keep-groups"
SYNTHETIC_GECOS = "container user"  # the GECOS of the entry podman (and rl) makes for -u UID


def resolve(user: str, passwd: str, group: str, group_add: list[str] | None = None) -> Creds:
    """podman's semantics for -u: "name", "uid", "name:group", "uid:gid".
    A numeric uid unknown to passwd is allowed (gid 0 unless given); a name
    must exist. Supplementary groups are those listing the user by name,
    then --group-add's (numbers, or names from the container's group file).
    --group-add keep-groups (alone, as podman) gives groups=None: the
    process keeps the supplementary groups it has (the host user's)."""
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
    synthetic = entry is not None and entry[1] == "*" and entry[4] == SYNTHETIC_GECOS
    if name and not spec_group and not synthetic:  # podman's -u UID user is in no group of the image
        for g in grp:
            if name in g[3].split(",") and g[2].isdigit() and int(g[2]) not in groups:
                groups.append(int(g[2]))
    for extra in group_add or []:
        if extra == KEEP_GROUPS:
            groups = None
            break
        if extra.isdigit():
            g_id = int(extra)
        else:
            g = next((g for g in grp if g[0] == extra and g[2].isdigit()), None)
            if g is None:
                raise UnknownUser(f"unable to find group {extra}: no matching entries in group file")
            g_id = int(g[2])
        if g_id not in groups:
            groups.append(g_id)
    home = entry[5] if entry and entry[5] else "/"
    return Creds(uid, gid, groups, home, name)


def _has(records: list[list[str]], *keys: str) -> bool:
    """A passwd/group record named or numbered by any of keys."""
    return any(r[0] in keys or r[2] in keys for r in records)


def entries(user: str, passwd: str, group: str, workdir: str, keep_id: dict | None = None,
            passwd_entry: str | None = None) -> tuple[str, str]:
    """The lines podman adds to the container's /etc/passwd and /etc/group so
    that the user it runs as has a name (whoami, ~, ssh, pip need one):
    - --userns=keep-id: the host user ("NAME:*:UID:GID:GECOS:HOME:/bin/sh",
      HOME the working directory unless the user's home is mounted in, as
      keep_id["home"] says) and the host group ("GROUP:x:GID:NAME"), unless
      the image knows that name or number already;
    - -u UID[:GID] unknown to the image: "UID:*:UID:GID:container user:WORKDIR:/bin/sh",
      or --passwd-entry's template with $USERNAME, $UID, $GID, $NAME and $HOME filled in;
    - a numeric group (the UID's own number when no group is given, as
      podman does) unknown to the image: "GID:x:GID:USER".
    Returns (passwd lines, group lines), "" when nothing is to be added."""
    pw, grp = _records(passwd, 7), _records(group, 4)
    add_pw = add_gr = ""
    added_uid = added_gid = None
    if keep_id:
        if not _has(pw, keep_id["name"], str(keep_id["uid"])):
            add_pw += (f"{keep_id['name']}:*:{keep_id['uid']}:{keep_id['gid']}:{keep_id.get('gecos', '')}:"
                       f"{keep_id.get('home') or workdir}:/bin/sh\n")
        if keep_id.get("group") and not _has(grp, keep_id["group"], str(keep_id["gid"])):
            add_gr += f"{keep_id['group']}:x:{keep_id['gid']}:{keep_id['name']}\n"
        added_uid, added_gid = keep_id["uid"], keep_id["gid"]
    if not user:
        return add_pw, add_gr
    spec_user, sep, spec_group = user.partition(":")
    if spec_user.isdigit() and int(spec_user) != added_uid and not _has(pw, spec_user):
        gid = 0
        if spec_group.isdigit():
            gid = int(spec_group)
        elif spec_group:
            g = next((g for g in grp if g[0] == spec_group and g[2].isdigit()), None)
            gid = int(g[2]) if g else 0  # an unknown name fails in resolve()
        if passwd_entry:
            add_pw += fill_passwd_entry(passwd_entry, spec_user, spec_user, str(gid), SYNTHETIC_GECOS, workdir) + "\n"
        else:
            add_pw += f"{spec_user}:*:{spec_user}:{gid}:{SYNTHETIC_GECOS}:{workdir}:/bin/sh\n"
    numeric_group = spec_group if sep else spec_user
    if numeric_group.isdigit() and int(numeric_group) != added_gid and not _has(grp, numeric_group):
        add_gr += f"{numeric_group}:x:{numeric_group}:{spec_user}\n"
    return add_pw, add_gr


def fill_passwd_entry(template: str, username: str, uid: str, gid: str, name: str, home: str) -> str:
    """--passwd-entry: podman's variables replaced (the longest name first: $USERNAME before $UID)."""
    for var, value in (("$USERNAME", username), ("$UID", uid), ("$GID", gid), ("$NAME", name), ("$HOME", home)):
        template = template.replace(var, value)
    return template


def host_user_lines(passwd: str, host_users: list[dict], workdir: str) -> str:
    """--hostuser: "NAME:*:UID:GID:GECOS:WORKDIR:/bin/sh" for each host user
    whose name the image's /etc/passwd lacks, as podman writes them."""
    pw = _records(passwd, 7)
    out = ""
    for u in host_users:
        if not any(r[0] == u["name"] for r in pw):
            out += f"{u['name']}:*:{u['uid']}:{u['gid']}:{u.get('gecos', '')}:{workdir}:/bin/sh\n"
            pw.append([u["name"]])
    return out


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
