"""A minimal QEMU Machine Protocol client (JSON lines over a unix socket)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path


class QMPError(RuntimeError):
    pass


class QMP:
    def __init__(self, path: Path, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while True:  # qemu creates the socket shortly after it starts
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.settimeout(timeout)
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise QMPError(f"no QMP socket at {path} after {timeout}s") from None
                time.sleep(0.05)
        self.f = self.sock.makefile("rw")
        self.f.readline()  # greeting
        self.execute("qmp_capabilities")

    def execute(self, command: str, **arguments) -> object:
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                if command == "quit":
                    return None
                raise QMPError(f"QMP connection closed during {command}")
            reply = json.loads(line)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise QMPError(f"{command}: {reply['error'].get('desc', reply['error'])}")
            # else: an asynchronous event; ignore

    def close(self) -> None:
        try:
            self.f.close()
        finally:
            self.sock.close()
