"""Shared test plumbing.

Markers declare what a test needs; each need is probed once per session by
trying the real thing. Locally a missing need skips with the exact reason; in
CI (CI=true) it fails, so a broken set-up can never pass silently."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _probe_python(code: str) -> str | None:
    """Run `code` in a fresh interpreter; None if it exits 0, else the reason."""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    if res.returncode == 0:
        return None
    return (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]


def _tool_and_device(tool: str, device: str) -> str | None:
    if not shutil.which(tool):
        return f"{tool} is not installed (helpers/setup-host installs it)"
    try:
        os.close(os.open(device, os.O_RDWR))
    except OSError as e:
        return f"{device}: {e.strerror} (helpers/setup-host makes it usable)"
    return None


@functools.cache
def need_reason(marker: str) -> str | None:
    """Why a marker's requirement is not met here, or None when it is."""
    if marker in ("userns", "fuse", "slirp4netns", "registry") and os.getuid() == 0:
        return "rootless tests must not run as root: use helpers/test (it runs them as an unprivileged user)"
    if marker == "userns":
        return _probe_python(
            "from rootless.runtime import userns; import os\n"
            "assert userns.run_in_userns(os.getuid) == 0")
    if marker == "fuse":
        return _tool_and_device("fuse-overlayfs", "/dev/fuse") or need_reason("userns")
    if marker == "slirp4netns":
        return _tool_and_device("slirp4netns", "/dev/net/tun") or need_reason("userns")
    if marker == "registry":
        missing = [t for t in ("docker-registry", "skopeo", "umoci", "mmdebstrap") if not shutil.which(t)]
        if missing:
            return f"not installed: {', '.join(missing)} (helpers/setup-host installs them)"
        return need_reason("userns")
    return None


NEEDS = ("userns", "fuse", "slirp4netns", "registry")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """In CI a skipped test is a failure, whatever skipped it: a green run
    must mean every test ran (expected failures, xfail, stay as they are)."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped in CI (a skip is a failure there): {reason}"


# The slowest chains first, so that no worker starts one near the end: the
# systemd guest (software emulation), then the workload services.
_FIRST = ("tests/vm/", "tests/workloads/")


def _group(item: pytest.Item) -> str:
    rel = os.path.relpath(str(item.fspath), REPO)
    return "vm" if rel.startswith("tests/vm/") else rel.removeprefix("tests/").removesuffix(".py")


_GROUP_TIME: dict[str, list[float]] = {}  # group -> [seconds, tests], on the controller


def pytest_runtest_logreport(report) -> None:
    """Sum each group's time (set-up, call and tear-down): the end of the run
    shows which file groups are the suite's critical path (the slowest group
    runs on one worker, whatever the worker count)."""
    rel = report.nodeid.split("::", 1)[0]
    group = "vm" if rel.startswith("tests/vm/") else rel.removeprefix("tests/").removesuffix(".py")
    acc = _GROUP_TIME.setdefault(group, [0.0, 0])
    acc[0] += report.duration
    acc[1] += report.when == "call"


def pytest_sessionfinish(session) -> None:
    from tests import seed
    seed.cleanup()  # each worker's template stores


def pytest_terminal_summary(terminalreporter) -> None:
    if not _GROUP_TIME:
        return
    total = sum(t for t, _ in _GROUP_TIME.values())
    terminalreporter.section(f"slowest test groups (all groups: {total:.0f} s of test time)")
    for group, (t, n) in sorted(_GROUP_TIME.items(), key=lambda kv: -kv[1][0])[:15]:
        terminalreporter.write_line(f"{t:8.0f} s {n:4d} tests  {group}")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With pytest-xdist (helpers/test runs `-n N --dist loadgroup`), a test
    file runs in one worker, so its module fixtures are set up once and its
    tests never race each other; the guest tests share one worker and one
    booted guest. Same order on every worker (xdist requires it)."""
    def rank(item: pytest.Item) -> int:
        rel = os.path.relpath(str(item.fspath), REPO)
        return next((i for i, p in enumerate(_FIRST) if rel.startswith(p)), len(_FIRST))
    items.sort(key=rank)  # stable: collection order within each rank
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name in NEEDS:
        if item.get_closest_marker(name) is None:
            continue
        reason = need_reason(name)
        if reason:
            if IN_CI:
                pytest.fail(f"[{name}] required in CI but unavailable: {reason}", pytrace=False)
            pytest.skip(f"[{name}] {reason}")


@dataclass
class RlEnv:
    """An isolated rl: its own storage root, runtime dir and config home."""
    base: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, input: str | bytes | None = None, timeout: float = 300,
            check: bool = False, text: bool = True, **kw) -> subprocess.CompletedProcess:
        if isinstance(input, bytes):
            text = False
        from tests import seed
        if seed.rl_seedable(self.env, args, kw.get("env")):
            res = seed.rl_pull(REPO, self.env)  # a copy of the same pull's store (tests/seed.py)
            if check and res.returncode != 0:
                raise AssertionError(f"rl {' '.join(args)} -> {res.returncode}\nstderr: {res.stderr}")
            return res
        env = {**self.env, **kw.pop("env", {})}  # env=: additions for this call
        res = subprocess.run([sys.executable, "-m", "rootless", *args], input=input, capture_output=True,
                             text=text, env=env, timeout=timeout, **kw)
        if check and res.returncode != 0:
            raise AssertionError(f"rl {' '.join(args)} -> {res.returncode}\nstdout: {res.stdout}\n"
                                 f"stderr: {res.stderr}")
        return res

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "rootless", *args], env=self.env, **kw)


def make_rl_env(base: Path) -> RlEnv:
    data, cfg, run = base / "data", base / "config", base / "run"
    for d in (data, cfg, run):
        d.mkdir(parents=True, exist_ok=True)
    run.chmod(0o700)
    env = dict(os.environ)
    env.update(XDG_DATA_HOME=str(data), XDG_CONFIG_HOME=str(cfg), XDG_RUNTIME_DIR=str(run),
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    return RlEnv(base, env)


_RECLAIM = ("import shutil, sys\nfrom rootless.runtime import userns\n"
            "for p in sys.argv[1:]:\n    userns.run_in_userns(shutil.rmtree, p, ignore_errors=True)\n")


def reclaim(*paths: Path) -> None:
    """Remove trees that hold files owned by subordinate IDs (left by
    containers and unpacked layers): only root of a user namespace mapping
    those IDs may delete them, so the removal runs in one."""
    todo = [str(p) for p in paths if p.exists()]
    if not todo:
        return
    if os.getuid() != 0 and need_reason("userns") is None:
        subprocess.run([sys.executable, "-c", _RECLAIM, *todo], cwd=REPO, timeout=300, capture_output=True)
    for p in todo:
        shutil.rmtree(p, ignore_errors=True)


def _foreign_owned(root: Path) -> bool:
    me = os.getuid()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            try:
                if os.lstat(os.path.join(dirpath, name)).st_uid != me:
                    return True
            except OSError:
                continue
    return False


def _in_use(numbered: Path) -> bool:
    """pytest's numbered temp dir holds `.lock` with its session's pid until
    that session ends: a long session (its dir's mtime is its start) is
    still using it, whatever its age."""
    try:
        pid = int((numbered / ".lock").read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def pytest_configure(config: pytest.Config) -> None:
    """pytest keeps old temp dirs and fails to delete subordinate-ID files in
    them; reclaim stale ones (not touched for 30 min, so concurrent sessions
    of the same user are left alone)."""
    import tempfile
    import time
    base = Path(tempfile.gettempdir()) / f"pytest-of-{os.environ.get('USER') or os.getuid()}"
    if os.getuid() == 0 or not base.is_dir():
        return
    stale = [p for p in base.glob("pytest-*") if p.is_dir() and not p.is_symlink() and not _in_use(p)
             and time.time() - p.stat().st_mtime > 1800 and _foreign_owned(p)]
    stale += [p for p in base.glob("garbage-*") if p.is_dir()]  # pytest's own failed deletions
    if stale:
        reclaim(*stale)


@pytest.fixture
def rl(tmp_path: Path):
    env = make_rl_env(tmp_path / "rl")
    yield env
    ctrs = env.base / "data" / "rl" / "containers"
    if ctrs.is_dir() and any(p.name not in ("names", ".create.lock") for p in ctrs.iterdir()):
        # a test that failed half-way must not leave its containers running for the rest of the session
        env.run("rm", "-f", "--all", "-t", "0", timeout=120)
    if _foreign_owned(env.base):
        reclaim(env.base)


# the registry fixture lives in tests/fixture (a session fixture named `registry`)
try:
    from tests.fixture.registry import registry  # noqa: F401,E402
except ImportError as _e:  # pragma: no cover - only while the fixture is being written
    if "tests.fixture.registry" not in str(_e):
        raise
