"""Every command's --help renders (help texts use podman's bracket syntax,
which a markup renderer would choke on)."""

from __future__ import annotations

import pytest

from rootless import cli


def _command_paths():
    import typer.main
    root = typer.main.get_command(cli._typer_app())
    paths = []

    def walk(cmd, prefix):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, prefix + [name])
        else:
            paths.append(prefix)
    walk(root, [])
    return paths


PATHS = _command_paths()


def test_the_cli_has_the_expected_verbs():
    flat = {" ".join(p) for p in PATHS}
    for verb in ("run", "create", "pull", "images", "system check", "info", "volume create", "image bootstrap"):
        assert verb in flat, verb


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) for p in PATHS])
def test_help_renders(path, capsys):
    assert cli.run([*path, "--help"]) == 0
    out = capsys.readouterr()
    assert "Usage:" in out.out and "Error" not in out.err
