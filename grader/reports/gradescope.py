"""results.json for Gradescope's autograder (`grader run --format gradescope`, and the autograder
that `grader gradescope` builds), for one submission.

It follows Gradescope's specification: a test per exercise (name, score, max_score, status, output,
and the exercise's `visibility` from the spec: visible, hidden, after_due_date, after_published),
for an exercise with hidden trials a test of no points with their details (visible as its `reveal`
says), the total, and an `output` that summarises the submission. Scores are at full precision; the texts
people read show at most two decimals. Written atomically, readable by all (0644): Gradescope's
harness reads it as another user.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from grader.model import ExerciseStatus, RunStatus, SubmissionResult, Verdict
from grader.scoring.score import points
from grader.spec import Assignment, Exercise


def gradescope_json(result: SubmissionResult, assignment: Assignment, seconds: float) -> str:
    """results.json of the Gradescope autograder specification, for one submission."""
    visibility = {e.id: e.visibility for e in assignment.exercises}
    tests = [
        {
            "name": e.exercise,
            "score": e.score,
            "max_score": e.max_score,
            "status": "passed" if e.status == ExerciseStatus.PASSED else "failed",
            "output": e.message or f"{e.passed}/{e.trials} trials passed",
            "visibility": visibility.get(e.exercise, "visible"),
        }
        for e in result.exercises
    ]
    tests += [_hidden_trials(exercise, result) for exercise in assignment.exercises if exercise.has_hidden]
    hidden = any(v != "visible" for v in visibility.values())  # the total would tell what the hidden exercises scored
    total = f"{assignment.title}: the results you may see now are below" if hidden else \
        f"{assignment.title}: {points(result.total)} / {points(assignment.max_total)}"
    summary = total if result.status == RunStatus.OK else f"{total}. Your submission could not be graded in full ({result.status}): {result.message}"
    payload = {"score": result.total, "execution_time": round(seconds, 2), "output": summary, "tests": tests}
    return json.dumps(payload, indent=2, ensure_ascii=False)


def write_gradescope(result: SubmissionResult, assignment: Assignment, out: Path, seconds: float) -> Path:
    """`results.json` in `out`, written atomically, mode 0644."""
    out.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=".results-", dir=out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(gradescope_json(result, assignment, seconds))
        os.chmod(staging, 0o644)
        os.replace(staging, out / "results.json")
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return out / "results.json"


def _hidden_trials(exercise: Exercise, result: SubmissionResult) -> dict[str, object]:
    """A test of no points with the hidden trials' details, which Gradescope shows when the spec's
    `reveal` says (after the due date, once grades are published, never)."""
    hidden = [t for t in result.trials if t.exercise == exercise.id and t.hidden]
    failing = [t for t in hidden if t.verdict != Verdict.PASS]
    output = "\n".join(f"trial {t.trial} ({t.shapes}): {t.message}" for t in failing) or \
        (f"all {len(hidden)} hidden trials passed" if hidden else "not graded")
    return {"name": f"{exercise.id}: hidden trials", "score": 0.0, "max_score": 0.0, "status": "failed" if failing or not hidden else "passed",
            "output": output, "visibility": exercise.reveal}
