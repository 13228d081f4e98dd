"""Verdicts and scores: pure functions from a trial's inputs and the student's returned data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grader.compare import changed_inputs, compare, describe
from grader.execute import Call
from grader.spec import Exercise
from grader.trials import Trial


@dataclass(frozen=True)
class TrialResult:
    exercise: str
    trial: int
    shapes: str
    verdict: str  # pass | fail | error | not_implemented | timeout | skipped
    max_abs_err: float | None
    message: str


@dataclass(frozen=True)
class ExerciseResult:
    exercise: str
    score: float
    max_score: float
    passed: int
    trials: int
    status: str  # passed | partial | failed | error | not_implemented | timeout | missing | not_run
    message: str


def grade_trial(exercise: Exercise, trial: Trial, call: Call) -> TrialResult:
    def result(verdict: str, message: str = "", err: float | None = None) -> TrialResult:
        return TrialResult(exercise.id, trial.index, trial.shapes, verdict, err, message)

    fn = exercise.function
    if call.status == "timeout":
        return result("timeout", f"{fn} ran past the time limit (an infinite loop?); its remaining trials were not run")
    if call.status == "skipped":
        return result("skipped", "not run: an earlier trial ran past the time limit")
    if call.status == "raised":
        error = call.error or {}
        if error.get("type") == "NotImplementedError":
            return result("not_implemented", f"{fn} is not implemented yet (it raises NotImplementedError)")
        where = f" at {error['where']}" if error.get("where") else ""
        return result("error", f"{fn} raised {error.get('message', 'an exception')}{where}")
    actual, problem = _graded_part(call.result, exercise)
    if problem:
        return result("fail", problem)
    check = compare(
        exercise.expected(trial.args), actual, exercise.graded_name, exercise.rtol, exercise.atol,
        exercise.outputs if exercise.output is None else (),
    )
    changed = changed_inputs(trial.args, call.inputs_after)
    if changed:
        return result(
            "fail",
            f"{fn} changed its input {', '.join(changed)} in place (e.g. with +=, *= or slice assignment); "
            "work on new arrays instead",
            check.max_abs_err,
        )
    return result("pass" if check.passed else "fail", check.message, check.max_abs_err)


def _graded_part(result: Any, exercise: Exercise) -> tuple[Any, str]:
    if exercise.output is None:
        return result, ""
    if isinstance(result, (tuple, list)) and len(result) == len(exercise.outputs):
        return result[exercise.output], ""
    return None, f"{exercise.function} should return {len(exercise.outputs)} values ({', '.join(exercise.outputs)}); got {describe(result)}"


def score_exercise(exercise: Exercise, trials: list[TrialResult], unavailable: tuple[str, str] | None = None) -> ExerciseResult:
    """Score = points × passed trials / trials. `unavailable` is (status, why) when nothing could be called."""
    if unavailable:
        return ExerciseResult(exercise.id, 0.0, exercise.points, 0, exercise.trials, *unavailable)
    passed = sum(t.verdict == "pass" for t in trials)
    failing = [t for t in trials if t.verdict != "pass"]
    verdicts = {t.verdict for t in failing}
    if not failing:
        status = "passed"
    elif "timeout" in verdicts:
        status = "timeout"
    elif verdicts == {"not_implemented"}:
        status = "not_implemented"
    elif "error" in verdicts:
        status = "error"
    else:
        status = "partial" if passed else "failed"
    message = f"trial {failing[0].trial} ({failing[0].shapes}): {failing[0].message}" if failing else ""
    return ExerciseResult(exercise.id, exercise.points * passed / exercise.trials, exercise.points, passed, exercise.trials, status, message)
