"""A failing case a student can reproduce: the self-check shows the smallest small case a function
gets wrong, as Python that, pasted into a cell, prints the student's answer (and, with the right
function, the expected one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.authoring.bundle import BUNDLE, read_bundle, write_bundle
from grader.scoring.example import VALUES, small_cases
from grader.selfcheck import check
from grader.spec import load
from notebooks import notebook
from reference import linear, relu

ASSIGNMENTS = {name: load(name) for name in ("backprop", "backprop-columns")}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(ASSIGNMENTS["backprop"], tmp_path_factory.mktemp("bundle") / BUNDLE)


@pytest.mark.parametrize("exercise", [e for a in ASSIGNMENTS.values() for e in a.exercises], ids=lambda e: e.id)
def test_small_cases_are_small_simple_and_answered_by_the_reference(exercise):
    cases = small_cases(exercise)
    assert 6 <= len(cases) <= 12
    sizes = [sum(np.size(v) for v in _arrays(c.args)) for c in cases]
    assert sizes == sorted(sizes) and sizes[0] <= 10
    for case in cases:
        assert all(set(np.unique(v)) <= set(VALUES) for v in _arrays(case.args))  # whole numbers, never 0
        assert _same(case.expected, exercise.expected(case.args))


def _arrays(args):
    return [a for v in args.values() for a in (_arrays(v) if isinstance(v, dict) else [v])]


def _same(a, b):
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return np.shape(a) == np.shape(b) and np.allclose(a, b)


def run(snippet: str, **functions):
    """What the snippet prints, pasted into a cell where `functions` are defined (the value itself)."""
    printed: list = []
    exec(snippet, {**functions, "print": printed.append})
    (value,) = printed
    return value


def check_as(name: str, function, bundle: Path):
    """`check(name)` run in a notebook's namespace whose `name` is `function`."""
    namespace = {name: function, "check": check, "bundle": bundle}
    exec(f"report = check({name!r}, bundle=bundle)", namespace)
    return namespace["report"]


def transposed(dL_da, h, W, b):
    dh, dW, db = linear.backward(dL_da, h, W, b)
    return dh, dW.T, db


@pytest.mark.parametrize("name, wrong, right, exercise", [
    ("linear_backward", transposed, linear.backward, "linear_backward_W"),
    ("relu_forward", lambda a: np.maximum(a, -1.0), relu.forward, "relu_forward"),
])
def test_check_shows_the_smallest_failing_case_and_pasted_it_reproduces(bundle, name, wrong, right, exercise):
    report = check_as(name, wrong, bundle)
    result = next(r for r in report.results if r.exercise == exercise)
    assert result.status != "passed" and result.example
    shown = result.example.splitlines()
    expected, yours = (eval(line.split(": ", 1)[1], {"np": np}) for line in shown[-2:])  # the snippet's own two comments
    mine, theirs = run(result.example, **{name: wrong}), run(result.example, **{name: right})
    assert not _same(mine, theirs)  # pasted into a cell, it shows the difference
    assert _same(theirs, expected) and _same(mine, yours)
    smallest_failing = min(sum(np.size(v) for v in _arrays(c.args)) for c in read_bundle(bundle)[2][exercise]
                           if run_fails(c, wrong, right, exercise))
    assert sum(np.size(v) for v in _arrays(eval_args(shown))) == smallest_failing
    assert "smallest case it gets wrong" in str(report) and "```python" in report._repr_markdown_()


def run_fails(case, wrong, right, exercise) -> bool:
    pick = (lambda r: r[1]) if exercise == "linear_backward_W" else (lambda r: r)
    return not _same(pick(wrong(*case.args.values())), pick(right(*case.args.values())))


def eval_args(lines: list[str]) -> dict:
    namespace: dict = {}
    exec("\n".join(line for line in lines if " = " in line and not line.startswith("#")), {"np": np}, namespace)
    return namespace


def test_a_right_function_gets_no_case(bundle):
    assert all(not r.example for r in check_as("linear_backward", linear.backward, bundle).results)


def test_grader_check_prints_the_case_for_a_notebook(tmp_path, bundle):
    (tmp_path / BUNDLE).write_bytes(bundle.read_bytes())
    path = notebook(tmp_path / "mine.ipynb", "def relu_forward(a):\n    return np.maximum(a, -1.0)")
    done = subprocess.run([sys.executable, "-m", "grader.cli", "check", str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "relu_forward: the smallest case it gets wrong, to paste into a cell:" in done.stdout
    assert "print(relu_forward(a))" in done.stdout and "# expected: np.array([1.0, 0.0])" in done.stdout


def test_a_case_with_class_labels_keeps_them_integers_so_it_runs_as_pasted(tmp_path):
    """The smallest failing case of an exercise with labels: pasted into a cell, it runs (labels
    written as floats could not index)."""
    from grader.scoring.example import _literal

    assert _literal(np.array([0, 2])) == "np.array([0, 2])" and _literal(np.array(1)) == "np.array(1)"
    assert _literal(np.array([0.5, -0.0])) == "np.array([0.5, 0.0])"
    classifier = load("classifier")
    exercise = next(e for e in classifier.exercises if e.id == "ce_backward")
    case = next(c for c in small_cases(exercise) if c.batch)
    source = "import numpy as np\n" + "\n".join(f"{name} = {_literal(value)}" for name, value in case.args.items())
    scope: dict = {}
    exec(source + "\nout = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True) - np.eye(z.shape[-1])[y]", scope)
    np.testing.assert_allclose(scope["out"], case.expected, rtol=1e-5, atol=1e-5)
