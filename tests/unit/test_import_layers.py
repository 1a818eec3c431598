"""Import directions, enforced: an AST scan of every module in rootless/
(imports at module level and inside functions alike) against the list of
allowed imports in docs/architecture.md ("Allowed imports"), plus two rules
written here so that editing the document cannot lift them: nothing but the
CLI (and `python -m rootless`) imports the CLI, and the runtime imports
neither images, nor containers, nor the CLI. No import cycles, between
layers nor between files. A layer is a subpackage or a top-level module of
`rootless` (`containers`, `config`, ...); the package root (`__version__`)
is open to every layer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PKG = "rootless"


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """rootless.* module name -> (file, is a package's __init__)."""
    out = {}
    for path in sorted((root / PKG).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        ispkg = parts[-1] == "__init__"
        if ispkg:
            parts.pop()
        out[".".join(parts)] = (path, ispkg)
    return out


def _targets(mod: str, ispkg: bool, node: ast.AST, known) -> list[str]:
    """The rootless modules one import statement (or a constant-string
    __import__ / importlib.import_module call) names."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = mod.split(".") if ispkg else mod.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            pkg = ".".join(base + ([node.module] if node.module else []))
        else:
            pkg = node.module or ""
        # `from rootless.x import y`: the submodule y when there is one, else rootless.x
        names = [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in known else pkg for a in node.names]
    elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        f = node.func
        fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if fname in ("__import__", "import_module"):
            names = [node.args[0].value]
    out = []
    for name in names:
        if name != PKG and not name.startswith(PKG + "."):
            continue
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        if name != mod:
            out.append(name)
    return out


def import_edges(root: Path) -> list[tuple[str, str, int]]:
    """(importer, imported, line) for every import of a rootless module, at
    any depth of the file (function-level imports included)."""
    known = modules(root)
    edges = []
    for mod, (path, ispkg) in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _targets(mod, ispkg, node, known):
                edges.append((mod, target, node.lineno))
    return edges


def layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else PKG


def allowed_imports(doc: Path = DOC) -> dict[str, set[str]]:
    """The list between the allowed-imports markers of docs/architecture.md:
    "- `layer`: `other`, `other`" ("*": any layer, "nothing": none)."""
    text = doc.read_text()
    m = re.search(r"<!-- allowed-imports -->\n(.*?)<!-- /allowed-imports -->", text, re.S)
    assert m, f"{doc}: no <!-- allowed-imports --> list"
    out: dict[str, set[str]] = {}
    for line in m.group(1).splitlines():
        if not line.strip():
            continue
        lm = re.fullmatch(r"- `([\w.]+)`: (.*)", line.strip())
        assert lm, f"{doc}: cannot read the allowed-imports line {line!r}"
        rhs = lm.group(2).strip()
        out[lm.group(1)] = {"*"} if rhs == "*" else set() if rhs == "nothing" else set(re.findall(r"`([\w.]+)`", rhs))
    return out


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    nodes = sorted(set(graph) | {w for ws in graph.values() for w in ws})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def layer_violations(edges, allowed) -> list[str]:
    out = []
    for src, dst, line in edges:
        a, b = layer(src), layer(dst)
        if a == b or b == PKG:
            continue
        ok = allowed.get(a, set())
        if "*" not in ok and b not in ok:
            out.append(f"{src} (line {line}) imports {dst}: `{a}` may not import `{b}`")
    return out


def rule_violations(edges) -> list[str]:
    """The two directions this file fixes whatever the document says."""
    out = []
    for src, dst, line in edges:
        a, b = layer(src), layer(dst)
        if b == "cli" and a not in ("cli", "__main__"):
            out.append(f"{src} (line {line}) imports {dst}: nothing outside rootless/cli imports the CLI")
        if a == "runtime" and b in ("images", "cli", "containers"):
            out.append(f"{src} (line {line}) imports {dst}: the runtime imports neither images, containers "
                       "nor the CLI (it receives layer directories, a spec and callbacks)")
    return out


def cycles(edges, key=lambda m: m) -> list[str]:
    graph: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], str] = {}
    for src, dst, line in edges:
        a, b = key(src), key(dst)
        if a != b:
            graph.setdefault(a, set()).add(b)
            lines.setdefault((a, b), f"{src}:{line} -> {dst}")
    out = []
    for comp in _sccs(graph):
        inner = [lines[(a, b)] for a in comp for b in sorted(graph.get(a, ())) if b in comp]
        out.append(" <-> ".join(comp) + " (" + "; ".join(inner) + ")")
    return out


# --- the package as it is

EDGES = import_edges(ROOT)


def test_the_scan_sees_function_level_imports():
    # containers/run.py imports runhooks inside functions only: the scan must see it
    assert any(s == "rootless.containers.run" and d == "rootless.containers.runhooks" for s, d, _ in EDGES)


def test_the_allowed_list_names_every_layer_and_only_layers():
    layers = {layer(m) for m in modules(ROOT)} - {PKG}
    allowed = allowed_imports()
    assert set(allowed) == layers, "docs/architecture.md's allowed-imports list and the package's layers differ"
    for a, targets in allowed.items():
        assert targets <= layers | {"*"}, f"{a}: unknown layers {targets - layers}"


def test_every_import_goes_in_an_allowed_direction():
    assert layer_violations(EDGES, allowed_imports()) == []


def test_nothing_imports_the_cli_and_the_runtime_imports_no_engine_above_it():
    assert rule_violations(EDGES) == []


def test_no_import_cycle_between_layers():
    assert cycles(EDGES, key=layer) == []


def test_no_import_cycle_between_files():
    assert cycles(EDGES) == []


# --- the checks themselves can fail: a planted forbidden import is caught

@pytest.fixture
def planted(tmp_path):
    for rel in ("cli/__init__.py", "cli/runflags.py", "runtime/__init__.py", "images/__init__.py",
                "images/puller.py", "images/archive.py", "errors.py", "__init__.py"):
        p = tmp_path / PKG / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")
    return tmp_path


def _write(root: Path, rel: str, text: str) -> None:
    (root / PKG / rel).write_text(text)


def test_a_function_level_import_of_the_cli_is_caught(planted):
    _write(planted, "runtime/__init__.py", "def f():\n    from rootless.cli import runflags\n")
    found = rule_violations(import_edges(planted))
    assert any("rootless.runtime imports rootless.cli.runflags" in f.replace(" (line 2)", "") for f in found)
    allowed = {"cli": {"*"}, "runtime": {"errors"}, "images": {"runtime", "errors"}, "errors": set()}
    assert layer_violations(import_edges(planted), allowed)


def test_a_relative_import_of_images_by_the_runtime_is_caught(planted):
    _write(planted, "runtime/__init__.py", "from ..images import puller\n")
    assert any("the runtime imports neither" in f for f in rule_violations(import_edges(planted)))


def test_cycles_are_caught_at_file_and_layer_level(planted):
    _write(planted, "images/archive.py", "from rootless.images import puller\n")
    _write(planted, "images/puller.py", "def load():\n    from . import archive\n")
    _write(planted, "runtime/__init__.py", "import rootless.images.puller\n")
    _write(planted, "images/__init__.py", "def f():\n    __import__('rootless.runtime')\n")
    edges = import_edges(planted)
    assert any("rootless.images.archive <-> rootless.images.puller" in c for c in cycles(edges))
    assert any(c.startswith("images <-> runtime") for c in cycles(edges, key=layer))


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                    for t in node.targets):
                # lazy exports (a module __getattr__) are listed in __all__
                names.update(e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):  # conditional definitions count
            for sub in ast.walk(node):
                if isinstance(sub, (ast.FunctionDef, ast.ClassDef)):
                    names.add(sub.name)
                elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                    names.update((a.asname or a.name).split(".")[0] for a in sub.names)
                elif isinstance(sub, ast.Assign):
                    names.update(n.id for t in sub.targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def unresolved_imports(root: Path) -> list[str]:
    """`from rootless.x import y` (at any depth) where rootless.x is no
    module or y is neither its submodule nor a name it defines: a
    function-level import only fails when its path runs, so code moved
    between modules must be caught here."""
    known = modules(root)
    defined: dict[str, set[str]] = {}
    out = []
    for mod, (path, ispkg) in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or not (node.module or "").startswith(PKG):
                continue
            if node.module not in known:
                out.append(f"{mod} (line {node.lineno}): no module {node.module}")
                continue
            if node.module not in defined:
                defined[node.module] = _top_level_names(known[node.module][0])
            for a in node.names:
                if a.name != "*" and f"{node.module}.{a.name}" not in known and a.name not in defined[node.module]:
                    out.append(f"{mod} (line {node.lineno}): {node.module} has no {a.name}")
    return out


def test_every_import_of_rootless_resolves():
    assert unresolved_imports(ROOT) == []


def test_a_moved_module_is_caught(planted):
    _write(planted, "runtime/__init__.py", "def f():\n    from rootless.images import nosuchmodule\n")
    assert any("rootless.images has no nosuchmodule" in f for f in unresolved_imports(planted))
