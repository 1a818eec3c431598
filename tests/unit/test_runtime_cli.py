"""`rl run`'s two parsers (typer, argparse fast path) come from one flag table:
runflags.FLAGS, turned into the command table's options (cli/table.py)."""

from __future__ import annotations

import inspect
import subprocess
import sys

from rootless.cli import fast, table, typerapp
from rootless.containers import runflags

TABLE = table.load()


def _cmd(verb: str) -> table.Command:
    cmd, n = TABLE.find([verb])
    assert n == 1
    return cmd


def _parse(argv: list[str], verb: str = "run") -> dict:
    kw = fast.parse(_cmd(verb), argv)
    assert kw is not None, f"the fast path refused {argv}"
    return kw


def test_fast_parser_and_typer_signature_cover_the_same_flags():
    want = {f.dest for f in runflags.FLAGS} | {"image", "command"}
    for verb in ("run", "create"):
        cmd = _cmd(verb)
        dests = {a.dest for a in fast.parser(cmd, "rl")._actions}
        assert dests == set(typerapp._signature(cmd).parameters) == want


def test_fast_parser_values():
    kw = _parse(["-it", "--rm", "-e", "A=1", "--env", "B=2", "-v", "/a:/b:ro", "--cap-add", "NET_ADMIN", "--name",
                 "n", "--network=none", "img", "sh", "-c", "echo -e hi", "--help"])
    assert (kw["interactive"], kw["tty"], kw["rm"], kw["name"], kw["network"]) == (True, True, True, "n", ["none"])
    assert kw["env"] == ["A=1", "B=2"] and kw["volume"] == ["/a:/b:ro"] and kw["cap_add"] == ["NET_ADMIN"]
    assert kw["image"] == "img" and kw["command"] == ["sh", "-c", "echo -e hi", "--help"]
    req = runflags.to_request(kw, None)
    assert req.command == ["sh", "-c", "echo -e hi", "--help"] and req.env == ["A=1", "B=2"]
    assert req.network == "none"  # given once: the value, as before


def test_double_dash_before_the_command():
    assert _parse(["--rm", "img", "--", "ls", "-l"])["command"] == ["ls", "-l"]
    assert _parse(["img"])["command"] == []


def test_network_repeats_in_both_parsers():
    """--network a --network b: both kept (a second one used to replace the first)."""
    req = runflags.to_request(_parse(["--network", "front:alias=x", "--net", "back", "img"]), None)
    assert req.network == ["front:alias=x", "back"]
    from typing import List
    assert typerapp._signature(_cmd("run")).parameters["network"].annotation == List[str]
    assert runflags.to_request({"image": "img", "command": []}, None).network is None


def test_fast_path_defers_to_typer():
    run = _cmd("run")
    assert fast.parse(run, ["--help"]) is None
    assert fast.parse(run, ["--rm", "-h", "img"]) is None
    assert fast.parse(run, ["--no-such-flag", "img"]) is None
    assert fast.parse(run, []) is None  # IMAGE missing: typer says so
    assert fast.parse(_cmd("exec"), ["ctr"]) is None  # COMMAND missing
    assert fast.parse(_cmd("exec"), ["ctr", "--"]) is None
    assert fast.execute(["run", "--help"]) is None
    assert fast.execute([]) is None


def test_plain_run_never_imports_typer():
    code = ("import sys\nfrom rootless.cli import fast, table\n"
            "cmd, _ = table.load().find(['run'])\n"
            "assert fast.parse(cmd, ['--rm', 'img', 'true'])['command'] == ['true']\n"
            "import rootless.cli\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'pydantic', 'rich')]\n"
            "assert not heavy, heavy\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_signature_is_keyword_only_for_typer():
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in typerapp._signature(_cmd("run")).parameters.values())


def test_container_commands_import_no_typer(tmp_path):
    """ps, container inspect, logs, rm and run (up to its engine's first error) run without typer, click,
    pydantic or rich: the command table's fast path takes them."""
    code = ("import sys\nfrom rootless import cli\n"
            "base = ['--root', sys.argv[1], '--runroot', sys.argv[2]]\n"
            "rcs = [cli.run(base + line) for line in (['ps', '-a'], ['container', 'inspect', 'nosuch'],\n"
            "       ['logs', 'nosuch'], ['rm', 'nosuch'], ['run', '--rm', '--name', 'bad/name', 'img', 'true'])]\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'pydantic', 'rich'))\n"
            "print(rcs, heavy)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root"), str(tmp_path / "run")],
                         capture_output=True, text=True)
    assert res.stdout.strip().splitlines()[-1] == "[0, 125, 125, 1, 125] []", res.stdout + res.stderr
