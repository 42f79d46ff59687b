"""Package architecture: no import cycles among soi_mcu's modules, the deployment path never imports the
training side (soi_mcu.train), and no module over 400 lines.

Every `import` and `from ... import` counts, wherever it is: at the top, inside functions, under
`if TYPE_CHECKING:` (a lazy import still couples the modules; it only hides the cycle until run time).
Relative imports are resolved against the importing module's package.

Only files git tracks are read (`git ls-files`), so another engineer's uncommitted work in progress
(new folders not yet added) does not turn this suite red; outside a git checkout (an sdist) every
.py file under soi_mcu/ is read.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "soi_mcu"
MAX_LINES = 400
# Modules that may import soi_mcu.train: the package itself, and the CLI, which wires the commands.
TRAIN = "soi_mcu.train"
MAY_IMPORT_TRAIN = ("soi_mcu.cli",)



def _python_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", "soi_mcu"], cwd=ROOT, capture_output=True, check=True)
        listed = [ROOT / name for name in out.stdout.decode().split("\0") if name.endswith(".py")]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: an unpacked sdist
        listed = list(PACKAGE.rglob("*.py"))
    # a tracked file someone has deleted (or moved) but not yet committed is gone from disk
    return sorted(p for p in listed if p.is_file())


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in _python_files()}


def _imported_names(name: str, path: Path) -> set[str]:
    """Every module name `name` imports (absolute, relative ones resolved); `from X import Y` gives X.Y
    as well as X, since Y may be a submodule."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    raise AssertionError(f"{path}: relative import beyond the top-level package")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def _resolve(imported: str, modules: dict[str, Path]) -> str | None:
    """The soi_mcu module an import name lands on: itself, else the closest package or module above it
    (`from soi_mcu.model import OfflineModel` -> soi_mcu.model); None outside soi_mcu."""
    parts = imported.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph() -> dict[str, set[str]]:
    """soi_mcu module -> the soi_mcu modules it imports (itself excluded)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {_resolve(imp, modules) for imp in _imported_names(name, path)}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the module count (tens)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def _one_cycle(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A concrete path a -> b -> ... -> a inside a component, to say which imports to break."""
    members = set(component)
    start = component[0]
    path, seen = [start], {start}
    while True:
        step = sorted(graph[path[-1]] & members)
        back = [w for w in step if w == start]
        if back and len(path) > 1:
            return [*path, start]
        nxt = [w for w in step if w not in seen]
        if not nxt:  # a component always has a way back to start; take the shortest by breadth-first search
            return _shortest_back(path[-1], start, graph, members, path)
        path.append(nxt[0])
        seen.add(nxt[0])


def _shortest_back(frm: str, to: str, graph: dict[str, set[str]], members: set[str], prefix: list[str]) -> list[str]:
    queue, parent = [frm], {frm: ""}
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == to:
                tail = [v]
                while parent[tail[-1]]:
                    tail.append(parent[tail[-1]])
                return [*prefix[:-1], *reversed(tail), to]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    return [*prefix, "?"]  # pragma: no cover - unreachable within a strongly connected component


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = import_cycles(graph)
    assert not cycles, "import cycles among soi_mcu modules:\n" + "\n".join(
        f"  {', '.join(c)}  (e.g. {' -> '.join(_one_cycle(c, graph))})" for c in cycles)


def test_deployment_path_never_imports_training() -> None:
    graph = import_graph()
    offenders = {name: sorted(t for t in targets if t == TRAIN or t.startswith(TRAIN + "."))
                 for name, targets in graph.items()
                 if not (name == TRAIN or name.startswith(TRAIN + ".") or name in MAY_IMPORT_TRAIN)}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"only {TRAIN} itself and {', '.join(MAY_IMPORT_TRAIN)} may import {TRAIN}: " + "; ".join(
        f"{k} imports {', '.join(v)}" for k, v in sorted(offenders.items()))


# The deployment path, in order: a module may import its own stage and earlier ones, never a later one.
# Shared ground below every stage: the package itself (its version), errors, paths and the cache, and the chip
# description a user picks (the core table and the board files), which every stage reads.
STAGES = ("soi_mcu.ops", "soi_mcu.model", "soi_mcu.quantize", "soi_mcu.plan", "soi_mcu.codegen", "soi_mcu.target",
          "soi_mcu.report", "soi_mcu.data", "soi_mcu.pipeline", "soi_mcu.profile", "soi_mcu.cli")
SHARED = ("soi_mcu", "soi_mcu.errors", "soi_mcu.paths", "soi_mcu.cache", "soi_mcu.target.cores",
          "soi_mcu.target.boards")


def stage_of(module: str) -> int | None:
    """Index of the stage `module` belongs to (None: shared ground, or training, which stands apart)."""
    if module in SHARED:
        return None
    for i, stage in enumerate(STAGES):
        if module == stage or module.startswith(stage + "."):
            return i
    return None


def test_stages_import_only_earlier_stages() -> None:
    graph = import_graph()
    unplaced = sorted(m for m in graph if stage_of(m) is None and m not in SHARED
                      and not (m == TRAIN or m.startswith(TRAIN + ".")))
    assert not unplaced, f"modules in no stage (add them to STAGES or move them into one): {', '.join(unplaced)}"
    for name in ("soi_mcu.target.cores", "soi_mcu.target.boards"):
        deps = sorted(t for t in graph.get(name, ()) if t not in SHARED)
        assert not deps, f"{name} describes the chip and may import only {', '.join(SHARED)}; it imports {deps}"
    backwards = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                       if stage_of(a) is not None and stage_of(b) is not None and stage_of(b) > stage_of(a))
    assert not backwards, "imports against the stage order " + " -> ".join(STAGES) + ":\n  " + "\n  ".join(backwards)


def test_no_module_over_400_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _python_files()}
    over = {p: n for p, n in sizes.items() if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines (split them): " + ", ".join(f"{p} ({n})" for p, n in sorted(over.items()))


MAX_C_LINES = 500
C_FOLDERS = ("firmware", "qemu-plugin", "tests")


def test_no_c_file_over_500_lines() -> None:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", *C_FOLDERS], cwd=ROOT, capture_output=True, check=True)
        files = [ROOT / n for n in out.stdout.decode().split("\0") if n.endswith((".c", ".h", ".S"))]
    except (OSError, subprocess.CalledProcessError):  # an unpacked sdist
        files = [p for d in C_FOLDERS for p in (ROOT / d).rglob("*") if p.suffix in (".c", ".h", ".S")]
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in files if p.is_file()}
    assert sizes, "no C sources found: the check would see nothing"
    over = {p: n for p, n in sizes.items() if n > MAX_C_LINES}
    assert not over, f"C files over {MAX_C_LINES} lines (split them): " + ", ".join(f"{p} ({n})" for p, n in sorted(over.items()))


def test_the_checks_see_what_they_check(tmp_path: Path) -> None:
    """The parser itself: imports inside functions and under TYPE_CHECKING, relative imports, cycles."""
    fake = tmp_path / "soi_mcu"
    (fake / "train").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "train" / "__init__.py").write_text("")
    (fake / "train" / "a.py").write_text("from . import b\nfrom ..errors import SoiError\n")
    (fake / "train" / "b.py").write_text("def f():\n    from soi_mcu.train.a import x\n")
    (fake / "errors.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import soi_mcu.train.b\n")
    modules = {_module_name(p, tmp_path): p for p in fake.rglob("*.py")}
    assert _imported_names("soi_mcu.train.a", modules["soi_mcu.train.a"]) >= {"soi_mcu.train.b", "soi_mcu.errors.SoiError"}
    assert _resolve("soi_mcu.errors.SoiError", modules) == "soi_mcu.errors"
    graph = {n: {t for t in (_resolve(i, modules) for i in _imported_names(n, p)) if t and t != n} for n, p in modules.items()}
    assert graph["soi_mcu.errors"] == {"soi_mcu.train.b"}  # under TYPE_CHECKING: it counts
    assert import_cycles(graph) == [["soi_mcu.errors", "soi_mcu.train.a", "soi_mcu.train.b"]]
    path = _one_cycle(import_cycles(graph)[0], graph)
    assert path[0] == path[-1] and len(path) == 4 and all(b in graph[a] for a, b in zip(path, path[1:], strict=False))

