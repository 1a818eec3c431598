"""Security, class: a hostile container (or image) against the user, through
rl's own Python (issue 11: the planted-module tests, every path where rl code
runs near a container).

rl is Python, and some of its processes work inside a container's mount
namespace or chroot (exec and healthchecks join it, cp/export/commit of a
stopped container chroot into its root, the runtime pivots into it), where
every absolute path on the interpreter's sys.path names the container's
files. Others run on the host beside a container that can write somewhere:
rl-monitor's way back into Python (`resume` when the container exits,
`health` for each check) must not take modules from its working directory,
from PYTHONPATH or from the user's site-packages, any of which a container's
volume may be.

The container here plants a module for every standard-library name, the
whole `rootless` package, `encodings/`, `sitecustomize`/`usercustomize`
and a zip at the interpreter's zip entry, at every sys.path location of
rl's interpreter (as the test runs it and as `python -I` runs it), at `/`,
its workdir and HOME. Each planted module, if ever executed, writes
PLANTED to stderr and a `pwned-NAME` marker into a shared volume, into a
host directory and into the root of whatever file system it sees. Every
command must succeed and leave no trace of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, make_rl_env, reclaim
from tests.integration.test_run_support import require_rootfs

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse]

IMAGE = "debian:bookworm"
WORKDIR = "/work"
STDLIB = sysconfig.get_path("stdlib")  # rl's interpreter is this one
PAYLOAD = '''import posix, sys
_n = {name!r}
for _d in ("/marker", {hostmark!r}, ""):
    try:
        _fd = posix.open(_d + "/pwned-" + _n, posix.O_WRONLY | posix.O_CREAT, 0o644)
        posix.write(_fd, repr(sys.argv).encode())
        posix.close(_fd)
    except OSError:
        pass
posix.write(2, ("PLANTED-" + _n + " " + repr(sys.argv) + "\\n").encode())
'''
EXTRA_NAMES = ("sitecustomize", "usercustomize", "pyseccomp", "pyroute2", "zstandard", "typer", "rich", "click")
ENCODINGS = ("__init__", "aliases", "utf_8", "ascii", "latin_1", "idna", "cp1252", "utf_16")


def _payload(name: str, hostmark: Path) -> str:
    return PAYLOAD.format(name=name, hostmark=str(hostmark))


def interpreter_paths(env: dict) -> list[str]:
    """Every directory (or zip) rl's interpreters look in: as the harness
    starts rl (cwd = the checkout) and as rl-monitor starts it (-I)."""
    out = set()
    for flags in ([], ["-I"]):
        res = subprocess.run([sys.executable, *flags, "-c", "import json, sys; print(json.dumps(sys.path))"],
                             env=env, cwd=REPO, capture_output=True, text=True, check=True)
        out |= {os.path.abspath(os.path.join(str(REPO), p)) for p in json.loads(res.stdout)}
    return sorted(out)


def plant_dir(dest: Path, hostmark: Path, package: bool) -> None:
    """Modules under every name rl's interpreter could import, in dest;
    with package, a whole `rootless` package too."""
    import rootless
    dest.mkdir(parents=True, exist_ok=True)
    for name in (set(sys.stdlib_module_names) | set(EXTRA_NAMES)) - {"encodings"}:
        (dest / f"{name}.py").write_text(_payload(name, hostmark))
    enc = dest / "encodings"  # a package, as the real one
    enc.mkdir(exist_ok=True)
    for sub in ENCODINGS:
        (enc / f"{sub}.py").write_text(_payload(f"encodings.{sub}", hostmark))
    if not package:
        return
    pkg = Path(rootless.__file__).parent
    for src in pkg.rglob("*.py"):
        rel = src.relative_to(pkg.parent)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_payload(".".join(rel.with_suffix("").parts), hostmark))


def plant_zip(dest: Path, hostmark: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w") as z:
        for name in set(sys.stdlib_module_names) | set(EXTRA_NAMES):
            z.writestr(f"{name}.py", _payload(f"zip:{name}", hostmark))


def plant_tree(tree: Path, paths: list[str], hostmark: Path) -> None:
    """tree mirrors the container's root: copied over it, it plants there.
    The `rootless` package goes where the real one is (the first directory
    holding it: its submodules are looked up there) and where a relative
    path would lead (/, the workdir); the other names everywhere."""
    import rootless
    home = os.path.dirname(os.path.dirname(os.path.abspath(rootless.__file__)))
    for p in [*paths, "/", WORKDIR, "/root", "/tmp"]:
        dest = tree / p.lstrip("/")
        if p.endswith(".zip"):
            plant_zip(dest, hostmark)
        else:
            plant_dir(dest, hostmark, package=p in (home, "/", WORKDIR, str(REPO)))


class World:
    """One rl, a planted tree, a marker volume, and the checks."""

    def __init__(self, base: Path, registry):
        self.base = base
        self.rl = make_rl_env(base / "rl")
        self.rl.env.update(registry.env())
        self.marker = base / "marker"
        self.marker.mkdir()
        self.hostmark = base / "hostmark"
        self.hostmark.mkdir()
        self.tree = base / "plant"
        self.paths = interpreter_paths(self.rl.env)
        plant_tree(self.tree, self.paths, self.hostmark)
        self.rl.run("pull", "-q", IMAGE, check=True)
        self.containers: list[str] = []
        self.seen: set[str] = set()  # traces an earlier test already failed on

    def forget(self) -> None:
        self.seen = set(self._traces())

    def run(self, *args, check=True, **kw) -> subprocess.CompletedProcess:
        res = self.rl.run(*args, **kw)
        self.check(res)
        if check:
            assert res.returncode == 0, f"rl {' '.join(args)}: {res.stderr}"
        return res

    def plant_opts(self) -> list[str]:
        return ["-v", f"{self.tree}:/plant:ro", "-v", f"{self.marker}:/marker", "-w", WORKDIR]

    def shared(self, running: bool) -> str:
        """One running and one exited planted container, for the tests that
        only read them (or copy into them)."""
        name = f"p-{'live' if running else 'dead'}"
        if name not in self.containers:
            self.planted_container(name, keep_running=running)
        return name

    def planted_container(self, name: str, *, keep_running: bool, extra=()) -> str:
        """A container that copied the planted tree over its own root; left
        running (sleeping) or exited."""
        tail = "exec sleep 100000" if keep_running else "exit 0"
        args = ["run", "--name", name, "--network", "none", *self.plant_opts(), *extra, IMAGE,
                "sh", "-c", f"cp -a /plant/. / && {tail}"]
        self.containers.append(name)
        if keep_running:
            self.run(args[0], "-d", *args[1:])
            deadline = time.monotonic() + 120
            while self.rl.run("exec", name, "test", "-e", f"{STDLIB}/json.py").returncode != 0:
                assert time.monotonic() < deadline, "the container did not plant its files"
                time.sleep(0.2)
        else:
            self.run(*args)
        return name

    def traces(self) -> list[str]:
        return [t for t in self._traces() if t not in self.seen]

    def _traces(self) -> list[str]:
        found = [str(p) for d in (self.marker, self.hostmark) for p in d.glob("pwned-*")]
        for cdir in (self.rl.base / "data" / "rl" / "containers").glob("*/diff"):
            try:
                found += [str(p) for p in cdir.glob("pwned-*")]
            except OSError:
                pass
        for log in (self.rl.base / "run" / "rl" / "containers").glob("*/monitor.log"):
            if "PLANTED" in log.read_text(errors="replace"):
                found.append(str(log))
        return found

    def check(self, res: subprocess.CompletedProcess | None = None) -> None:
        if res is not None:
            out = (res.stdout or "") + (res.stderr or "")
            assert "PLANTED" not in out, out
        traces = self.traces()
        assert traces == [], "planted code ran:\n" + "\n".join(
            f"{t}: {Path(t).read_text(errors='replace')[-2000:]}" for t in traces)


@pytest.fixture(scope="module")
def world(tmp_path_factory, registry):
    w = World(tmp_path_factory.mktemp("planted"), registry)
    yield w
    w.rl.run("rm", "-f", "--all", timeout=300)
    reclaim(w.base)


@pytest.fixture(autouse=True)
def _fresh_traces(world):
    """Each test answers for its own path only."""
    world.forget()
    yield


def _cid(world, name: str) -> str:
    return world.rl.run("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()


# ---------------------------------------------------------------- inside the container's namespaces

def test_exec_never_imports_planted_modules(world):
    name = world.shared(True)
    world.run("exec", name, "true")
    assert world.run("exec", name, "sh", "-c", "exit 3", check=False).returncode == 3
    assert world.run("exec", name, "/no/such/cmd", check=False).returncode == 127
    assert world.run("exec", name, "/etc/hostname", check=False).returncode == 126
    assert world.run("exec", "-u", "nobody-here", name, "true", check=False).returncode == 125
    world.run("exec", "-d", name, "true")
    world.run("exec", "-w", "/tmp", "-e", "PYTHONPATH=/tmp", name, "true")
    world.check()


def test_healthcheck_never_imports_planted_modules(world):
    """`rl healthcheck run`, and the checks rl-monitor starts on its interval."""
    name = world.planted_container("p-health", keep_running=True, extra=(
        "--health-cmd", "touch /marker/ran-$$", "--health-interval", "0.5s"))
    world.run("healthcheck", "run", name)
    deadline = time.monotonic() + 120
    while len(list(world.marker.glob("ran-*"))) < 4 and not world.traces():
        assert time.monotonic() < deadline, "rl-monitor ran no healthchecks"
        time.sleep(0.2)
    world.check()
    health = json.loads(world.rl.run("inspect", name, check=True).stdout)[0]["State"]["Health"]
    assert health["Status"] == "healthy", health
    world.run("rm", "-f", name)


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_from_container_never_imports_planted_modules(world, running, tmp_path):
    name = world.shared(running)
    world.run("cp", f"{name}:/etc/hostname", str(tmp_path / "hostname"))
    world.run("cp", f"{name}:{STDLIB}", str(tmp_path / "tree"))
    assert (tmp_path / "tree" / "json.py").is_file()  # copied as data, never run
    world.check()


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_into_container_never_imports_planted_modules(world, running, tmp_path):
    name = world.shared(running)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("hello\n")
    world.run("cp", str(src), f"{name}:/tmp/")
    world.run("cp", str(src / "sub" / "f.txt"), f"{name}:/tmp/f.txt")
    world.check()


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_export_never_imports_planted_modules(world, running, tmp_path):
    name = world.shared(running)
    out = tmp_path / "export.tar"
    world.run("export", "-o", str(out), name)
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert f"{STDLIB.lstrip('/')}/json.py" in names
    assert not [n for n in names if os.path.basename(n).startswith("pwned-")]
    world.check()


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_commit_and_diff_never_import_planted_modules(world, running):
    name = world.shared(running)
    world.run("diff", name)
    world.run("commit", name, f"localhost/planted-commit:{running}".lower())
    world.check()


def test_commit_of_a_rootfs_container_never_imports_planted_modules(world):
    """A --rootfs container has no image to add a layer to: commit squashes
    its whole root through an export, chrooted in it."""
    name = "p-commit-rootfs"
    world.containers.append(name)
    world.run("run", "--name", name, "--network", "none", *world.plant_opts(), "--rootfs", require_rootfs(),
              "sh", "-c", "cp -a /plant/. /")
    world.run("commit", name, "localhost/planted-rootfs:1")
    world.check()


# ---------------------------------------------------------------- detached runs and the monitor

def test_detached_runs_and_restarts_never_import_planted_modules(world):
    """The runtime side of `run -d` (pivot_root, rl's init), its failures, and
    restarts: rl-monitor goes back into Python (`resume`), which starts the
    container again. The planted files are bind-mounted at the interpreter's
    paths here, so that they are there from the container's first instant."""
    opts = ["-v", f"{world.marker}:/marker", "-w", WORKDIR]
    for p in [*world.paths, WORKDIR]:  # directories, and the zip entry as a file
        opts += ["-v", f"{world.tree / p.lstrip('/')}:{p}"]
    name = "p-restart"
    world.containers.append(name)
    world.run("run", "-d", "--name", name, "--network", "none", "--restart", "on-failure:2", *opts, IMAGE,
              "sh", "-c", "echo run >> /marker/runs; exit 7")
    res = world.run("wait", name)
    assert res.stdout.strip() == "7"
    deadline = time.monotonic() + 120
    while (world.marker / "runs").read_text().count("run") < 3:
        assert time.monotonic() < deadline, "no restarts"
        time.sleep(0.2)
    world.run("wait", name)
    assert (world.marker / "runs").read_text().count("run") == 3
    res = world.run("run", "-d", "--name", "p-notfound", "--network", "none", *opts, IMAGE, "/no/such/cmd",
                    check=False)
    world.containers.append("p-notfound")
    assert res.returncode == 127, res.stderr
    res = world.run("run", "-d", "--name", "p-nouser", "--network", "none", "-u", "nobody-here", *opts, IMAGE,
                    "true", check=False)
    world.containers.append("p-nouser")
    assert res.returncode == 125, res.stderr
    world.rl.env["RL_INIT_PATH"] = "builtin"  # rl's own init: Python that stays on as PID 1
    try:
        world.run("run", "-d", "--name", "p-init", "--init", "--network", "none", *opts, IMAGE, "sh", "-c", "exit 4")
        world.containers.append("p-init")
        assert world.run("wait", "p-init").stdout.strip() == "4"
    finally:
        del world.rl.env["RL_INIT_PATH"]
    world.check()


def _monitor_is_c(world, name: str) -> None:
    """Wait until the container's monitor exec'd rl-monitor: before that it
    is the CLI's fork, with the CLI's own sys.path."""
    run = world.rl.base / "run" / "rl" / "containers" / _cid(world, name)
    python = os.path.realpath(sys.executable)
    deadline = time.monotonic() + 60
    while True:
        try:
            pid = int((run / "monitor.pid").read_text())
            if os.path.realpath(f"/proc/{pid}/exe") != python:
                return
        except (OSError, ValueError):
            pass
        assert time.monotonic() < deadline, "the monitor never became rl-monitor"
        time.sleep(0.05)


def _host_side(world, tmp_path, name: str, health: bool):
    """rl started from a directory the container can write, with a PYTHONPATH
    entry it can write too (both are its volumes). Once rl-monitor runs, the
    container plants modules into both."""
    cwd, shared = tmp_path / "cwd", tmp_path / "shared"
    cwd.mkdir()
    shared.mkdir()
    # the CLI as a console script starts it: -P, nothing from the cwd; PYTHONPATH: the checkout and `shared`
    env = {**world.rl.env, "PYTHONPATH": f"{REPO}{os.pathsep}{shared}"}
    stdlib = world.tree / STDLIB.lstrip("/")
    script = ("while [ ! -e /shared/go ]; do sleep 0.05; done; cp -a /plant/. /shared/ && cp -a /plant/. /src/ && "
              + ("touch /shared/planted && exec sleep 100000" if health else "exit 0"))
    extra = ["--health-cmd", "test -e /shared/planted && touch /shared/ran-$$", "--health-interval", "0.5s"] \
        if health else []
    res = subprocess.run([sys.executable, "-P", "-m", "rootless", "run", "-d", "--name", name, "--network", "none",
                          "-v", f"{stdlib}:/plant:ro", "-v", f"{cwd}:/src", "-v", f"{shared}:/shared",
                          "-v", f"{world.marker}:/marker", *extra, IMAGE, "sh", "-c", script],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    world.containers.append(name)
    world.check(res)
    assert res.returncode == 0, res.stderr
    _monitor_is_c(world, name)
    (shared / "go").touch()
    return shared


def test_monitor_resume_ignores_cwd_and_pythonpath(world, tmp_path):
    """The container exits: rl-monitor execs Python to record it."""
    _host_side(world, tmp_path, "p-resume", health=False)
    res = world.run("wait", "p-resume")  # the CLI from the test's own environment now
    assert res.stdout.strip() == "0"
    world.check()
    state = json.loads(world.rl.run("inspect", "p-resume", check=True).stdout)[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0, state


def test_monitor_healthchecks_ignore_cwd_and_pythonpath(world, tmp_path):
    """rl-monitor's healthcheck processes (`monitor_main health`)."""
    shared = _host_side(world, tmp_path, "p-hhost", health=True)
    deadline = time.monotonic() + 120
    while len(list(shared.glob("ran-*"))) < 3 and not world.traces():
        assert time.monotonic() < deadline, "rl-monitor ran no healthchecks after the planting"
        time.sleep(0.2)
    world.check()
    world.run("rm", "-f", "p-hhost")
