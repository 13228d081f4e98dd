"""A student's feedback file: what scored, what did not, and what to do about it, in Markdown
(feedback/<student_id>.md) and rendered for the browser (feedback/<student_id>.html); with
`--notebooks`, beside them the student's notebook returned with feedback (`grader.reports.annotate`)."""

from __future__ import annotations

import re
from pathlib import Path

from grader.model import CellStatus, ExerciseResult, ExerciseStatus, RunStatus, SubmissionResult
from grader.reports.annotate import write_notebook
from grader.reports.base import StreamedReport
from grader.reports.page import markdown_page, text
from grader.scoring.score import percent, points
from grader.spec import Assignment

MAX_OUTPUT_LINES = 40
def feedback(result: SubmissionResult, assignment: Assignment) -> str:
    total, max_total = result.total, assignment.max_total
    lines = [
        f"# {assignment.title}: feedback for {text(result.student_id)}",
        "",
        f"**Score: {points(total)} / {points(max_total)} ({percent(total, max_total)})**",
        "",
    ]
    if result.status != RunStatus.OK:
        lines += [f"> **Your notebook could not be graded in full** ({result.status}): {text(result.message)}", ""]
    lines += ["| exercise | score | result |", "| --- | --- | --- |"]
    lines += [f"| {e.exercise} | {points(e.score)} / {points(e.max_score)} | {e.status.replace('_', ' ')} |" for e in result.exercises]
    to_fix = [e for e in result.exercises if e.status != ExerciseStatus.PASSED]
    if to_fix:
        lines += ["", "## What to fix", ""]
        alike: dict[str, list[ExerciseResult]] = {}  # one line for the exercises that share a message (a notebook not run at all)
        for e in to_fix:
            alike.setdefault(e.message, []).append(e)
        for message, group in alike.items():
            if len(group) == 1:
                lines.append(f"- **{group[0].exercise}** ({group[0].passed}/{group[0].trials} trials passed): {text(message)}")
            else:
                lines.append(f"- **{', '.join(e.exercise for e in group)}**: {text(message)}")
    if result.cells:
        lines += ["", "## Cells that did not run cleanly", ""]
        for cell in result.cells:
            what = "ran past the time limit and was interrupted" if cell.status == CellStatus.TIMEOUT else text(cell.error.message if cell.error else "raised an error")
            where = f" ({text(cell.error.where)})" if cell.error and cell.error.where else ""
            lines.append(f"- code cell {cell.cell}: {what}{where}")
    if result.output.strip():
        shown = result.output.strip().splitlines()
        fence = "`" * max(3, 1 + max(len(run) for run in re.findall("`+", "\n".join(shown[:MAX_OUTPUT_LINES])) or [""]))
        lines += ["", "## What your notebook printed (start)", "", fence, *shown[:MAX_OUTPUT_LINES], fence]  # no ``` inside ends it
        if len(shown) > MAX_OUTPUT_LINES:
            lines.append(f"({len(shown) - MAX_OUTPUT_LINES} more lines not shown)")
    return "\n".join(lines) + "\n"


class Feedback(StreamedReport):
    names = ("feedback",)
    per_student = True

    def __init__(self, staging: Path, assignment: Assignment, seed: int | str) -> None:
        super().__init__(staging, assignment, seed)
        (staging / "feedback").mkdir()

    def add(self, block: list[SubmissionResult]) -> None:
        for result in block:
            text = feedback(result, self.assignment)
            (self.staging / "feedback" / f"{result.student_id}.md").write_text(text, encoding="utf-8")
            title = f"{self.assignment.title}: {result.student_id}"
            (self.staging / "feedback" / f"{result.student_id}.html").write_text(markdown_page(text, title), encoding="utf-8")
            if result.notebook:
                write_notebook(result.notebook, self.staging / "feedback" / result.student_id)
