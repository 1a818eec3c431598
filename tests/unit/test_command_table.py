"""The command table (rootless/cli/table.py) drives two parsers: the argparse
fast path every ordinary invocation takes, and typer (help, completion,
errors). For every command and flag they must agree: same commands, same
spellings, and the same keyword arguments for the same command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rootless import cli
from rootless.cli import fast, table

ROOT = Path(__file__).resolve().parents[2]


def _click_root():
    import typer.main
    return typer.main.get_command(cli._typer_app())


def _click_commands():
    found = {}

    def walk(cmd, prefix):
        subs = getattr(cmd, "commands", None)
        if subs is not None:
            for name, sub in subs.items():
                walk(sub, prefix + (name,))
        else:
            found[prefix] = cmd
    walk(_click_root(), ())
    return found


CLICK = _click_commands()
TABLE = table.load()
PATHS = [(cmd, path) for cmd in TABLE.commands for path in cmd.names]
IDS = [" ".join(path) for _, path in PATHS]


def test_every_command_is_in_the_table():
    declared = {path for _, path in PATHS}
    assert set(CLICK) - declared == set(), "commands declared with typer, outside the table"


@pytest.mark.parametrize("cmd,path", PATHS, ids=IDS)
def test_same_flags(cmd, path):
    click_cmd = CLICK[path]
    click_opts = {n for p in click_cmd.params if p.param_type_name == "option"
                  for n in (*p.opts, *p.secondary_opts)} - {"--help", "-h"}
    parser = fast.parser(cmd, "rl")
    fast_opts = {s for a in parser._actions for s in a.option_strings}
    assert fast_opts == click_opts
    click_args = [(p.name, p.nargs, p.required) for p in click_cmd.params if p.param_type_name == "argument"]
    want = [(a.dest, 1 if a.nargs in (table.ONE, table.OPTIONAL) else -1,
             a.nargs in (table.ONE, table.SOME, table.REST1)) for a in cmd.args]
    assert click_args == want


def _sample(cmd, full: bool) -> list[str]:
    words: list[str] = []
    if full:
        for o in cmd.options:
            flag = o.names()[-1] if o.kind == table.BOOL and "/" in o.decls[0] else o.decls[0]
            if o.kind == table.BOOL:
                words.append(flag)
            elif o.kind == table.LIST:
                words += [flag, "one", o.decls[-1], "two=2"]
            elif o.flag_value is not None:
                words.append(f"{flag}=false")
            else:
                words += [flag, {table.INT: "3", table.FLOAT: "1.5"}.get(o.kind, "val")]
    for a in cmd.args:
        if a.nargs == table.ONE:
            words.append(f"{a.dest}1")
        elif a.nargs == table.OPTIONAL and full:
            words.append(f"{a.dest}2")
        elif a.nargs in (table.SOME, table.REST1) or (full and a.nargs != table.OPTIONAL):
            words += [f"{a.dest}-a", "--", "-x"] if a.nargs in (table.REST, table.REST1) else \
                [f"{a.dest}-a", f"{a.dest}-b"]
    return words


@pytest.mark.parametrize("full", [False, True], ids=["defaults", "every-flag"])
@pytest.mark.parametrize("cmd,path", PATHS, ids=IDS)
def test_same_values(cmd, path, full, monkeypatch):
    words = _sample(cmd, full)
    seen = []
    monkeypatch.setattr(cmd, "fn", lambda **kw: seen.append(kw))
    fast_kw = fast.parse(cmd, words)
    assert fast_kw is not None, f"the fast path refused {words}"
    _click_root().main([*path, *words], prog_name="rl", standalone_mode=False)
    assert seen == [fast_kw]


def test_fast_path_leaves_help_and_errors_to_typer():
    cmd, n = TABLE.find(["volume", "ls"])
    assert n == 2
    assert fast.parse(cmd, ["--help"]) is None
    assert fast.parse(cmd, ["--no-such-flag"]) is None
    assert fast.execute(["--help"]) is None
    assert fast.execute(["--version", "--help"]) is None
    assert fast.execute(["no-such-command"]) is None


def test_index_names_each_command_and_its_module():
    """table.INDEX (what the fast path reads to import one command module,
    not all) names every spelling of every command, with the module that
    declares it, and nothing else."""
    declared = {" ".join(path): cmd.fn.__module__.rpartition(".")[2] for cmd, path in PATHS}
    indexed = {name: mod for mod, names in table.INDEX.items() for name in names}
    assert indexed == declared
    assert sum(len(names) for names in table.INDEX.values()) == len(declared), "a name indexed twice"
    assert tuple(table.INDEX) == table.MODULES


@pytest.mark.parametrize("words", [["volume", "ls"], ["ps"], ["pod", "ps"], ["generate", "systemd"]])
def test_one_command_module_then_the_whole_table_in_order(words):
    """The fast path imports only the module of the command it runs; when
    typer takes over after it (--help, a bad flag), load() gives the table
    in the same order as a fresh load (typer lists commands in that order)."""
    code = ("import sys, json; from rootless.cli import table\n"
            "words = json.loads(sys.argv[1])\n"
            "if words:\n"
            "    t = table.load_for(words)\n"
            "    cmd, n = t.find(words)\n"
            "    assert n == len(words), n\n"
            "    print(sorted(m for m in sys.modules if m.startswith('rootless.cli.')))\n"
            "t = table.load()\n"
            "print([c.names for c in t.commands], list(t.groups))")
    import json

    def run(w):
        return subprocess.run([sys.executable, "-c", code, json.dumps(w)], capture_output=True, text=True,
                              cwd=ROOT, check=True).stdout.splitlines()
    imported, order = run(words)
    mod = dict((n, m) for m, names in table.INDEX.items() for n in names)[" ".join(words)]
    assert imported == str(sorted({"rootless.cli.options", "rootless.cli.table", f"rootless.cli.{mod}"}))
    assert order == run([])[0]


def test_no_execution_path_imports_typer(tmp_path):
    """`rl volume ls` (a table command) runs without typer, click, pydantic or rich."""
    code = ("import sys; from rootless import cli; rc = cli.run(['--root', sys.argv[1], '--runroot', sys.argv[2],"
            " 'volume', 'ls']); heavy = sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('typer', 'click', 'pydantic', 'rich')); print(rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root"), str(tmp_path / "run")],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []"


@pytest.mark.parametrize("argv", [["--version"], ["-v"], ["--root", "R", "--version", "ps"]])
def test_version_flag_without_typer(argv):
    """`rl --version` (podman-compose asks before every action) prints what
    typer's eager flag prints, without importing typer."""
    code = ("import sys, json; from rootless import cli; rc = cli.run(json.loads(sys.argv[1])); heavy = sorted("
            "m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'pydantic', 'rich')); print(rc, heavy)")
    import json
    out = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.splitlines()
    import rootless
    from rootless import system
    assert out == [f"rl version {rootless.__version__} (podman {system.PODMAN_API_VERSION})", "0 []"]
    typer_out = subprocess.run([sys.executable, "-c", "from rootless import cli; cli._typer_app()(['--version'],"
                                " prog_name='rl', standalone_mode=False)"], capture_output=True, text=True,
                               cwd=ROOT).stdout
    assert typer_out.splitlines() == out[:1]


def test_shell_completion_for_bash(tmp_path):
    """typer's completion: the script for bash, and the words it completes."""
    import os
    env = {**os.environ, "_RL_COMPLETE": "complete_bash", "COMP_WORDS": "rl volu", "COMP_CWORD": "1"}
    r = subprocess.run([sys.executable, "-c", "from rootless.cli import main; main()"], env=env,
                       capture_output=True, text=True, cwd=ROOT)
    assert "volume" in r.stdout.split()
    script = subprocess.run([sys.executable, "-c", "from rootless.cli import main; main()",
                             "--show-completion", "bash"], capture_output=True, text=True, cwd=ROOT)
    assert script.returncode == 0 and "_RL_COMPLETE" in script.stdout
