"""The package's import structure: no cycles between modules (any import, at module level or inside a function),
and the diffusers model and pipeline depend on nothing of the removal driver."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("inconddiff", "colmap_tools", "nerf_integration")
STANDALONE = ("inconddiff.models", "inconddiff.pipelines")
"""The diffusers components: usable without the removal driver..."""
DRIVER = ("inconddiff.removal", "inconddiff.commands", "inconddiff.training", "inconddiff.evaluation")
DRIVER += ("colmap_tools", "nerf_integration")
"""...so they import none of these (the geometric prior, numpy only, they may use)."""


def module_files(root: Path = ROOT) -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for f in (root / pkg).rglob("*.py"):
            mods[".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__")] = f
    return mods


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        pkg = m if f.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            else:
                continue
            for t in targets:
                r = resolve(t)
                # a package's own __init__ is not an edge from its modules (importing a submodule runs it)
                if r and r != m and not m.startswith(r + "."):
                    graph[m].add(r)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return path[path.index(w) :] + [w]
            if w not in state and (found := visit(w)):
                return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph(module_files()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_model_and_pipeline_import_nothing_of_the_driver():
    graph = import_graph(module_files())
    for m, deps in graph.items():
        if m.startswith(STANDALONE):
            driver = {d for d in deps if d.startswith(DRIVER)}
            assert not driver, f"{m} imports {sorted(driver)}"


def test_the_checks_see_a_cycle_and_a_driver_import(tmp_path):
    pkg = tmp_path / "inconddiff"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from inconddiff import b\n")
    (pkg / "b.py").write_text("from inconddiff.a import f\n")
    (pkg / "removal").mkdir()
    (pkg / "removal" / "__init__.py").write_text("")
    (pkg / "removal" / "driver.py").write_text("")
    (pkg / "models" / "net.py").write_text("from ..removal.driver import x\n")
    graph = import_graph(module_files(tmp_path))
    assert find_cycle(graph) == ["inconddiff.a", "inconddiff.b", "inconddiff.a"]
    assert graph["inconddiff.models.net"] == {"inconddiff.removal.driver"}
