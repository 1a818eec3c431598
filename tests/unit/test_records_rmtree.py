"""records._rmtree removes what shutil.rmtree(ignore_errors=True) removes,
without importing shutil, and follows no symlink out of the tree (a
container writes its upper layer: it may plant links to the user's files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rootless.containers import records

ROOT = Path(__file__).resolve().parents[2]


def _tree(base: Path) -> tuple[Path, Path]:
    outside = base / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "keep").write_text("user's")
    (outside / "sub" / "keep2").write_text("user's")
    top = base / "top"
    (top / "a" / "b" / "c").mkdir(parents=True)
    (top / "a" / "f").write_text("x")
    (top / "a" / "b" / "c" / "g").write_text("y")
    (top / "e").mkdir()
    os.symlink(outside, top / "a" / "to-dir")
    os.symlink(outside / "keep", top / "a" / "b" / "to-file")
    os.symlink("/nonexistent/nothing", top / "dangling")
    os.symlink("..", top / "e" / "up")
    os.mkfifo(top / "a" / "fifo")
    return top, outside


def _listing(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob("*"))


@pytest.mark.parametrize("how", ["rl", "shutil"])
def test_removes_the_tree_and_nothing_it_links_to(tmp_path, how):
    top, outside = _tree(tmp_path)
    if how == "rl":
        records._rmtree(top)
    else:
        shutil.rmtree(top, ignore_errors=True)
    assert not os.path.lexists(top)
    assert _listing(tmp_path) == ["outside", "outside/keep", "outside/sub", "outside/sub/keep2"]


def test_a_symlink_a_file_or_nothing_at_path(tmp_path):
    top, outside = _tree(tmp_path)
    os.symlink(outside, tmp_path / "link")
    for p in (tmp_path / "link", outside / "keep", tmp_path / "missing"):
        records._rmtree(p)
        shutil.rmtree(p, ignore_errors=True)  # the same: nothing removed, no error
    assert os.path.islink(tmp_path / "link") and (outside / "keep").read_text() == "user's"
    assert (outside / "sub" / "keep2").exists()


def test_rm_path_does_not_import_shutil(tmp_path):
    top, _ = _tree(tmp_path)
    code = ("import sys, json; from rootless.containers import records\n"
            "records._rmtree(sys.argv[1]); print(json.dumps('shutil' in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(top)], capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(r.stdout) is False and not os.path.lexists(top)
