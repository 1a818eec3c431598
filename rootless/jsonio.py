"""json.loads and json.dumps for the modules on every command's path,
without importing the json package.

json's modules import re (json.decoder and json.encoder compile regexes
at import), and with it enum, functools and collections: 6-8 ms of every
`rl inspect`. The work itself is done by json's C accelerator, _json,
which needs none of that: its scanner parses, its encoder writes compact
JSON, and its string encoders quote. What those cannot do alone, indented
output, is a short recursion below written to produce json.dumps's
characters exactly (tests/unit/test_jsonio.py compares them); anything
unusual (another argument, a non-string key, a type json would hand to
`default`) is passed to the json package itself, so the result is always
json's.

Errors are json's own: a text that does not parse is handed to json.loads."""

from __future__ import annotations

import _json

_WS = " \t\n\r"


def _constant(name: str) -> float:
    return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


class _Context:
    """What _json.make_scanner reads from a JSONDecoder: its defaults."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)


_scan = _json.make_scanner(_Context())


def loads(s):
    """json.loads(s) for str, or bytes in UTF-8 (what rl writes). Anything
    that does not parse is handed to json.loads, so that the error raised
    is json's own, word for word."""
    text = s
    if isinstance(s, (bytes, bytearray)):
        try:
            text = s.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # UTF-16/32, or junk
        else:
            if text.startswith("\ufeff"):
                text = text[1:]  # json.loads drops a UTF-8 BOM from bytes (not from str)
    if isinstance(text, str) and not text.startswith("\ufeff"):
        start = len(text) - len(text.lstrip(_WS))
        try:
            obj, end = _scan(text, start)
        except Exception:  # noqa: BLE001 - json.loads below raises json's own error
            # StopIteration or a ValueError; or, in Python 3.11, a SystemError: the scanner
            # builds its JSONDecodeError from json.decoder only if something imported it
            pass
        else:
            if not text[end:].strip(_WS):
                return obj
    import json
    return json.loads(s)


class _Unusual(Exception):
    """Something only json itself renders as json does."""


def _float(o: float) -> str:
    if o != o:
        return "NaN"
    if o == float("inf"):
        return "Infinity"
    if o == float("-inf"):
        return "-Infinity"
    return float.__repr__(o)


def dumps(obj, *, indent=None, separators=None, sort_keys: bool = False, ensure_ascii: bool = True,
          **rest) -> str:
    """json.dumps(obj, indent=..., separators=..., sort_keys=...,
    ensure_ascii=...); any other argument goes to json.dumps itself."""
    kw = dict(indent=indent, separators=separators, sort_keys=sort_keys, ensure_ascii=ensure_ascii, **rest)
    if rest:
        import json
        return json.dumps(obj, **kw)
    item_sep, key_sep = separators or ((", ", ": ") if indent is None else (",", ": "))
    quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    try:
        if indent is None:
            enc = _json.make_encoder({}, _refuse, quote, None, key_sep, item_sep, sort_keys, False, True)
            return "".join(enc(obj, 0))
        out: list[str] = []
        _pretty(obj, quote, indent if isinstance(indent, str) else " " * indent, 0,
                (item_sep, key_sep, sort_keys), out)
        return "".join(out)
    except _Unusual:
        import json
        return json.dumps(obj, **kw)


def _refuse(o):
    raise _Unusual


def _pretty(o, quote, indent: str, level: int, how: tuple, out: list) -> None:
    # the order of json's own checks: str, None, bools, int, float, list/tuple, dict
    if isinstance(o, str):
        out.append(quote(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(_float(o))
    elif isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        inner = "\n" + indent * (level + 1)
        out.append("[" + inner)
        for i, v in enumerate(o):
            if i:
                out.append(how[0] + inner)
            _pretty(v, quote, indent, level + 1, how, out)
        out.append("\n" + indent * level + "]")
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        inner = "\n" + indent * (level + 1)
        out.append("{" + inner)
        item_sep, key_sep, sort_keys = how
        items = sorted(o.items()) if sort_keys else o.items()
        for i, (k, v) in enumerate(items):
            if not isinstance(k, str):
                raise _Unusual  # json turns numbers, bools and None into keys its own way
            if i:
                out.append(item_sep + inner)
            out.append(quote(k))
            out.append(key_sep)
            _pretty(v, quote, indent, level + 1, how, out)
        out.append("\n" + indent * level + "}")
    else:
        raise _Unusual
