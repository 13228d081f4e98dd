"""`grader`: the command line. Parses options, shows progress, prints the summary; no grading logic.

Its exit codes (`Exit`) are what a CI pipeline or a script reads: every submission graded, some not
graded in full, nothing graded (a usage error), a score below `--fail-under`, interrupted.
"""

from __future__ import annotations

import argparse
import enum
import math
import os
import secrets
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
from grader.discover import entries, nbgrader_assignments, shown
from grader.executors import EXECUTORS
from grader.executors.sandbox import MAX_SLOTS, detect
from grader.model import ExerciseStatus, Limits, LmsExport, Options, Roster, RunStatus, SubmissionResult
from grader.reports.gradescope import write_gradescope
from grader.reports.lms import CANVAS, Matching, RosterError, matching, read_roster
from grader.reports.write import write_reports
from grader.run import Graded, grade_all
from grader.scoring.score import percent, points
from grader.selfcheck import report_check
from grader.spec import Assignment, SpecError, load
from grader.trials import plan
from grader.store import FILE as STORE, SEED, SEED_FILE, Store, folder_seed

SEED_VARIABLE = "GRADER_SEED"
SUMMARY_ROWS = 40  # a larger class's summary lists only those short of full marks
MAX_TIMEOUT = 3600.0  # seconds per cell and per call: an hour is past any exercise here


class Exit(enum.IntEnum):
    GRADED = 0  # every submission graded in full; reports written
    INCOMPLETE = 1  # reports written, but some submission could not be graded in full (status error, crashed or timeout)
    USAGE = 2  # nothing graded, no report written: a bad option, spec or path, nothing to grade, or --strict refused
    BELOW = 3  # reports written, every submission graded, but one scored below --fail-under
    INTERRUPTED = 130  # Ctrl-C: what was graded is kept in the store


EXAMPLES = {
    "grader": """examples:
  grader run submissions/                      grade a class, write reports/ (CSV, feedback, index.html)
  grader run alice.ipynb --format json         grade one notebook; also write reports/grades.json
  grader check my_notebook.ipynb               self-check a notebook on the public trials
  grader assign assignments/backprop           write the student notebook and the handout folder
  grader validate assignments/backprop         check an assignment before handing it out
  grader gradescope backprop                   build a Gradescope autograder zip

exit codes: 0 every submission graded; 1 some not graded in full (error, crashed, timeout);
2 usage error, nothing graded; 3 a score below --fail-under; 130 interrupted""",
    "run": """examples:
  grader run submissions/ --seed 2024 --out reports/
  grader run submissions/ --jobs 8 --timeout 30 --memory 4G --notebooks
  grader run submission.ipynb --format json --fail-under 60     (a CI job for one student's repository)
  grader run submissions/ --scheduler tcp://10.0.0.5:8786      (on a Dask cluster)

exit codes: 0 every submission graded; 1 some not graded in full (error, crashed, timeout);
2 usage error, nothing graded; 3 a score below --fail-under; 130 interrupted""",
    "check": """examples:
  grader check my_notebook.ipynb
  grader check my_notebook.ipynb --bundle handout/selfcheck.bundle --timeout 30

exit codes: 0 every exercise passes its public trials; 1 otherwise; 2 the notebook or the bundle cannot be read""",
    "assign": """examples:
  grader assign assignments/backprop           (solution.ipynb -> student.ipynb, selfcheck.bundle, handout/)
  grader assign my_course/week3 --force

exit codes: 0 written; 2 an error, nothing written""",
    "gradescope": """examples:
  grader gradescope backprop --out autograder.zip
  grader gradescope my_course/week3 --notebook week3.ipynb --timeout 20 --seed 90210

then upload autograder.zip as the assignment's autograder on Gradescope (see the README's recipe)

exit codes: 0 written; 2 an error, nothing written""",
    "validate": """examples:
  grader validate backprop
  grader validate my_course/week3 --timeout 30

exit codes: 0 ready; 1 problems listed; 2 the spec cannot be read""",
}


def main(argv: list[str] | None = None) -> int:
    described = {"formatter_class": argparse.RawDescriptionHelpFormatter}
    parser = argparse.ArgumentParser(prog="grader", description="Autograder for backpropagation notebooks.", epilog=EXAMPLES["grader"], **described)
    parser.add_argument("--version", action="version", version=f"backprop-grader {version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="grade every notebook in SUBMISSIONS and write CSV reports and feedback",
                              description="Grade every notebook in SUBMISSIONS and write CSV reports and feedback.", epilog=EXAMPLES["run"], **described)
    run.add_argument("submissions", type=Path,
                     help="folder of <student_id>.ipynb files, <student_id>/ folders or .zip archives; or one notebook or zip")
    run.add_argument("--assignment", default="backprop", help="built-in assignment name or path to an assignment folder (default: backprop)")
    run.add_argument("--seed", metavar="TEXT", help=f"grading seed, 1 to 100 letters, digits, -, _ or . (default: ${SEED_VARIABLE}; without either, the seed kept in the output folder, "
                     "drawn at random on its first run)")
    run.add_argument("--timeout", type=_seconds, default=10.0, help="seconds allowed per cell and per function call (default: 10)")
    run.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: reports/)")
    run.add_argument("--jobs", type=_jobs, default=os.cpu_count() or 1, help="notebooks graded at once (default: number of cores)")
    run.add_argument("--memory", type=_size("memory", 64), default=Limits.memory, help="memory cap per notebook, e.g. 2G or 512M (default: 2G)")
    run.add_argument("--disk", type=_size("disk", 16), default=Limits.disk,
                     help="disk quota per notebook: what its working directory may hold, e.g. 1G (default: 512M)")
    run.add_argument("--strict", action="store_true", help="refuse to run unless every sandbox layer is available")
    run.add_argument("--fresh", action="store_true", help="grade everything again instead of reusing results stored by an earlier run")
    run.add_argument("--notebooks", action="store_true",
                     help="also return each student's notebook with its outputs and feedback cells (feedback/<id>.ipynb and .notebook.html)")
    run.add_argument("--format", choices=["reports", "json", "gradescope"], default="reports",
                     help="json: also write grades.json, the class as one JSON document; gradescope: also write results.json "
                          "for the one submission (to run as a Gradescope autograder)")
    run.add_argument("--nbgrader", metavar="ASSIGNMENT",
                     help="SUBMISSIONS is nbgrader's submitted/ folder (<student>/<assignment>/): grade that assignment of each "
                          "student (found by itself when the folder holds one assignment)")
    run.add_argument("--roster", type=Path, metavar="CSV",
                     help="the LMS's list of students: a Canvas gradebook export (lms.csv then has a row per student on it) or a "
                          "Moodle grading worksheet (moodle.csv is that worksheet with the grades filled in)")
    run.add_argument("--roster-key", metavar="COLUMN", help="the roster's column that holds the submissions' ids "
                     "(default: SIS Login ID for Canvas; Identifier for Moodle, matched to Moodle's submission folder names)")
    run.add_argument("--lms-column", metavar="NAME", help="lms.csv's score column: an existing Canvas assignment as Canvas names it, "
                     "e.g. 'Backprop by hand (12345)' (default: '<title> (points)', which Canvas makes a new assignment)")
    run.add_argument("--missing", choices=["blank", "zero"], default="blank",
                     help="what a student on the roster without a submission gets in the LMS files (default: blank)")
    run.add_argument("--fail-under", type=_percent, metavar="PERCENT",
                     help="exit with code 3 when a submission scores below PERCENT of the points (for CI pipelines)")
    run.add_argument("--scheduler", help="grade on a Dask cluster: its scheduler's address, e.g. tcp://10.0.0.5:8786 (pip install -e '.[dask]')")
    run.add_argument("--executor", choices=sorted(EXECUTORS), default="fork",
                     help="fork: warm servers fork a process per notebook (default, fast); process: a fresh Python per notebook; "
                          "kernel: a Jupyter kernel per notebook, run by nbclient (full Jupyter fidelity, slowest)")
    assign_cmd = commands.add_parser("assign", help="write student.ipynb from solution.ipynb (solution regions removed)",
                                     epilog=EXAMPLES["assign"], **described)
    assign_cmd.add_argument("folder", type=Path, help="the assignment folder, e.g. assignments/backprop")
    assign_cmd.add_argument("--force", action="store_true", help="overwrite a student notebook that was changed by hand")
    check_cmd = commands.add_parser("check", help="self-check one notebook on the public trials of the self-check bundle",
                                    epilog=EXAMPLES["check"], **described)
    check_cmd.add_argument("notebook", type=Path, help="the notebook to check, run as the grading runs it")
    check_cmd.add_argument("--bundle", type=Path, help=f"the self-check bundle (default: {BUNDLE} beside the notebook)")
    check_cmd.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per cell and per call (default: 10)")
    gradescope_cmd = commands.add_parser("gradescope", help="build a Gradescope autograder zip for an assignment",
                                         epilog=EXAMPLES["gradescope"], **described)
    gradescope_cmd.add_argument("assignment", help="built-in assignment name or path to an assignment folder")
    gradescope_cmd.add_argument("--out", type=Path, default=Path("autograder.zip"), help="the zip to write (default: autograder.zip)")
    gradescope_cmd.add_argument("--seed", help="grading seed kept in the zip (default: drawn at random, and printed)")
    gradescope_cmd.add_argument("--notebook", help="the file name students submit, which picks one notebook among several "
                                "(default: the assignment's student notebook's name)")
    gradescope_cmd.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per cell and per call (default: 10)")
    gradescope_cmd.add_argument("--budget", type=_seconds, default=540.0,
                                help="seconds for a whole submission, under Gradescope's limit (default: 540, for its 600)")
    gradescope_cmd.add_argument("--memory", type=_size("memory", 64), default=512 * 2**20, help="memory cap per notebook (default: 512M)")
    gradescope_cmd.add_argument("--disk", type=_size("disk", 16), default=64 * 2**20, help="disk quota per notebook (default: 64M)")
    validate_cmd = commands.add_parser("validate", help="check that an assignment's solution, template, bundle and references agree",
                                       epilog=EXAMPLES["validate"], **described)
    validate_cmd.add_argument("assignment", help="built-in assignment name or path to an assignment folder")
    validate_cmd.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per cell and per call (default: 10)")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if args.command == "validate":
        return _validate(args, console)
    if args.command == "assign":
        try:
            student, bundle, handout = assign(args.folder, args.force)
        except (AssignError, SpecError) as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            return Exit.USAGE
        console.print(escape(f"wrote {student}, {bundle} and {handout}/: hand out the folder {handout} to students "
                             f"({', '.join(sorted(p.name for p in handout.iterdir()))})"))
        return Exit.GRADED
    if args.command == "check":
        return report_check(args.notebook, args.bundle, args.timeout)
    if args.command == "gradescope":
        return _gradescope(args, console)
    try:
        assignment, export = _prepare(args, console)
        seed = _seed(args, console)
        store = Store(args.out / STORE)
        started = time.monotonic()
        try:
            if args.fresh:
                store.clear()
            graded = _run(args, assignment, seed, store, console)
            if args.format == "gradescope":
                write_gradescope(next(iter(graded)), assignment, args.out, time.monotonic() - started)
            if graded.reused:
                console.print(f"{graded.reused} result(s) reused from an earlier run with the same seed (--fresh grades all again)")
            write_reports(graded, assignment, args.out, seed, [args.format] if args.format == "json" else ["reports"], export, args.jobs)
            if export.roster is not None:
                _warn_matching(matching(graded.summaries, export.roster), export.roster, console)
        finally:
            store.close()
    except (SpecError, OSError, RosterError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return Exit.USAGE
    except ModuleNotFoundError as exc:
        console.print(escape(f"error: --scheduler needs Dask ({exc}): pip install -e '.[dask]'"))
        return Exit.USAGE
    except KeyboardInterrupt:
        console.print(escape(f"interrupted: what was graded is kept in {args.out / STORE}; run the same command again to go on"))
        return Exit.INTERRUPTED
    _summary(graded.summaries, assignment, Console())
    extra = ", grades.json" if args.format == "json" else ", results.json" if args.format == "gradescope" else ""
    extra += ", moodle.csv" if export.roster is not None and export.roster.kind == "moodle" else ""
    console.print(escape(f"Reports written to {args.out}/ (index.html, grades.csv, exercises.csv, trials.csv, lms.csv{extra}, feedback/); seed {seed}"))
    return _exit(graded.summaries, assignment, args.fail_under, console)


def _warn_matching(found: Matching, roster: Roster, console: Console) -> None:
    """What the LMS files leave out: submissions the roster does not know, students with several."""
    if found.strangers:
        console.print(escape(f"warning: {len(found.strangers)} submission(s) match no student of the roster ({roster.key}), so the LMS files "
                             f"leave them out: {', '.join(found.strangers[:20])}{' …' if len(found.strangers) > 20 else ''}"))
    for key, ids in list(found.several.items())[:20]:
        console.print(escape(f"warning: {key} has {len(ids)} graded submissions ({', '.join(ids)}), so the LMS files give no total: "
                             "keep one, or enter the grade yourself"))


def _nbgrader_layout(submissions: Path, console: Console) -> str | None:
    """The assignment to grade when SUBMISSIONS has nbgrader's submitted/<student>/<assignment>/
    layout and holds one assignment; with several, which to choose is asked for."""
    names = nbgrader_assignments(submissions)
    if len(names) > 1:
        raise SpecError(f"{submissions} has nbgrader's layout (<student>/<assignment>/) with the assignments {', '.join(names)}: "
                        "choose one with --nbgrader ASSIGNMENT")
    if names:
        console.print(escape(f"{submissions} has nbgrader's layout (<student>/<assignment>/): grading its assignment {names[0]}"))
    return names[0] if names else None


def _prepare(args: argparse.Namespace, console: Console) -> tuple[Assignment, LmsExport]:
    """Everything `grader run` checks before it writes anything: the spec and its references, the
    sandbox under --strict, the roster and the LMS column, the submissions (and their layout)."""
    assignment = load(args.assignment)
    for exercise in assignment.exercises:
        plan(exercise)  # a reference that raises, or trials that cannot discriminate: said before anything is written
    sandbox = detect()
    console.print(sandbox.describe())
    if args.strict and not all(sandbox.layers.values()):
        raise SpecError("--strict: not every sandbox layer is available here (see above)")
    export = LmsExport(read_roster(args.roster, args.roster_key) if args.roster else None, args.lms_column, args.missing)
    if args.lms_column is not None and args.lms_column.strip() in CANVAS:
        raise SpecError(f"--lms-column {args.lms_column!r} is one of the columns Canvas matches students by ({', '.join(CANVAS)}): "
                        "name the assignment's column, e.g. 'Backprop by hand (12345)'")
    if export.roster is not None and export.roster.kind == "canvas" and args.lms_column and args.lms_column not in export.roster.columns:
        console.print(escape(f"warning: the roster has no column {args.lms_column!r}, so Canvas will make it a new assignment "
                             f"(its assignments: {', '.join(c for c in export.roster.columns if c not in CANVAS) or 'none'})"))
    if args.nbgrader is not None and (Path(args.nbgrader).name != args.nbgrader or args.nbgrader in ("", ".", "..")):
        raise SpecError(f"--nbgrader {args.nbgrader!r}: the name of an assignment's folder, such as ps1")
    args.nbgrader = args.nbgrader or _nbgrader_layout(args.submissions, console)
    found, skipped = entries(args.submissions, args.nbgrader)
    if skipped and args.nbgrader:
        console.print(escape(f"{len(skipped)} student(s) have no {args.nbgrader} folder: {', '.join(shown(p.name) for p in skipped)}"))
    elif skipped:
        console.print(escape(f"skipped {len(skipped)} file(s) that are not a notebook, a folder or a zip archive: "
                             f"{', '.join(shown(p.name) for p in skipped)}"))
    if not found:
        if args.nbgrader:
            found_names = nbgrader_assignments(args.submissions)
            raise FileNotFoundError(f"nothing to grade in {args.submissions}: no student has a folder {args.nbgrader}"
                                    + (f" (the assignments there: {', '.join(found_names)})" if found_names else ""))
        raise FileNotFoundError(f"nothing to grade in {args.submissions}: no notebook (.ipynb), folder or zip archive")
    if args.format == "gradescope" and len(found) != 1:
        raise SpecError(f"--format gradescope grades one submission; {args.submissions} holds {len(found)} "
                        "(on Gradescope itself, use the autograder that `grader gradescope` builds)")
    return assignment, export


def _seed(args: argparse.Namespace, console: Console) -> str:
    """The grading seed: --seed, $GRADER_SEED, or the one kept in the output folder (drawn on its first run)."""
    seed = args.seed or os.environ.get(SEED_VARIABLE)
    if seed:
        _check_seed(seed, "--seed" if args.seed else "$" + SEED_VARIABLE)
    else:
        seed, drawn = folder_seed(args.out)
        kept = args.out / SEED_FILE
        console.print(escape(f"no --seed or ${SEED_VARIABLE}: drew the seed {seed} for this output folder, kept in {kept}" if drawn else
                             f"grading with the seed {seed} kept in {kept} (drawn on this folder's first run; --seed overrides)"))
    return seed


def _check_seed(seed: str, given_as: str) -> None:
    if not SEED.fullmatch(seed):
        raise SpecError(f"{given_as} must be 1 to 100 letters, digits, '-', '_' or '.' (a grading seed)")


def _exit(results: list[SubmissionResult], assignment: Assignment, fail_under: float | None, console: Console) -> Exit:
    """What the run tells a pipeline: whether every submission was graded in full, and scored enough."""
    incomplete = [r.student_id for r in results if r.status != RunStatus.OK]
    below = [r.student_id for r in results if fail_under is not None and 100 * r.total < fail_under * assignment.max_total]
    for what, ids in (("not graded in full", incomplete), (f"below --fail-under {fail_under or 0:g}%", below)):
        if ids:
            console.print(escape(f"{what}: {', '.join(ids[:10])}{' …' if len(ids) > 10 else ''} (see grades.csv)"))
    return Exit.INCOMPLETE if incomplete else Exit.BELOW if below else Exit.GRADED


def _gradescope(args: argparse.Namespace, console: Console) -> int:
    from grader.platforms.gradescope import Config, build

    try:
        assignment = load(args.assignment)
        seed = args.seed or str(secrets.randbelow(10**9))
        _check_seed(seed, "--seed")
        notebook = args.notebook or "student.ipynb"
        if Path(notebook).name != notebook or not notebook.endswith(".ipynb") or notebook.startswith("."):
            raise SpecError(f"--notebook {notebook!r}: the name of the notebook students submit, such as week3.ipynb (no folder)")
        config = Config(seed=seed, notebook=notebook, timeout=args.timeout, budget=args.budget, memory=args.memory, disk=args.disk)
        out = args.out / "autograder.zip" if args.out.is_dir() or str(args.out).endswith(os.sep) else args.out
        zipped = build(assignment, out, config)
    except (SpecError, OSError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return Exit.USAGE
    if args.budget > 600:
        console.print(escape(f"note: --budget {args.budget:g} s is past Gradescope's default limit of 600 s: raise the autograder's "
                             "timeout in the assignment's settings to match (it may go up to 40 minutes)"))
    console.print(escape(f"wrote {zipped}: upload it as the autograder of a Gradescope programming assignment; students submit "
                         f"{notebook}; the grading seed kept in it is {seed} (never shown to students)"))
    return Exit.GRADED


def _validate(args: argparse.Namespace, console: Console) -> int:
    try:
        assignment = load(args.assignment)
    except SpecError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return Exit.USAGE
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

        drawn_at = [0.0]  # when the bar was last drawn: ten times a second is enough, and drawing it costs

        def advance(result: SubmissionResult) -> None:
            progress.advance(task)
            if time.monotonic() - drawn_at[0] >= 0.1 or progress.tasks[task].finished:
                drawn_at[0] = time.monotonic()
                progress.refresh()

        return grade_all(
            args.submissions,
            assignment,
            Options(seed=seed, timeout=args.timeout, jobs=args.jobs, limits=Limits(memory=args.memory, disk=args.disk), executor=args.executor,
                    scheduler=args.scheduler, notebooks=args.notebooks, nbgrader=args.nbgrader),
            on_start=lambda count: progress.update(task, total=count, refresh=True),
            progress=advance,
            store=store,
        )


def _bounded(convert: Callable[[str], float], what: str, low: float, high: float, low_open: bool, bounds: str) -> Callable[[str], float]:
    """A parser of a number option that names the option in its errors (argparse adds it) and takes
    no nan, no inf and nothing out of its bounds."""

    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (math.isfinite(value) and (low < value if low_open else low <= value) and value <= high):
            raise argparse.ArgumentTypeError(f"{text!r}: {bounds}")
        return value

    return parse


_seconds = _bounded(float, "a number of seconds", 0, MAX_TIMEOUT, True, f"the time limit must be above 0 and at most {MAX_TIMEOUT:g} seconds")
_jobs = _bounded(int, "a whole number of notebooks", 1, MAX_SLOTS, False, f"notebooks graded at once must be from 1 to {MAX_SLOTS}")
_percent = _bounded(float, "a percentage", 0, 100, False, "a percentage of the points is from 0 to 100")


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
    short = [r for r in results if not (r.status == RunStatus.OK and r.total == assignment.max_total)]  # of full marks
    full = len(results) - len(short)
    shown = results if len(results) <= SUMMARY_ROWS else short
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
