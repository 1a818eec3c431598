"""A long-lived helper process in the user namespace that unpacks layers on
request, so one pull forks (and maps IDs) once however many layers it has.

Fork it while the process is still single-threaded (before download threads
start): the child must unshare(CLONE_NEWUSER)."""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any, Callable

from rootless.errors import RlError, RuntimeSetupError

_LEN = struct.Struct("!I")


def _write_msg(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj)
    data = _LEN.pack(len(data)) + data
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int) -> bytes | None:
    parts, need = [], n
    while need:
        b = os.read(fd, need)
        if not b:
            return None
        parts.append(b)
        need -= len(b)
    return b"".join(parts)


def _read_msg(fd: int) -> Any:
    head = _read_exact(fd, _LEN.size)
    if head is None:
        return None
    body = _read_exact(fd, _LEN.unpack(head)[0])
    if body is None:
        return None
    return pickle.loads(body)


class NsWorker:
    """call(func_name, *args) runs rootless.images.unpack.<func_name>(*args) in the namespace."""

    def __init__(self) -> None:
        from rootless.runtime import userns
        self._userns = userns
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()

        def child() -> int:
            os.close(req_w)
            os.close(res_r)
            from rootless.images import unpack
            while True:
                msg = _read_msg(req_r)
                if msg is None:
                    return 0
                name, args = msg
                func: Callable = getattr(unpack, name)
                try:
                    out = ("ok", func(*args))
                except BaseException as exc:  # noqa: BLE001 - carried to the parent
                    if not isinstance(exc, (RlError, OSError, ValueError)):
                        import traceback
                        exc = RuntimeSetupError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                    elif isinstance(exc, OSError):
                        exc = OSError(exc.errno, exc.strerror, exc.filename)
                    out = ("err", exc)
                _write_msg(res_w, out)

        try:
            self.pid = userns.fork_userns(userns.user_mappings(), child)
        except BaseException:
            for fd in (req_r, req_w, res_r, res_w):
                os.close(fd)
            raise
        os.close(req_r)
        os.close(res_w)
        self._req, self._res = req_w, res_r

    def call(self, name: str, *args: Any) -> Any:
        _write_msg(self._req, (name, args))
        msg = _read_msg(self._res)
        if msg is None:
            code = self._userns.wait_status(self.pid)
            self.pid = 0
            raise RuntimeSetupError(f"the user namespace helper died (status {code})")
        kind, value = msg
        if kind == "err":
            raise value
        return value

    def close(self) -> None:
        if self._req >= 0:
            os.close(self._req)
            self._req = -1
        if self.pid:
            self._userns.wait_status(self.pid)
            self.pid = 0
        if self._res >= 0:
            os.close(self._res)
            self._res = -1

    def __enter__(self) -> "NsWorker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
