"""The class's totals for an LMS: lms.csv, a Canvas gradebook import, and moodle.csv, a Moodle
grading worksheet to upload.

Without a roster, lms.csv has a row per submission, the submission's id in "Student" and "SIS Login
ID", and a new assignment column "<title> (points)". With a roster (`grader run --roster`: the
course's own Canvas gradebook export, or the assignment's Moodle grading worksheet), each student on
it gets a row with their name and ids as the LMS knows them, so the import fills the right students:
in Canvas, an existing assignment's column when `--lms-column` names it as Canvas does ("Backprop by
hand (12345)"); in Moodle, the worksheet's Grade column, scaled to its Maximum Grade, the file
otherwise as downloaded. Students on the roster without a submission get a blank or 0
(`--missing`); which submissions the roster does not know, and which students have several graded
submissions (no total is picked for them), is said on the terminal (`matching`).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from grader.model import LmsExport, Roster, SubmissionResult
from grader.reports.base import SummaryReport, inert
from grader.spec import Assignment

CANVAS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_NOT_STUDENTS = ("Points Possible", "Manual Posting", "Student, Test")
MOODLE_KEY, MOODLE_GRADE, MOODLE_MAXIMUM = "Identifier", "Grade", "Maximum Grade"
MOODLE_FOLDER = re.compile(r"_(\d+)_assignsubmission_")  # Moodle's "Download all submissions": <Full name>_<participant>_assignsubmission_file_


class RosterError(ValueError):
    """A roster file that cannot be used; the message says why."""


def read_roster(path: Path, key: str | None = None) -> Roster:
    """A Canvas gradebook export or a Moodle grading worksheet, told apart by their columns; `key` is
    the column that holds the submissions' ids (Canvas's default: "SIS Login ID"; Moodle's:
    "Identifier", matched to the participant number in Moodle's submission folder names)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            table = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RosterError(f"cannot read the roster {path}: {exc}") from None
    if not table or not table[0]:
        raise RosterError(f"the roster {path} is empty")
    columns = tuple(c.strip() for c in table[0])
    if {MOODLE_KEY, MOODLE_GRADE} <= set(columns):
        kind, key = "moodle", key or MOODLE_KEY
    elif {"Student", "ID"} <= set(columns):
        kind, key = "canvas", key or "SIS Login ID"
    else:
        raise RosterError(f"the roster {path} is neither a Canvas gradebook export (Student, ID, SIS User ID, SIS Login ID, Section, ...) "
                          f"nor a Moodle grading worksheet (Identifier, Full name, ..., Grade, ...); its columns are {', '.join(columns)}")
    if key not in columns:
        raise RosterError(f"the roster {path} has no column {key!r} to match submissions with (--roster-key); its columns are {', '.join(columns)}")
    rows = tuple(tuple(row) + ("",) * (len(columns) - len(row)) for row in table[1:] if any(cell.strip() for cell in row))
    if kind == "canvas":  # the export's "Points Possible" and "Manual Posting" rows, and Canvas's test student, are no students
        rows = tuple(r for r in rows if r[columns.index("Student")].strip() not in CANVAS_NOT_STUDENTS
                     and (r[columns.index("Student")].strip() or r[columns.index("ID")].strip()))
    counts = Counter(r[columns.index(key)] for r in rows)
    twice = sorted(k for k, n in counts.items() if n > 1 and k)
    if twice:
        raise RosterError(f"the roster {path} has {key} {', '.join(twice[:5])} on several rows: a submission could not be matched to one student")
    return Roster(kind, columns, rows, key)


def roster_id(student_id: str, roster: Roster) -> str:
    """The roster's key for a submission's id (Moodle's folder names carry the participant number)."""
    if roster.kind == "moodle" and roster.key == MOODLE_KEY:
        found = MOODLE_FOLDER.search(student_id)
        return f"Participant {found.group(1)}" if found else student_id
    return student_id


@dataclass(frozen=True)
class Matching:
    totals: dict[str, float]  # roster key -> the total of its one submission
    several: dict[str, list[str]]  # roster key -> its submissions, when more than one was graded: no total is given
    strangers: list[str]  # submissions the roster has no student for


def matching(summaries: list[SubmissionResult], roster: Roster) -> Matching:
    """Each submission's student on the roster. A student with several submissions (Moodle downloads
    one folder per submission plugin, and one file per upload) gets the total of the one that was a
    notebook; if several were, none is picked, and the instructor is told."""
    known = {row[roster.columns.index(roster.key)] for row in roster.rows}
    by_key: dict[str, list[SubmissionResult]] = {}
    strangers = []
    for result in summaries:
        key = roster_id(result.student_id, roster)
        if key in known:
            by_key.setdefault(key, []).append(result)
        else:
            strangers.append(result.student_id)
    totals, several = {}, {}
    for key, results in by_key.items():
        graded = [r for r in results if not r.nothing_run] or results
        if len(graded) == 1:
            totals[key] = graded[0].total
        else:
            several[key] = [r.student_id for r in graded]
    return Matching(totals, several, strangers)


def canvas_rows(summaries: list[SubmissionResult], assignment: Assignment, export: LmsExport = LmsExport()) -> list[dict[str, object]]:
    """Rows of a Canvas gradebook import."""
    column = export.column or f"{assignment.title} (points)"
    roster = export.roster
    if roster is None or roster.kind != "canvas":
        return [{"Student": r.student_id, "ID": "", "SIS Login ID": r.student_id, "Section": "", column: r.total} for r in summaries]
    totals = matching(summaries, roster).totals
    missing = 0.0 if export.missing == "zero" else ""
    at = {c: roster.columns.index(c) for c in CANVAS if c in roster.columns}
    return [{**{c: row[i] for c, i in at.items()}, column: totals.get(row[roster.columns.index(roster.key)], missing)} for row in roster.rows]


def moodle_worksheet(summaries: list[SubmissionResult], assignment: Assignment, export: LmsExport) -> str:
    """The Moodle grading worksheet as downloaded (every other cell as it was), with each matched
    student's total in Grade, on the worksheet's Maximum Grade when it has one (18 of 18 points is
    100.00 of 100)."""
    assert export.roster is not None and export.roster.kind == "moodle"
    roster = export.roster
    totals = matching(summaries, roster).totals
    key, grade = roster.columns.index(roster.key), roster.columns.index(MOODLE_GRADE)
    maximum = roster.columns.index(MOODLE_MAXIMUM) if MOODLE_MAXIMUM in roster.columns else None
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(roster.columns)
    for row in roster.rows:
        row = list(row)
        total = totals.get(row[key], 0.0 if export.missing == "zero" else None)
        if total is not None:
            scale = _number(row[maximum]) / assignment.max_total if maximum is not None and _number(row[maximum]) else 1.0
            row[grade] = f"{total * scale:.2f}"
        writer.writerow(row)
    return out.getvalue()


def _number(text: str) -> float:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return 0.0


class Lms(SummaryReport):
    names = ("lms.csv",)

    def write(self, staging: Path, summaries: list[SubmissionResult], assignment: Assignment, seed: int | str) -> None:
        rows = canvas_rows(summaries, assignment, self.export)
        columns = list(rows[0]) if rows else ["Student", "ID", "SIS Login ID", "Section", self.export.column or f"{assignment.title} (points)"]
        inert(pd.DataFrame(rows, columns=columns)).to_csv(staging / "lms.csv", index=False)


class Moodle(SummaryReport):
    """moodle.csv, when the roster is a Moodle grading worksheet."""

    names = ("moodle.csv",)

    def write(self, staging: Path, summaries: list[SubmissionResult], assignment: Assignment, seed: int | str) -> None:
        (staging / "moodle.csv").write_text(moodle_worksheet(summaries, assignment, self.export), encoding="utf-8")
