"""Shared benchmark plumbing: rl and podman side by side on the same machine
in one run, interleaved (so drift hits both alike), reported as medians and
ratios. No thresholds: numbers are for reading, not for failing."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def require_unprivileged() -> None:
    if os.getuid() == 0:
        sys.exit("benchmarks compare rootless tools: run them as an ordinary user (bench/run does)")


class Podman:
    """Rootless podman on its own throw-away store. Native overlay storage and
    runc are forced: on this host crun refuses the cgroup hybrid, and without
    driver=overlay podman silently falls back to vfs (10x slower, an unfair
    anchor)."""

    def __init__(self, base: Path):
        self.base = base
        (base / "storage").mkdir(parents=True, exist_ok=True)
        (base / "run").mkdir(parents=True, exist_ok=True)
        conf = base / "storage.conf"
        conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{base}/storage"\n'
                        f'runroot = "{base}/run"\n')
        self.env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(conf))
        # rootless podman 4.3 ignores CONTAINERS_STORAGE_CONF: name the store on the command line too,
        # or it uses (and may create as vfs) the user's default store
        self.runroot = tempfile.mkdtemp(prefix="podman-", dir="/tmp")  # runroot must be under 50 characters
        self.argv = [shutil.which("podman") or "podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs",
                     "--events-backend", "file", "--storage-driver", "overlay",
                     "--root", str(base / "storage"), "--runroot", self.runroot]

    def cmd(self, *args: str) -> list[str]:
        return [*self.argv, *args]

    def run(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(*args), env=self.env, check=check, capture_output=True, text=True, **kw)

    def reset(self) -> None:
        subprocess.run(self.cmd("system", "reset", "-f"), env=self.env, capture_output=True)


class Rl:
    """rl on its own throw-away store."""

    def __init__(self, base: Path):
        self.base = base
        for d in ("data", "config", "run"):
            (base / d).mkdir(parents=True, exist_ok=True)
        (base / "run").chmod(0o700)
        self.env = dict(os.environ, XDG_DATA_HOME=str(base / "data"), XDG_CONFIG_HOME=str(base / "config"),
                        XDG_RUNTIME_DIR=str(base / "run"))
        exe = Path(sys.executable).with_name("rl")
        self.argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "rootless"]

    def cmd(self, *args: str) -> list[str]:
        return [*self.argv, *args]

    def run(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(*args), env=self.env, check=check, capture_output=True, text=True, **kw)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleave(cases: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
               before_each: dict[str, Callable[[], object]] | None = None) -> dict[str, list[float]]:
    """Run every case once per round, in rotating order; `before_each[name]`
    (untimed) resets state, e.g. empties a store for a cold pull. A case that
    returns False failed: its time is not a sample."""
    names = list(cases)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            if before_each and n in before_each:
                before_each[n]()
            t0 = time.perf_counter()
            ok = cases[n]()
            t = time.perf_counter() - t0
            if r >= warmup and ok is not False:  # a case returns False for a failed run: not a sample
                samples[n].append(t)
    return samples


def report(name: str, samples: dict[str, list[float]], anchor: str, unit: str = "s",
           extra: dict | None = None) -> dict:
    empty = [k for k, v in samples.items() if not v]
    for k in empty:
        print(f"  {k}: every run failed, no figure", file=sys.stderr)
    samples = {k: v for k, v in samples.items() if v}
    med = {k: statistics.median(v) for k, v in samples.items()}
    rows = []
    for k, v in samples.items():
        ratio = med[k] / med[anchor] if med.get(anchor) else float("nan")
        rows.append({"case": k, "median": med[k], "min": min(v), "max": max(v), "n": len(v),
                     f"ratio_vs_{anchor}": ratio})
    width = max(len(k) for k in samples)
    print(f"== {name} (median of {len(next(iter(samples.values())))} interleaved rounds; ratio = case / {anchor})")
    for row in rows:
        print(f"  {row['case']:<{width}}  median {row['median']:.4f}{unit}  "
              f"[{row['min']:.4f}..{row['max']:.4f}]  ratio {row[f'ratio_vs_{anchor}']:.2f}")
    out = {"benchmark": name, "anchor": anchor, "unit": unit, "rows": rows, "host": os.uname().release,
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {})}
    save(name, out, announce=False)
    return out


def save(name: str, out: dict, announce: bool = True) -> None:
    """bench/results/NAME.json (a read-only checkout still printed the table)."""
    try:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=1))
    except OSError:
        return
    if announce:
        print(f"  (written to {RESULTS / f'{name}.json'})")


def scratch(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"rl-bench-{prefix}-", dir=os.environ.get("RL_BENCH_TMP")))


def _fixture_python() -> str:
    """A Python that can run the test fixture (it imports pytest): the bench's
    own if it can, else the test venv helpers/test made (as root, or as a user)."""
    if os.environ.get("RL_BENCH_FIXTURE_PYTHON"):
        return os.environ["RL_BENCH_FIXTURE_PYTHON"]
    import importlib.util
    if importlib.util.find_spec("pytest") is not None:
        return sys.executable
    for cand in ("/var/lib/rl-test/venv/bin/python", Path.home() / ".cache" / "rl-test" / "venv" / "bin" / "python"):
        if os.access(cand, os.X_OK):
            return str(cand)
    sys.exit("the registry fixture needs a Python with pytest: run helpers/test once, "
             "or set RL_BENCH_FIXTURE_PYTHON")


def rootfs_tar(given: str | None) -> str:
    """The root filesystem tarball a benchmark imports as a one-layer image:
    --tar, else $RL_BENCH_ROOTFS_TAR, else the test fixture's debian:bookworm
    rootfs (mmdebstrap from the Debian mirror, cached by its recipe's hash:
    built here on a fresh machine, taken from the cache after that)."""
    path = given or os.environ.get("RL_BENCH_ROOTFS_TAR")
    if not path:
        code = "from tests.fixture.registry import warm\nprint(warm(log=True).rootfs_tar)"
        res = subprocess.run([_fixture_python(), "-c", code], cwd=REPO, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, text=True)
        lines = res.stdout.strip().splitlines()
        if res.returncode != 0 or not lines:
            sys.exit(f"the test fixture could not build its rootfs (exit {res.returncode}): pass --tar ROOTFS.tar")
        path = lines[-1]
    if not os.path.isfile(path):
        sys.exit(f"no root filesystem tarball at {path}: pass --tar (any rootfs tar, e.g. from mmdebstrap)")
    return path


def _die_with_parent() -> None:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def fixture_registry(work: Path) -> Iterator[dict[str, str]]:
    """The test suite's loopback registries (tests/fixture/registry.py --serve:
    its cached images, built by independent tools), for as long as the block
    runs. Yields its environment: RL_REGISTRY is the plain-HTTP, anonymous one
    ("127.0.0.1:PORT"; library/debian:bookworm, rl-test/layers:v1, ...)."""
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([_fixture_python(), "-m", "tests.fixture.registry", "--serve", "--workdir", str(work)],
                            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            preexec_fn=_die_with_parent)
    env: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("# logs in"):
                break
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                env[key] = value
        if "RL_REGISTRY" not in env:
            sys.exit(f"the registry fixture did not start (exit {proc.wait()}): see its messages above")
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def machine() -> dict:
    """What the figures were measured on."""
    out: dict = {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            out["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            out["mem_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
        out["loadavg"] = os.getloadavg()
    except (OSError, StopIteration):
        pass
    try:
        out["podman"] = subprocess.run(["podman", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return out
