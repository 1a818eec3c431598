"""rl's logging channel: library modules log through `logging.getLogger(__name__)`
and never print; the entry points (the CLI, the monitor's main, rl-generator)
call configure() once with podman's `--log-level` (error, warn, info, debug;
default warn). Messages reach stderr in rl's words: "WARN: ...",
"Error: ...", and `level=debug msg="..."` as podman's debug lines."""

from __future__ import annotations

import sys

# logging's levels, by value: this module does not import logging (below)
CRITICAL, ERROR, WARNING, INFO, DEBUG = 50, 40, 30, 20, 10
LEVELS = {"error": ERROR, "warn": WARNING, "warning": WARNING, "info": INFO,
          "debug": DEBUG, "trace": DEBUG, "fatal": CRITICAL, "panic": CRITICAL}
DEFAULT = "warn"

_classes: list = []  # (handler class, formatter class), made once logging is imported


def _handler_classes():
    if not _classes:
        import logging

        class _Format(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                msg = record.getMessage()
                if record.exc_info:
                    msg = f"{msg}\n{self.formatException(record.exc_info)}"
                if record.levelno >= logging.ERROR:
                    return f"Error: {msg}"
                if record.levelno >= logging.WARNING:
                    return f"WARN: {msg}"
                return f'level={logging.getLevelName(record.levelno).lower()} msg="{msg}"'

        class _Stderr(logging.StreamHandler):
            """Whatever sys.stderr is when a record is emitted (a forked child's, a test's)."""

            @property
            def stream(self):
                return sys.stderr

            @stream.setter
            def stream(self, value) -> None:
                pass

        _classes[:] = [_Stderr, _Format]
    return _classes


def level_of(name: str | None) -> int:
    return LEVELS.get((name or DEFAULT).lower(), WARNING)


def configure(level: str | None = None) -> None:
    """The root logger at `level` (podman's names), one stderr handler in rl's
    words. Applied when logging is first imported, if it is not yet: nothing
    can log before that, and a command that never logs (rl images, ps,
    inspect...) then never pays for importing logging (traceback, tokenize,
    threading, string: ~5 ms)."""
    if "logging" in sys.modules:
        _apply(level_of(level))
        return
    _HOOK.level = level_of(level)
    if _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)


def debug_enabled() -> bool:
    """Whether the root logger shows debug records (without importing logging when nothing has)."""
    if "logging" not in sys.modules:
        return _HOOK.level <= DEBUG
    import logging
    return logging.getLogger().isEnabledFor(logging.DEBUG)


class Logger:
    """What logging.getLogger(name) gives, made on first use: a debug or
    info record below the level (the default is warn) returns without
    importing logging, ~5 ms of every `rl run` (the modules on its path log
    each namespace step at debug). Anything else is the real logger's."""
    __slots__ = ("name", "_logger")

    def __init__(self, name: str):
        self.name = name
        self._logger = None

    def _real(self):
        if self._logger is None:
            import logging
            self._logger = logging.getLogger(self.name)
        return self._logger

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        if "logging" not in sys.modules:
            return level >= _HOOK.level
        return self._real().isEnabledFor(level)

    def debug(self, msg, *args, **kwargs) -> None:
        if self.isEnabledFor(DEBUG):
            self._real().debug(msg, *args, stacklevel=2, **kwargs)

    def info(self, msg, *args, **kwargs) -> None:
        if self.isEnabledFor(INFO):
            self._real().info(msg, *args, stacklevel=2, **kwargs)

    def warning(self, msg, *args, **kwargs) -> None:
        self._real().warning(msg, *args, stacklevel=2, **kwargs)

    def error(self, msg, *args, **kwargs) -> None:
        self._real().error(msg, *args, stacklevel=2, **kwargs)

    def exception(self, msg, *args, **kwargs) -> None:
        self._real().exception(msg, *args, stacklevel=2, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._real(), name)


def logger(name: str) -> Logger:
    """For a library module: `log = logconf.logger(__name__)` in place of logging.getLogger(__name__)."""
    return Logger(name)


def _apply(levelno: int) -> None:
    import logging
    handler_cls, format_cls = _handler_classes()
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, handler_cls):
            root.removeHandler(h)
    handler = handler_cls()
    handler.setFormatter(format_cls())
    root.addHandler(handler)
    root.setLevel(levelno)


class _OnLoggingImport:
    """A meta path finder that answers for `logging` alone, once: it takes the
    spec the other finders give and wraps its loader, so configure()'s level
    applies as soon as logging has run, before any module can log."""
    level = WARNING

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenConfigure(spec.loader, self.level)
                return spec
        return None


class _ThenConfigure:
    """logging's own loader, then _apply(level)."""

    def __init__(self, loader, level: int):
        self._loader = loader
        self._level = level

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self._loader  # nothing of this hook stays
        _apply(self._level)

    def __getattr__(self, name):  # get_source, is_package...: logging's loader's
        return getattr(self._loader, name)


_HOOK = _OnLoggingImport()


def level_from_argv(argv: list[str]) -> str | None:
    """The value of rl's global --log-level among the global flags before the
    command (a container's own arguments are never read)."""
    valued = ("--log-level", "--root", "--runroot", "--storage-driver")
    i = 0
    found = None
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in valued:
            if not eq:
                i += 1
                value = argv[i] if i < len(argv) else None
            if name == "--log-level":
                found = value
        i += 1
    return found
