"""`grader run` end to end: a class of real notebooks, each with one problem, executed for real."""

from __future__ import annotations

import hashlib
import json
import zipfile

import nbformat
import pandas as pd
import pytest

from grader.model import Options
from grader.reports.write import write_reports
from grader.run import grade_all
from grader.spec import load
from notebooks import BACKPROP, notebook

TRANSPOSED_DW = '''
def linear_backward(dL_da, h, W, b):
    return dL_da @ W.T, np.outer(dL_da, h), dL_da
'''
NO_BATCH_SUM = '''
def linear_backward(dL_da, h, W, b):
    return dL_da @ W.T, np.atleast_2d(h).T @ np.atleast_2d(dL_da), dL_da
'''
IN_PLACE = '''
def relu_backward(dL_dh, a):
    dL_dh *= (a > 0)
    return dL_dh

_mlp_backward = mlp_backward
def mlp_backward(x, y, params):
    grads = _mlp_backward(x, y, {k: v.copy() for k, v in params.items()})
    params["W1"][0] = 0  # an entry of a dict argument written into
    del params["b3"]  # and one taken out
    params["b2"] = params["b2"] + 0.0  # a new array with the same bits: no change
    return grads
'''
ROW_NOT_VECTOR = '''
def sqerr_backward(f, y):
    return (f - y).reshape(1, -1), (y - f)
'''
LOOPING_FUNCTION = '''
def relu_forward(a):
    while True:
        pass
'''
RETURNS_STRING = '''
def linear_jacobian_b(h, W, b):
    return "identity"
'''
NAN = '''
def sqerr_forward(f, y):
    return float("nan")
'''
HOSTILE = '''
import numpy, builtins
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
builtins.abs = lambda x: 0
def relu_forward(a):
    return -a
'''
PEEK = '''
import importlib
blocked = []
for name in ("reference", "reference.ops", "grader.spec", "grader.harness"):
    try:
        importlib.import_module(name)
    except ImportError:
        blocked.append(name)
from grader import check  # a self-check cell left in the notebook
check("linear_forward")
def linear_forward(h, W, b):
    if len(blocked) != 4:
        return None
    return h @ W + b
'''


@pytest.fixture(scope="module", params=["fork", "process", "kernel"])
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same class through each executor: every test below holds for all three."""
    root = tmp_path_factory.mktemp(f"class-{request.param}")
    subs = root / "submissions"
    notebook(subs / "solution.ipynb")
    notebook(subs / "template.ipynb", base="student")
    notebook(subs / "transposed.ipynb", TRANSPOSED_DW)
    notebook(subs / "nobatchsum.ipynb", NO_BATCH_SUM)
    notebook(subs / "inplace.ipynb", IN_PLACE)
    notebook(subs / "rowvector.ipynb", ROW_NOT_VECTOR)
    notebook(subs / "loopcell.ipynb", "while True:\n    pass", "x = 1")
    notebook(subs / "loopfunction.ipynb", LOOPING_FUNCTION)
    notebook(subs / "badresult.ipynb", RETURNS_STRING, NAN)
    notebook(subs / "hostile.ipynb", HOSTILE)
    notebook(subs / "peek.ipynb", PEEK)
    notebook(subs / "raising.ipynb", "raise RuntimeError('oops in a cell')", "1 / 0")
    notebook(subs / "magic.ipynb", "%time x = 1\n!echo shell", "%%capture\nprint('hidden')", "import asyncio\nawait asyncio.sleep(0)\nprint('awaited')",
             "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('plotted')",
             "import getpass\nprint('user', getpass.getuser())")
    notebook(subs / "dies.ipynb", "import os\nos._exit(3)")
    notebook(subs / "killed.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    notebook(subs / "frank" / "work" / "frank_hw.ipynb")  # folder layout
    (subs / "frank" / "work" / "notes.txt").write_text("data beside the notebook")
    notebook(subs / "josé-ñ.ipynb")  # unicode names
    (subs / "empty.ipynb").write_text("")
    (subs / "garbage.ipynb").write_text("{ not json")
    (subs / "notanotebook.ipynb").write_text(json.dumps({"hello": "world"}))
    two = subs / "twonotebooks"
    notebook(two / "a.ipynb")
    notebook(two / "b.ipynb")
    zipped = notebook(root / "zara.ipynb")
    with zipfile.ZipFile(subs / "zara.zip", "w") as zf:
        zf.write(zipped, "zara/homework.ipynb")
    v3 = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[])])
    v4 = nbformat.read(BACKPROP / "solution.ipynb", as_version=4)
    v3.worksheets[0].cells = [nbformat.v3.new_code_cell(input=c.source) for c in v4.cells if c.cell_type == "code"]
    (subs / "oldformat.ipynb").write_text(nbformat.v3.writes_json(v3))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    assignment = load("backprop")
    results = grade_all(subs, assignment, Options(seed=7, timeout=2, jobs=2, executor=request.param))
    out = root / "reports"
    write_reports(results, assignment, out, 7)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob("*") if p.is_file()}
    return {
        "before": before,
        "after": after,
        "grades": pd.read_csv(out / "grades.csv", keep_default_na=False).set_index("student_id"),
        "exercises": pd.read_csv(out / "exercises.csv", keep_default_na=False).set_index(["student_id", "exercise"]),
        "trials": pd.read_csv(out / "trials.csv", keep_default_na=False),
        "out": out,
    }


def exercise(graded: dict, student: str, ex: str) -> pd.Series:
    return graded["exercises"].loc[(student, ex)]


def test_solution_scores_full_marks_and_template_zero(graded):
    grades = graded["grades"]
    assert grades.loc["solution", "total"] == grades.loc["solution", "max_total"] == 18
    assert grades.loc["solution", "status"] == "ok"
    assert grades.loc["template", "total"] == 0
    assert grades.loc["template", "status"] == "ok"
    statuses = graded["exercises"].loc["template", "status"]
    assert set(statuses) == {"not_implemented"}


def test_the_feedback_shows_what_the_notebook_printed_and_nothing_else(graded):
    text = (graded["out"] / "feedback" / "solution.md").read_text()
    printed = text.split("## What your notebook printed (start)")[1]
    assert printed.split("```")[1].strip() == "[2. 4. 1.]"  # the solution's one print; no trace of the grader's own warm-up


def test_every_submission_gets_exactly_one_row(graded):
    expected = {
        "solution", "template", "transposed", "nobatchsum", "inplace", "rowvector", "loopcell", "loopfunction",
        "badresult", "hostile", "peek", "raising", "magic", "dies", "killed", "frank", "josé-ñ", "empty",
        "garbage", "notanotebook", "twonotebooks", "zara", "oldformat",
    }
    assert set(graded["grades"].index) == expected
    assert list(graded["grades"].columns[:5]) == ["total", "max_total", "percent", "status", "linear_forward"]
    assert list(graded["grades"].columns[-2:]) == ["mlp_backward", "seed"] and set(graded["grades"].seed) == {7}
    assert {p.stem for p in (graded["out"] / "feedback").iterdir()} == expected


def test_submissions_are_never_written(graded):
    assert graded["before"] == graded["after"]


def test_transposed_dW_fails_only_that_exercise(graded):
    row = exercise(graded, "transposed", "linear_backward_W")
    assert row.score == 0 and row.status == "failed"
    assert "dL_dW has shape" in row.message or "dL_dW is wrong" in row.message
    assert exercise(graded, "transposed", "linear_backward_h").status == "passed"
    assert graded["grades"].loc["transposed", "total"] == 18 - 1 - 2 - 4  # also breaks the batch and the network


def test_missing_batch_sum_fails_batched_bias(graded):
    row = exercise(graded, "nobatchsum", "linear_backward_batched")
    assert row.score == 0 and "dL_db has shape" in row.message
    assert exercise(graded, "nobatchsum", "linear_backward_b").status == "passed"


def test_in_place_mutation_fails_and_names_the_argument(graded):
    row = exercise(graded, "inplace", "relu_backward")  # a trial whose a is all positive changes nothing
    assert row.score < row.max_score and "changed its input dL_dh in place" in row.message
    row = exercise(graded, "inplace", "mlp_backward")  # the entries of a dict argument, by name
    assert row.score == 0 and "changed its input params.W1, params.b3 in place" in row.message


def test_exact_shape_is_required(graded):
    row = exercise(graded, "rowvector", "sqerr_backward")
    assert row.score == 0 and "has shape (1, " in row.message and "expected (" in row.message


def test_infinite_loop_in_a_cell_is_interrupted_and_the_rest_runs(graded):
    assert graded["grades"].loc["loopcell", "total"] == 18
    feedback = (graded["out"] / "feedback" / "loopcell.md").read_text()
    assert "ran past the time limit and was interrupted" in feedback


def test_infinite_loop_in_a_function_fails_fast(graded):
    row = exercise(graded, "loopfunction", "relu_forward")
    assert row.status == "timeout" and row.score == 0
    trials = graded["trials"]
    verdicts = trials[(trials.student_id == "loopfunction") & (trials.exercise == "relu_forward")].verdict.tolist()
    assert verdicts == ["timeout"] + ["skipped"] * 5
    assert exercise(graded, "loopfunction", "mlp_backward").status == "timeout"  # it calls relu_forward
    assert graded["grades"].loc["loopfunction", "total"] == 18 - 1 - 4


def test_non_arrays_and_nan_fail_with_a_reason(graded):
    assert "got a value of type str" in exercise(graded, "badresult", "linear_jacobian_b").message
    assert "NaN or inf" in exercise(graded, "badresult", "sqerr_forward").message


def test_student_code_cannot_change_the_verdict(graded):
    row = exercise(graded, "hostile", "relu_forward")
    assert row.score == 0 and "is wrong" in row.message
    assert graded["grades"].loc["hostile", "total"] == 18 - 1 - 4  # mlp_backward uses relu_forward


def test_student_code_cannot_import_the_grader_or_reference(graded):
    assert exercise(graded, "peek", "linear_forward").status == "passed"
    feedback = (graded["out"] / "feedback" / "peek.md").read_text()
    assert "(self-check is off while the notebook is being graded)" in feedback


def test_exceptions_in_cells_are_reported_and_execution_goes_on(graded):
    assert graded["grades"].loc["raising", "total"] == 18
    feedback = (graded["out"] / "feedback" / "raising.md").read_text()
    assert "RuntimeError: oops in a cell" in feedback and "ZeroDivisionError" in feedback
    assert "[2. 4. 1.]" in feedback  # what the notebook printed, shown to the student


def test_ipython_magics_and_top_level_await_work(graded):
    assert graded["grades"].loc["magic", "total"] == 18
    feedback = (graded["out"] / "feedback" / "magic.md").read_text()
    assert "Cells that did not run cleanly" not in feedback and "awaited" in feedback and "plotted" in feedback
    assert "Fontconfig error" not in feedback  # the sandbox shows fontconfig its configuration
    assert "user student" in feedback  # getpass.getuser() works for a uid with no passwd entry


@pytest.mark.parametrize("student, reason", [("dies", "exit code 3"), ("killed", "SIGKILL")])
def test_a_dying_process_ends_that_notebook_only(graded, student, reason):
    row = graded["grades"].loc[student]
    assert row.status == "crashed" and row.total == 0
    assert reason in exercise(graded, student, "linear_forward").message


def test_folder_zip_unicode_and_v3_layouts_are_graded(graded):
    for student in ("frank", "zara", "josé-ñ", "oldformat"):
        assert graded["grades"].loc[student, "total"] == 18, student


@pytest.mark.parametrize(
    "student, words",
    [
        ("empty", "the file is empty"),
        ("garbage", "not a readable Jupyter notebook"),
        ("notanotebook", "not a readable Jupyter notebook"),
        ("twonotebooks", "holds 2 notebooks"),
    ],
)
def test_unreadable_submissions_become_error_rows(graded, student, words):
    assert graded["grades"].loc[student, "status"] == "error"
    assert words in exercise(graded, student, "linear_forward").message


def test_inputs_differ_between_students_and_repeat_for_a_seed(graded):
    trials = graded["trials"]
    shapes = trials[trials.exercise == "mlp_backward"].groupby("student_id").shapes.apply(tuple)
    assert shapes["solution"] != shapes["magic"]
