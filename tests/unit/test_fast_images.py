"""`rl inspect` and `rl images` are the commands the benchmark times against
podman's: their execution path (and their errors) must not import typer,
click, pydantic or rich, nor the registry client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("typer", "click", "pydantic", "rich")


@pytest.mark.parametrize("argv,status", [
    (["images"], 0), (["images", "--format", "json"], 0), (["image", "ls", "-q"], 0),
    (["inspect", "nothing-here"], 125), (["inspect", "--type", "image", "nothing-here"], 125),
    (["image", "inspect", "nothing-here"], 125), (["history", "nothing-here"], 125),
    (["image", "exists", "nothing-here"], 1), (["generate", "systemd", "nothing-here"], 125)])
def test_no_typer_on_the_path(tmp_path, argv, status):
    code = ("import sys, json; from rootless import cli; rc = cli.run(['--root', sys.argv[1], '--runroot', sys.argv[2],"
            " *json.loads(sys.argv[3])]); print(rc, sorted({m.split('.')[0] for m in sys.modules"
            f" if m.split('.')[0] in {HEAVY!r}}}), 'rootless.images.registry' in sys.modules)")
    import json
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root"), str(tmp_path / "run"), json.dumps(argv)],
                       capture_output=True, text=True, cwd=ROOT, check=True)
    assert r.stdout.strip().splitlines()[-1] == f"{status} [] False", r.stderr
