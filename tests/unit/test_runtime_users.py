from __future__ import annotations

import pytest

from rootless.runtime import users
from rootless.runtime.users import Creds, UnknownUser, resolve

PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
alice:x:1000:1000:Alice:/home/alice:/bin/sh
broken line
"""
GROUP = """root:x:0:
daemon:x:1:
audio:x:29:alice,bob
video:x:44:bob
staff:x:50:alice
alice:x:1000:
"""


def test_default_is_root():
    assert resolve("", PASSWD, GROUP) == Creds(0, 0, [0], "/root", "root")


def test_name_with_supplementary_groups():
    assert resolve("alice", PASSWD, GROUP) == Creds(1000, 1000, [1000, 29, 50], "/home/alice", "alice")


def test_numeric_uid_known_and_unknown():
    assert resolve("1", PASSWD, GROUP).name == "daemon"
    assert resolve("4242", PASSWD, GROUP) == Creds(4242, 0, [0], "/", None)


def test_explicit_group_by_name_and_number():
    assert resolve("alice:video", PASSWD, GROUP)[:3] == (1000, 44, [44])
    assert resolve("1000:5", PASSWD, GROUP)[:3] == (1000, 5, [5])


def test_unknown_names_fail():
    with pytest.raises(UnknownUser, match="unable to find user bob"):
        resolve("bob", PASSWD, GROUP)
    with pytest.raises(UnknownUser, match="unable to find group nope"):
        resolve("alice:nope", PASSWD, GROUP)


# issue 19 items 9, 14, 17: podman's generated entries and --group-add
PW = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GR = "root:x:0:\nmail:x:8:\nnogroup:x:65534:\n"


def test_entries_for_a_uid_the_image_lacks():
    assert users.entries("1234", PW, GR, "/") == ("1234:*:1234:0:container user:/:/bin/sh\n", "1234:x:1234:1234\n")
    assert users.entries("1234:5678", PW, GR, "/srv") == ("1234:*:1234:5678:container user:/srv:/bin/sh\n",
                                                          "5678:x:5678:1234\n")
    assert users.entries("1234:mail", PW, GR, "/") == ("1234:*:1234:8:container user:/:/bin/sh\n", "")
    assert users.entries("nobody", PW, GR, "/") == ("", "")
    assert users.entries("0", PW, GR, "/") == ("", "")
    assert users.entries("", PW, GR, "/") == ("", "")


def test_entries_for_keep_id():
    me = {"name": "alice", "uid": 1000, "gid": 1000, "gecos": "Alice", "home": "/w", "group": "alice"}
    assert users.entries("1000:1000", PW, GR, "/w", me) == ("alice:*:1000:1000:Alice:/w:/bin/sh\n",
                                                            "alice:x:1000:alice\n")
    known = PW + "alice:x:1000:1000::/home/alice:/bin/bash\n"
    assert users.entries("1000:1000", known, GR + "alice:x:1000:\n", "/", me) == ("", "")


def test_group_add():
    creds = users.resolve("nobody", PW, GR, ["mail", "4242"])
    assert creds.groups == [65534, 8, 4242]
    assert users.resolve("", PW, GR, ["keep-groups"]).groups is None
    with pytest.raises(users.UnknownUser, match="unable to find group nosuch"):
        users.resolve("", PW, GR, ["nosuch"])


def test_synthetic_user_joins_no_group():
    """podman: -u 1234 gets groups=0 only, though its generated group lists it."""
    pw_add, gr_add = users.entries("1234", PW, GR, "/")
    assert users.resolve("1234", PW + pw_add, GR + gr_add).groups == [0]
