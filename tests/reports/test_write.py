"""Writing a class's reports with the per-student files in other processes, many blocks at a time:
the same files whatever the number of processes, and nothing at all when one block fails."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import grader.reports.feedback
import grader.reports.write
from grader.model import Options
from grader.reports.write import write_reports
from grader.run import grade_all
from grader.spec import load
from notebooks import notebook

TINY = Path(__file__).parent.parent / "assignments" / "tiny"


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Eleven students (two graded notebooks, one right and one wrong, under many ids)."""
    subs = tmp_path_factory.mktemp("write") / "subs"
    notebook(subs / "right.ipynb")
    notebook(subs / "wrong.ipynb", "def relu_forward(a):\n    return a")
    assignment = load(TINY)
    graded = list(grade_all(subs, assignment, Options(jobs=1)))
    return assignment, [replace(graded[i % 2], student_id=f"s{i:02d}") for i in range(11)]


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_same_reports_whatever_the_number_of_processes(tmp_path, monkeypatch, klass):
    assignment, results = klass
    monkeypatch.setattr(grader.reports.write, "BLOCK", 2)  # six blocks, several in flight at once
    for jobs in (1, 3):
        write_reports(results, assignment, tmp_path / f"out{jobs}", 0, jobs=jobs)
    one, three = files(tmp_path / "out1"), files(tmp_path / "out3")
    assert one == three
    assert {name for name in one if name.startswith("feedback/")} == {f"feedback/s{i:02d}.{kind}" for i in range(11) for kind in ("md", "html")}
    assert "Score: 1 / 1" in one["feedback/s00.md"].decode() and "Score: 0 / 1" in one["feedback/s01.md"].decode()  # each its own


@pytest.mark.parametrize("failing", ["s00", "s09"])  # in the first block, and in one written while others are in flight
def test_one_failing_block_leaves_no_report_at_all(tmp_path, monkeypatch, klass, failing):
    assignment, results = klass
    out = tmp_path / "out"
    write_reports(results[:3], assignment, out, 0)
    before = files(out)
    monkeypatch.setattr(grader.reports.write, "BLOCK", 2)
    written = grader.reports.feedback.feedback

    def feedback(result, assignment):
        if result.student_id == failing:
            raise OSError("disk full")
        return written(result, assignment)

    monkeypatch.setattr(grader.reports.feedback, "feedback", feedback)
    with pytest.raises(OSError, match="disk full"):
        write_reports(results, assignment, out, 0, jobs=2)
    assert files(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["exercises.csv", "feedback", "grades.csv", "index.html", "lms.csv", "trials.csv"]
