"""Every rl command declared once, without typer.

A command is a plain function plus its parameters, registered with
`@command("volume ls", "volume list", Opt(...), Arg(...))`. Two parsers are
generated from the table:

- `cli/fast.py` (argparse): what every ordinary invocation takes. Nothing on
  that path imports typer, click, pydantic or rich; importing them costs
  several times a command's own work (`rl inspect` reads two small files).
- `cli/typerapp.py` (typer): `--help`, shell completion, and the messages of
  a command line that does not parse. The fast path hands those over.

tests/unit/test_command_table.py checks that both accept the same commands
and flags. A command function gets its parameters as keyword arguments with
the same values from either parser: False/None/[] when absent, a list for a
repeated option or a variadic argument.

Command modules import only this module (and light parts of rl) at the top:
the fast path imports all of them to find a verb.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: every command pays for its imports
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable

# option kinds
BOOL = "bool"    # a flag: --all; "--x/--no-x" in decls gives the pair (default True or False)
STR = "str"
INT = "int"
FLOAT = "float"
LIST = "list"    # repeatable: -e A -e B -> ["A", "B"]

# argument arities
ONE = "1"        # required
OPTIONAL = "?"   # optional single value (None when absent)
MANY = "*"       # zero or more
SOME = "+"       # one or more
REST = "..."     # the rest of the line, verbatim ([COMMAND [ARG...]]): options after it are its own
REST1 = "+..."   # the same, at least one word (exec's COMMAND)


class _Plain:
    """A small record class: equality, hash and repr over its fields. The
    table's classes are not dataclasses: every command pays for building a
    dataclass (~0.5 ms each) at import."""
    __slots__ = ()

    def _fields(self) -> tuple:
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other):
        if not (type(other) is type(self)):
            return NotImplemented
        return other._fields() == self._fields()

    def __hash__(self):
        return hash(self._fields())

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self.__slots__)})"


class _Frozen(_Plain):
    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}")

    def __getstate__(self):  # pickle and copy: the slots are frozen
        return self._fields()

    def __setstate__(self, state) -> None:
        for f, v in zip(self.__slots__, state):
            object.__setattr__(self, f, v)

    def _set(self, **values) -> None:
        for k, v in values.items():
            object.__setattr__(self, k, v)


class Opt(_Frozen):
    __slots__ = ("dest", "decls", "kind", "default", "help", "metavar", "flag_value", "hidden")
    # an option whose value may be left out (flag_value): `--sig-proxy` means `--sig-proxy=true`

    def __init__(self, dest: str, *decls: str, kind: str = BOOL, default: object = None, help: str = "",
                 metavar: str | None = None, flag_value: str | None = None, hidden: bool = False):
        self._set(dest=dest, decls=decls, kind=kind, default=_default(kind, default), help=help, metavar=metavar,
                  flag_value=flag_value, hidden=hidden)

    def names(self) -> list[str]:
        """Every spelling, with a --x/--no-x pair split in two."""
        return [n for d in self.decls for n in d.split("/")]


def _default(kind: str, default: object) -> object:
    if default is not None:
        return default
    return {BOOL: False, LIST: ()}.get(kind)


class Arg(_Frozen):
    __slots__ = ("dest", "nargs", "help", "metavar")

    def __init__(self, dest: str, nargs: str = ONE, help: str = "", metavar: str | None = None):
        self._set(dest=dest, nargs=nargs, help=help, metavar=metavar)


Param = "Opt | Arg"


class Command(_Plain):
    __slots__ = ("names", "fn", "params", "hidden")
    __hash__ = None  # mutable, as the dataclass was

    def __init__(self, names: tuple[tuple[str, ...], ...], fn: Callable, params: tuple, hidden: bool = False):
        self.names = names  # every path: ("images",), ("image", "ls"), ...
        self.fn = fn
        self.params = params
        self.hidden = hidden

    @property
    def help(self) -> str:
        return (self.fn.__doc__ or "").strip()

    @property
    def rest(self) -> bool:
        """Options after the first argument belong to the container's command."""
        return any(isinstance(p, Arg) and p.nargs in (REST, REST1) for p in self.params)

    @property
    def options(self) -> list[Opt]:
        return [p for p in self.params if isinstance(p, Opt)]

    @property
    def args(self) -> list[Arg]:
        return [p for p in self.params if isinstance(p, Arg)]


class Table(_Plain):
    __slots__ = ("commands", "groups")
    __hash__ = None

    def __init__(self, commands: list[Command] | None = None, groups: dict[str, str] | None = None):
        self.commands = [] if commands is None else commands
        self.groups = {} if groups is None else groups  # "volume" -> its help

    def find(self, words: list[str]) -> tuple[Command, int] | None:
        """The command that words begin with, and how many words its name took."""
        best = None
        for cmd in self.commands:
            for name in cmd.names:
                if tuple(words[:len(name)]) == name and (best is None or len(name) > best[1]):
                    best = (cmd, len(name))
        return best


TABLE = Table()


def group(name: str, help: str) -> None:
    TABLE.groups[name] = help


def command(*spec, hidden: bool = False):
    """@command("ps", "container ls", Opt(...), Arg(...)): names first, then parameters."""
    names = tuple(tuple(s.split()) for s in spec if isinstance(s, str))
    params = tuple(s for s in spec if not isinstance(s, str))
    dests = [p.dest for p in params]
    if len(set(dests)) != len(dests):
        raise ValueError(f"{names[0]}: a parameter declared twice")

    def register(fn: Callable) -> Callable:
        TABLE.commands.append(Command(names, fn, params, hidden))
        return fn
    return register


# the modules that declare commands, in the order `rl --help` lists them;
# kept explicit so a reader sees the whole CLI here
MODULES = ("containers", "pods", "images", "volumes", "networks", "system", "admin", "cgroups", "generate")

# every command name -> the module above that declares it, so the fast path
# imports the one module it runs, not all eight (rl images imported typing and
# json for `pod`'s sake). tests/unit/test_command_table.py checks it against load().
INDEX = {
    "containers": (
        "run", "create", "start", "stop", "kill", "restart", "wait", "rm", "pause", "unpause", "rename",
        "container clone", "ps", "logs", "attach", "exec", "top", "healthcheck run", "container inspect",
        "container prune", "cp", "export", "diff", "commit",),
    "pods": (
        "pod create", "pod exists", "pod ps", "pod ls", "pod list", "pod inspect", "pod start", "pod stop",
        "pod restart", "pod kill", "pod pause", "pod unpause", "pod rm", "pod prune", "pod top", "pod logs",
        "pod stats",),
    "images": (
        "pull", "image pull", "images", "image list", "image ls", "rmi", "image rm", "image prune", "tag",
        "image tag", "untag", "image untag", "image inspect", "inspect", "image exists", "history", "image history",
        "import", "image import", "image bootstrap", "push", "image push", "save", "image save", "load", "image load",
        "login", "logout", "search",),
    "volumes": (
        "volume create", "volume ls", "volume list", "volume inspect", "volume rm", "volume prune",),
    "networks": (
        "port", "network create", "network ls", "network list", "network exists", "network inspect",
        "network connect", "network disconnect", "network rm", "network prune",),
    "system": (
        "system check", "system prune", "info", "version",),
    "admin": (
        "events", "system df", "system reset", "unshare", "container checkpoint", "container restore",),
    "cgroups": (
        "update", "stats",),
    "generate": (
        "generate systemd", "auto-update",),
}


def load() -> Table:
    """Every command module imported, so TABLE holds the whole CLI, in
    MODULES order (whichever module load_for imported first)."""
    import importlib
    for name in MODULES:
        importlib.import_module(f"rootless.cli.{name}")
    # a module imported earlier by load_for registered its commands first:
    # back in MODULES order, as typer lists them (the sort is stable within a module)
    TABLE.commands.sort(key=lambda c: MODULES.index(_MODULE_OF[" ".join(c.names[0])]))
    TABLE.groups = dict(sorted(TABLE.groups.items(), key=lambda g: MODULES.index(_group_module(g[0]))))
    return TABLE


def load_for(words: list[str]) -> Table:
    """TABLE with (at least) the command that words begin with: only the
    module that declares it is imported. Words naming no command: TABLE as it is."""
    for n in range(_LONGEST, 0, -1):  # the longest name first, as Table.find
        name = " ".join(words[:n])
        if len(words) >= n and name in _MODULE_OF:
            __import__(f"rootless.cli.{_MODULE_OF[name]}")  # not importlib's: its package imports warnings
            break
    return TABLE


def _group_module(group: str) -> str:
    """The module of a group's commands ("volume" -> "volumes")."""
    return next(mod for name, mod in _MODULE_OF.items() if name.startswith(group + " "))


_MODULE_OF = {name: mod for mod, names in INDEX.items() for name in names}
_LONGEST = max(name.count(" ") + 1 for name in _MODULE_OF)
