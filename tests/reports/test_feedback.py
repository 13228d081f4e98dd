"""Feedback that teaches: real notebooks, one classic mistake each, graded for real and self-checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from grader.authoring.bundle import BUNDLE, public_trials, read_bundle, write_bundle
from grader.inside.wire import unpack
from grader.model import Options
from grader.reports.write import write_reports
from grader.run import grade_all
from grader.spec import load
from grader.trials import flat, make_trials
from notebooks import notebook

# student id -> (the mistaken cell, the exercise it breaks, the diagnosis code, words the message must hold)
MISTAKES = {
    "transpose": ("def linear_backward(dL_da, h, W, b):\n    return dL_da @ W.T, np.outer(dL_da, h), dL_da",
                  "linear_backward_W", "transpose", "hᵀ dL/da (Answer 5, Eq. 53)"),
    "axes": ("def linear_jacobian_W(h, W, b):\n    J = np.zeros((W.shape[0], W.shape[1], W.shape[1]))\n"
             "    for j in range(W.shape[1]):\n        J[:, j, j] = h\n    return J",
             "linear_jacobian_W", "axes_order", "axes in another order"),
    "w_not_wt": ("def linear_backward(dL_da, h, W, b):\n    return dL_da @ W, np.outer(h, dL_da), dL_da",
                 "linear_backward_h", "shape_mismatch", "transpose"),
    "sign": ("def sqerr_backward(f, y):\n    return f - y, f - y", "sqerr_backward", "sign", "y − f"),
    "double": ("def sqerr_forward(f, y):\n    return np.sum((f - y) ** 2)", "sqerr_forward", "double", "½ Σ (f − y)²"),
    "half": ("def sqerr_backward(f, y):\n    return 0.5 * (f - y), 0.5 * (y - f)", "sqerr_backward", "half", "half"),
    "mean": ("def linear_backward(dL_da, h, W, b):\n    B = h.shape[0] if h.ndim == 2 else 1\n"
             "    return dL_da @ W.T, np.atleast_2d(h).T @ np.atleast_2d(dL_da) / B, np.atleast_2d(dL_da).sum(0) / B",
             "linear_backward_batched", "mean_not_sum", "averaged over the batch"),
    "nosum": ("def linear_backward(dL_da, h, W, b):\n    return dL_da @ W.T, np.atleast_2d(h).T @ np.atleast_2d(dL_da), dL_da",
              "linear_backward_batched", "not_summed", "one row per datapoint"),
    "mask": ("def relu_backward(dL_dh, a):\n    return (a > 0).astype(float)", "relu_backward", "mask_only", "Θ(a) alone"),
    "reshape": ("def relu_forward(a):\n    return np.maximum(a, 0).reshape(1, -1)", "relu_forward", "reshape", "reshaping"),
    "inplace": ("def relu_backward(dL_dh, a):\n    dL_dh[a <= 0] = 0\n    return dL_dh", "relu_backward", "in_place", "changed its input dL_dh"),
    "nan": ("def sqerr_forward(f, y):\n    return np.log(-np.abs(f - y).sum())", "sqerr_forward", "", "NaN or inf"),
    "undefined": ("def relu_forward(a):\n    return np.maximum(a, threshold)", "relu_forward", "name_error", "name 'threshold' is not defined"),
    "raises": ("def relu_jacobian(a):\n    n = len(a)\n    raise RuntimeError('not sure about the diagonal')",
               "relu_jacobian", "", "raise RuntimeError('not sure about the diagonal')"),
}


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("mistakes")
    for student, (cell, *_) in MISTAKES.items():
        notebook(root / "subs" / f"{student}.ipynb", cell)
    notebook(root / "subs" / "template.ipynb", base="student")
    assignment = load("backprop")
    results = grade_all(root / "subs", assignment, Options(seed=3, timeout=2, jobs=2))
    write_reports(results, assignment, root / "out", 3)
    exercises = pd.read_csv(root / "out" / "exercises.csv", keep_default_na=False).set_index(["student_id", "exercise"])
    return {"root": root, "exercises": exercises, "assignment": assignment}


@pytest.mark.parametrize("student", MISTAKES)
def test_the_mistake_is_named_in_the_reports_and_feedback(mistakes, student):
    _, exercise, code, words = MISTAKES[student]
    row = mistakes["exercises"].loc[(student, exercise)]
    assert row.score < row.max_score
    assert row.diagnosis == code
    assert words in row.message
    assert words in (mistakes["root"] / "out" / "feedback" / f"{student}.md").read_text()


def test_exceptions_name_type_message_and_line(mistakes):
    row = mistakes["exercises"].loc[("raises", "relu_jacobian")]
    assert "RuntimeError: not sure about the diagonal" in row.message
    assert "code cell 9, line 3" in row.message  # the solution has 8 code cells; the mistake is the 9th


def test_not_implemented_is_said_so(mistakes):
    row = mistakes["exercises"].loc[("template", "mlp_backward")]
    assert row.status == "not_implemented" and "not implemented yet" in row.message


def run_check(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", "check", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bundle(load("backprop"), tmp_path_factory.mktemp("bundle") / BUNDLE)


def test_grader_check_passes_the_solution(tmp_path, bundle):
    done = run_check(str(notebook(tmp_path / "mine.ipynb")), "--bundle", str(bundle), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "18 / 18 on the public trials" in done.stdout


def test_grader_check_shows_the_diagnosis_and_fails(tmp_path, bundle):
    (tmp_path / BUNDLE).write_bytes(bundle.read_bytes())  # the default place: beside the notebook
    done = run_check(str(notebook(tmp_path / "mine.ipynb", MISTAKES["transpose"][0])), cwd=tmp_path)
    assert done.returncode == 1
    text = " ".join(done.stdout.split()).replace("│", "")
    assert "transpose of the" in text and "linear_backward_W" in text


def test_grader_check_without_a_bundle_says_where_to_put_it(tmp_path):
    done = run_check(str(notebook(tmp_path / "mine.ipynb")), cwd=tmp_path)
    assert done.returncode == 2 and "no self-check bundle" in done.stderr


def test_check_inside_a_real_jupyter_kernel(tmp_path, bundle):
    """`from grader import check; check(linear_backward)` in a notebook run by a real ipykernel."""
    (tmp_path / BUNDLE).write_bytes(bundle.read_bytes())
    path = notebook(
        tmp_path / "mine.ipynb",
        MISTAKES["transpose"][0],
        "from grader import check\nreport = check(linear_backward)\nprint(report)\nprint('PASSED' if report.passed else 'FAILED')",
        "print(check('relu_backward').passed)",
    )
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "✗ linear_backward_W: 0/6 public trials passed" in printed
    assert "✓ linear_backward_h: 6/6 public trials passed" in printed
    assert "transpose of the expected one" in printed
    assert "FAILED" in printed and printed.strip().endswith("True")


def test_the_bundle_holds_no_solution_and_no_grading_trials(bundle):
    manifest, arrays = unpack(bundle.read_bytes())
    text = json.dumps(manifest)
    assert "BEGIN SOLUTION" not in text and "def " not in text and "seed" not in text
    assignment = load("backprop")
    public = public_trials(assignment)
    for exercise in assignment.exercises:
        grading = make_trials(exercise, 0, "alice")
        for g in grading:
            for p in public[exercise.id]:
                assert not any(np.array_equal(x, y) for (_, x), (_, y) in zip(flat(g.args), flat(p.args)))


def test_the_bundle_needs_nothing_from_reference(bundle):
    code = (
        "import sys; sys.modules['reference'] = None\n"
        "from grader.authoring.bundle import read_bundle\n"
        f"a, t, _ = read_bundle(__import__('pathlib').Path({str(bundle)!r}))\n"
        "print(len(a.exercises), sum(map(len, t.values())))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["14", "84"]
    assignment, trials, _ = read_bundle(bundle)
    assert [e.id for e in assignment.exercises] == [e.id for e in load("backprop").exercises]


@pytest.mark.parametrize("executor", ["fork", "process", "kernel"])
def test_printed_tracebacks_show_the_students_frames_only(tmp_path, executor):
    """A cell's error shows the student's cells and own files, never the grader's harness, the
    standard library or the installed packages (their paths are the grader's machine's); a folder
    submission imports its own modules, as in Jupyter; a time limit says so in words."""
    from grader.discover import discover
    from grader.executors import executor as make_executor
    from grader.grading import grade
    from grader.model import Options
    from grader.spec import load
    from notebooks import notebook

    notebook(tmp_path / "subs" / "ada" / "work.ipynb",
             "import numpy as np\ndef helper(x):\n    return np.concatenate([x, np.zeros((2, 2))])\nhelper(np.zeros(3))",
             "import time\nwhile True:\n    time.sleep(0.05)",
             "import mine\nmine.divide()",
             "import json\njson.loads('{broken')",
             "from numpy import no_such_name",  # the message names numpy's file, with the machine's path
             "import numpy as np\nnp.mean(np.array([]))",  # a warning, printed with numpy's path
             "import os, numpy\nos.chdir(os.path.dirname(numpy.__file__))\nnumpy.linalg.inv(numpy.zeros((2, 2)))",  # own folder elsewhere
             "import traceback\ntry:\n    numpy.linalg.inv(numpy.zeros((2, 2)))\nexcept Exception:\n    traceback.print_exc()")
    (tmp_path / "subs" / "ada" / "mine.py").write_text("def divide():\n    return 1 / 0\n")
    runner = make_executor(executor)
    try:
        result = grade(discover(tmp_path / "subs", tmp_path / "x")[0], load("backprop"), Options(seed=1, timeout=2), runner)
    finally:
        runner.close()
    printed = result.output
    assert result.total == 18 and "Traceback (most recent call last):" in printed
    assert "return np.concatenate([x, np.zeros((2, 2))])" in printed and "ValueError: all the input arrays" in printed
    assert "File mine.py, line 2\n    return 1 / 0\nZeroDivisionError: division by zero" in printed
    assert "stopped: the cell ran past its time limit" in printed and "JSONDecodeError" in printed
    assert "(…/numpy/__init__.py)" in printed and "RuntimeWarning: Mean of empty slice" in printed
    assert "LinAlgError: Singular matrix" in printed
    for leak in ("/grading", "site-packages", "/usr/lib", "python3.", ".venv", "/root", str(tmp_path), "TimeLimit"):
        assert leak not in printed, leak
    cells = printed.split("LinAlgError: Singular matrix")[0]
    assert "harness" not in cells and "backprop_grader_inside" not in cells and "interactiveshell" not in cells  # IPython's own tracebacks: the student's frames only


def test_one_rounding_rule_and_one_line_for_exercises_that_share_a_message(tmp_path):
    """People read scores with at most two decimals, everywhere; programs read them at full precision.
    A notebook that could not be run gets one line for all its exercises, not one per exercise."""
    from dataclasses import replace

    from grader.reports.feedback import feedback
    from grader.reports.overview import index_html
    from grader.grading import not_run

    assignment = load("backprop")
    unread = not_run("carol", assignment, "error", "carol.ipynb is not a readable Jupyter notebook")
    text = feedback(unread, assignment)
    assert text.count("not a readable Jupyter notebook") == 2  # the banner, and one line for every exercise
    assert "- **linear_forward, linear_jacobian_h," in text
    thirds = replace(unread, status="ok", exercises=[replace(e, score=e.max_score / 3, status="partial") for e in unread.exercises])
    shown = feedback(thirds, assignment)
    assert "**Score: 6 / 18 (33.3%)**" in shown and "| 0.33 / 1 |" in shown and "1.33 / 4" in shown
    assert "0.333" not in shown and "0.3333" not in index_html([thirds], assignment, 1)
    write_reports([thirds], assignment, tmp_path, 1)
    assert pd.read_csv(tmp_path / "exercises.csv").score.iloc[0] == pytest.approx(1 / 3, rel=1e-12)
    assert pd.read_csv(tmp_path / "grades.csv").total.iloc[0] == pytest.approx(6.0, rel=1e-12)
