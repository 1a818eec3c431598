"""Container commands: run, create, start, ... (filled by the runtime work)."""
