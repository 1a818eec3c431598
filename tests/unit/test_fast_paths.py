"""What a few everyday lines leave unimported (docs/architecture.md, "The
command table and the fast path"): `rl --version` (podman-compose asks before
every action) neither pathlib nor platform; `rl inspect` of a container not
the image store, and of an image not the container views and log code.
Counts of modules, not times: times are the benchmark's (bench/cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path, argv, setup: str = ""):
    code = ("import sys, json\n" + setup +
            "from rootless import cli\n"
            "before = set(sys.modules)\n"
            "rc = cli.run([*json.loads(sys.argv[1])])\n"
            "print(json.dumps([rc, sorted(set(sys.modules) - before)]))")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    (tmp_path / "run").mkdir(mode=0o700, exist_ok=True)
    r = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True, cwd=ROOT,
                       env=env)
    rc, mods = json.loads(r.stdout.splitlines()[-1])
    return rc, set(mods), r.stdout, r.stderr


def test_version_imports_neither_pathlib_nor_platform(tmp_path):
    rc, mods, out, err = _run(tmp_path, ["--version"])
    assert rc == 0 and out.startswith("rl version "), err
    assert sorted(mods & {"pathlib", "platform", "rootless.config", "json"}) == []


def test_inspect_of_a_container_does_not_read_the_image_store(tmp_path):
    setup = ("from pathlib import Path\n"
             "from rootless.config import default_paths\n"
             "from rootless.containers.records import Store\n"
             "Store(default_paths(None, None)).create('img', ['true'], 'vfs', 'ctr1', request={'image': 'img'})\n")
    rc, mods, out, err = _run(tmp_path, ["inspect", "ctr1"], setup)
    assert rc == 0 and '"Name": "ctr1"' in out, err
    assert sorted(m for m in mods if m.startswith("rootless.images.") and m != "rootless.images.hooks") == []


def test_inspect_of_an_image_does_not_import_the_container_views(tmp_path):
    rc, mods, out, err = _run(tmp_path, ["inspect", "localhost/nothing-here:1"])
    assert rc == 125 and "no such object" in err
    assert "rootless.images.query" in mods  # it did look for the image
    assert sorted(mods & {"rootless.containers.views", "rootless.containers.logs", "shlex"}) == []


def test_ps_does_not_import_datetime(tmp_path):
    """ps renders its table through images.render, whose image-time parsing needs datetime; ps parses no time."""
    setup = ("from rootless.config import default_paths\n"
             "from rootless.containers.records import Store\n"
             "Store(default_paths(None, None)).create('img', ['true'], 'vfs', 'ctr1', request={'image': 'img'})\n")
    rc, mods, out, err = _run(tmp_path, ["ps", "-a"], setup)
    assert rc == 0 and "ctr1" in out, err
    assert "rootless.images.render" in mods and "datetime" not in mods


def test_ps_of_a_running_fuse_container_reads_proc_without_the_storage_package(tmp_path):
    """ps checks a running fuse-overlayfs container's daemon (procfs.fuse_lost, plain /proc reads): it used to
    import storage.fuse_overlayfs for it, and with it tools, ctypes, subprocess, logging, typing (a running
    container nearly doubled ps -a's instructions)."""
    import os
    sleeper = subprocess.Popen(["sleep", "1000"])
    try:
        setup = ("import os\n"
                 "from rootless.config import default_paths\n"
                 "from rootless.containers.records import Store, start_time\n"
                 "s = Store(default_paths(None, None))\n"
                 "r = s.create('img', ['true'], 'fuse-overlayfs', 'ctr1', request={'image': 'img'})\n"
                 f"s.update_state(r, state='running', pid={sleeper.pid}, pid_start=start_time({sleeper.pid}),"
                 f" monitor={os.getpid()}, monitor_start=start_time({os.getpid()}))\n")
        rc, mods, out, err = _run(tmp_path, ["ps", "-a"], setup)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert rc == 0 and "Up " in out and "ctr1" in out, out + err
    assert sorted(mods & {"rootless.storage", "rootless.tools", "ctypes", "subprocess", "logging", "typing",
                          "shutil"}) == []
