"""Small record classes without dataclasses: the everyday commands (ps, logs,
rm, stop, inspect, volume ls) paid for importing dataclasses and building
each class. A subclass names its fields in FIELDS, in order; equality, repr
and to_dict() are a dataclass's (eq=True), and Frozen adds a frozen
dataclass's hash and immutability. No imports: every layer may use it."""

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
