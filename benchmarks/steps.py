"""Where a notebook's forked process spends its time, step by step (the fork executor's child).

    .venv/bin/python benchmarks/steps.py --children 300

A process holding what the warm server holds (the harness, numpy, a warmed IPython shell, its
objects frozen for the collector) forks N children per step, each stopped right after that step:
the fork and exit alone; then reading the job; the limits; the solution's code cells through
IPython (and, for comparison, through a bare `exec`); the exercises' calls. Each child's CPU time
and minor page faults (the pages of the server it copied, or new ones) come from `wait4`. It runs
outside the sandbox and without a uid of its own, so it times the process's own work only; the
job is the one the grader makes for `assignments/backprop/solution.ipynb`. Pass `--inside FOLDER`
to time another copy of `grader/inside` (an older commit's, say) on the same job.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

STEPS = ("fork", "read", "limits", "cells", "calls")  # each includes the ones before it
ROOT = Path(__file__).resolve().parent.parent


def make_job(folder: Path, inside: Path | None) -> Path:
    """The box (the harness as the sandbox sees it) and the job file of the solution notebook."""
    import shutil

    sys.path.insert(0, str(ROOT))
    from grader.discover import read_cells
    from grader.executors.base import install_inside, pack_job
    from grader.inside import wire
    from grader.model import Calls, Job, Limits
    from grader.spec import load
    from grader.trials import make_trials

    if inside is None:
        install_inside(folder)
    else:
        shutil.copytree(inside, folder / wire.PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    assignment = load("backprop")
    solution = ROOT / "assignments" / "backprop" / "solution.ipynb"
    calls = [Calls(e.id, e.function, [t.args for t in make_trials(e, "1", "steps")]) for e in assignment.exercises]
    job = Job(read_cells(solution), solution, calls, 10.0)
    path = folder / "job.bin"
    path.write_bytes(pack_job(job, Limits().as_dict(60), None))
    return path


def children(box: str, job: str, count: int) -> None:
    """Run inside a fresh `python -I`: fork `count` children per step and print what each step costs."""
    sys.path.insert(0, box)
    from backprop_grader_inside import runner, wire  # type: ignore[import-not-found]
    from backprop_grader_inside.guard import enter  # type: ignore[import-not-found]

    sys.path.remove(box)
    data = Path(job).read_bytes()
    scratch = Path(tempfile.mkdtemp(prefix="grader-steps-"))
    quiet = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # what the cells print
    warm = runner.shell()
    for source in ("pass", "raise ValueError"):  # as the server warms its shell
        warm.run_cell(source, store_history=False)
    runner.forget_failure(warm)
    gc.freeze()

    def child(step: str) -> tuple[float, int]:
        (scratch / "job.bin").write_bytes(data)
        channel = open(scratch / "frames.bin", "wb")
        pid = os.fork()
        if pid == 0:
            try:
                if step != "fork":
                    job_data, arrays = wire.unpack((scratch / "job.bin").read_bytes())
                    if step != "read":
                        run = runner.Run(job_data, arrays, channel)
                        enter(job_data)
                        if step == "exec":
                            namespace: dict = {"__name__": "__main__"}
                            for source in job_data["cells"]:
                                exec(compile(source, "<cell>", "exec"), namespace)
                        elif step != "limits":
                            run.run_cells()
                            if step == "calls":
                                run.call_all()
                                run.send({"event": "done"})
                os._exit(0)
            finally:
                os._exit(70)
        channel.close()
        _, status, usage = os.wait4(pid, 0)
        if status != 0:
            raise SystemExit(f"a child of step {step} ended with status {status}")
        return (usage.ru_utime + usage.ru_stime) * 1000, usage.ru_minflt

    out = os.fdopen(quiet, "w")
    print(f"{count} children per step; each step includes the ones above it", file=out)
    print(f"{'step':<8} {'CPU ms':>7} {'pages':>6} {'+ms':>6} {'+pages':>7}", file=out)
    previous = (0.0, 0)
    for step in (*STEPS[:3], "exec", *STEPS[3:]):
        runs = [child(step) for _ in range(count)]
        cpu, pages = statistics.mean(r[0] for r in runs), round(statistics.median(r[1] for r in runs))
        base = previous if step != "cells" else limits  # the cells through IPython, against the same base as exec
        print(f"{step:<8} {cpu:>7.2f} {pages:>6} {cpu - base[0]:>+6.2f} {pages - base[1]:>+7}", file=out, flush=True)
        if step == "limits":
            limits = (cpu, pages)
        if step != "exec":
            previous = (cpu, pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=300, help="children forked per step")
    parser.add_argument("--inside", type=Path, help="another copy of grader/inside to time")
    parser.add_argument("--run-children", nargs=2, metavar=("BOX", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_children:
        children(*args.run_children, args.children)
        return
    with tempfile.TemporaryDirectory(prefix="grader-steps-") as tmp:
        job = make_job(Path(tmp), args.inside)
        subprocess.run([sys.executable, "-I", __file__, "--children", str(args.children), "--run-children", tmp, str(job)], check=True)


if __name__ == "__main__":
    main()
