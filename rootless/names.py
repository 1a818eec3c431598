"""The names and IDs podman gives containers, pods, volumes and networks,
checked by hand (re's import is ~5 ms of every command that reads a name)."""

from __future__ import annotations

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")
_HEX = frozenset("0123456789abcdef")

RULE = "[a-zA-Z0-9][a-zA-Z0-9_.-]*"  # as the hints say it


def valid_name(name: str) -> bool:
    """podman's name, matched whole: [a-zA-Z0-9][a-zA-Z0-9_.-]* (Go's $ takes no trailing newline)."""
    return bool(name) and name[0] in _ALNUM and all(c in _NAME_CHARS for c in name)


def is_id(text: str) -> bool:
    """A full ID: 64 lowercase hex digits."""
    return len(text) == 64 and all(c in _HEX for c in text)
