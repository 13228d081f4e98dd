"""The reports: grades.csv, exercises.csv, trials.csv, feedback/<student_id>.md and .html, index.html
and lms.csv (a Canvas gradebook import).

Everything is first written into a staging folder inside the output folder, then moved into place
with os.replace, so each report is complete or absent; nothing is written before grading is done.
Results are written a block of submissions at a time, so memory does not grow with the class.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import nbformat
import pandas as pd

from grader.model import SubmissionResult
from grader.reports.feedback import feedback
from grader.reports.overview import canvas_rows, feedback_html, gradescope_json, index_html
from grader.run import Graded
from grader.spec import Assignment
from grader.workers import die_with

REPORTS = ("grades.csv", "exercises.csv", "trials.csv")  # streamed a block at a time
OVERVIEWS = ("index.html", "lms.csv")  # written from the summaries at the end
BLOCK = 100  # submissions whose rows go to pandas at once
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # how a spreadsheet cell that it would run as a formula begins


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
    return {"grades.csv": grades, "exercises.csv": exercises, "trials.csv": trials}


def write_reports(results: Graded | Sequence[SubmissionResult], assignment: Assignment, out: Path, seed: int | str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    summaries = results.summaries if isinstance(results, Graded) else [r.summary() for r in results]
    try:
        (staging / "feedback").mkdir()
        # The overview (matplotlib's import and plots, half the time here) is drawn on another core
        # while this process streams the CSV reports and the feedback.
        with ProcessPoolExecutor(1, multiprocessing.get_context("fork"), initializer=die_with, initargs=(os.getpid(),)) as pool:
            overview = pool.submit(_write_overviews, staging, summaries, assignment, seed)
            with contextlib.ExitStack() as stack:
                files = {name: stack.enter_context(open(staging / name, "w", encoding="utf-8", newline="")) for name in REPORTS}
                for index, block in enumerate(_blocks(results)):
                    for name, frame in tables(block, assignment, seed).items():
                        inert(frame).to_csv(files[name], index=False, header=index == 0)
                    for result in block:
                        text = feedback(result, assignment)
                        (staging / "feedback" / f"{result.student_id}.md").write_text(text, encoding="utf-8")
                        title = f"{assignment.title}: {result.student_id}"
                        (staging / "feedback" / f"{result.student_id}.html").write_text(feedback_html(text, title), encoding="utf-8")
                        if result.notebook:
                            write_notebook(result.notebook, staging / "feedback" / result.student_id)
                if not summaries:  # an empty class: the headers alone
                    for name, frame in tables([], assignment, seed).items():
                        frame.to_csv(files[name], index=False)
            overview.result()
        for name in REPORTS + OVERVIEWS:
            os.replace(staging / name, out / name)
        _replace_folder(staging / "feedback", out / "feedback")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_notebook(notebook: str, stem: Path) -> None:
    """`stem`.ipynb, the student's notebook with feedback, and `stem`.notebook.html, rendered by nbconvert
    with its HTML sanitised (a student's Markdown cells may hold any HTML)."""
    stem.with_name(stem.name + ".ipynb").write_text(notebook, encoding="utf-8")
    exporter = _exporter()
    body, _ = exporter.from_notebook_node(nbformat.reads(notebook, as_version=4))
    stem.with_name(stem.name + ".notebook.html").write_text(body, encoding="utf-8")


@functools.cache
def _exporter() -> Any:
    from nbconvert import HTMLExporter  # imported only where notebooks are returned (a second to import)

    return HTMLExporter(template_name="lab", sanitize_html=True)


def _write_overviews(staging: Path, summaries: list[SubmissionResult], assignment: Assignment, seed: int | str) -> None:
    (staging / "index.html").write_text(index_html(summaries, assignment, seed), encoding="utf-8")
    inert(pd.DataFrame(canvas_rows(summaries, assignment))).to_csv(staging / "lms.csv", index=False)


def inert(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell that a spreadsheet would run as a formula (=, +, -, @ first: a
    student named `=HYPERLINK(...)`) prefixed with ', which shows it as text."""
    for column in [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]:
        frame[column] = frame[column].map(lambda v: f"'{v}" if isinstance(v, str) and v[:1] in FORMULA else v)
    return frame


def _blocks(results: Iterable[SubmissionResult]) -> Iterator[list[SubmissionResult]]:
    iterator = iter(results)
    while block := list(itertools.islice(iterator, BLOCK)):
        yield block


def write_gradescope(result: SubmissionResult, assignment: Assignment, out: Path, seconds: float) -> Path:
    """`results.json` for Gradescope, written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=".results-", dir=out)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(gradescope_json(result, assignment, seconds))
    os.replace(staging, out / "results.json")
    return out / "results.json"


def _replace_folder(new: Path, target: Path) -> None:
    """Swap `new` in for `target` by renames, so the folder is never half old and half new."""
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)
