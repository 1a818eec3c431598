"""The single error -> exit status mapping (podman's codes)."""

import subprocess
import sys

import pytest

from rootless import cli
from rootless.errors import EXIT_RL, CommandNotFound, ContainerExit, HostSetupError


def _app_raising(monkeypatch, exc):
    def boom(*a, **k):
        raise exc
    monkeypatch.setattr(cli, "_typer_app", lambda: boom)


@pytest.mark.parametrize("exc,code", [
    (HostSetupError("no range", hint="sudo usermod ..."), 125),
    (CommandNotFound("nope: not found"), 127),
    (ContainerExit(42), 42),
    (RuntimeError("surprise"), 125),
])
def test_errors_map_to_podman_exit_codes(monkeypatch, capsys, exc, code):
    _app_raising(monkeypatch, exc)
    assert cli.run([]) == code
    err = capsys.readouterr().err
    if code == 42:
        assert err == ""
    else:
        assert err.startswith("Error: ")
        assert "Traceback" not in err


def test_hint_printed_on_its_own_line(monkeypatch, capsys):
    _app_raising(monkeypatch, HostSetupError("cannot map user IDs", hint="sudo usermod --add-subuids 1-2 u"))
    cli.run([])
    assert capsys.readouterr().err.splitlines() == ["Error: cannot map user IDs",
                                                    "hint: sudo usermod --add-subuids 1-2 u"]


def test_unknown_command_is_one_line_and_125():
    res = subprocess.run([sys.executable, "-m", "rootless", "no-such-command"], capture_output=True, text=True)
    assert res.returncode == EXIT_RL
    assert res.stderr.splitlines()[0] == "Error: No such command 'no-such-command'."
    assert "Traceback" not in res.stderr


def test_debug_shows_traceback(monkeypatch, capsys):
    _app_raising(monkeypatch, RuntimeError("surprise"))
    cli.run(["--log-level", "debug"])  # the level is read from the arguments run() parses
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("argv,flag", [
    (["create", "--pid", "host", "img", "true"], "--pid"),
    (["run", "--ipc=host", "img", "true"], "--ipc"),
    (["create", "--device", "/dev/fuse", "img", "true"], "--device"),
    (["run", "--uidmap", "0:1:1", "img", "true"], "--uidmap"),
])
def test_podman_flag_rl_lacks_names_it_and_why(capsys, argv, flag):
    """A podman run/create flag rl does not take (what a compose file's `pid: host` or `devices:`
    becomes): its name and the reason, not click's bare "No such option"."""
    assert cli.run(argv) == EXIT_RL
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"Error: {flag} is not supported by rl: "), err
    assert len(err) == 2 and err[1].startswith("hint: leave it out; see `rl"), err


def test_unknown_flag_still_no_such_option(capsys):
    assert cli.run(["create", "--no-such-flag", "img"]) == EXIT_RL
    assert capsys.readouterr().err.startswith("Error: No such option: --no-such-flag")
