"""Small record classes without dataclasses: the everyday commands (ps, logs,
rm, stop, inspect, volume ls) paid for importing dataclasses and building
each class. A subclass names its fields in FIELDS, in order; equality, repr
and to_dict() are a dataclass's (eq=True), and Frozen adds a frozen
dataclass's hash and immutability. @record is the same for classes declared
as dataclasses are (annotations, field(default_factory=...)), with
fields(), asdict() and replace(). No imports: every layer may use it."""

from __future__ import annotations


def copied(value):
    """A deep copy of JSON-like data (lists, tuples, dicts), as dataclasses.asdict makes."""
    if isinstance(value, dict):
        return {copied(k): copied(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(copied(v) for v in value)
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    import copy
    return copy.deepcopy(value)


class Fields:
    FIELDS: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self.FIELDS)

    def to_dict(self) -> dict:
        """The fields in order, containers copied (what dataclasses.asdict gives)."""
        return {f: copied(getattr(self, f)) for f in self.FIELDS}

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # mutable, as a dataclass with eq and not frozen

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self.FIELDS)})"


class Frozen(Fields):
    """Set once in __init__ through _set; hashed by its fields."""

    def _set(self, **values) -> None:
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def __hash__(self):
        return hash(self._values())

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}")


# ---------------------------------------------------------------- @record

class _Missing:
    def __repr__(self):
        return "MISSING"


MISSING = _Missing()


class Field:
    """A field of a @record class: its name and default (a value or a factory)."""
    __slots__ = ("name", "default", "default_factory")

    def __init__(self, default=MISSING, default_factory=MISSING):
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default, self.default_factory = default, default_factory

    def __repr__(self):
        return f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r})"


def field(*, default=MISSING, default_factory=MISSING) -> Field:
    """dataclasses.field(default=..., default_factory=...) for @record."""
    return Field(default, default_factory)


class FrozenInstanceError(AttributeError):
    pass


def record(cls=None, *, frozen: bool = False):
    """@dataclass and @dataclass(frozen=True) for rl's records, as far as rl
    uses them: fields from the class's annotations in order (a base record's
    first), defaults and default factories, __init__ (positional or by
    keyword, then __post_init__), a dataclass's repr and equality, and
    frozen's immutability and hash; fields(), asdict() and replace() below.
    Importing dataclasses (with inspect, ast, dis and tokenize) and building
    each class cost every `rl run` ~15 ms; tests/unit/test_record.py holds
    these classes to what dataclasses makes of the same declarations."""
    def wrap(cls):
        found: dict[str, Field] = {}
        for base in reversed(cls.__mro__[1:]):
            for f in getattr(base, "__record_fields__", ()):
                found[f.name] = f
        for name, ann in cls.__dict__.get("__annotations__", {}).items():
            if "ClassVar" in (ann if isinstance(ann, str) else repr(ann)):
                continue
            value = cls.__dict__.get(name, MISSING)
            f = value if isinstance(value, Field) else Field(default=value)
            f.name = name
            if isinstance(value, Field):  # as dataclasses: the class keeps a plain default, not the marker
                if f.default is MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, f.default)
            found[name] = f
        seen_default = False
        for f in found.values():
            if f.default is MISSING and f.default_factory is MISSING:
                if seen_default:
                    raise TypeError(f"non-default argument {f.name!r} follows default argument")
            else:
                seen_default = True
        cls.__record_fields__ = tuple(found.values())
        cls.__record_frozen__ = frozen
        cls.__init__ = _init
        if "__repr__" not in cls.__dict__:
            cls.__repr__ = _repr
        if "__eq__" not in cls.__dict__:
            cls.__eq__ = _eq
        if frozen:
            cls.__setattr__ = _frozen_setattr
            cls.__delattr__ = _frozen_delattr
            if "__hash__" not in cls.__dict__ or cls.__dict__["__hash__"] is None:
                cls.__hash__ = _hash
        elif "__hash__" not in cls.__dict__:
            cls.__hash__ = None  # mutable and compared by value, as a dataclass with eq=True
        return cls
    return wrap if cls is None else wrap(cls)


def _values(obj) -> tuple:
    return tuple(getattr(obj, f.name) for f in obj.__record_fields__)


def _init(self, *args, **kwargs):
    fs = type(self).__record_fields__
    if len(args) > len(fs):
        raise TypeError(f"{type(self).__qualname__}.__init__() takes {len(fs) + 1} positional arguments "
                        f"but {len(args) + 1} were given")
    put = object.__setattr__
    for f, v in zip(fs, args):
        if f.name in kwargs:
            raise TypeError(f"{type(self).__qualname__}.__init__() got multiple values for argument {f.name!r}")
        put(self, f.name, v)
    for f in fs[len(args):]:
        if f.name in kwargs:
            v = kwargs.pop(f.name)
        elif f.default is not MISSING:
            v = f.default
        elif f.default_factory is not MISSING:
            v = f.default_factory()
        else:
            raise TypeError(f"{type(self).__qualname__}.__init__() missing 1 required positional argument: "
                            f"{f.name!r}")
        put(self, f.name, v)
    if kwargs:
        raise TypeError(f"{type(self).__qualname__}.__init__() got an unexpected keyword argument "
                        f"{next(iter(kwargs))!r}")
    post = getattr(self, "__post_init__", None)
    if post is not None:
        post()


def _repr(self) -> str:
    return f"{type(self).__qualname__}({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in self.__record_fields__)})"


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self) -> int:
    return hash(_values(self))


def _frozen_setattr(self, name, value):
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self, name):
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def is_record(obj) -> bool:
    return hasattr(type(obj) if not isinstance(obj, type) else obj, "__record_fields__")


def fields(obj) -> tuple[Field, ...]:
    """dataclasses.fields of a @record class or instance."""
    try:
        return obj.__record_fields__
    except AttributeError:
        raise TypeError("must be called with a record type or instance") from None


def asdict(obj) -> dict:
    """dataclasses.asdict: the fields as a dict, records within turned into
    dicts, containers copied deeply."""
    if isinstance(obj, type) or not is_record(obj):
        raise TypeError("asdict() should be called on record instances")
    return {f.name: _asdict_inner(getattr(obj, f.name)) for f in obj.__record_fields__}


def _asdict_inner(value):
    if is_record(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple, rebuilt field by field
        return type(value)(*[_asdict_inner(v) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(_asdict_inner(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_asdict_inner(k), _asdict_inner(v)) for k, v in value.items())
    return copied(value)


def replace(obj, **changes):
    """dataclasses.replace: a new instance with changes applied to its fields."""
    for f in obj.__record_fields__:
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)
