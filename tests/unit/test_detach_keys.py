"""issue 19 item 10: podman's --detach-keys syntax and the hold-back rule."""

import pytest

from rootless.cli.ctrview import DetachKeys, detach_sequence
from rootless.errors import UsageError


def test_sequence_syntax():
    assert detach_sequence("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detach_sequence("ctrl-a,d") == b"\x01d"
    assert detach_sequence("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_") == bytes([0, 27, 28, 29, 30, 31])
    assert detach_sequence("") == b""
    for bad in ("ctrl-", "ctrl-pp", "bogus", "ctrl-1", "a,,b"):
        with pytest.raises(UsageError):
            detach_sequence(bad)


def feed_each(keys: DetachKeys, data: bytes) -> bytes:
    return b"".join(keys.feed(bytes([b])) for b in data)


def test_prefix_is_held_until_decided():
    k = DetachKeys(b"\x10\x11")
    assert k.feed(b"\x10") == b""  # held
    assert k.feed(b"a") == b"\x10a" and not k.detached  # not the sequence: both go in
    assert k.feed(b"\x10") == b""
    assert k.feed(b"\x11") == b"" and k.detached


def test_repeated_first_key_and_one_read():
    k = DetachKeys(b"\x10\x11")
    assert feed_each(k, b"\x10\x10") == b"\x10"  # the second ctrl-p may still start the sequence
    assert k.feed(b"\x11") == b"" and k.detached
    k = DetachKeys(b"\x10\x11")
    assert k.feed(b"ab\x10\x11cd") == b"ab" and k.detached


def test_disabled():
    k = DetachKeys(b"")
    assert k.feed(b"\x10\x11") == b"\x10\x11" and not k.detached
