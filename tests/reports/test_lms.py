"""The LMS files read back as each LMS reads them: Canvas's gradebook import matches rows by the
students' ids and fills an existing assignment's column by its "Name (id)" header; Moodle's grading
worksheet upload matches rows by Identifier and takes Grade. With a roster, every student on it has
a row, those without a submission a blank or 0, and submissions the roster does not know are named."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from notebooks import notebook

TINY = Path(__file__).parents[1] / "assignments" / "tiny"
CANVAS_EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Backprop by hand (12345),Week 2 quiz (12346)
    Points Possible,,,,,1.00,10.00
"Lovelace, Ada",101,S1001,ada,Lab A,,7.00
"Hopper, Grace",102,S1002,grace,Lab B,,9.00
"Turing, Alan",103,S1003,alan,Lab A,,6.00
    Manual Posting,,,,,Manual Posting,
,,,,,,
"Student, Test",999,,test_student,Lab A,,
"""
MOODLE_WORKSHEET = """Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,Last modified (submission),Last modified (grade),Feedback comments
Participant 5001,Ada Lovelace,ada@uni.ac,Submitted for grading,,1.00,Yes,"Monday, 2 November 2026, 10:00 AM",-,
Participant 5002,Grace Hopper,grace@uni.ac,Submitted for grading,,1.00,Yes,"Monday, 2 November 2026, 11:00 AM",-,
Participant 5003,=Alan Turing,alan@uni.ac,No submission,,1.00,Yes,-,-,
"""


def grader_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SEED"}
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _canvas_import(path: Path) -> dict[str, dict[str, str]]:
    """The rows as Canvas's importer keys them: by ID, else by SIS User ID, else by SIS Login ID."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {row.get("ID") or row.get("SIS User ID") or row["SIS Login ID"]: row for row in rows}


@pytest.mark.parametrize("missing, blank", [("blank", ""), ("zero", "0.0")])
def test_canvas_fills_an_existing_column_for_every_student_on_the_roster(tmp_path, missing, blank):
    notebook(tmp_path / "subs" / "ada.ipynb")
    notebook(tmp_path / "subs" / "grace.ipynb", "def relu_forward(a):\n    return a")
    notebook(tmp_path / "subs" / "mallory.ipynb")
    (tmp_path / "export.csv").write_text(CANVAS_EXPORT)
    done = grader_cli("run", "subs", "--assignment", str(TINY), "--seed", "2", "--roster", "export.csv", "--lms-column",
                      "Backprop by hand (12345)", "--missing", missing, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 submission(s) match no student of the roster (SIS Login ID), so the LMS files leave them out: mallory" in " ".join(done.stderr.split())
    with open(tmp_path / "reports" / "lms.csv", newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Backprop by hand (12345)"]
    rows = _canvas_import(tmp_path / "reports" / "lms.csv")
    assert sorted(rows) == ["101", "102", "103"]  # Points Possible and the test student are no students
    assert rows["101"]["Student"] == "Lovelace, Ada" and rows["101"]["Section"] == "Lab A"
    assert float(rows["101"]["Backprop by hand (12345)"]) == 1 and float(rows["102"]["Backprop by hand (12345)"]) == 0
    assert rows["103"]["Backprop by hand (12345)"] == blank


def test_without_a_roster_canvas_gets_the_submissions_as_a_new_column(tmp_path):
    notebook(tmp_path / "subs" / "ada.ipynb")
    done = grader_cli("run", "subs", "--assignment", str(TINY), "--seed", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "reports" / "lms.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"Student": "ada", "ID": "", "SIS Login ID": "ada", "Section": "", "Tiny (points)": "1.0"}]


def test_moodle_gets_its_worksheet_back_with_the_grades(tmp_path):
    notebook(tmp_path / "subs" / "Ada Lovelace_5001_assignsubmission_file_" / "work.ipynb")
    notebook(tmp_path / "subs" / "Grace Hopper_5002_assignsubmission_file_" / "work.ipynb", "def relu_forward(a):\n    return a")
    (tmp_path / "worksheet.csv").write_text(MOODLE_WORKSHEET)
    done = grader_cli("run", "subs", "--assignment", str(TINY), "--seed", "2", "--roster", "worksheet.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "moodle.csv" in done.stderr and "match no student" not in done.stderr
    with open(tmp_path / "reports" / "moodle.csv", newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == next(csv.reader([MOODLE_WORKSHEET.splitlines()[0]]))  # the worksheet's own columns, as downloaded
    rows = {row[0]: dict(zip(table[0], row)) for row in table[1:]}  # Moodle matches on Identifier and takes Grade
    assert rows["Participant 5001"]["Grade"] == "1.00" and rows["Participant 5002"]["Grade"] == "0.00"
    assert rows["Participant 5003"]["Grade"] == "" and rows["Participant 5003"]["Full name"] == "=Alan Turing"  # every other cell as it was
    assert rows["Participant 5003"]["Last modified (grade)"] == "-"
    assert rows["Participant 5001"]["Last modified (submission)"] == "Monday, 2 November 2026, 10:00 AM"


@pytest.mark.parametrize("roster, key, words", [
    ("Name,Mark\nada,1\n", None, "neither a Canvas gradebook export"),
    (CANVAS_EXPORT, "Email", "has no column 'Email' to match submissions with (--roster-key)"),
    (CANVAS_EXPORT.replace("alan", "grace"), None, "has SIS Login ID grace on several rows"),
    ("", None, "is empty"),
])
def test_a_roster_that_cannot_be_used_is_a_clear_error_before_grading(tmp_path, roster, key, words):
    notebook(tmp_path / "subs" / "ada.ipynb")
    (tmp_path / "roster.csv").write_text(roster)
    done = grader_cli("run", "subs", "--assignment", str(TINY), "--roster", "roster.csv", *(["--roster-key", key] if key else []), cwd=tmp_path)
    assert done.returncode == 2 and words in " ".join(done.stderr.split()) and not (tmp_path / "reports" / "grades.csv").exists()


def test_moodle_scales_to_its_maximum_grade_and_never_picks_among_several_submissions(tmp_path):
    worksheet = MOODLE_WORKSHEET.replace(",1.00,", ",100.00,")
    subs = tmp_path / "subs"
    notebook(subs / "Ada Lovelace_5001_assignsubmission_file_" / "work.ipynb")
    (subs / "Ada Lovelace_5001_assignsubmission_onlinetext_").mkdir()  # Moodle's folder of another plugin: no notebook
    (subs / "Ada Lovelace_5001_assignsubmission_onlinetext_" / "onlinetext.html").write_text("<p>see my notebook</p>")
    notebook(subs / "Grace Hopper_5002_assignsubmission_file_hw.ipynb")  # two uploads of one student
    notebook(subs / "Grace Hopper_5002_assignsubmission_file_hw_draft.ipynb", "def relu_forward(a):\n    return a")
    (tmp_path / "worksheet.csv").write_text(worksheet)
    done = grader_cli("run", "subs", "--assignment", str(TINY), "--seed", "2", "--roster", "worksheet.csv", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # the onlinetext folder is no notebook: not graded in full
    text = " ".join(done.stderr.split())
    assert "Participant 5002 has 2 graded submissions" in text and "Participant 5001" not in text.split("not graded in full")[0]
    with open(tmp_path / "reports" / "moodle.csv", newline="", encoding="utf-8") as f:
        rows = {row["Identifier"]: row for row in csv.DictReader(f)}
    assert rows["Participant 5001"]["Grade"] == "100.00" and rows["Participant 5002"]["Grade"] == ""


@pytest.mark.parametrize("column", ["ID", "SIS Login ID", " Student "])
def test_the_score_never_goes_into_a_column_canvas_matches_students_by(tmp_path, column):
    notebook(tmp_path / "subs" / "ada.ipynb")
    (tmp_path / "export.csv").write_text(CANVAS_EXPORT)
    done = grader_cli("run", "subs", "--assignment", str(TINY), "--roster", "export.csv", "--lms-column", column, cwd=tmp_path)
    assert done.returncode == 2 and "is one of the columns Canvas matches students by" in " ".join(done.stderr.split())
