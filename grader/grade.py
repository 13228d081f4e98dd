"""Verdicts and scores: pure functions from a trial's inputs and the student's returned data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grader.compare import Explain, Tolerance, changed_inputs, compare, describe
from grader.diagnose import Context, diagnose, diagnose_error
from grader.job import Call
from grader.received import safe_text
from grader.spec import Exercise
from grader.trials import Trial, flat


@dataclass(frozen=True)
class TrialResult:
    exercise: str
    trial: int
    shapes: str
    verdict: str  # pass | fail | error | not_implemented | timeout | skipped
    max_abs_err: float | None
    message: str
    diagnosis: str = ""  # the code of the mistake found (transpose, sign, not_summed, ...), if any


@dataclass(frozen=True)
class ExerciseResult:
    exercise: str
    score: float
    max_score: float
    passed: int
    trials: int
    status: str  # passed | partial | failed | error | not_implemented | timeout | missing | not_run
    message: str
    diagnosis: str = ""


def grade_trial(exercise: Exercise, trial: Trial, call: Call) -> TrialResult:
    def result(verdict: str, message: str = "", err: float | None = None, diagnosis: str = "") -> TrialResult:
        return TrialResult(exercise.id, trial.index, trial.shapes, verdict, err, safe_text(message), diagnosis)  # at most 2000 characters

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
        message = f"{fn} raised {error.get('message', 'an exception')}{where}"
        found = diagnose_error(error.get("type", ""), error.get("message", ""))
        return result("error", f"{message} — {found.message}" if found else message, diagnosis=found.code if found else "")
    actual, problem = _graded_part(call.result, exercise)
    if problem:
        return result("fail", problem)
    check = compare(
        trial.expected, actual, exercise.graded_name, Tolerance(exercise.rtol, exercise.atol, explainer(exercise, trial)),
        exercise.outputs if exercise.output is None else (),
    )
    changed = changed_inputs(trial.args, call.inputs_after)
    if changed:
        return result(
            "fail",
            f"{fn} changed its input {', '.join(changed)} in place (e.g. with +=, *= or slice assignment); "
            "work on new arrays instead",
            check.max_abs_err,
            "in_place",
        )
    return result("pass" if check.passed else "fail", check.message, check.max_abs_err, check.diagnosis)


def explainer(exercise: Exercise, trial: Trial) -> Explain:
    """`grader.diagnose` with this trial's inputs and the spec's hints, in the form `compare` takes."""
    inputs = dict(flat(trial.args))

    def explain(expected: Any, actual: Any, name: str) -> tuple[str, str] | None:
        found = diagnose(expected, actual, Context(name, inputs, trial.batch), exercise.hints)
        return (found.code, found.message) if found else None

    return explain


def _graded_part(result: Any, exercise: Exercise) -> tuple[Any, str]:
    if exercise.output is None:
        return result, ""
    if isinstance(result, (tuple, list)) and len(result) == len(exercise.outputs):
        return result[exercise.output], ""
    return None, f"{exercise.function} should return {len(exercise.outputs)} values ({', '.join(exercise.outputs)}); got {describe(result)}"


def score_exercise(exercise: Exercise, trials: list[TrialResult], unavailable: tuple[str, str] | None = None) -> ExerciseResult:
    """Score = points × passed trials / trials (`proportional` scoring), or the points only when every
    trial passed (`all_or_nothing`). `unavailable` is (status, why) when nothing could be called."""
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
    first = next((t for t in failing if t.diagnosis), failing[0]) if failing else None  # the most telling failure
    message = f"trial {first.trial} ({first.shapes}): {first.message}" if first else ""
    diagnosis = next((t.diagnosis for t in failing if t.diagnosis), "")
    share = passed / exercise.trials if exercise.scoring == "proportional" else float(passed == exercise.trials)
    score = exercise.points * share
    return ExerciseResult(exercise.id, score, exercise.points, passed, exercise.trials, status, message, diagnosis)
