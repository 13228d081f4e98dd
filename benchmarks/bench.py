"""Benchmark: `grader run` against nbclient with one kernel per notebook (what nbgrader does).

    .venv/bin/python benchmarks/bench.py --sizes 50 200 800

For each N it writes N correct `backprop` notebooks, times `grader run` on them (everything
included: start-up, all trials, the reports) and times executing the same notebooks with nbclient,
one kernel each, as many at once as `--jobs`. It prints notebooks per second for both, their
ratio, and the grader process's peak memory. It also times the compute floor of the same work: each
notebook's code cells executed, every exercise's trials drawn (the reference's answers included),
the functions called on copies of the inputs and the answers compared, all in this one process
with no isolation; the grader's rate is printed as a share of that floor on every core (`--jobs`).
`--baseline-sample K` times the baseline (and the floor) on the first K notebooks only (their rates
per notebook do not depend on N), to keep large runs short.
`--repeat R` runs `grader run` R times per N and reports the median time (these shared machines
vary by ±10-20% from run to run).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "assignments" / "backprop" / "solution.ipynb"
MEASURE = (
    "import resource, sys\n"
    "from grader.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def make_class(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = [folder / f"s{i:04d}.ipynb" for i in range(n)]
    for path in paths:
        shutil.copy(SOLUTION, path)
    return paths


def time_grader(folder: Path, out: Path, jobs: int, executor: str) -> tuple[float, float]:
    """Seconds for the whole `grader run`, and the grader process's peak memory in MiB."""
    argv = [sys.executable, "-c", MEASURE, "run", str(folder), "--out", str(out), "--seed", "1", "--jobs", str(jobs),
            "--fresh", "--executor", executor]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    peak_kib = int(done.stderr.split("MAXRSS")[1].split()[0])
    return seconds, peak_kib / 1024


def execute_with_kernel(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()


def _quiet() -> None:
    """Kernels inherit the baseline worker's stderr: keep their start-up warnings off the table."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)


def time_baseline(paths: list[Path], jobs: int) -> float:
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, initializer=_quiet) as pool:
        list(pool.map(execute_with_kernel, paths))
    return time.perf_counter() - started


def time_floor(paths: list[Path]) -> float:
    """Seconds for the grading work itself, in one process, with no isolation: what no sandbox,
    process, codec or report adds to."""
    from grader.discover import read_cells
    from grader.scoring.compare import Tolerance, compare
    from grader.spec import load
    from grader.trials import make_trials

    assignment = load("backprop")
    for exercise in assignment.exercises:
        make_trials(exercise, "warm", "up")  # each exercise's plan is made once per run, in the grader too
    started = time.perf_counter()
    for path in paths:
        namespace: dict = {}
        with contextlib.redirect_stdout(io.StringIO()):  # what the cells print, kept as the grader keeps it
            for source in read_cells(path):
                exec(compile(source, str(path), "exec"), namespace)
        for exercise in assignment.exercises:
            tolerance, names = Tolerance(exercise.rtol, exercise.atol), exercise.outputs if exercise.output is None else ()
            for trial in make_trials(exercise, "1", path.stem):
                result = namespace[exercise.function](*copy.deepcopy(trial.args).values())
                graded = result if exercise.output is None else result[exercise.output]
                assert compare(trial.expected, graded, exercise.graded_name, tolerance, names).passed
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 800])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--executor", default="fork", choices=["fork", "process", "kernel"])
    parser.add_argument("--repeat", type=int, default=1, help="grader runs per N; the median is reported")
    parser.add_argument("--baseline-sample", type=int, default=0, help="time the baseline on this many notebooks (0: all)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, --jobs {args.jobs}, executor {args.executor}, median of {args.repeat} grader run(s)")
    print(f"{'N':>5} {'grader s':>9} {'grader nb/s':>12} {'nbclient nb/s':>14} {'ratio':>6} {'floor nb/s':>11} {'of floor':>9} {'grader peak MiB':>16}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
            paths = make_class(Path(tmp) / "submissions", n)
            runs = [time_grader(Path(tmp) / "submissions", Path(tmp) / "reports", args.jobs, args.executor) for _ in range(args.repeat)]
            seconds, peak = statistics.median(r[0] for r in runs), max(r[1] for r in runs)
            sample = paths[: args.baseline_sample] if args.baseline_sample else paths
            baseline_rate = len(sample) / time_baseline(sample, args.jobs)
            floor_rate = len(sample) / time_floor(sample) * args.jobs  # one core's rate, on every core
            rate = n / seconds
            print(f"{n:>5} {seconds:>9.2f} {rate:>12.1f} {baseline_rate:>14.2f} {rate / baseline_rate:>6.1f} {floor_rate:>11.1f} "
                  f"{rate / floor_rate:>9.0%} {peak:>16.0f}", flush=True)


if __name__ == "__main__":
    main()
