from __future__ import annotations

import pytest

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
