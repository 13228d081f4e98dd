"""lms.csv: the class's totals as a Canvas gradebook import."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from grader.model import SubmissionResult
from grader.reports.base import SummaryReport, inert
from grader.spec import Assignment


def canvas_rows(summaries: list[SubmissionResult], assignment: Assignment) -> list[dict[str, object]]:
    """Rows of a Canvas gradebook import: the student id goes in "SIS Login ID" (and "Student")."""
    column = f"{assignment.title} (points)"
    return [{"Student": r.student_id, "ID": "", "SIS Login ID": r.student_id, "Section": "", column: r.total} for r in summaries]


class Lms(SummaryReport):
    names = ("lms.csv",)

    def write(self, staging: Path, summaries: list[SubmissionResult], assignment: Assignment, seed: int | str) -> None:
        inert(pd.DataFrame(canvas_rows(summaries, assignment))).to_csv(staging / "lms.csv", index=False)
