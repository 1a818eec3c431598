"""Loads pyseccomp (ctypes over libseccomp2) without its library search:
ctypes.util.find_library runs `ldconfig -p` twice, ~10-20 ms of start
latency. The sonames are stable ABI names; the search stays the fallback."""

from __future__ import annotations

import ctypes
import ctypes.util

_SONAMES = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}


def _fast_find(name: str):
    soname = _SONAMES.get(name)
    if soname:
        try:
            ctypes.CDLL(soname)
            return soname
        except OSError:
            pass
    return _find_library(name)


_find_library = ctypes.util.find_library
ctypes.util.find_library = _fast_find
try:
    import pyseccomp as seccomp  # noqa: E402,F401
finally:
    ctypes.util.find_library = _find_library
