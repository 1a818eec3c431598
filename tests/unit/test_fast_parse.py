"""fast.plain, the fast path's parser for ordinary lines: every answer it
gives is argparse's (fast.by_argparse, which tests/unit/test_command_table.py
checks against typer), for every command of the table and every one of its
flags, alone and together, in each spelling, among positional arguments;
what it is unsure of it leaves to argparse. And the everyday lines never
import argparse (nor gettext and locale, which argparse imports)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rootless.cli import fast, table

ROOT = Path(__file__).resolve().parents[2]
TABLE = table.load()
COMMANDS = TABLE.commands


def _values(o: table.Opt) -> list[str]:
    return {table.INT: ["3", "-1", "x", "1.5"], table.FLOAT: ["0", "2.5", "-1", "nan", "x"],
            table.BOOL: []}.get(o.kind, ["v", "a=b", "-x", "", "{{.Id}}"])


def _spellings(o: table.Opt) -> list[list[str]]:
    """Each way to write o on a line, right and wrong."""
    out = []
    for name in o.names():
        if o.kind == table.BOOL:
            out += [[name], [f"{name}=true"]]
            continue
        out.append([name])  # without its value
        for v in _values(o):
            out += [[name, v], [f"{name}={v}"]]
        if len(name) == 2:
            out.append([f"{name}5"])
    return out


def _lines(cmd: table.Command):
    pos = [[], ["c1"], ["c1", "c2"], ["c1", "c2", "c3"], ["-"], ["--", "c1"], ["-1"]]
    for p in pos:
        yield p
    spellings = [s for o in cmd.options for s in _spellings(o)]
    for s in spellings:
        yield s
        yield ["c1", *s]
        yield [*s, "c1", "c2"]
        yield [*s, *s]
    # pairs of every third spelling (every n-th for run/create's 80 flags: argparse takes ~1 ms a line)
    for a, b in itertools.combinations(spellings[::max(3, len(spellings) // 60)], 2):
        yield ["c1", *a, "c2", *b]
    yield ["--help"]
    yield ["c1", "-h"]
    yield ["--no-such-flag", "c1"]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c.names[0]))
def test_plain_answers_as_argparse(cmd, monkeypatch):
    built = fast.parser(cmd, "rl")  # once: building run's 80 flags for each line is most of the time
    monkeypatch.setattr(fast, "parser", lambda c, prog: built if c is cmd else pytest.fail("another command"))
    answered = 0
    for words in _lines(cmd):
        got = fast.plain(cmd, words)
        if got is None:
            continue
        answered += 1
        want = fast.by_argparse(cmd, words)
        assert want is not None and repr(sorted(got.items())) == repr(sorted(want.items())), words  # nan == nan
        assert [type(v) for v in got.values()] == [type(want[k]) for k in got], words
    if not (cmd.rest and len(cmd.args) == 1):  # a line that is all COMMAND (unshare): argparse's alone
        assert answered  # it answers something for every command


@pytest.mark.parametrize("line", [
    ["ps", "-a"], ["ps"], ["ps", "--all", "--format", "{{.Names}}"], ["images"], ["inspect", "x"],
    ["inspect", "--format", "{{.Id}}", "x", "y"], ["logs", "x"], ["logs", "--tail", "5", "x"], ["rm", "x"],
    ["rm", "-f", "x", "y"], ["stop", "-t", "0", "x"], ["stop", "--time=2.5", "x"], ["volume", "ls"],
    ["container", "inspect", "x"], ["start", "x"], ["wait", "x"], ["kill", "-s", "TERM", "x"]])
def test_everyday_lines_are_answered_without_argparse(line):
    tbl = table.load()
    cmd, n = tbl.find(line)
    got = fast.plain(cmd, line[n:])
    assert got is not None and got == fast.by_argparse(cmd, line[n:])


def test_declined_lines_still_parse():
    cmd, n = TABLE.find(["ps", "-aq"])
    assert fast.plain(cmd, ["-aq"]) is None
    assert fast.parse(cmd, ["-aq"])["all_"] is True and fast.parse(cmd, ["-aq"])["quiet"] is True


@pytest.mark.parametrize("argv", [["ps", "-a"], ["images"], ["inspect", "nothing-here"], ["logs", "nothing-here"],
                                  ["rm", "nothing-here"], ["stop", "-t", "0", "nothing-here"], ["volume", "ls"]])
def test_everyday_commands_do_not_import_argparse(tmp_path, argv):
    code = ("import sys, json; from rootless import cli\n"
            "rc = cli.run(['--root', sys.argv[1], '--runroot', sys.argv[2], *json.loads(sys.argv[3])])\n"
            "print(json.dumps(sorted(m for m in ('argparse', 'gettext', 'locale') if m in sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root"), str(tmp_path / "run"), json.dumps(argv)],
                       capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(r.stdout.splitlines()[-1]) == [], r.stderr
