"""No module of the package prints or exits but the CLI (its single error
mapping, its renderers and prompts) and the separate entry points: an AST
scan of rootless/ for print(), exit()/quit(), sys.exit(), os._exit(),
traceback.print_*() and any use of sys.stdout/sys.stderr other than
flush()/isatty()/fileno(). Library code logs through `logging` (rootless/
logconf.py renders it on stderr at `--log-level`). os._exit is allowed only
in the forked children listed below, each with its reason."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "rootless"

# whole files: the separate entry points, and logconf (the log channel's one sink: stderr)
ENTRY_FILES = ("rootless/__main__.py", "rootless/containers/monitor_main.py", "rootless/logconf.py")
ENTRY_DIRS = ("rootless/cli/",)
# functions that are entry points of their own: rl-generator's main (a systemd generator);
# an `if __name__ == "__main__":` block is one too
ENTRY_FUNCTIONS = {("rootless/systemd/quadlet.py", "main")}

# os._exit in a child right after fork: it must never return into the
# caller's stack (pytest's, the CLI's), run its atexit handlers or flush
# buffers it inherited; its status is the only way out
FORKED_CHILDREN = {
    ("rootless/containers/copy.py", "_side"): "cp/export side joined to the container",
    ("rootless/containers/copy.py", "_signal_all"): "child joined to the container to stop/continue it",
    ("rootless/linux/spawn.py", "_child_side"): "every long-lived helper (linux.spawn)",
    ("rootless/containers/top.py", "names_inside"): "child reading /etc/passwd in the container",
    ("rootless/network/usernet.py", "_in_pinner"): "child joined to the rootless netns",
    ("rootless/network/keeperctl.py", "_answer"): "the keeper's fork answering one request",
    ("rootless/runtime/child.py", "run"): "the container's PID 1 before exec",
    ("rootless/runtime/exec.py", "_inside"): "exec's inner child before exec",
    ("rootless/runtime/init.py", "serve"): "rl's --init as PID 1",
}

# sys.stderr assigned (never written) where a forked helper points the log
# channel's stream at a new object on its own log fd (linux.spawn)
LOG_STREAMS = {
    ("rootless/linux/spawn.py", "_fresh_stderr"): "a helper's log stream: no lock of the starter's threads, "
                                                 "and the starter's stderr rather than a container's",
}

STREAM_OK = ("flush", "isatty", "fileno")


def _is(node: ast.AST, owner: str, attr: str) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.value, ast.Name) \
        and node.value.id == owner


def findings(path: Path, rel: str) -> list[tuple[int, str, str]]:
    """(line, enclosing function, what) for every print/exit/stream write in one file."""
    out: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, func: str, parent: ast.AST | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Compare) \
                    and isinstance(child.test.left, ast.Name) and child.test.left.id == "__name__":
                continue  # a script's entry point
            f = func
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                f = child.name if not func else f"{func}.{child.name}"
            what = None
            if isinstance(child, ast.Call):
                fn = child.func
                if isinstance(fn, ast.Name) and fn.id in ("print", "exit", "quit"):
                    what = f"{fn.id}()"
                elif _is(fn, "sys", "exit"):
                    what = "sys.exit()"
                elif _is(fn, "os", "_exit"):
                    what = "os._exit()"
                elif isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) and fn.value.id == "traceback" \
                        and fn.attr.startswith("print"):
                    what = f"traceback.{fn.attr}()"
            elif any(_is(child, "sys", s) for s in ("stdout", "stderr", "__stdout__", "__stderr__")):
                up = parents.get(id(child))
                grand = parents.get(id(up)) if up is not None else None
                if not (isinstance(up, ast.Attribute) and up.attr in STREAM_OK and isinstance(grand, ast.Call)):
                    what = f"sys.{child.attr}"
            if what:
                out.append((child.lineno, f, what))
            visit(child, f, child)

    tree = ast.parse(path.read_text(), str(path))
    parents = {id(c): p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    visit(tree, "", None)
    return out


def violations(root: Path = ROOT) -> list[str]:
    out = []
    for path in sorted((root / "rootless").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in ENTRY_FILES or rel.startswith(ENTRY_DIRS):
            continue
        for line, func, what in findings(path, rel):
            top = func.split(".")[0]
            if (rel, top) in ENTRY_FUNCTIONS:
                continue
            if what == "os._exit()" and (rel, top) in FORKED_CHILDREN:
                continue
            if what == "sys.stderr" and (rel, top) in LOG_STREAMS:
                continue
            out.append(f"{rel}:{line} ({func or 'module level'}): {what}")
    return out


def test_no_library_module_prints_or_exits():
    assert violations() == []


def test_the_forked_children_listed_still_exist():
    # a stale entry would let a later os._exit slip in under an old name
    for (rel, func), why in FORKED_CHILDREN.items():
        found = [f for _, f, w in findings(ROOT / rel, rel) if w == "os._exit()"]
        assert any(f.split(".")[0] == func for f in found), f"{rel}:{func} ({why}) has no os._exit any more"


def test_the_scan_catches_each_kind(tmp_path):
    lib = tmp_path / "rootless" / "images"
    lib.mkdir(parents=True)
    (lib / "x.py").write_text(
        "import os, sys, traceback\n"
        "def a():\n    print('hi')\n"
        "def b():\n    sys.stderr.write('x')\n"
        "def c(f):\n    f(file=sys.stdout)\n"
        "def d():\n    sys.exit(1)\n"
        "def e():\n    os._exit(1)\n"
        "def g():\n    traceback.print_exc()\n"
        "def ok():\n    sys.stdout.flush()\n    sys.stderr.isatty()\n")
    found = violations(tmp_path)
    assert [v.split(" ", 1)[1] for v in found] == [
        "(a): print()", "(b): sys.stderr", "(c): sys.stdout", "(d): sys.exit()", "(e): os._exit()",
        "(g): traceback.print_exc()"]
