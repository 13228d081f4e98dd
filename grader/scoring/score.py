"""Verdicts and scores, one way: each trial compared (`compare`), the failures diagnosed together
(`diagnose`: a cause is named only if it explains every failing trial), then the exercise scored.
Pure functions of a trial's inputs and the student's returned data."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from grader.executors.received import Subclassed, safe_text
from grader.model import Call, CallStatus, ExerciseResult, ExerciseStatus, Raised, TrialResult, Verdict
from grader.scoring.compare import Tolerance, compare, describe, paired
from grader.scoring.diagnose import Cause, Context, Diagnosis, causes, common, error_cause, explain, explains, refuted
from grader.spec import Exercise
from grader.trials import OP_ENTRIES, Trial, flat, within


HIDDEN = {Verdict.FAIL: "the answer is wrong", Verdict.ERROR: "the function raised an exception", Verdict.TIMEOUT: "it ran past the time limit",
          Verdict.NOT_IMPLEMENTED: "it is not implemented yet", Verdict.SKIPPED: "not run"}  # what a hidden trial's failure may say
SUBCLASSES = {"matrix": "matrix", "MaskedArray": "masked"}  # numpy's array subclasses a student may return, and their causes


def grade_exercise(exercise: Exercise, trials: list[Trial], calls: list[Call]) -> tuple[ExerciseResult, list[TrialResult]]:
    """One way: each trial's verdict, then the causes that explain every failing trial (none unless they
    all agree), then the score."""
    verdicts = [_verdict(exercise, trial, call) for trial, call in zip(trials, calls)]
    named = common([found for result, found in verdicts if result.verdict in (Verdict.FAIL, Verdict.ERROR)])
    passing = [(trial, call) for (result, _), trial, call in zip(verdicts, trials, calls) if result.verdict == Verdict.PASS]
    named = [cause for cause in named if not any(_refutes(exercise, trial, call, cause) for trial, call in passing)]
    if not named and any(r.verdict == Verdict.FAIL for r, _ in verdicts):
        named = _inside(exercise, trials, calls)
    diagnosis = explain(named, exercise.hints, (exercise.function, exercise.id, *exercise.outputs))
    results = [replace(r, diagnosis=diagnosis.code) if diagnosis and all(explains(c, found) for c in named) else r for r, found in verdicts]
    return score_exercise(exercise, results, diagnosis=diagnosis), results


def _inside(exercise: Exercise, trials: list[Trial], calls: list[Call]) -> list[Cause]:
    """A network whose answers, in every trial, are those the reference gives with one op's backward
    made wrong (`grader.scoring.mistakes.OP_MISTAKES`): the mistake is inside that op (the grader's side only:
    it needs the reference)."""
    if exercise.reference is None:
        return []
    tolerance, names = Tolerance(exercise.rtol, exercise.atol), exercise.outputs if exercise.output is None else ()
    for op_name, code, vjp in OP_ENTRIES:
        wrong = [within(exercise, trial, op_name, vjp) for trial in trials]
        if all(w is not None and call.status == CallStatus.OK and compare(w, _graded_part(call.result, exercise)[0], exercise.graded_name, tolerance, names).passed
               for w, call in zip(wrong, calls)):
            return [Cause(f"inside_{op_name}", "", code)]
    return []


def _refutes(exercise: Exercise, trial: Trial, call: Call, cause: Cause) -> bool:
    """Whether this passed trial refutes `cause` (its mistake would have failed it)."""
    actual, _ = _graded_part(call.result, exercise)
    inputs = dict(flat(trial.args))
    pairs = paired(trial.expected, actual, exercise.graded_name, exercise.outputs if exercise.output is None else ())
    return any(refuted(cause, e, a, Context(name, inputs, trial.batch)) for name, e, a in pairs if name == cause.output)


def _verdict(exercise: Exercise, trial: Trial, call: Call) -> tuple[TrialResult, frozenset[Cause]]:
    """The trial's verdict and every cause that would explain it."""

    def result(verdict: Verdict, message: str = "", err: float | None = None, found: frozenset[Cause] = frozenset()) -> tuple[TrialResult, frozenset[Cause]]:
        return TrialResult(exercise.id, trial.index, trial.shapes, verdict, err, safe_text(message), hidden=exercise.hidden(trial.index)), found

    fn = exercise.function
    if call.status == CallStatus.TIMEOUT:
        return result(Verdict.TIMEOUT, f"{fn} ran past the time limit (an infinite loop?); its remaining trials were not run")
    if call.status == CallStatus.SKIPPED:
        return result(Verdict.SKIPPED, "not run: an earlier trial ran past the time limit")
    if call.status == CallStatus.RAISED:
        error = call.error or Raised("", "an exception")
        if error.type == "NotImplementedError":
            return result(Verdict.NOT_IMPLEMENTED, f"{fn} is not implemented yet (it raises NotImplementedError)")
        where = f" at {error.where}" if error.where else ""
        cause = error_cause(error.type, error.message)
        return result(Verdict.ERROR, f"{fn} raised {error.message}{where}", found=frozenset([cause] if cause else []))
    actual, problem = _graded_part(call.result, exercise)
    if problem:
        return result(Verdict.FAIL, problem)
    if isinstance(actual, list) and not isinstance(trial.expected, (tuple, dict)):
        return result(Verdict.FAIL, f"{exercise.graded_name} should be an array; got {describe(actual)}", found=frozenset([Cause("returned_list", "")]))
    names = exercise.outputs if exercise.output is None else ()
    check = compare(trial.expected, actual, exercise.graded_name, Tolerance(exercise.rtol, exercise.atol), names)
    changed = call.changed
    if changed:
        return result(
            Verdict.FAIL,
            f"{fn} changed its input {', '.join(changed)} in place (e.g. with +=, *= or slice assignment); work on new arrays instead",
            check.max_abs_err,
            frozenset([Cause("in_place", "")]),
        )
    inputs = dict(flat(trial.args))
    found = frozenset(c for w in check.wrong for c in causes(w.expected, w.actual, Context(w.name, inputs, trial.batch)))
    if not check.passed:  # the types of the outputs that failed, when they were no plain ndarray
        failing = {w.name for w in check.wrong}
        found |= {Cause(SUBCLASSES[a.subclass], "") for name, _, a in paired(trial.expected, actual, exercise.graded_name, names)
                  if name in failing and isinstance(a, Subclassed) and a.subclass in SUBCLASSES}
    return result(Verdict.PASS if check.passed else Verdict.FAIL, check.message, check.max_abs_err, found)


def _graded_part(result: Any, exercise: Exercise) -> tuple[Any, str]:
    if exercise.output is None:
        return result, ""
    if isinstance(result, (tuple, list)) and len(result) == len(exercise.outputs):
        return result[exercise.output], ""
    return None, f"{exercise.function} should return {len(exercise.outputs)} values ({', '.join(exercise.outputs)}); got {describe(result)}"


def score_exercise(
    exercise: Exercise, trials: list[TrialResult], unavailable: tuple[ExerciseStatus, str] | None = None, diagnosis: Diagnosis | None = None
) -> ExerciseResult:
    """Score = points × passed trials / trials (`proportional` scoring), or the points only when every
    trial passed (`all_or_nothing`). `unavailable` is (status, why) when nothing could be called;
    `diagnosis` names the causes of every failing trial, when they agree on one."""
    if unavailable:
        return ExerciseResult(exercise.id, 0.0, exercise.points, 0, exercise.trials, *unavailable)
    passed = sum(t.verdict == Verdict.PASS for t in trials)
    failing = [t for t in trials if t.verdict != Verdict.PASS]
    verdicts = {t.verdict for t in failing}
    if not failing:
        status = ExerciseStatus.PASSED
    elif Verdict.TIMEOUT in verdicts:
        status = ExerciseStatus.TIMEOUT
    elif verdicts == {Verdict.NOT_IMPLEMENTED}:
        status = ExerciseStatus.NOT_IMPLEMENTED
    elif Verdict.ERROR in verdicts:
        status = ExerciseStatus.ERROR
    else:
        status = ExerciseStatus.PARTIAL if passed else ExerciseStatus.FAILED
    first = next((t for t in failing if not t.hidden), failing[0] if failing else None)  # a trial whose details may be shown, first
    message = "" if first is None else f"trial {first.trial} ({first.shapes}): {first.message}" if not first.hidden else \
        f"trial {first.trial} (a hidden trial: its inputs are not shown): {HIDDEN[first.verdict]}"
    if diagnosis and failing:
        message += f" — {diagnosis.message}"
    share = passed / exercise.trials if exercise.scoring == "proportional" else float(passed == exercise.trials)
    score = exercise.points * share
    return ExerciseResult(exercise.id, score, exercise.points, passed, exercise.trials, status, message, diagnosis.code if diagnosis and failing else "")


def points(score: float) -> str:
    """A score as people read it, in every report and on the terminal: at most two decimals (9.17,
    18, 0.5). Files that programs read (the CSVs, the LMS import, results.json) keep full precision."""
    return f"{score:.2f}".rstrip("0").rstrip(".")


def percent(score: float, whole: float) -> str:
    """A share of the points as people read it: at most one decimal (76.4%)."""
    return f"{100 * score / whole:.1f}".rstrip("0").rstrip(".") + "%" if whole else "-"
