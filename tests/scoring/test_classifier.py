"""The built-in `classifier` assignment (seed 002's setting): its solution scores full marks, and the
mistakes it commonly draws are named: the one-hot targets not subtracted, the softmax taken over the
batch's axis, the upstream gradient left out of a backward pass."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell

from grader.model import Options
from grader.reports.write import write_reports
from grader.run import grade_all
from grader.spec import load

CLASSIFIER = Path(__file__).resolve().parents[2] / "assignments" / "classifier"
MISTAKES = {
    "no_onehot": ("ce_backward", "def ce_backward(z, y):\n    return softmax(z)"),
    "softmax_axis": ("ce_backward", "def ce_backward(z, y):\n    e = np.exp(z - z.max(axis=0, keepdims=True))\n"
                                    "    return e / e.sum(axis=0, keepdims=True) - np.eye(z.shape[-1])[y]"),
    "no_upstream": ("tanh_backward", "def tanh_backward(dL_dt, a):\n    return 1 - np.tanh(a) ** 2"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("classifier")
    solution = nbformat.read(CLASSIFIER / "solution.ipynb", as_version=4)
    for name, (_, cell) in {"solution": ("", ""), **MISTAKES}.items():
        nb = nbformat.read(CLASSIFIER / "solution.ipynb", as_version=4)
        nb.cells.insert(len(solution.cells) - 1, new_code_cell(cell)) if cell else None  # before the check() cell
        (root / "subs").mkdir(exist_ok=True)
        nbformat.write(nb, root / "subs" / f"{name}.ipynb")
    assignment = load(CLASSIFIER)
    results = grade_all(root / "subs", assignment, Options(seed=8, jobs=2))
    write_reports(results, assignment, root / "out", 8)
    return pd.read_csv(root / "out" / "exercises.csv", keep_default_na=False).set_index(["student_id", "exercise"])


def test_the_solution_scores_full_marks(graded):
    assert (graded.loc["solution", "status"] == "passed").all() and graded.loc["solution", "score"].sum() == load(CLASSIFIER).max_total


@pytest.mark.parametrize("code", MISTAKES)
def test_each_common_mistake_is_named(graded, code):
    exercise = MISTAKES[code][0]
    row = graded.loc[(code, exercise)]
    assert row["status"] in ("failed", "partial") and row["diagnosis"] == code, row["message"]
    others = graded.loc[code].drop(index=exercise)
    assert (others["status"] == "passed").all()  # the mistake costs that exercise only
