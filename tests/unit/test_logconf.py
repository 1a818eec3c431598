"""--log-level: library modules log, never print; rl renders the records on
stderr in its own words ("WARN: ...", `level=debug msg="..."`) at podman's
levels (error, warn, info, debug; default warn)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rootless import config, containersconf, logconf

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_level_is_read_from_the_global_flags_only():
    assert logconf.level_from_argv(["--log-level", "debug", "ps"]) == "debug"
    assert logconf.level_from_argv(["--root", "/r", "--log-level=info", "ps"]) == "info"
    assert logconf.level_from_argv(["--runroot", "--log-level", "ps"]) is None  # a path named like the flag
    # a container's own arguments are never rl's
    assert logconf.level_from_argv(["run", "img", "prog", "--log-level", "debug"]) is None
    assert logconf.level_from_argv([]) is None


def test_a_library_warning_reaches_stderr_in_rls_words(capsys):
    logconf.configure(None)  # default: warn
    config.map_driver("zfs", "", "/etc/containers/storage.conf#log-test")
    err = capsys.readouterr().err
    assert err == ('WARN: storage.conf: driver "zfs" (/etc/containers/storage.conf#log-test) is not supported '
                   "by rl (fuse-overlayfs, overlay, vfs); using rl's default\n")


def test_log_level_error_silences_warnings(capsys):
    logconf.configure("error")
    config.map_driver("btrfs", "", "/etc/containers/storage.conf#log-test")
    assert capsys.readouterr().err == ""


def test_log_level_debug_shows_podmans_debug_lines(capsys, tmp_path, monkeypatch):
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\nno_such_key_for_rl = "x"\n')
    monkeypatch.setenv("CONTAINERS_CONF", str(conf))
    monkeypatch.setattr(containersconf, "_cached", None)
    monkeypatch.setattr(containersconf, "_reported", False)
    logconf.configure("debug")
    containersconf.current()
    err = capsys.readouterr().err
    assert f'level=debug msg="containers.conf: key engine.no_such_key_for_rl (set in {conf}) ' in err


def _rl(tmp_path, *args):
    conf = tmp_path / "storage.conf"
    conf.write_text('[storage]\ndriver = "zfs"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RL_", "CONTAINERS_"))}
    env.update(CONTAINERS_STORAGE_CONF=str(conf), XDG_DATA_HOME=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "rootless", *args], env=env, capture_output=True, text=True,
                          cwd=tmp_path)


def test_the_cli_sets_the_level(tmp_path):
    # a storage.conf driver rl does not support: a warning (from config.py) by default,
    # nothing at --log-level error
    res = _rl(tmp_path, "ps")
    assert res.returncode == 0, res.stderr
    assert res.stderr == (f'WARN: storage.conf: driver "zfs" ({tmp_path}/storage.conf) is not supported by rl '
                          "(fuse-overlayfs, overlay, vfs); using rl's default\n")
    quiet = _rl(tmp_path, "--log-level", "error", "ps")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_a_lazy_logger_imports_logging_only_for_what_it_shows():
    """logconf.logger on `rl run`'s path: debug at the default level imports
    nothing; a warning, or debug at --log-level debug, goes through logging in rl's words."""
    code = ("import sys\nfrom rootless import logconf\nlogconf.configure(sys.argv[1])\n"
            "log = logconf.logger('rootless.x')\nlog.debug('step %s', 1)\nlog.info('info')\n"
            "print('logging' in sys.modules, log.isEnabledFor(logconf.DEBUG), flush=True)\n"
            "log.warning('careful %s', 'now')\n")
    out = {}
    for level in ("warn", "debug"):
        r = subprocess.run([sys.executable, "-S", "-c", code, level], capture_output=True, text=True,
                           env={"PYTHONPATH": str(ROOT)}, check=True)
        out[level] = (r.stdout.strip(), r.stderr.strip().splitlines())
    assert out["warn"] == ("False False", ["WARN: careful now"])
    assert out["debug"] == ("True True", ['level=debug msg="step 1"', 'level=info msg="info"', "WARN: careful now"])
