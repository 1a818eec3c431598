"""Global options, shared by the typer app and the fast path (no typer here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GlobalOptions:
    log_level: str = "warn"
    root: str | None = None
    runroot: str | None = None
    storage_driver: str | None = None


OPTIONS = GlobalOptions()

# flag -> GlobalOptions field, for parsers other than typer's
GLOBAL_FLAGS = {"--root": "root", "--runroot": "runroot", "--storage-driver": "storage_driver",
                "--log-level": "log_level"}
