"""The class's totals for an LMS: lms.csv, a Canvas gradebook import, and moodle.csv, a Moodle
grading worksheet to upload.

Without a roster, lms.csv has a row per submission, the submission's id in "Student" and "SIS Login
ID", and a new assignment column "<title> (points)". With a roster (`grader run --roster`: the
course's own Canvas gradebook export, or the assignment's Moodle grading worksheet), each student on
it gets a row with their name and ids as the LMS knows them, so the import fills the right students:
in Canvas, an existing assignment's column when `--lms-column` names it as Canvas does ("Backprop by
hand (12345)"); in Moodle, the worksheet's Grade column, the file otherwise as downloaded. Students
on the roster without a submission get a blank or 0 (`--missing`); which submissions the roster
does not know is said on the terminal (`unmatched`).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from grader.model import LmsExport, Roster, SubmissionResult
from grader.reports.base import FORMULA, SummaryReport, inert
from grader.spec import Assignment

CANVAS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_KEY, MOODLE_GRADE = "Identifier", "Grade"
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
    if kind == "canvas":  # the export's "Points Possible" row, and Canvas's test student, are no students
        rows = tuple(r for r in rows if r[columns.index("Student")].strip() not in ("Points Possible", "Student, Test"))
    keys = [r[columns.index(key)] for r in rows]
    twice = sorted({k for k in keys if keys.count(k) > 1 and k})
    if twice:
        raise RosterError(f"the roster {path} has {key} {', '.join(twice[:5])} on several rows: a submission could not be matched to one student")
    return Roster(kind, columns, rows, key)


def roster_id(student_id: str, roster: Roster) -> str:
    """The roster's key for a submission's id (Moodle's folder names carry the participant number)."""
    if roster.kind == "moodle" and roster.key == MOODLE_KEY:
        found = MOODLE_FOLDER.search(student_id)
        return f"Participant {found.group(1)}" if found else student_id
    return student_id


def unmatched(summaries: list[SubmissionResult], roster: Roster) -> list[str]:
    """The submissions the roster has no student for."""
    known = {row[roster.columns.index(roster.key)] for row in roster.rows}
    return [r.student_id for r in summaries if roster_id(r.student_id, roster) not in known]


def canvas_rows(summaries: list[SubmissionResult], assignment: Assignment, export: LmsExport = LmsExport()) -> list[dict[str, object]]:
    """Rows of a Canvas gradebook import."""
    column = export.column or f"{assignment.title} (points)"
    roster = export.roster
    if roster is None or roster.kind != "canvas":
        return [{"Student": r.student_id, "ID": "", "SIS Login ID": r.student_id, "Section": "", column: r.total} for r in summaries]
    totals = {roster_id(r.student_id, roster): r.total for r in summaries}
    missing = 0.0 if export.missing == "zero" else ""
    at = {c: roster.columns.index(c) for c in CANVAS if c in roster.columns}
    return [{**{c: row[i] for c, i in at.items()}, column: totals.get(row[roster.columns.index(roster.key)], missing)} for row in roster.rows]


def moodle_worksheet(summaries: list[SubmissionResult], export: LmsExport) -> str:
    """The Moodle grading worksheet as downloaded, with each matched student's total in Grade."""
    assert export.roster is not None and export.roster.kind == "moodle"
    roster = export.roster
    totals = {roster_id(r.student_id, roster): r.total for r in summaries}
    key, grade = roster.columns.index(roster.key), roster.columns.index(MOODLE_GRADE)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(roster.columns)
    for row in roster.rows:
        row = list(row)
        total = totals.get(row[key])
        row[grade] = f"{total:.2f}" if total is not None else ("0.00" if export.missing == "zero" else row[grade])
        writer.writerow([f"'{cell}" if cell[:1] in FORMULA else cell for cell in row])
    return out.getvalue()


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
        (staging / "moodle.csv").write_text(moodle_worksheet(summaries, self.export), encoding="utf-8")
