"""results.json for Gradescope's autograder (`grader run --format gradescope`), for one submission."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from grader.model import SubmissionResult
from grader.scoring.score import points
from grader.spec import Assignment


def gradescope_json(result: SubmissionResult, assignment: Assignment, seconds: float) -> str:
    """results.json of the Gradescope autograder specification, for one submission."""
    tests = [
        {
            "name": e.exercise,
            "score": e.score,
            "max_score": e.max_score,
            "output": e.message or f"{e.passed}/{e.trials} trials passed",
            "visibility": "visible",
        }
        for e in result.exercises
    ]
    payload = {
        "score": result.total,
        "execution_time": round(seconds, 2),
        "output": result.message or f"{assignment.title}: {points(result.total)} / {points(assignment.max_total)}",
        "tests": tests,
    }
    return json.dumps(payload, indent=2, ensure_ascii=False)


def write_gradescope(result: SubmissionResult, assignment: Assignment, out: Path, seconds: float) -> Path:
    """`results.json` for Gradescope, written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=".results-", dir=out)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(gradescope_json(result, assignment, seconds))
    os.replace(staging, out / "results.json")
    return out / "results.json"
