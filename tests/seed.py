"""Pre-pulled stores, copied into a test's empty store instead of pulling.

Hundreds of tests start with `rl pull -q debian:bookworm` into a fresh store
(a download, a digest check and an unpack of 8,000 files: 1-9 s under the
suite's load), and the differential ones with the same pull through podman
(4-5 s). Each xdist worker pulls once, for real, into a template store of
its own, and later such pulls into an empty store get a copy of the
template: the same files, made by the same pull from the same session
registry. The pull itself keeps its own tests (test_pull*, test_images*),
which ask for other references or flags and so are never seeded.

Only exact requests are seeded: `rl pull -q debian:bookworm` through
RlEnv.run with no per-call env, a store that holds no image, and no
containers config of the test's own; podman's load_image of the default
name into an empty podman store. RL_TEST_SEED=0 turns it off (every pull
real), to check that a test does not depend on it. The templates are
removed at the end of the session."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

SEEDED = "debian:bookworm"
ON = os.environ.get("RL_TEST_SEED", "1") != "0"

# hard links (cp -al), made inside a user namespace that maps the IDs owning the unpacked
# files (linking a file one does not own needs CAP_FOWNER over its owner). A copy of the
# data would cost as much as the pull's own unpack (this disk copies ~50 MB/s); links are
# safe because neither rl nor podman ever writes a stored file in place: layers are the
# read-only lower layers of an overlay, and metadata is replaced by rename. (A test that
# damages a stored file on purpose must pull for real: any other reference or flag does.)
_COPY = ("import subprocess, sys\nfrom rootless.runtime import userns\n"
         "userns.run_in_userns(subprocess.run, ['cp', '-alf', '--', *sys.argv[1:]], check=True)\n")

_rl_templates: dict[str, tuple[Path, str]] = {}  # registries.conf -> (template images dir, pull -q output)
_podman_templates: dict[str, Path] = {}  # registry address -> template graphroot
_dirs: list[Path] = []


def _tmpdir(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("RL_TEST_SEED_DIR") or None))
    _dirs.append(d)
    return d


def _copy(repo: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-c", _COPY, *args], cwd=repo, check=True, timeout=300,
                   capture_output=True)


def rl_seedable(env: dict[str, str], args: tuple, kw_env: dict | None) -> bool:
    if not ON or args != ("pull", "-q", SEEDED) or kw_env:
        return False
    if any(k.startswith("CONTAINERS_") and k != "CONTAINERS_REGISTRIES_CONF" for k in env):
        return False
    if any(k in env for k in ("RL_ROOT", "RL_RUNROOT", "RL_PULL_STREAM")) or \
            not all(k in env for k in ("CONTAINERS_REGISTRIES_CONF", "XDG_CONFIG_HOME", "XDG_DATA_HOME")):
        return False
    if (Path(env["XDG_CONFIG_HOME"]) / "containers").exists():
        return False
    records = Path(env["XDG_DATA_HOME"]) / "rl" / "images" / "records"
    return not (records.is_dir() and any(records.iterdir()))


def rl_pull(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`rl pull -q debian:bookworm` into env's (empty) store, from the template."""
    conf = env["CONTAINERS_REGISTRIES_CONF"]
    if conf not in _rl_templates:
        base = _tmpdir("rl-seed-")
        tpl = {**env, "XDG_DATA_HOME": str(base / "data"), "XDG_CONFIG_HOME": str(base / "config"),
               "XDG_RUNTIME_DIR": str(base / "run")}
        for d in ("data", "config", "run"):
            (base / d).mkdir(mode=0o700)
        res = subprocess.run([sys.executable, "-m", "rootless", "pull", "-q", SEEDED], env=tpl,
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            return res  # as the test's own pull would have failed
        _rl_templates[conf] = (base / "data" / "rl" / "images", res.stdout)
    images, out = _rl_templates[conf]
    dest = Path(env["XDG_DATA_HOME"]) / "rl" / "images"
    dest.mkdir(parents=True, exist_ok=True)
    _copy(repo, f"{images}/.", str(dest))  # into it: it holds no image, maybe empty dirs and locks
    return subprocess.CompletedProcess(["rl", "pull", "-q", SEEDED], 0, out, "")


def podman_seedable(podman, name: str) -> bool:
    """Only into a store podman has not used yet (a network or a volume made
    first is a store a copy cannot merge into)."""
    if not ON or name != SEEDED:
        return False
    root = podman.base / "root"
    return not root.exists() or not any(root.iterdir())


def podman_load(podman, registry, load) -> None:
    """load(podman, registry) into podman's empty store, from the template:
    the graphroot without libpod's database (it names the store's paths;
    podman makes a new one) and with a runroot of podman's own."""
    key = registry.plain
    if key not in _podman_templates:
        from tests.podman import Podman
        tpl = Podman(_tmpdir("pm-seed-") / "podman")
        _dirs.extend((tpl.runroot, tpl.xdg_run))
        try:
            load(tpl, registry)
        finally:
            tpl.stop_pause()
        _podman_templates[key] = tpl.base / "root"
    root = _podman_templates[key]
    entries = [str(p) for p in root.iterdir() if p.name != "libpod"]
    _copy(Path(__file__).resolve().parent.parent, *entries, str(podman.base / "root"))
    # podman's first command in this store, as the pull was: its rootless set-up (and the
    # warning a private "/" gives then) happens here, not in what the test compares
    res = podman.run("images", "--format", "{{.Repository}}:{{.Tag}}")
    if res.returncode != 0 or f"docker.io/library/{SEEDED}" not in res.stdout:
        raise AssertionError(f"the seeded podman store does not list {SEEDED}: {res.stdout!r} {res.stderr!r}")


def cleanup() -> None:
    if not _dirs:
        return
    from tests.conftest import reclaim
    reclaim(*_dirs)
    _dirs.clear()
