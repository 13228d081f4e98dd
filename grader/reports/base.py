"""The two kinds of report a class is written as, which `grader.reports.write` drives.

A `StreamedReport` is given the full results a block of submissions at a time, in student order
(the CSV tables, each student's feedback), so memory does not grow with the class; one that writes
files of each submission's own (`per_student`) is given its blocks in other processes, several at once. A
`SummaryReport` is written from the summaries alone (scores, statuses, diagnosis codes: the class
overview, the LMS import), in a second process while the streamed ones are written. Both write into
a staging folder; `names` says what each puts at the top of the output folder, which `write` moves
into place once every report is complete.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import pandas as pd

from grader.model import LmsExport, SubmissionResult
from grader.spec import Assignment

FORMULA = ("=", "+", "-", "@", "\t", "\r")  # how a spreadsheet cell that it would run as a formula begins


class StreamedReport(ABC):
    names: tuple[str, ...] = ()
    per_student = False  # each submission's files are its own (feedback/<student_id>.*): blocks may be written in parallel

    def __init__(self, staging: Path, assignment: Assignment, seed: int | str) -> None:
        self.staging, self.assignment, self.seed = staging, assignment, seed

    @abstractmethod
    def add(self, block: list[SubmissionResult]) -> None:
        """Write the reports of these submissions (the next in student order)."""

    def close(self) -> None:
        """Finish the report once every block was added (and close what it holds open, even on failure)."""


class SummaryReport(ABC):
    names: tuple[str, ...] = ()

    def __init__(self, export: LmsExport = LmsExport()) -> None:
        self.export = export  # for the LMS files: the roster, the column, students without a submission

    @abstractmethod
    def write(self, staging: Path, summaries: list[SubmissionResult], assignment: Assignment, seed: int | str) -> None:
        """Write the report of the whole class from its summaries."""


def inert(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell that a spreadsheet would run as a formula (=, +, -, @ first: a
    student named `=HYPERLINK(...)`) prefixed with ', which shows it as text."""
    for column in [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]:
        frame[column] = [f"'{v}" if isinstance(v, str) and v[:1] in FORMULA else v for v in frame[column].tolist()]  # Series.map is slower
    return frame
