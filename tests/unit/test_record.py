"""plain.record against dataclasses: the same declarations give classes
that construct, compare, hash, print, copy and convert alike."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections import namedtuple

import pytest

from rootless import plain

Pair = namedtuple("Pair", "a b")


@plain.record(frozen=True)
class Kept:
    a: int
    b: list = plain.field(default_factory=list)


def test_a_record_pickles():
    k = Kept(1, [2])
    assert pickle.loads(pickle.dumps(k)) == k


def _declare(decorate, field, frozen=False):
    deco = decorate(frozen=True) if frozen else decorate

    @deco
    class Inner:
        x: int
        tags: list[str] = field(default_factory=list)

    @deco
    class Outer:
        name: str
        inner: Inner | None = None
        count: int = 0
        items: dict = field(default_factory=dict)
        pair: tuple = ()
        label: str = field(default="l")

        def twice(self) -> int:
            return self.count * 2

    @deco
    class Child(Outer):
        extra: str = "e"
        count: int = 5  # re-declared: keeps its place, takes the new default

    return Inner, Outer, Child


def _both(frozen=False):
    return (_declare(dataclasses.dataclass, dataclasses.field, frozen),
            _declare(plain.record, plain.field, frozen))


def _build(Inner, Outer, Child):
    return [Inner(1), Inner(2, ["a"]), Outer("n"), Outer("n", Inner(3, ["b", "c"]), 4, {"k": [1, {"z": 2}]},
                                                         Pair(1, [2])),
            Outer(name="kw", count=7), Child("c"), Child("c", extra="x", count=1)]


@pytest.mark.parametrize("frozen", [False, True])
def test_records_behave_as_dataclasses(frozen):
    theirs, ours = _both(frozen)
    for d, r in zip(_build(*theirs), _build(*ours)):
        assert repr(d) == repr(r)
        assert dataclasses.asdict(d) == plain.asdict(r)
        assert [f.name for f in dataclasses.fields(d)] == [f.name for f in plain.fields(r)]
        assert r == copy.deepcopy(r) and r == copy.copy(r) and r != object()
        assert (r == type(r)(**plain.asdict(r))) == (d == type(d)(**dataclasses.asdict(d)))
        if frozen:
            try:
                want = hash(d) == hash(copy.deepcopy(d))
            except TypeError:  # a list among the fields: neither hashes
                with pytest.raises(TypeError):
                    hash(r)
            else:
                assert want and hash(r) == hash(copy.deepcopy(r))
            with pytest.raises(AttributeError):
                r.count = 3
            with pytest.raises(AttributeError):
                del r.count
        else:
            assert type(r).__hash__ is None and type(d).__hash__ is None
            r.count = 9
            assert r.count == 9
    # the class attributes dataclasses leaves: plain defaults, not the markers
    for t, o in zip(theirs, ours):
        for name in ("x", "tags", "name", "count", "label", "items"):
            assert hasattr(t, name) == hasattr(o, name), name
            if hasattr(t, name):
                assert getattr(t, name) == getattr(o, name)


def test_defaults_are_fresh_and_replace_asdict_copy():
    _, (Inner, Outer, _) = _both()
    a, b = Inner(1), Inner(2)
    a.tags.append("x")
    assert b.tags == []
    o = Outer("n", a, items={"k": [1]})
    d = plain.asdict(o)
    d["inner"]["tags"].append("y")
    d["items"]["k"].append(2)
    assert a.tags == ["x"] and o.items == {"k": [1]}
    assert isinstance(d["inner"], dict)
    r = plain.replace(o, count=3)
    assert (r.count, r.name, r.inner) == (3, "n", a) and o.count == 0
    assert plain.asdict(Outer("p", pair=Pair(1, [2])))["pair"] == Pair(1, [2])


def test_errors_are_dataclasses_errors():
    (DInner, DOuter, _), (Inner, Outer, _) = _both()
    for cls in (DInner, Inner):
        for args, kwargs in (((), {}), ((1, [], 3), {}), ((1,), {"x": 2}), ((1,), {"nope": 1})):
            with pytest.raises(TypeError):
                cls(*args, **kwargs)
    with pytest.raises(TypeError):
        plain.replace(Inner(1), nope=2)
    with pytest.raises(TypeError):
        dataclasses.replace(DInner(1), nope=2)
    with pytest.raises(TypeError, match="non-default argument"):
        @plain.record
        class Bad:
            a: int = 1
            b: int
    with pytest.raises(TypeError):
        plain.asdict(Inner)
    with pytest.raises(TypeError):
        plain.fields(object())


def test_post_init_runs_after_the_fields_are_set():
    @plain.record(frozen=True)
    class P:
        a: int
        b: int = 0

        def __post_init__(self):
            object.__setattr__(self, "b", self.a * 2)

    assert P(3).b == 6 and P(3) == P(3, 99)
