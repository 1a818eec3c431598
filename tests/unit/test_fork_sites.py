"""Where rl creates processes, by AST scan of rootless/:

- os.fork (and forkpty, pty.fork, os.posix_spawn*, os.spawn*, os.system,
  os.popen) only at the sites listed below, each with its reason: a
  long-lived helper starts through rootless/linux/spawn.py (its fork, setsid
  or double fork, death signal, signal reset, fd sweep, ready message and
  one error format); the others are the container's own processes (they
  exec the user's command: their "ready" is the exec, their failures go
  through spawn.report) or short-lived children their caller waits for at
  once.
- external commands only through rootless/tools.py (`run`, `popen`,
  `execve`), which logs each argv at --log-level debug: subprocess's
  process-starting calls and os.exec* nowhere else.

A new ad-hoc fork or command fails here; it belongs in spawn / tools, or on
the list with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (file, top-level function) -> why it forks without linux.spawn (one fork each)
FORK_SITES = {
    ("rootless/linux/spawn.py", "_child_side"): "spawn's double fork (the intermediate exits at once)",
    ("rootless/linux/spawn.py", "spawn"): "the one fork of every long-lived helper",
    ("rootless/runtime/parent.py", "_pid1"): "the container's PID 1: execs the command (ready = the exec, "
                                             "failures by spawn.report on the error pipe)",
    ("rootless/runtime/child.py", "_after_pivot"): "rl's --init: the command forked under it, then exec'd",
    ("rootless/runtime/exec.py", "spawn"): "exec's inner process B: execs the command (as PID 1 above)",
    ("rootless/containers/top.py", "names_inside"): "short-lived: reads /etc/passwd inside, waited for at once",
    ("rootless/containers/copy.py", "_side"): "short-lived: one side of a cp/export tar stream, waited for",
    ("rootless/containers/copy.py", "_signal_all"): "short-lived: stops/continues the container, waited for",
    ("rootless/network/usernet.py", "_in_pinner"): "short-lived: one call in the rootless netns, waited for",
    ("rootless/network/keeperctl.py", "serve"): "short-lived: the keeper's answer to one request, reaped by "
                                                "the keeper (it has imported pyroute2 for these forks)",
}

# the one module that runs external commands (and execs in place)
COMMAND_MODULE = "rootless/tools.py"

_OS_SPAWNERS = {"fork", "forkpty", "system", "popen", "posix_spawn", "posix_spawnp",
                "spawnv", "spawnve", "spawnl", "spawnle", "spawnvp", "spawnvpe", "spawnlp", "spawnlpe"}
_SUBPROCESS_STARTERS = {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"}


def _call_name(fn: ast.AST) -> tuple[str, str] | None:
    if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
        return fn.value.id, fn.attr
    return None


def findings(path: Path) -> list[tuple[int, str, str]]:
    """(line, top-level function, what) for each process-creating call or import."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, top: str) -> None:
        for child in ast.iter_child_nodes(node):
            t = top
            if not top and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                t = child.name
            what = None
            if isinstance(child, ast.Call):
                name = _call_name(child.func)
                if name and name[0] == "os" and (name[1] in _OS_SPAWNERS or name[1].startswith("exec")):
                    what = f"os.{name[1]}"
                elif name == ("pty", "fork"):
                    what = "pty.fork"
                elif name and name[0] == "subprocess" and name[1] in _SUBPROCESS_STARTERS:
                    what = f"subprocess.{name[1]}"
            elif isinstance(child, ast.ImportFrom) and child.module in ("os", "pty", "subprocess"):
                for alias in child.names:
                    n = alias.name
                    if (child.module == "subprocess" and n in _SUBPROCESS_STARTERS) or (
                            child.module in ("os", "pty") and (n in _OS_SPAWNERS or n.startswith("exec"))):
                        what = f"from {child.module} import {n}"
            if what:
                out.append((child.lineno, t, what))
            visit(child, t)

    visit(tree, "")
    return out


def violations(root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted((root / "rootless").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        forks: dict[str, int] = {}
        for line, top, what in findings(path):
            if rel == COMMAND_MODULE and not what.startswith(("os.fork", "pty.", "from pty")):
                continue  # tools.run/popen/execve: the logged way
            if what == "os.fork" and (rel, top) in FORK_SITES:
                forks[top] = forks.get(top, 0) + 1
                if forks[top] == 1:  # a second fork in the same function is a new site
                    continue
            out.append(f"{rel}:{line} ({top or 'module level'}): {what}")
    return out


def test_processes_start_only_through_spawn_tools_or_a_listed_site():
    assert violations() == []


def test_every_listed_fork_site_still_forks():
    # a stale entry would let a later fork slip in under an old name
    for (rel, top), why in FORK_SITES.items():
        found = [t for _, t, w in findings(ROOT / rel) if w == "os.fork"]
        assert top in found, f"{rel}:{top} ({why}) forks no more: drop it from FORK_SITES"


def test_the_long_lived_helpers_go_through_spawn():
    # the runtime's namespace side, keep-id's nested side, exec's outer helper,
    # the monitor, the port forwarder and the rootless-netns keeper
    for rel, call in (("rootless/runtime/userns.py", "spawn("), ("rootless/runtime/parent.py", "spawn("),
                      ("rootless/runtime/exec.py", "linux_spawn("), ("rootless/containers/monitor.py", "spawn_helper("),
                      ("rootless/network/forwarder.py", "spawn("), ("rootless/network/usernet.py", "spawn(")):
        assert call in (ROOT / rel).read_text(), f"{rel} no longer starts its helper through linux.spawn"


def test_the_scan_catches_each_kind(tmp_path):
    lib = tmp_path / "rootless" / "network"
    lib.mkdir(parents=True)
    (lib / "x.py").write_text(
        "import os, pty, subprocess\n"
        "from subprocess import check_output\n"
        "def a():\n    if os.fork() == 0:\n        os._exit(0)\n"
        "def b():\n    subprocess.run(['true'])\n"
        "def c():\n    os.execv('/bin/true', ['true'])\n"
        "def d():\n    pty.fork()\n"
        "def e():\n    os.posix_spawn('/bin/true', ['true'], {})\n"
        "class K:\n    def m(self):\n        return subprocess.Popen(['true'])\n"
        "def ok():\n    return subprocess.DEVNULL, os.getpid()\n")
    found = [v.split(" ", 1)[1] for v in violations(tmp_path)]
    assert found == ["(module level): from subprocess import check_output", "(a): os.fork",
                     "(b): subprocess.run", "(c): os.execv", "(d): pty.fork", "(e): os.posix_spawn",
                     "(K): subprocess.Popen"]
