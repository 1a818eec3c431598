"""A hostile image plants Python modules wherever rl's own interpreter would
look for them (its sys.path, seen from inside the container after
pivot_root). rl must never execute any of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_run_support import require_rootfs

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

PAYLOAD = "import os\nos.write(2, b'PLANTED-{name}\\n')\nopen('/marker/pwned-{name}', 'w').close()\n"


def runtime_sys_path(rl) -> list[str]:
    out = subprocess.run([sys.executable, "-c", "import sys; print('\\n'.join(sys.path))"], env=rl.env,
                         capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if p.startswith("/") and not p.endswith(".zip")]


def plant(dest: Path, repo_pkg: Path | None) -> None:
    """One module per stdlib name, plus every module name of the rootless package."""
    names = set(sys.stdlib_module_names) | {"pyseccomp", "typer", "sitecustomize", "usercustomize"}
    for name in names:
        (dest / f"{name}.py").write_text(PAYLOAD.format(name=name))
    if repo_pkg is not None:
        for src in repo_pkg.rglob("*.py"):
            rel = src.relative_to(repo_pkg.parent)
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(PAYLOAD.format(name=".".join(rel.with_suffix("").parts)))
        for extra in ("rootless/runtime/debug.py", "rootless/linux/extra.py", "rootless/errors_extra.py"):
            (dest / extra).write_text(PAYLOAD.format(name=extra))


def test_planted_modules_are_never_executed(rl, tmp_path):
    base = require_rootfs()
    import rootless
    pkg = Path(rootless.__file__).parent
    marker = tmp_path / "marker"
    marker.mkdir()
    opts = ["-v", f"{marker}:/marker"]
    for i, path in enumerate(runtime_sys_path(rl)):
        plant_dir = tmp_path / f"plant{i}"
        plant_dir.mkdir()
        plant(plant_dir, pkg if (Path(path) / "rootless").resolve() == pkg.resolve() or i == 0 else None)
        # the image's copy of this sys.path entry: bind-mounted where rl's interpreter would look
        opts += ["-v", f"{plant_dir}:{path}"]
    for extra in (["true"], ["/no/such/cmd"], ["sh", "-c", "exit 3"]):  # success and failure paths
        res = rl.run("run", "--rm", "--network", "none", *opts, "--rootfs", str(base), *extra)
        assert "PLANTED" not in res.stderr, res.stderr
        assert list(marker.iterdir()) == []
        assert res.returncode in (0, 127, 3), res.stderr
    res = rl.run("run", "--rm", "--network", "none", "-u", "nobody-here", *opts, "--rootfs", str(base), "true")
    assert res.returncode == 125 and "PLANTED" not in res.stderr
    rl.env["RL_INIT_PATH"] = "builtin"  # rl's own init: Python that stays on as PID 1 after pivot_root
    res = rl.run("run", "--rm", "--init", "-t", "--network", "none", *opts, "--rootfs", str(base), "sh", "-c", "exit 4")
    assert res.returncode == 4 and "PLANTED" not in res.stderr + res.stdout, res.stderr
    assert list(marker.iterdir()) == []
