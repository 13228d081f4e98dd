"""Writing a class's reports: complete or not at all, from a list of report writers.

`REPORTS` lists what `grader run` writes: grades.csv, exercises.csv and trials.csv (`tables`), each
student's feedback/<student_id>.md and .html (`feedback`, and the returned notebook with
`--notebooks`), index.html (`overview`) and lms.csv (`lms`); `FORMATS` what each `--format` adds
(`json`: grades.json, `classjson`). Everything is first written into a
staging folder inside the output folder, then moved into place with os.replace, so each report is
complete or absent; nothing is written before grading is done. Streamed reports get the results a
block of submissions at a time, so memory does not grow with the class; summary reports are drawn
in another process meanwhile (matplotlib's import and plots are half the time here), and so are
the per-student files (rendering each feedback page is most of the rest), a few blocks at once. To add a
format: a module in this folder with a `StreamedReport` or `SummaryReport`, and one line below (in
REPORTS, written on every run, or in FORMATS, on request).
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from grader.model import LmsExport, SubmissionResult
from grader.reports.base import StreamedReport, SummaryReport
from grader.reports.classjson import ClassJson
from grader.reports.feedback import Feedback
from grader.reports.lms import Lms, Moodle
from grader.reports.overview import Overview
from grader.reports.tables import Tables
from grader.run import Graded
from grader.spec import Assignment
from grader.workers import die_with

REPORTS: list[type[StreamedReport] | type[SummaryReport]] = [
    Tables,  # grades.csv, exercises.csv, trials.csv
    Feedback,  # feedback/<student_id>.md and .html (and .ipynb and .notebook.html for a returned notebook)
    Overview,  # index.html
    Lms,  # lms.csv, a Canvas gradebook import
]
FORMATS: dict[str, list[type[StreamedReport] | type[SummaryReport]]] = {  # `--format`: what each adds to REPORTS
    "reports": [],
    "json": [ClassJson],  # grades.json
}
BLOCK = 100  # submissions whose rows go to pandas at once


def write_reports(results: Graded | Sequence[SubmissionResult], assignment: Assignment, out: Path, seed: int | str,
                  formats: Sequence[str] = ("reports",), export: LmsExport = LmsExport(), jobs: int = 2) -> None:
    """Every report of REPORTS and of the `formats` asked for, into `out`: each complete, or absent;
    with a Moodle roster, moodle.csv too. `jobs` processes write the per-student files."""
    reports = REPORTS + [report for name in formats for report in FORMATS[name]]
    if export.roster is not None and export.roster.kind == "moodle":
        reports.append(Moodle)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    summaries = results.summaries if isinstance(results, Graded) else [r.summary() for r in results]
    try:
        jobs = max(1, jobs)
        with ProcessPoolExecutor(1 + jobs, multiprocessing.get_context("fork"), initializer=die_with, initargs=(os.getpid(),)) as pool:
            aside = pool.submit(_write_summaries, [r for r in reports if issubclass(r, SummaryReport)], staging, summaries, assignment, seed,
                                export)
            streamed = [report(staging, assignment, seed) for report in reports if issubclass(report, StreamedReport)]
            in_flight: collections.deque[Future[None]] = collections.deque()  # a few blocks at a time: memory stays flat
            try:
                for block in _blocks(results):
                    for report in streamed:
                        if report.per_student:
                            in_flight.append(pool.submit(report.add, block))
                        else:
                            report.add(block)
                    while len(in_flight) > jobs:
                        in_flight.popleft().result()
                while in_flight:
                    in_flight.popleft().result()
            finally:
                for report in streamed:
                    report.close()
            aside.result()
        for name in dict.fromkeys(name for report in reports for name in report.names):
            if (staging / name).is_dir():
                _replace_folder(staging / name, out / name)
            else:
                os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_summaries(reports: list[type[SummaryReport]], staging: Path, summaries: list[SubmissionResult], assignment: Assignment,
                     seed: int | str, export: LmsExport) -> None:
    for report in reports:
        report(export).write(staging, summaries, assignment, seed)


def _blocks(results: Iterable[SubmissionResult]) -> Iterator[list[SubmissionResult]]:
    iterator = iter(results)
    while block := list(itertools.islice(iterator, BLOCK)):
        yield block


def _replace_folder(new: Path, target: Path) -> None:
    """Swap `new` in for `target` by renames, so the folder is never half old and half new."""
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)
