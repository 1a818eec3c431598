"""rootless.jsonio against the json package: the same characters out, the
same values in, json's own errors."""

import enum
import json
import os
import random
import subprocess
import sys
from collections import OrderedDict

import pytest

from rootless import jsonio


class Colour(enum.IntEnum):
    RED = 1


class Text(str):
    pass


SAMPLES = [
    None, True, False, 0, -7, 2 ** 70, 1.5, -0.0, 1e300, float("inf"), float("-inf"),
    "", "plain", "quote\" back\\ slash / nl\n tab\t nul\0", "é ü ☃ 😀", [], {}, (),
    [1, [2, [3, []]], {}], {"a": {"b": {"c": []}}, "": [None]}, (1, "two"),
    {"z": 1, "a": 2, "m": {"y": 1, "b": 2}}, OrderedDict([("b", 1), ("a", 2)]),
    Colour.RED, Text("sub"), {"k": Text("v")},
    {"Id": "ab" * 32, "Config": {"Env": ["PATH=/usr/bin"], "Labels": None, "Cmd": ["sh", "-c", "x"]},
     "State": {"Running": False, "Pid": 0, "ExitCode": 137}},
]


def _random(rng, depth=0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-10 ** 12, 10 ** 12)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind in (3, 4):
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x3000)])) for _ in range(rng.randrange(6)))
    if kind == 5:
        return [_random(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_random(rng, 4) if False else str(rng.random()): _random(rng, depth + 1) for _ in range(rng.randrange(4))}


CASES = SAMPLES + [_random(random.Random(seed)) for seed in range(200)]
WAYS = [dict(), dict(indent=4), dict(indent=2, sort_keys=True), dict(indent="\t"), dict(indent=0),
        dict(separators=(",", ":")), dict(ensure_ascii=False), dict(indent=4, ensure_ascii=False),
        dict(sort_keys=True), dict(indent=1, separators=(",", " = "))]


@pytest.mark.parametrize("way", WAYS, ids=repr)
def test_dumps_writes_what_json_writes(way):
    for obj in CASES:
        assert jsonio.dumps(obj, **way) == json.dumps(obj, **way), obj


def test_dumps_hands_the_unusual_to_json():
    for obj in ({1: "int key", 2.5: "float key"}, {None: 1, True: 2}):
        assert jsonio.dumps(obj, indent=4) == json.dumps(obj, indent=4)
        assert jsonio.dumps(obj) == json.dumps(obj)
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonio.dumps({"a": object()}, indent=4)
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonio.dumps({"a": {1, 2}})
    assert jsonio.dumps({"a": {1}}, default=sorted) == json.dumps({"a": {1}}, default=sorted)
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        jsonio.dumps(loop)


def test_loads_reads_what_json_reads():
    for obj in CASES:
        for text in (json.dumps(obj), json.dumps(obj, indent=3), json.dumps(obj, ensure_ascii=False)):
            assert repr(jsonio.loads(text)) == repr(json.loads(text))
            assert repr(jsonio.loads(text.encode())) == repr(json.loads(text.encode()))
    for text in ('  {"a": 1}\n', "\ufeff[1]".encode(), "NaN", "[-Infinity, Infinity]", '"\\ud83d\\ude00"',
                 "12345678901234567890123", "1.0e-400"):
        assert repr(jsonio.loads(text)) == repr(json.loads(text))
    assert jsonio.loads('"x"'.encode("utf-16")) == "x"  # json detects UTF-16 itself


@pytest.mark.parametrize("text", ["", "   ", "{", '{"a": 1} x', "[1,]", '{"a" 1}', "\ufeff{}", '"\x01"',
                                  "nul", "[1] [2]", b"\xff\xfe\xfd"])
def test_loads_raises_jsons_own_error(text):
    with pytest.raises(ValueError) as ours:
        jsonio.loads(text)
    with pytest.raises(ValueError) as theirs:
        json.loads(text)
    assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)


def test_using_it_imports_neither_json_nor_re():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-S", "-c", "import sys; from rootless import jsonio; "
                          "jsonio.loads(jsonio.dumps({'a': [1, 2.5, None]}, indent=4)); jsonio.dumps([1]); "
                          "print(sorted({'json', 're'} & set(sys.modules)))"],
                         capture_output=True, text=True, check=True, env={"PYTHONPATH": root}).stdout
    assert out.strip() == "[]"


def test_errors_are_jsons_in_a_process_that_never_imported_json():
    """The C scanner finds json.decoder's JSONDecodeError only once json is
    imported (Python 3.11): before that, a bad text failed with SystemError
    (seen in CI: `rl ps` of a container whose config.json was cut short)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    texts = ['{"id": "', "{not json", "{", '{"a" 1}', "[1,]", '"\\x"', "", "tru"]
    code = ("import sys\nfrom rootless import jsonio\nout = []\n"
            "for t in sys.argv[1:]:\n"
            "    try:\n        jsonio.loads(t)\n        out.append('parsed')\n"
            "    except Exception as e:\n        out.append(type(e).__name__ + ': ' + str(e))\n"
            "print(repr(out))")
    got = subprocess.run([sys.executable, "-S", "-c", code, *texts], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": root}).stdout
    want = []
    for t in texts:
        try:
            json.loads(t)
            want.append("parsed")
        except ValueError as e:
            want.append(type(e).__name__ + ": " + str(e))
    assert eval(got) == want  # noqa: S307 - our own repr of a list of str
