"""Gradescope: `grader gradescope ASSIGNMENT` builds the autograder zip; inside Gradescope's container
`run_autograder` runs `python -m grader.platforms.gradescope`, which always writes results.json.

The zip holds, at its root: `setup.sh` (run once when Gradescope builds the image: a Python 3.11 or
newer, bubblewrap, a virtual environment with the grader's wheel), `run_autograder` (run for each
submission), the grader as a wheel (made from the installed package: `grader.authoring.wheel`), the
assignment folder, and `config.json` with the grading seed and limits. Gradescope keeps the zip out
of the students' sight, and nothing of it reaches results.json but scores and feedback.

For each submission: the notebook to grade is the only one submitted, or the one named as the
assignment expects; none, several, a crash, a hostile notebook or the time budget running out each
give a results.json that says so. The student id that seeds the trials is the Gradescope user's id
(`submission_metadata.json`), so each student gets trials of their own. Student output never reaches
results.json, which is written by this process alone; the results folder holds nothing else.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import grader
from grader.authoring.kit import version
from grader.authoring.wheel import write_wheel
from grader.discover import litter, shown, student_id
from grader.executors.received import safe_text
from grader.grading import not_run
from grader.model import Limits, Options, RunStatus, SubmissionResult
from grader.reports.gradescope import write_gradescope
from grader.run import grade_all
from grader.spec import Assignment, load

CONFIG = "config.json"
SUBMITTED_AS = "submission"  # the student id when Gradescope's metadata names no user
SETUP = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${GRADER_PYTHON:-}"
if [ -z "$PYTHON" ]; then
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys, ensurepip; assert sys.version_info >= (3, 11)' 2>/dev/null; then
            PYTHON="$(command -v "$candidate")"; break
        fi
    done
fi
need=()
[ -n "$PYTHON" ] || need+=(python3.11 python3.11-venv)
command -v bwrap >/dev/null || need+=(bubblewrap)  # the sandbox's namespaces, where the container allows them
if [ ${#need[@]} -gt 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") || echo "could not install ${need[*]}"
    PYTHON="${PYTHON:-$(command -v python3.11)}"
fi
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install -q "$SOURCE"/backprop_grader-*.whl
"$ROOT/venv/bin/python" -c "import grader.platforms.gradescope"
"""
RUN = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission. Whatever happens, results.json is written.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
mkdir -p "$ROOT/results"
"$ROOT/venv/bin/python" -m grader.platforms.gradescope "$ROOT"
if [ ! -s "$ROOT/results/results.json" ]; then
    printf '{"score": 0, "output": "The autograder could not run, so your submission was not graded. Please tell your instructor.", "tests": []}\n' \
        > "$ROOT/results/results.json"
    chmod 644 "$ROOT/results/results.json"
fi
exit 0
"""


@dataclass(frozen=True)
class Config:
    """What the zip's config.json holds: how each submission is graded."""

    seed: str
    notebook: str  # the file name students are asked to submit, which picks one among several
    timeout: float = 10.0  # seconds per cell and per call
    budget: float = 540.0  # seconds for the whole submission: Gradescope's default limit is 600
    memory: int = 512 * 2**20  # bytes of address space per process: under the 768 MB of Gradescope's default container
    disk: int = 64 * 2**20


def build(assignment: Assignment, out: Path, config: Config) -> Path:
    """The autograder zip for `assignment`, at `out`."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel = write_wheel(Path(tmp), "backprop_grader", version(), _package_files(), "backprop-grader, for a Gradescope autograder",
                            _requirements(), {"grader": "grader.cli:main"}, ["grader", "reference"])
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.with_name(f".{out.name}.partial")
        try:
            _write_zip(staging, wheel, assignment, config)
            os.replace(staging, out)
        finally:
            staging.unlink(missing_ok=True)
    return out


def _write_zip(staging: Path, wheel: Path, assignment: Assignment, config: Config) -> None:
    with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16
            zf.writestr(info, text)
        zf.write(wheel, wheel.name)
        zf.writestr(CONFIG, json.dumps(asdict(config), indent=2))
        for path in sorted(p for p in assignment.path.rglob("*") if p.is_file() and not {"__pycache__", "handout"} & set(p.parts)):
            zf.write(path, f"assignment/{path.relative_to(assignment.path).as_posix()}")


def _package_files() -> dict[str, bytes]:
    """The installed grader (its built-in assignments as package data) and the reference engine."""
    import reference
    from grader.spec import ASSIGNMENTS

    files: dict[str, bytes] = {}
    for package in (Path(grader.__file__).parent, Path(reference.__file__).parent):
        for path in sorted(package.rglob("*.py")):
            if "__pycache__" not in path.parts and "assignments" not in path.relative_to(package).parts:
                files[f"{package.name}/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    for path in sorted(ASSIGNMENTS.rglob("*")):
        if path.is_file() and path.suffix in (".toml", ".ipynb", ".bundle") and ".ipynb_checkpoints" not in path.parts:
            files[f"grader/assignments/{path.relative_to(ASSIGNMENTS).as_posix()}"] = path.read_bytes()
    return files


def _requirements() -> list[str]:
    return [r for r in importlib.metadata.requires("backprop-grader") or [] if "extra ==" not in r]


def choose(folder: Path, expected: str) -> tuple[Path | None, str]:
    """The notebook to grade among what was submitted, or why there is none to grade."""
    notebooks, others = [], []
    for top, folders, files in os.walk(folder):  # links are not followed
        folders[:] = sorted(f for f in folders if not litter(f))
        for name in sorted(files):
            if not litter(name):
                (notebooks if name.endswith(".ipynb") else others).append(Path(top, name))
    if len(notebooks) == 1:
        return notebooks[0], ""
    named = [p for p in notebooks if p.name == expected]
    if len(named) == 1:
        return named[0], ""
    listed = ", ".join(sorted(" ".join(shown(p.relative_to(folder)).split()) for p in (notebooks or others))[:10])  # a student's names: safe text, one line
    if not notebooks:
        found = f" (it holds {listed})" if others else " (it is empty)"
        return None, safe_text(f"no notebook (.ipynb) was submitted{found}: submit your notebook, {expected}")
    why = "none is" if not named else f"{len(named)} are"
    return None, safe_text(f"{len(notebooks)} notebooks were submitted ({listed}) and {why} named {expected}: "
                           f"submit only the notebook to grade, named {expected}")


def student(root: Path) -> str:
    """The id that seeds the trials: the Gradescope users' ids (a group's, joined)."""
    try:
        users = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))["users"]
        ids = sorted(str(u["id"]) for u in users)
        return student_id("+".join(ids)) if ids and all(i.isalnum() for i in ids) else SUBMITTED_AS  # a large group's, hashed to fit
    except (OSError, ValueError, KeyError, TypeError):
        return SUBMITTED_AS


def run(root: Path) -> Path:
    """Grade the submission in `root`/submission and write `root`/results/results.json, whatever happens."""
    started, results = time.monotonic(), root / "results"
    config = Config(**json.loads((root / "source" / CONFIG).read_text(encoding="utf-8")))
    assignment = load(root / "source" / "assignment")
    sid = student(root)

    def out_of_time(signum: int, frame: object) -> None:
        """Past the budget: say so and end at once (the workers, and their notebooks, die with this
        process), rather than wait for the notebook being graded."""
        result = not_run(sid, assignment, RunStatus.TIMEOUT, f"grading ran past the autograder's budget of {config.budget:g} s "
                         "(a notebook that runs very long, or many slow cells)")
        write_gradescope(result, assignment, results, time.monotonic() - started)
        os._exit(0)

    signal.signal(signal.SIGALRM, out_of_time)
    signal.setitimer(signal.ITIMER_REAL, config.budget)
    try:
        result = _grade(root, assignment, config, sid)
    except Exception as exc:  # the grader's own failure: the student is told, and the instructor sees the log
        print(f"the grader failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        result = not_run(sid, assignment, RunStatus.ERROR, f"the autograder failed ({type(exc).__name__}); please tell your instructor")
    signal.setitimer(signal.ITIMER_REAL, 0)
    return write_gradescope(result, assignment, results, time.monotonic() - started)


def _grade(root: Path, assignment: Assignment, config: Config, sid: str) -> SubmissionResult:
    chosen, why = choose(root / "submission", config.notebook)
    if chosen is None:
        return not_run(sid, assignment, RunStatus.ERROR, why)
    with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as tmp:
        folder = Path(tmp) / "class" / sid  # the chosen notebook with the files beside it, and no other notebook
        shutil.copytree(chosen.parent, folder, symlinks=True, ignore=lambda d, names: [
            n for n in names if n.endswith(".ipynb") and Path(d, n) != chosen or n in (".ipynb_checkpoints", "__MACOSX")])
        options = Options(seed=config.seed, timeout=config.timeout, jobs=1, limits=Limits(memory=config.memory, disk=config.disk))
        graded = grade_all(folder.parent, assignment, options)
        return next(iter(graded))


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path("/autograder")
    try:
        path = run(root)
        print(f"wrote {path}")
    except Exception as exc:  # no config or assignment, or results.json could not be written: run_autograder writes its fallback
        print(f"the autograder failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
