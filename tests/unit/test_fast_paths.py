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


# what the everyday commands must not import: re (with enum, functools and
# collections), json, pathlib (urllib.parse, ipaddress), contextlib, datetime,
# signal's enums: ~15 ms of a 25 ms `rl inspect` (bench/cli.py measures it)
COSTLY = {"re", "enum", "json", "pathlib", "urllib.parse", "ipaddress", "contextlib", "datetime", "signal",
          "shlex", "typing", "dataclasses"}


def _setup_store(tmp_path, env):
    code = ("import hashlib, json\n"
            "from rootless.config import default_paths\n"
            "from rootless.containers.records import Store\n"
            "from rootless.images.store import ImageStore\n"
            "paths = default_paths(None, None)\n"
            "Store(paths).create('img', ['true'], 'vfs', 'ctr1', request={'image': 'img'})\n"
            "cfg = json.dumps({'created': '2024-05-06T07:08:09.123456789Z', 'architecture': 'amd64', 'os': 'linux',"
            " 'config': {}, 'rootfs': {'type': 'layers', 'diff_ids': []}}).encode()\n"
            "d = 'sha256:' + hashlib.sha256(cfg).hexdigest()\n"
            "s = ImageStore(paths).ensure()\n"
            "s.put_blob(d, cfg)\n"
            "s.commit(config_digest=d, manifest_digest=d, layers=[], names=['localhost/t:1'], digests=[])\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


def test_everyday_commands_import_nothing_costly(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_RUNTIME_DIR": str(tmp_path / "run"),
           "PYTHONPATH": str(ROOT)}
    (tmp_path / "run").mkdir(mode=0o700)
    _setup_store(tmp_path, env)
    # -S: an editable install's import hooks in site import pathlib and re themselves; helpers/rl's lines
    code = ("import sys\nfrom rootless.cli import run\nrc = run(sys.argv[1:])\n"
            "sys.stdout.flush()\nprint('\\n' + repr([rc, sorted(sys.modules)]))")
    seen = {}
    for argv in (["inspect", "ctr1"], ["inspect", "localhost/t:1"], ["images"], ["ps", "-a"], ["logs", "ctr1"],
                 ["stop", "-t", "0", "ctr1"], ["rm", "ctr1"]):
        r = subprocess.run([sys.executable, "-S", "-c", code, *argv], capture_output=True, text=True, cwd=ROOT,
                           env=env)
        rc, mods = eval(r.stdout.splitlines()[-1])  # noqa: S307 - our own repr of a list of str
        assert rc == 0, (argv, r.stderr)
        seen[" ".join(argv)] = sorted(COSTLY & set(mods))
        if argv == ["images"]:
            assert "localhost/t" in r.stdout and " ago " in r.stdout  # the image's time was read
        if argv[0] == "inspect":
            assert r.stdout.lstrip().startswith("[")
    assert seen == {k: [] for k in seen}
