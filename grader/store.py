"""The durable store: every graded submission is committed to SQLite the moment it is graded.

A run that was interrupted (a crash, kill -9, Ctrl-C) loses nothing already graded; the next run
grades only what is new or changed. A result is keyed by the submission's content, the student id
(the trials depend on it), the assignment spec's content, the seed, the time limit, the limits and
the grader's own code, so changing any of them grades again. Results are stored as JSON and come back as equal dataclasses, so the
reports of a resumed run equal those of an uninterrupted one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
import sqlite3
import tempfile
import threading
from pathlib import Path

import reference
from grader.model import CellReport, CellStatus, ExerciseResult, ExerciseStatus, Options, Raised, RunStatus, Submission, SubmissionResult, TrialResult, Verdict
from grader.spec import Assignment

FILE = ".grader-store.sqlite"
SEED_FILE = ".grader-seed"
SEED = re.compile(r"[\w.-]{1,100}", re.ASCII)  # a grading seed: text that every report and file name can hold


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, student_id TEXT, result TEXT)")

    def get(self, key: str) -> SubmissionResult | None:
        """The result stored under `key`; None when there is none, or when it cannot be read back
        (written by another version, or damaged): that submission is then graded again."""
        with self._lock:
            row = self._db.execute("SELECT result FROM results WHERE key = ?", (key,)).fetchone()
        try:
            return _decode(json.loads(row[0])) if row else None
        except Exception:
            return None

    def put(self, key: str, result: SubmissionResult) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO results (key, student_id, result) VALUES (?, ?, ?)",
                (key, result.student_id, json.dumps(_encode(result))),
            )

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM results")

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def key(sub: Submission, assignment: Assignment, options: Options) -> str | None:
        """What a stored result must match to be reused; None for a submission with nothing to run."""
        if sub.notebook is None or sub.files is None:
            return None
        digest = hashlib.sha256()
        files = sorted(p for p in sub.files.rglob("*") if p.is_file()) if sub.files.is_dir() else [sub.files]
        for path in files:
            digest.update(os.fsencode(path.relative_to(sub.files) if sub.files.is_dir() else path.name) + b"\0")
            with open(path, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
        spec = (assignment.path / "assignment.toml").read_bytes()
        parts = (sub.student_id, digest.hexdigest(), hashlib.sha256(spec).hexdigest(), str(options.seed), repr(options.timeout),
                 repr(options.limits), str(options.notebooks), _code())
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@functools.cache
def _code() -> str:
    """A digest of the grader's and the reference engine's source: a result graded by other code (an
    upgrade that draws other trials or compares otherwise) is graded again, never reused."""
    digest = hashlib.sha256()
    for package in (Path(__file__).parent, Path(reference.__file__).parent):
        for path in sorted(package.rglob("*.py")):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _encode(result: SubmissionResult) -> dict:
    """The result as JSON-able data (dataclasses.asdict does the same, several times slower); the
    statuses, `StrEnum`s, are written as their text."""
    cells = [{**vars(c), "error": vars(c.error) if c.error else None} for c in result.cells]
    return {**vars(result), "exercises": [vars(e) for e in result.exercises], "trials": [vars(t) for t in result.trials], "cells": cells}


VERDICTS = {v.value: v for v in Verdict}  # a dict's lookup: calling the enum is ten times slower, per trial of every result read


def _decode(data: dict) -> SubmissionResult:
    """A stored result as the records it was; anything else raises (and is graded again)."""
    data["status"] = RunStatus(data["status"])
    data["exercises"] = [ExerciseResult(**{**e, "status": ExerciseStatus(e["status"])}) for e in data["exercises"]]
    data["trials"] = [TrialResult(**{**t, "verdict": VERDICTS[t["verdict"]]}) for t in data["trials"]]
    data["cells"] = [CellReport(c["cell"], CellStatus(c["status"]), Raised(**c["error"]) if c["error"] else None, tuple(c["printed"]))
                     for c in data["cells"]]
    return SubmissionResult(**data)


def folder_seed(out: Path) -> tuple[str, bool]:
    """The grading seed kept in the output folder, and whether it was drawn just now: drawn at random
    on the folder's first run and kept beside the store (readable by its owner only), so that running
    the same command again grades on the same trials, reuses every stored result and writes the same
    reports."""
    path = out / SEED_FILE
    try:
        seed = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        seed = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise OSError(f"cannot read the grading seed kept in {path} ({exc}); remove it to draw a new one, or pass --seed") from None
    if seed and not SEED.fullmatch(seed):
        raise OSError(f"the grading seed kept in {path} is not a seed (1 to 100 letters, digits, '-', '_' or '.'); "
                      "remove the file to draw a new one, or pass --seed")
    if seed:
        return seed, False
    out.mkdir(parents=True, exist_ok=True)
    seed = str(secrets.randbelow(10**9))
    fd, staging = tempfile.mkstemp(prefix=".seed-", dir=out)  # mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(seed + "\n")
    os.replace(staging, path)
    return seed, True
