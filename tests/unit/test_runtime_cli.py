"""`rl run`'s two parsers (typer, argparse fast path) come from one flag table."""

from __future__ import annotations

import inspect
import subprocess
import sys

from rootless.cli import containers, fastrun
from rootless.containers import runflags


def test_fast_parser_and_typer_signature_cover_the_same_flags():
    dests = {a.dest for a in fastrun._parser()._actions}
    typer_params = set(containers._signature().parameters)
    assert dests == typer_params == {f.dest for f in runflags.FLAGS} | {"image", "command"}


def test_fast_parser_values():
    ns = fastrun._parser().parse_args(
        ["-it", "--rm", "-e", "A=1", "--env", "B=2", "-v", "/a:/b:ro", "--cap-add", "NET_ADMIN", "--name", "n",
         "--network=none", "img", "sh", "-c", "echo -e hi", "--help"])
    assert (ns.interactive, ns.tty, ns.rm, ns.name, ns.network) == (True, True, True, "n", ["none"])
    assert ns.env == ["A=1", "B=2"] and ns.volume == ["/a:/b:ro"] and ns.cap_add == ["NET_ADMIN"]
    assert ns.image == "img" and ns.command == ["sh", "-c", "echo -e hi", "--help"]
    req = runflags.to_request(vars(ns), None)
    assert req.command == ["sh", "-c", "echo -e hi", "--help"] and req.env == ["A=1", "B=2"]
    assert req.network == "none"  # given once: the value, as before


def test_network_repeats_in_both_parsers():
    """--network a --network b: both kept (a second one used to replace the first)."""
    argv = ["--network", "front:alias=x", "--net", "back", "img"]
    req = runflags.to_request(vars(fastrun._parser().parse_args(argv)), None)
    assert req.network == ["front:alias=x", "back"]
    from typing import List
    assert containers._signature().parameters["network"].annotation == List[str]
    assert runflags.to_request({"image": "img", "command": []}, None).network is None


def test_fast_path_defers_to_typer():
    assert fastrun.fast_run(["run", "--help"]) is None
    assert fastrun.fast_run(["run", "--rm", "-h", "img"]) is None
    assert fastrun.fast_run(["run", "--no-such-flag", "img"]) is None
    assert fastrun.fast_run(["images"]) is None
    assert fastrun.fast_run([]) is None


def test_plain_run_never_imports_typer():
    code = ("import sys\nfrom rootless.cli import fastrun\n"
            "fastrun._parser().parse_args(['--rm', 'img', 'true'])\n"
            "import rootless.cli\n"
            "assert 'typer' not in sys.modules, 'typer imported on the fast path'\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_signature_is_keyword_only_for_typer():
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in containers._signature().parameters.values())
