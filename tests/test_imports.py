"""Data flows forward only: no part of the package imports from a part that imports it.

A part is a folder of the package (`data/`, `models/`, `optimize/`, `export/`,
`tasks/`) or a top-level module (`run.py`, `stages.py`, …). Imports inside
functions count as much as those at the top. The package's `__init__.py`
is left out: it is the public face (it re-exports `Run`), above everything.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lepton_tf"
LEAVES = ("data", "models", "optimize", "export")  # the stages' building blocks
ORCHESTRATION = ("run", "cli", "__main__", "stages", "export_stage")


def part_of(module):
    """'lepton_tf.data.images' → 'data'; 'lepton_tf.run' → 'run'; 'lepton_tf' → None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "lepton_tf" else None


def imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph():
    """{part: parts it imports}, over every module of the package."""
    known = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    graph = {part: set() for part in known - {"__init__"}}
    for path in PACKAGE.rglob("*.py"):
        source = part_of(".".join(("lepton_tf", *path.relative_to(PACKAGE).with_suffix("").parts)))
        if source in (None, "__init__"):
            continue
        targets = {part_of(module) for module in imported_modules(path)}
        graph[source] |= {target for target in targets if target in graph and target != source}
    return graph


def cycles(graph):
    """Strongly connected components with more than one part (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert {"data", "models", "optimize", "export", "tasks", "run", "stages", "card"} <= set(graph)
    assert "export" in graph["tasks"] and "stages" in graph["run"]  # edges are found at all


def test_no_part_imports_from_a_part_that_imports_it():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {name: set(targets) for name, targets in import_graph().items()}
    graph["data"].add("run")  # data → run → … → data
    assert any("data" in component and "run" in component for component in cycles(graph))


def test_building_blocks_never_reach_up_to_the_orchestration():
    graph = import_graph()
    for leaf in LEAVES:
        assert not graph[leaf] & set(ORCHESTRATION), (leaf, graph[leaf] & set(ORCHESTRATION))
