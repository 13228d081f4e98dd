"""A cause is named for an exercise only when it explains every failing trial: real exercises of the
built-in assignments, their real trials, and a mistaken function's answers to them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from grader.model import Call, ExerciseResult, TrialResult
from grader.scoring.score import grade_exercise
from grader.spec import Exercise, load
from grader.trials import Trial, make_trials
from reference import linear, relu

BACKPROP = {e.id: e for e in load("backprop").exercises}


def graded(exercise: Exercise, answer: Callable[..., Any], want: Callable[[list[Trial]], bool] = lambda t: True) -> tuple[ExerciseResult, list[TrialResult]]:
    """`answer` graded on the trials of the first student id whose trials `want` accepts."""
    for i in range(200):
        trials = make_trials(exercise, 7, f"student{i}")
        if want(trials):
            calls = [Call("ok", result=answer(**{k: np.array(v) for k, v in t.args.items()})) for t in trials]
            return grade_exercise(exercise, trials, calls)
    raise AssertionError("no student's trials have what the test needs")


def batches(*wanted: int) -> Callable[[list[Trial]], bool]:
    """Trials among which each of `wanted` is a batch size, and another size too."""
    return lambda trials: {t.batch for t in trials} >= set(wanted) and len({t.batch for t in trials}) > len(wanted)


def backward(dW: Callable[..., np.ndarray] | None = None, db: Callable[..., np.ndarray] | None = None) -> Callable[..., Any]:
    def answer(dL_da, h, W, b):
        dL_dh, dL_dW, dL_db = linear.backward(dL_da, h, W, b)
        return dL_dh, dW(dL_da, h) if dW else dL_dW, db(dL_da) if db else dL_db
    return answer


def test_a_mean_over_the_batch_is_named_so_never_half_where_the_batch_has_two_rows():
    result, trials = graded(BACKPROP["linear_backward_batched"], backward(lambda g, h: h.T @ g / len(g), lambda g: g.mean(axis=0)), batches(2))
    assert result.passed == 0 and result.diagnosis == "mean_not_sum"
    assert "averaged over the batch instead of summed" in result.message and "half" not in result.message
    assert {t.diagnosis for t in trials} == {"mean_not_sum"}


def test_two_over_the_batch_size_is_named():
    result, _ = graded(BACKPROP["linear_backward_batched"], backward(lambda g, h: 2 * h.T @ g / len(g)), batches(2))
    assert result.diagnosis == "batch_factor" and "times 2/B" in result.message and "twice" not in result.message


@pytest.mark.parametrize("db, code, words", [
    (lambda g: g.sum(), "summed_everything", "summed over every axis"),
    (lambda g: g.sum(axis=1), "wrong_axis", "sums dL_da over its axis 1; the expected answer sums it over its axis 0"),
    (lambda g: g, "not_summed", "one row per datapoint"),
    (lambda g: np.tile(g.sum(axis=0), (len(g), 1)), "broadcast", "repeated along an extra axis"),
])
def test_a_bias_gradient_summed_wrongly_is_named_for_what_it_did(db, code, words):
    result, _ = graded(BACKPROP["linear_backward_batched"], backward(db=db), batches())
    assert result.diagnosis == code and words in result.message
    assert "reshap" not in result.message and "Answer 6" not in result.message or code == "not_summed"


def test_a_relu_that_clips_elsewhere_is_named_even_where_a_trial_cannot_tell():
    def tells(trials: list[Trial]) -> bool:  # some trial has an input below -1, and some has none
        below = [bool((t.args["a"] < -1).any()) for t in trials]
        return any(below) and not all(below)

    result, trials = graded(BACKPROP["relu_forward"], lambda a: np.maximum(a, -1.0), tells)
    assert result.diagnosis == "clipped" and "clips at -1 instead of 0" in result.message and "unchanged" not in result.message
    assert "Eq. 15a" in result.message  # the built-in assignment's own hint
    identity, _ = graded(BACKPROP["relu_forward"], lambda a: a, tells)
    assert identity.diagnosis == "returned_input"  # and not "clips": no trial showed a floor


@pytest.mark.parametrize("answer, words", [
    (lambda dL_dh, a: dL_dh * (a < 0), "where a is negative"),
    (lambda dL_dh, a: dL_dh * (a > 0.5), "where a is above 0.5"),
])
def test_a_relu_backward_with_the_wrong_mask_is_named(answer, words):
    wide = lambda trials: all(t.args["a"].size >= 4 for t in trials)  # noqa: E731 - room for a threshold above 0
    result, _ = graded(BACKPROP["relu_backward"], answer, wide)
    assert result.diagnosis == "threshold" and words in result.message


def test_an_answer_in_float16_is_named():
    result, _ = graded(BACKPROP["linear_backward_batched"], backward(lambda g, h: (h.T @ g).astype(np.float16)))
    assert result.diagnosis in ("", "low_precision")  # float16 may be right within the tolerance, in every trial
    if result.passed < result.trials:
        assert result.diagnosis == "low_precision"


def test_a_cause_that_explains_only_some_failing_trials_is_not_named():
    count = iter(range(100))
    def sometimes(dL_da, h, W, b):  # transposed in half the trials, garbage in the others
        dL_dh, dL_dW, dL_db = linear.backward(dL_da, h, W, b)
        return dL_dh, dL_dW.T if next(count) % 2 else dL_dW + 1.0, dL_db
    result, trials = graded(BACKPROP["linear_backward_W"], sometimes, lambda ts: all(t.args["W"].shape[0] != t.args["W"].shape[1] for t in ts))
    assert result.passed == 0 and result.diagnosis == "" and "transpose" not in result.message
    assert {t.diagnosis for t in trials} == {""}


def test_two_mistakes_on_two_outputs_are_both_named():
    result, _ = graded(BACKPROP["linear_backward_batched"], backward(lambda g, h: g.T @ h, lambda g: g), batches())
    assert result.diagnosis == "transpose+not_summed" or result.diagnosis == "not_summed+transpose"
    assert "dL_dW is the transpose" in result.message and "dL_db has one row per datapoint" in result.message


def test_the_graders_words_name_no_course():
    """Course text lives in the assignments' hints: the grader's code names no lecture, equation or seed."""
    found = [f"{p.name}: {m.group()}" for p in Path("grader").rglob("*.py")
             for m in re.finditer(r"(?i)\beq\.\s*\d+|\bseed 00\d|\bemat\d+|\banswer \d+\b|\blecture\b", p.read_text())]
    assert found == []


def test_a_function_whose_cell_failed_is_reported_with_that_cell_and_its_error(tmp_path):
    """Not "not defined": the cell that defines it, and why it never ran (a syntax error, a missing
    module, the time limit); and a function that no cell defines is told so."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from grader.discover import discover
    from grader.executors.fork import ForkExecutor
    from grader.grading import grade
    from grader.model import Options

    cells = [
        "import numpy as np",
        "def relu_forward(a)\n    return np.maximum(a, 0)",
        "import not_a_module_anywhere\ndef relu_backward(dL_dh, a):\n    return dL_dh * (a > 0)",
        "import time\nwhile True:\n    time.sleep(0.1)\ndef linear_forward(h, W, b):\n    return h @ W + b",
        "def sqerr_forward(f, y):\n    return 0.5 * np.sum((f - y) ** 2)",
    ]
    (tmp_path / "subs").mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), tmp_path / "subs" / "ada.ipynb")
    runner = ForkExecutor()
    try:
        result = grade(discover(tmp_path / "subs", tmp_path / "x")[0], load("backprop"), Options(seed=3, timeout=2), runner)
    finally:
        runner.close()
    said = {e.exercise: e.message for e in result.exercises}
    assert said["relu_forward"].startswith("relu_forward is not defined in the notebook: code cell 2, which defines it, raised SyntaxError")
    assert "code cell 3, which defines it, raised ModuleNotFoundError" in said["relu_backward"] and "not_a_module_anywhere" in said["relu_backward"]
    assert "code cell 4, which defines it, ran past the time limit" in said["linear_forward"]
    assert said["relu_jacobian"] == "relu_jacobian is not defined in the notebook: no code cell defines it (is it spelled relu_jacobian?)"
    assert {e.exercise: e.score for e in result.exercises}["sqerr_forward"] == 1


def test_what_only_looks_like_a_cause_in_some_trials_is_not_named():
    """Red-team findings: a gradient minus its own variable is no term left out; a mask that depends
    on the upstream gradient is no threshold on a, however often it looks like one; a factor that
    changes from trial to trial is no constant, and a constant is told to 6 digits (never "times 1")."""
    batched, relu_back = BACKPROP["linear_backward_batched"], BACKPROP["relu_backward"]
    for student in range(40):
        trials = make_trials(batched, 7, f"s{student}")
        calls = [Call("ok", result=(lambda dL_da, h, W, b: (dL_da @ W.T, h.T @ dL_da - W, dL_da.sum(axis=0) - b))(**t.args)) for t in trials]
        assert "left_out" not in grade_exercise(batched, trials, calls)[0].diagnosis
    for student in range(300):
        trials = make_trials(relu_back, 7, f"x{student}")
        for mask in (lambda g, a: a > g, lambda g, a: a + g > 0):
            calls = [Call("ok", result=t.args["dL_dh"] * mask(t.args["dL_dh"], t.args["a"])) for t in trials]
            assert "threshold" not in grade_exercise(relu_back, trials, calls)[0].diagnosis, student
    close_to_one, _ = graded(batched, backward(lambda g, h: (h.T @ g) * 1.001))
    assert close_to_one.diagnosis.startswith("constant_factor") and "times 1.001:" in close_to_one.message
    drifting, _ = graded(batched, backward(lambda g, h: (h.T @ g) * 3 * (1 + 2e-4 * len(g))), batches())
    assert "constant_factor" not in drifting.diagnosis


def test_what_a_result_claims_about_itself_cannot_fail_the_notebook_or_outlast_the_time_limit(tmp_path):
    """Red-team findings: an ndarray subclass whose dtype or size lies was trusted, which made the whole
    notebook an error (or its process die); a result whose own methods loop ran past every time limit.
    The numbers are read through numpy's own class; encoding a result is under the call's time limit;
    a subclass of no numpy module is named nothing."""
    import time

    from grader.discover import discover
    from grader.executors.fork import ForkExecutor
    from grader.grading import grade
    from grader.model import Options
    from notebooks import notebook

    notebook(tmp_path / "subs" / "liar.ipynb",
             "class Lie(np.ndarray):\n    dtype = property(lambda self: np.dtype(float))\n    size = property(lambda self: 1)\n"
             "_right = linear_forward\ndef linear_forward(h, W, b):\n    return np.asarray(_right(h, W, b)).view(Lie)\n"
             "class MaskedArray(np.ndarray):\n    pass\n"
             "def relu_forward(a):\n    return np.asarray(a).view(MaskedArray)\n"
             "class Key:\n    def __str__(self):\n        while True:\n            pass\n"
             "def mlp_backward(x, y, params):\n    return {Key(): 1.0}")
    runner = ForkExecutor()
    started = time.monotonic()
    try:
        result = grade(discover(tmp_path / "subs", tmp_path / "x")[0], load("backprop"), Options(seed=2, timeout=2), runner)
    finally:
        runner.close()
    scores = {e.exercise: e for e in result.exercises}
    assert result.status == "ok" and scores["linear_forward"].status == "passed"  # graded as the numbers it holds
    assert scores["relu_forward"].status == "failed" and "masked" not in scores["relu_forward"].diagnosis  # a student's class, named nothing
    assert scores["mlp_backward"].status == "timeout" and time.monotonic() - started < 40
    assert scores["sqerr_forward"].status == "passed"


def test_a_snippet_shows_a_students_answer_on_one_short_line():
    from grader.scoring.example import shown

    class Raises:
        def __repr__(self):
            raise RuntimeError("no")

    assert shown(Raises()) == "a value of type Raises"
    assert shown(np.ones(130_000)) == "an array of shape (130000,)"
    assert "\n" not in shown(type("x\nimport os; os.system('id')\n", (), {})())
    assert len(shown(list(range(10_000)))) <= 400
