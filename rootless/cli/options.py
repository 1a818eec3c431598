"""Global options, shared by the typer app and the fast path (no typer here)."""

from __future__ import annotations


class GlobalOptions:
    """rl's options before the command (not a dataclass: every command pays for building one)."""
    __slots__ = ("log_level", "root", "runroot", "storage_driver")

    def __init__(self, log_level: str = "warn", root: str | None = None, runroot: str | None = None,
                 storage_driver: str | None = None):
        self.log_level = log_level
        self.root = root
        self.runroot = runroot
        self.storage_driver = storage_driver

    def __eq__(self, other):
        if not (type(other) is type(self)):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    __hash__ = None

    def __repr__(self):
        return f"GlobalOptions({', '.join(f'{f}={getattr(self, f)!r}' for f in self.__slots__)})"


OPTIONS = GlobalOptions()

# flag -> GlobalOptions field, for parsers other than typer's
GLOBAL_FLAGS = {"--root": "root", "--runroot": "runroot", "--storage-driver": "storage_driver",
                "--log-level": "log_level"}
