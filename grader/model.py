"""The records every stage passes on, from the options of a run to a submission's result.

Data flows one way: discover → execute → call on trials → compare → score → report, and what one
stage hands the next is defined here, once, as dataclasses whose statuses are enums. This module
imports nothing of the grader, so any stage may import it and no import circle can go through it.
The statuses are `StrEnum`s: their members are their own values ("ok", "pass"), so the CSVs, the
JSON of the store and results.json hold the same text as before they were enums.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


class CellStatus(enum.StrEnum):
    OK = "ok"
    ERROR = "error"  # it raised
    TIMEOUT = "timeout"


class CallStatus(enum.StrEnum):
    OK = "ok"
    RAISED = "raised"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"  # not made: an earlier call of the exercise ran past the time limit


class RunStatus(enum.StrEnum):
    """How a notebook's run ended, and so a submission's status."""

    OK = "ok"
    CRASHED = "crashed"  # its process died
    TIMEOUT = "timeout"  # it ran past its whole budget
    ERROR = "error"  # it could not be run (unreadable, not staged), or what it sent could not be trusted


class Verdict(enum.StrEnum):
    """One trial's outcome."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    NOT_IMPLEMENTED = "not_implemented"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"


class ExerciseStatus(enum.StrEnum):
    PASSED = "passed"
    PARTIAL = "partial"
    FAILED = "failed"
    ERROR = "error"
    NOT_IMPLEMENTED = "not_implemented"
    TIMEOUT = "timeout"
    MISSING = "missing"  # its function is not defined in the notebook
    NOT_RUN = "not_run"  # the notebook ended before its calls were made


@dataclass(frozen=True)
class Limits:
    """What one notebook may use: per process (resource limits) and all its processes together."""

    memory: int = 2 * 2**30  # bytes of address space
    file_size: int = 64 * 2**20  # bytes any one file may grow to (printed output included)
    open_files: int = 256
    processes: int = 64  # threads count too
    disk: int = 512 * 2**20  # bytes a notebook's working directory may hold (a tmpfs of that size, where one can be mounted)

    def as_dict(self, cpu_seconds: float) -> dict[str, int]:
        return {
            "RLIMIT_AS": self.memory, "RLIMIT_FSIZE": self.file_size, "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_NPROC": self.processes, "RLIMIT_CPU": int(cpu_seconds) + 1, "RLIMIT_CORE": 0,
        }

    @property
    def together(self) -> int:
        """Bytes all of a notebook's processes may hold in memory at once (its memory cgroup): one
        process's address space, plus its working directory and its /tmp, whose files are memory too."""
        return self.memory + 2 * self.disk


@dataclass(frozen=True)
class Options:
    """How a class is graded (`grader run`'s options)."""

    seed: int | str = 0
    timeout: float = 10.0
    jobs: int = os.cpu_count() or 1
    limits: Limits = Limits()
    executor: str = "fork"  # a name of `grader.executors.EXECUTORS`
    scheduler: str | None = None  # a Dask scheduler's address: grade on that cluster
    notebooks: bool = False  # also return each student's notebook with its outputs and feedback cells
    nbgrader: str | None = None  # the submissions are nbgrader's submitted/<student>/<assignment>/: grade this assignment


@dataclass(frozen=True)
class Roster:
    """An LMS's own list of students, as text: a Canvas gradebook export or a Moodle grading worksheet."""

    kind: str  # "canvas" or "moodle"
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    key: str  # the column that holds the id of each student's submission


@dataclass(frozen=True)
class LmsExport:
    """How the LMS files are written: with a roster, a row per student on it, the score in `column`
    (Canvas: an existing assignment's "Name (id)" column); students without a submission get a
    blank or 0 (`missing`)."""

    roster: Roster | None = None
    column: str | None = None
    missing: str = "blank"  # or "zero"


@dataclass(frozen=True)
class Submission:
    """One student's submission, as discovered: its notebook and files, or why it has none."""

    student_id: str
    notebook: Path | None  # None when `error` says why there is no notebook to run
    files: Path | None = None  # what is copied into the working directory: the notebook's folder, or the notebook
    error: str = ""


@dataclass(frozen=True)
class Calls:
    """The trials of one exercise: call `function` with each of `trials` (ordered argument dicts)."""

    exercise: str
    function: str
    trials: list[dict[str, Any]]


@dataclass(frozen=True)
class Job:
    """What an executor runs: a notebook's code cells in a copy of its files, then the calls."""

    cells: list[str]
    files: Path | None  # the submission's folder (or notebook file), copied into a working directory
    calls: list[Calls]
    timeout: float  # seconds per cell and per call


@dataclass(frozen=True)
class Raised:
    """An exception a cell or a call raised, as safe text."""

    type: str
    message: str
    where: str = ""  # the student's line that raised it


@dataclass(frozen=True)
class CellReport:
    cell: int  # the code cell's number, from 1
    status: CellStatus
    error: Raised | None = None
    printed: tuple[int, int] = (0, 0)  # its span of the notebook's captured output, in bytes


@dataclass
class Call:
    status: CallStatus
    result: Any = None
    changed: tuple[str, ...] = ()  # the arguments it modified in place (`params.W1` for a dict's entry)
    error: Raised | None = None


@dataclass
class Execution:
    """What an executor brings back from a `Job`, checked (`grader.executors.received`)."""

    status: RunStatus
    message: str = ""
    cells: list[CellReport] = field(default_factory=list)
    calls: dict[str, list[Call]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # exercise id -> why it could not be called
    output: str = ""
    printed: list[str] = field(default_factory=list)  # what each code cell printed, in order (as far as the output was kept)


@dataclass(frozen=True)
class TrialResult:
    exercise: str
    trial: int
    shapes: str
    verdict: Verdict
    max_abs_err: float | None
    message: str
    diagnosis: str = ""  # the codes of the exercise's named causes, when they explain this trial
    hidden: bool = False  # a hidden trial: its inputs and expected values are never shown to the student


@dataclass(frozen=True)
class ExerciseResult:
    exercise: str
    score: float
    max_score: float
    passed: int
    trials: int
    status: ExerciseStatus
    message: str
    diagnosis: str = ""
    example: str = ""  # the self-check's smallest failing case, as Python (grader.scoring.example)


@dataclass
class SubmissionResult:
    student_id: str
    status: RunStatus
    message: str
    exercises: list[ExerciseResult]
    trials: list[TrialResult] = field(default_factory=list)
    cells: list[CellReport] = field(default_factory=list)  # the cells that raised or timed out
    output: str = ""
    notebook: str = ""  # the student's notebook with its outputs and feedback cells (.ipynb text), with `--notebooks`; a summary keeps "…" for one

    @property
    def total(self) -> float:
        return sum(e.score for e in self.exercises)

    @property
    def nothing_run(self) -> bool:
        """Nothing of it could be run (no notebook, an unreadable one): no exercise was graded."""
        return self.status == RunStatus.ERROR and all(e.status == ExerciseStatus.NOT_RUN for e in self.exercises)

    def summary(self) -> SubmissionResult:
        """The scores without the per-trial details, the printed output and the notebook (whether there is one stays)."""
        return replace(self, trials=[], cells=[], output="", notebook="…" if self.notebook else "")
