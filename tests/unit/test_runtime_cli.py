"""The argparse fast path for `rl run` parses exactly typer's flags."""

from __future__ import annotations

import inspect

from rootless.cli import containers


def test_fast_parser_covers_every_typer_flag():
    parser = containers._Parser().p
    dests = {a.dest for a in parser._actions}
    assert dests == set(inspect.signature(containers._flags).parameters)


def test_fast_parser_values():
    ns = containers._Parser().p.parse_args(
        ["-it", "--rm", "-e", "A=1", "--env", "B=2", "-v", "/a:/b:ro", "--cap-add", "NET_ADMIN", "--name", "n",
         "--network=none", "img", "sh", "-c", "echo -e hi"])
    assert (ns.interactive, ns.tty, ns.rm, ns.name, ns.network) == (True, True, True, "n", "none")
    assert ns.env == ["A=1", "B=2"] and ns.volume == ["/a:/b:ro"] and ns.cap_add == ["NET_ADMIN"]
    assert ns.image == "img" and ns.command == ["sh", "-c", "echo -e hi"]
    req = containers._request(vars(ns))
    assert req.command == ["sh", "-c", "echo -e hi"] and req.env == ["A=1", "B=2"]


def test_fast_path_defers_to_typer():
    assert containers.fast_run(["run", "--help"]) is None
    assert containers.fast_run(["run", "--no-such-flag", "img"]) is None
    assert containers.fast_run(["images"]) is None
    assert containers.fast_run([]) is None
