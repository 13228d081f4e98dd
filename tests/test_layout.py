"""The architecture the folders promise: no import circle in grader/, the sandboxed program imports
nothing of the grader and the grader only its contract (`wire`, `clean`), the records module imports
nothing of the grader, no module is long, and every registry entry is what its axis expects."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import grader

ROOT = Path(grader.__file__).parent
MAX_LINES = 450


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in ROOT.rglob("*.py") if "assignments" not in p.parts}


def _imports(path: Path, top_level_only: bool = True) -> set[str]:
    """The grader modules a module imports (at its top level, or anywhere): `from grader.a import b`
    counts `grader.a.b` when that is a module, else `grader.a`; relative imports count too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # `if TYPE_CHECKING:` imports are not made at run time
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
    return found


def test_no_import_circle_in_grader():
    graph = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}
    for name, imported in list(graph.items()):  # importing grader.a.b runs grader/a/__init__ first
        graph[name] = imported | {".".join(m.split(".")[:i]) for m in imported for i in range(2, m.count(".") + 1)} - {name}
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                pytest.fail("import circle: " + " → ".join(path[path.index(other):] + [other]))
            if other not in state:
                visit(other, path + [other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_sandboxed_program_imports_nothing_of_the_grader_and_the_grader_only_its_contract():
    inside = {name: path for name, path in MODULES.items() if name.startswith("grader.inside")}
    allowed = set(sys.stdlib_module_names) | {"numpy", "IPython", "traitlets", "stack_data", "ipykernel"}
    for name, path in inside.items():
        for imported in _imports(path, top_level_only=False):
            if not imported.startswith("grader.inside"):
                assert imported.split(".")[0] in allowed, f"{name} imports {imported}"
    for name, path in MODULES.items():
        if name not in inside:
            used = {m for m in _imports(path, top_level_only=False) if m.startswith("grader.inside")}
            assert used <= {"grader.inside", "grader.inside.wire", "grader.inside.clean"}, f"{name} imports {used}"


def test_the_records_import_nothing_of_the_grader_and_a_cluster_run_never_imports_run():
    assert not {m for m in _imports(MODULES["grader.model"], top_level_only=False) if m.startswith("grader")}
    assert "grader.run" not in _imports(MODULES["grader.cluster"], top_level_only=False)


def test_no_module_is_long():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long


def test_every_registry_entry_is_what_its_axis_expects():
    from grader.distributions import DISTRIBUTIONS
    from grader.executors import EXECUTORS, executor
    from grader.executors.base import Executor
    from grader.reports.base import StreamedReport, SummaryReport
    from grader.reports.write import REPORTS
    from grader.scoring.diagnose import REGISTRY, Hypothesis



    for name, where in EXECUTORS.items():
        module, _, cls = where.partition(":")
        assert issubclass(getattr(importlib.import_module(module), cls), Executor), name
    assert set(EXECUTORS) == {"fork", "process", "kernel"} and callable(executor)
    assert all(issubclass(r, (StreamedReport, SummaryReport)) and r.names for r in REPORTS)
    names = [n for r in REPORTS for n in r.names]
    assert {"grades.csv", "exercises.csv", "trials.csv", "feedback", "index.html", "lms.csv"} == set(names)
    import numpy as np

    for name, distribution in DISTRIBUTIONS.items():
        values = distribution.draw((3, 2), np.random.default_rng(0), *(3.0 for _ in distribution.params))
        assert values.shape == (3, 2) and values.dtype.kind in "if", name
    assert REGISTRY and all(isinstance(h, Hypothesis) and h.code == code for code, h in REGISTRY.items())
