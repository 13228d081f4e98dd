"""grades.json (`grader run --format json`): the class as one JSON document, for CI pipelines and
scripts: per student the total, the status and its message, and per exercise the score, the status,
the message and the diagnosis; numbers at full precision."""

from __future__ import annotations

import json
from pathlib import Path

from grader.model import SubmissionResult
from grader.reports.base import SummaryReport
from grader.spec import Assignment


def class_json(summaries: list[SubmissionResult], assignment: Assignment, seed: int | str) -> str:
    students = [
        {
            "student_id": r.student_id,
            "total": r.total,
            "max_total": assignment.max_total,
            "percent": 100 * r.total / assignment.max_total if assignment.max_total else 0.0,
            "status": r.status,
            "message": r.message,
            "exercises": [
                {"exercise": e.exercise, "score": e.score, "max_score": e.max_score, "passed": e.passed, "trials": e.trials,
                 "status": e.status, "message": e.message, "diagnosis": e.diagnosis}
                for e in r.exercises
            ],
        }
        for r in summaries
    ]
    return json.dumps({"assignment": assignment.title, "seed": str(seed), "max_total": assignment.max_total, "students": students},
                      indent=2, ensure_ascii=False) + "\n"


class ClassJson(SummaryReport):
    names = ("grades.json",)

    def write(self, staging: Path, summaries: list[SubmissionResult], assignment: Assignment, seed: int | str) -> None:
        (staging / "grades.json").write_text(class_json(summaries, assignment, seed), encoding="utf-8")
