"""grades.csv, exercises.csv and trials.csv: one row per student, per exercise, per trial, at full
precision (what programs read), streamed a block of submissions at a time."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from grader.model import SubmissionResult
from grader.reports.base import StreamedReport, inert
from grader.spec import Assignment

TABLES = ("grades.csv", "exercises.csv", "trials.csv")


def tables(results: list[SubmissionResult], assignment: Assignment, seed: int | str) -> dict[str, pd.DataFrame]:
    """The three CSV reports as data frames (a pure function of the results)."""
    max_total = assignment.max_total
    grades = pd.DataFrame(
        [
            {
                "student_id": r.student_id,
                "total": r.total,
                "max_total": max_total,
                "percent": 100 * r.total / max_total,
                "status": r.status,
                **{e.exercise: e.score for e in r.exercises},
                "seed": seed,
            }
            for r in results
        ],
        columns=["student_id", "total", "max_total", "percent", "status", *(e.id for e in assignment.exercises), "seed"],
    )
    exercises = pd.DataFrame(
        [{"student_id": r.student_id, **vars(e)} for r in results for e in r.exercises],
        columns=["student_id", "exercise", "score", "max_score", "passed", "trials", "status", "message", "diagnosis"],
    )
    trials = pd.DataFrame(
        [{"student_id": r.student_id, **vars(t)} for r in results for t in r.trials],
        columns=["student_id", "exercise", "trial", "shapes", "verdict", "max_abs_err", "message", "diagnosis"],
    )
    return dict(zip(TABLES, (grades, exercises, trials)))


class Tables(StreamedReport):
    names = TABLES

    def __init__(self, staging: Path, assignment: Assignment, seed: int | str) -> None:
        super().__init__(staging, assignment, seed)
        self._files = contextlib.ExitStack()
        self.files = {name: self._files.enter_context(open(staging / name, "w", encoding="utf-8", newline="")) for name in TABLES}
        self.rows = False  # whether a block was written (the header with it)

    def add(self, block: list[SubmissionResult]) -> None:
        for name, frame in tables(block, self.assignment, self.seed).items():
            inert(frame).to_csv(self.files[name], index=False, header=not self.rows)
        self.rows = True

    def close(self) -> None:
        with self._files:
            if not self.rows:  # an empty class: the headers alone
                for name, frame in tables([], self.assignment, self.seed).items():
                    frame.to_csv(self.files[name], index=False)
