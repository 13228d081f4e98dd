"""What goes into an executor and what comes out: one notebook's job and its execution, as records.

Every executor takes a `Job` (the cells, the submission's files, the calls to make) and gives back
an `Execution`; `grader.received` builds the execution from what the notebook sent, checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Calls:
    """The trials of one exercise: call `function` with each of `trials` (ordered argument dicts)."""

    exercise: str
    function: str
    trials: list[dict[str, Any]]


@dataclass(frozen=True)
class Job:
    cells: list[str]
    files: Path | None  # the submission's folder (or notebook file), copied into a working directory
    calls: list[Calls]
    timeout: float  # seconds per cell and per call


@dataclass
class Call:
    status: str  # ok | raised | timeout | skipped
    result: Any = None
    inputs_after: dict[str, Any] | None = None
    error: dict[str, str] | None = None


@dataclass
class Execution:
    status: str  # ok | crashed | timeout | error (what it sent could not be trusted)
    message: str = ""
    cells: list[dict[str, Any]] = field(default_factory=list)  # harness cell reports
    calls: dict[str, list[Call]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # exercise id -> why it could not be called
    output: str = ""
    printed: list[str] = field(default_factory=list)  # what each code cell printed, in order (as far as the output was kept)
