"""`grader`: the command line. Parses options, shows progress, prints the summary; no grading logic."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from grader.authoring.assign import AssignError, assign
from grader.authoring.bundle import BUNDLE
from grader.authoring.kit import version
from grader.authoring.validate import SEEDS, validate
from grader.executors import EXECUTORS
from grader.executors.sandbox import detect
from grader.model import ExerciseStatus, Limits, Options, RunStatus, SubmissionResult
from grader.reports.gradescope import write_gradescope
from grader.reports.write import write_reports
from grader.run import Graded, grade_all
from grader.scoring.score import percent, points
from grader.selfcheck import report_check
from grader.spec import Assignment, SpecError, load
from grader.store import FILE as STORE, SEED_FILE, Store, folder_seed

SEED_VARIABLE = "GRADER_SEED"
SUMMARY_ROWS = 40  # a larger class's summary lists only those short of full marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grader", description="Autograder for backpropagation notebooks.")
    parser.add_argument("--version", action="version", version=f"backprop-grader {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="grade every notebook in SUBMISSIONS and write CSV reports and feedback")
    run.add_argument("submissions", type=Path, help="folder of <student_id>.ipynb files, <student_id>/ folders or .zip archives")
    run.add_argument("--assignment", default="backprop", help="built-in assignment name or path to an assignment folder (default: backprop)")
    run.add_argument("--seed", help=f"grading seed (default: ${SEED_VARIABLE}; without either, the seed kept in the output folder, "
                     "drawn at random on its first run)")
    run.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per cell and per function call (default: 10)")
    run.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: reports/)")
    run.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="notebooks graded at once (default: number of cores)")
    run.add_argument("--memory", type=_size("memory", 64), default=Limits.memory, help="memory cap per notebook, e.g. 2G or 512M (default: 2G)")
    run.add_argument("--disk", type=_size("disk", 16), default=Limits.disk,
                     help="disk quota per notebook: what its working directory may hold, e.g. 1G (default: 512M)")
    run.add_argument("--strict", action="store_true", help="refuse to run unless every sandbox layer is available")
    run.add_argument("--fresh", action="store_true", help="grade everything again instead of reusing results stored by an earlier run")
    run.add_argument("--notebooks", action="store_true",
                     help="also return each student's notebook with its outputs and feedback cells (feedback/<id>.ipynb and .notebook.html)")
    run.add_argument("--format", choices=["reports", "gradescope"], default="reports",
                     help="gradescope: also write results.json for the one submission (to run as a Gradescope autograder)")
    run.add_argument("--scheduler", help="grade on a Dask cluster: its scheduler's address, e.g. tcp://10.0.0.5:8786 (pip install -e '.[dask]')")
    run.add_argument("--executor", choices=sorted(EXECUTORS), default="fork",
                     help="fork: warm servers fork a process per notebook (default, fast); process: a fresh Python per notebook; "
                          "kernel: a Jupyter kernel per notebook, run by nbclient (full Jupyter fidelity, slowest)")
    assign_cmd = commands.add_parser("assign", help="write student.ipynb from solution.ipynb (solution regions removed)")
    assign_cmd.add_argument("folder", type=Path, help="the assignment folder, e.g. assignments/backprop")
    assign_cmd.add_argument("--force", action="store_true", help="overwrite a student notebook that was changed by hand")
    check_cmd = commands.add_parser("check", help="self-check one notebook on the public trials of the self-check bundle")
    check_cmd.add_argument("notebook", type=Path)
    check_cmd.add_argument("--bundle", type=Path, help=f"the self-check bundle (default: {BUNDLE} beside the notebook)")
    check_cmd.add_argument("--timeout", type=float, default=10.0, help="seconds per cell and per call (default: 10)")
    validate_cmd = commands.add_parser("validate", help="check that an assignment's solution, template, bundle and references agree")
    validate_cmd.add_argument("assignment", help="built-in assignment name or path to an assignment folder")
    validate_cmd.add_argument("--timeout", type=float, default=10.0, help="seconds per cell and per call (default: 10)")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if args.command == "validate":
        return _validate(args, console)
    if args.command == "assign":
        try:
            student, bundle, handout = assign(args.folder, args.force)
        except (AssignError, SpecError) as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            return 2
        console.print(escape(f"wrote {student}, {bundle} and {handout}/: hand out the folder {handout} to students "
                             f"({', '.join(sorted(p.name for p in handout.iterdir()))})"))
        return 0
    if args.command == "check":
        return report_check(args.notebook, args.bundle, args.timeout)
    try:
        assignment = load(args.assignment)
        if args.timeout <= 0 or args.jobs < 1:
            raise SpecError("--timeout must be positive and --jobs at least 1")
        sandbox = detect()
        console.print(sandbox.describe())
        if args.strict and not all(sandbox.layers.values()):
            raise SpecError("--strict: not every sandbox layer is available here (see above)")
        if not args.submissions.is_dir():
            raise FileNotFoundError(f"no submissions folder at {args.submissions}")
        seed = args.seed or os.environ.get(SEED_VARIABLE)
        if not seed:
            seed, drawn = folder_seed(args.out)
            kept = args.out / SEED_FILE
            console.print(escape(f"no --seed or ${SEED_VARIABLE}: drew the seed {seed} for this output folder, kept in {kept}" if drawn else
                                 f"grading with the seed {seed} kept in {kept} (drawn on this folder's first run; --seed overrides)"))
        store = Store(args.out / STORE)
        started = time.monotonic()
        try:
            if args.fresh:
                store.clear()
            graded = _run(args, assignment, seed, store, console)
            if args.format == "gradescope":
                if len(graded) != 1:
                    raise SpecError(f"--format gradescope grades one submission; {args.submissions} holds {len(graded)}")
                write_gradescope(next(iter(graded)), assignment, args.out, time.monotonic() - started)
            if graded.reused:
                console.print(f"{graded.reused} result(s) reused from an earlier run with the same seed (--fresh grades all again)")
            write_reports(graded, assignment, args.out, seed)
        finally:
            store.close()
    except (SpecError, OSError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    except ModuleNotFoundError as exc:
        console.print(escape(f"error: --scheduler needs Dask ({exc}): pip install -e '.[dask]'"))
        return 2
    except KeyboardInterrupt:
        console.print(escape(f"interrupted: what was graded is kept in {args.out / STORE}; run the same command again to go on"))
        return 130
    _summary(graded.summaries, assignment, Console())
    console.print(escape(f"Reports written to {args.out}/ (index.html, grades.csv, exercises.csv, trials.csv, lms.csv, feedback/); seed {seed}"))
    return 0


def _validate(args: argparse.Namespace, console: Console) -> int:
    try:
        assignment = load(args.assignment)
    except SpecError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    problems = validate(assignment, args.timeout)
    for problem in problems:
        console.print(f"[red]✗[/red] {escape(problem)}")
    if problems:
        console.print(escape(f"{assignment.path}: {len(problems)} problem(s)"))
        return 1
    Console().print(f"✓ {assignment.path}: the solution scores full marks on seeds {', '.join(map(str, SEEDS))}, the template "
                    "fails only with NotImplementedError, student.ipynb and the self-check bundle are up to date")
    return 0


def _run(args: argparse.Namespace, assignment: Assignment, seed: str, store: Store, console: Console) -> Graded:
    columns = (TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # No refresh thread: the grading workers are forked from this process, which must hold no threads.
    with Progress(*columns, console=console, transient=True, auto_refresh=False) as progress:
        task = progress.add_task("grading", total=None)

        def advance(result: SubmissionResult) -> None:
            progress.advance(task)
            progress.refresh()

        return grade_all(
            args.submissions,
            assignment,
            Options(seed=seed, timeout=args.timeout, jobs=args.jobs, limits=Limits(memory=args.memory, disk=args.disk), executor=args.executor,
                    scheduler=args.scheduler, notebooks=args.notebooks),
            on_start=lambda count: progress.update(task, total=count, refresh=True),
            progress=advance,
            store=store,
        )


def _size(what: str, least_mib: int) -> Callable[[str], int]:
    """A parser of '2G', '512M', '1048576' as bytes, for --memory and --disk."""

    def parse(text: str) -> int:
        units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
        try:
            number, unit = (text[:-1], units[text[-1].upper()]) if text[-1:].upper() in units else (text, 1)
            value = int(float(number) * unit)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 2G or 512M") from None
        if value < least_mib * 2**20:
            raise argparse.ArgumentTypeError(f"{text!r} is too little {what} for a notebook (at least {least_mib}M)")
        if value > 2**50:
            raise argparse.ArgumentTypeError(f"{text!r} is more {what} than any machine has (at most 1024T)")
        return value

    parse.__name__ = f"size of {what}"  # what argparse names in its messages
    return parse


def _summary(results: list[SubmissionResult], assignment: Assignment, console: Console) -> None:
    """Every submission for a small class; for a large one, those short of full marks (the rest are in the reports)."""
    full = sum(r.status == RunStatus.OK and r.total == assignment.max_total for r in results)
    shown = results if len(results) <= SUMMARY_ROWS else [r for r in results if not (r.status == RunStatus.OK and r.total == assignment.max_total)]
    title = f"{assignment.title} — {len(results)} submission(s), {full} with full marks"
    if not shown:
        console.print(Text(title))
        return
    table = Table(title=Text(title))
    if len(shown) < len(results):
        table.caption = f"{min(len(shown), SUMMARY_ROWS)} of the {len(shown)} short of full marks shown; every submission is in grades.csv"
        shown = shown[:SUMMARY_ROWS]
    for column in ("student", "score", "percent", "status", "exercises passed", "first problem"):
        table.add_column(column)
    for r in shown:
        passed = sum(e.status == ExerciseStatus.PASSED for e in r.exercises)
        problem = r.message if r.status != RunStatus.OK else next((f"{e.exercise}: {e.status.replace('_', ' ')}" for e in r.exercises if e.status != ExerciseStatus.PASSED), "")
        table.add_row(Text(r.student_id), f"{points(r.total)}/{points(assignment.max_total)}", percent(r.total, assignment.max_total), r.status, f"{passed}/{len(r.exercises)}", Text(problem))
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
