"""What a notebook sends back, taken in at one boundary: checked, then made safe.

Everything here comes from a process that ran a student's code, which can write on the result
channel as if it were the harness. So every report is checked against what the grader asked for
(the exercises of the job, one result per trial, in the harness's own schema), and every string in
it that the grader shows (messages, dict keys, type names) becomes safe text (`safe_text`) before
any other part of the grader sees it. A report that does not fit makes that submission an error,
stated clearly, and none of its results is used (a notebook that writes on the grader's channel
could have forged any of them); nothing a notebook sends can raise past this module.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import signal
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from grader.executors.cgroup import MemoryCap
from grader.executors.sandbox import Sandbox
from grader.inside import wire
from grader.model import Call, CallStatus, CellReport, CellStatus, Execution, Job, Limits, Raised, RunStatus

OUTPUT_CAP = 64 * 1024  # bytes of the notebook's printed output kept for feedback
FRAMES_CAP = Limits.file_size  # bytes of frames read from one notebook: as much as its file size limit lets it write

TEXT_LIMIT = 2000  # characters of one message kept (the harness itself sends at most 500)
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")  # colours, titles, cursor moves
# Control characters but tab and newline, DEL and C1, bidirectional overrides and isolates
# (they reorder what a reader sees), and lone UTF-16 surrogates (no encoder writes them).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


class Subclassed(np.ndarray):
    """A returned array whose type was a subclass of numpy's (np.matrix, a masked array): its numbers
    as a plain array (np.asarray gives them back as one), and the subclass's name."""

    subclass: str = ""

    def __new__(cls, values: np.ndarray, subclass: str) -> "Subclassed":
        made = np.array(values).view(cls)
        made.subclass = subclass
        return made


class Malformed(ValueError):
    """A report that is not what the harness sends for what the grader asked."""


def safe_text(text: Any, limit: int = TEXT_LIMIT) -> str:
    """Text that every report can hold and every reader shows as it is: terminal escapes, control
    characters (but tab and newline), bidirectional overrides and lone surrogates removed, carriage
    returns as newlines, the grading machine's own folders shortened to "…", at most `limit` characters."""
    if isinstance(text, str) and len(text) <= limit and text.isascii() and text.isprintable() and not machine_paths().search(text):
        return text  # the common case, at C speed: nothing to remove
    text = (text if isinstance(text, str) else repr(text))[: 4 * limit]
    text = _UNSAFE.sub(lambda m: "\ufffd" if "\ud800" <= m.group() <= "\udfff" else "", _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))
    text = machine_paths().sub("…", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.cache
def machine_paths() -> re.Pattern[str]:
    """The grading machine's own folders, as an error message, a warning or a stack a notebook prints
    may name them: the Python installation (its prefixes, standard library and site-packages), the
    sandbox's folder inside the namespaces and the grader's temporary folder outside them."""
    paths = sysconfig.get_paths()
    places = {sys.prefix, sys.base_prefix, paths["stdlib"], paths["purelib"], paths["platlib"], wire.INSIDE, tempfile.gettempdir()}
    places |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    kept = sorted({p.rstrip("/") for p in places if p and p.rstrip("/")}, key=len, reverse=True)  # the longest first
    return re.compile("(?:" + "|".join(re.escape(p) for p in kept) + r")(?![\w.-])")


def read_frames(reports: list[tuple[Any, Any]], job: Job) -> Execution:
    """Rebuild what the harness reported; where the reports stop says where the process died."""
    execution = Execution(status=RunStatus.CRASHED)
    cells_done = 0
    try:
        for report, arrays in reports:
            if execution.status == RunStatus.OK:
                raise Malformed("a report after the last one")
            event = report.get("event") if isinstance(report, dict) else None
            if event == "cell":
                execution.cells.append(_cell(report, cells_done + 1, len(job.cells)))
                cells_done += 1
            elif event == "exercise":
                exercise, calls, missing = _exercise(report, arrays, job, execution)
                if missing:
                    execution.missing[exercise] = missing
                execution.calls[exercise] = calls
            elif event == "done" and set(report) == {"event"}:
                if cells_done != len(job.cells) or set(execution.calls) != {c.exercise for c in job.calls}:
                    raise Malformed("a report that the notebook is done before every cell and exercise was reported")
                execution.status = RunStatus.OK
            elif event == "malformed":
                raise Malformed(report.get("why", "a frame that is not a message of the harness"))
            else:
                raise Malformed(f"an unexpected report ({safe_text(event, 40) if event is not None else 'no event'})")
    except Exception as exc:  # a forged or broken report, whatever it raised: that submission's error
        why = str(exc) if isinstance(exc, Malformed) else f"{type(exc).__name__} while reading a report"
        execution.status, execution.calls, execution.missing = RunStatus.ERROR, {}, {}
        execution.message = (
            f"the notebook sent results the grader did not ask for or cannot read ({why}), so none of its results "
            "is used (a notebook's code must not write on the grader's result channel)"
        )
        return execution
    if execution.status != RunStatus.OK:
        pending = [c.exercise for c in job.calls if c.exercise not in execution.calls]
        if cells_done < len(job.cells):
            execution.message = f"while running code cell {cells_done + 1}"
        elif pending:
            execution.message = f"while calling the function of exercise {pending[0]}"
        else:
            execution.message = "after grading, before it finished"
    return execution


def _cell(report: dict[str, Any], expected: int, cells: int) -> CellReport:
    if not set(report) <= {"event", "cell", "status", "error", "printed"} or report.get("cell") != expected or expected > cells:
        raise Malformed(f"a report for code cell {safe_text(report.get('cell'), 20)} where cell {expected} was next")
    span = report.get("printed", [0, 0])
    if not (isinstance(span, list) and len(span) == 2 and all(type(v) is int for v in span) and 0 <= span[0] <= span[1]):
        raise Malformed(f"a report for code cell {expected} whose printed output is not a span of bytes")
    if not _one_of(report.get("status"), CellStatus) or ("error" in report) != (report["status"] == CellStatus.ERROR):
        raise Malformed(f"a report for code cell {expected} with a status that is not one of the harness's")
    error = _error(report["error"]) if "error" in report else None
    return CellReport(expected, CellStatus(report["status"]), error, (span[0], span[1]))


def _exercise(report: dict[str, Any], arrays: Any, job: Job, execution: Execution) -> tuple[str, list[Call], str]:
    asked = {c.exercise: c for c in job.calls}
    exercise = report.get("id")
    if exercise not in asked or exercise in execution.calls:
        raise Malformed(f"results for exercise {safe_text(exercise, 60)!r}, which was {'already reported' if exercise in asked else 'not asked for'}")
    calls, missing = report.get("calls"), report.get("missing", "")
    if not set(report) <= {"event", "id", "calls", "missing"} or not isinstance(calls, list) or not isinstance(missing, str):
        raise Malformed(f"results for exercise {exercise} in another form than the harness's")
    if len(calls) != (0 if missing else len(asked[exercise].trials)):
        raise Malformed(f"{len(calls)} results for exercise {exercise}, which has {len(asked[exercise].trials)} trials")
    return exercise, [_call(c, arrays, args) for c, args in zip(calls, asked[exercise].trials)], safe_text(missing)


def _call(report: Any, arrays: Any, args: dict[str, Any]) -> Call:
    status = report.get("status") if isinstance(report, dict) else None
    if not _one_of(status, CallStatus) or set(report) != {"ok": {"status", "result", "changed"}, "raised": {"status", "error"}}.get(status, {"status"}):
        raise Malformed("a result of a call in another form than the harness's")
    if status == CallStatus.RAISED:
        return Call(CallStatus.RAISED, error=_error(report["error"]))
    if status == CallStatus.OK:
        changed = report["changed"]
        if not isinstance(changed, list) or not all(isinstance(name, str) for name in changed) or not set(changed) <= set(wire.arg_names(args)):
            raise Malformed("inputs changed in place that the call was not given")
        return Call(CallStatus.OK, result=_value(report["result"], arrays), changed=tuple(dict.fromkeys(changed)))
    return Call(CallStatus(status))


def _one_of(status: Any, statuses: type[enum.StrEnum]) -> bool:
    return isinstance(status, str) and status in statuses.__members__.values()


def _error(error: Any) -> Raised:
    if not isinstance(error, dict) or set(error) != {"type", "message", "where"} or not all(isinstance(v, str) for v in error.values()):
        raise Malformed("an error report in another form than the harness's")
    return Raised(safe_text(error["type"]), safe_text(error["message"]), safe_text(error["where"]))


def _value(spec: Any, arrays: Any, depth: int = 0) -> Any:
    """`wire.decode`, checking the description all the way down as it goes."""
    if depth > wire.MAX_DEPTH + 1 or not isinstance(spec, dict):
        raise Malformed("a returned value described in another form than the harness's")
    if "array" in spec and (len(spec) == 1 or len(spec) == 2 and isinstance(spec.get("subclass"), str)):
        if spec["array"] not in arrays:
            raise Malformed("a returned value naming an array the report does not hold")
        if "subclass" in spec:  # its numbers are graded; its type is named in feedback
            return Subclassed(arrays[spec["array"]], safe_text(spec["subclass"], 40))
        return np.array(arrays[spec["array"]])
    if "seq" in spec and len(spec) == 2:
        if not isinstance(spec["seq"], list) or spec.get("kind") not in ("tuple", "list"):
            raise Malformed("a returned sequence described in another form than the harness's")
        items = [_value(item, arrays, depth + 1) for item in spec["seq"]]
        return items if spec["kind"] == "list" else tuple(items)
    if "map" in spec and len(spec) == 1:
        if not isinstance(spec["map"], dict):
            raise Malformed("a returned dict described in another form than the harness's")
        return {safe_text(key): _value(item, arrays, depth + 1) for key, item in spec["map"].items()}  # a student's keys, shown in messages
    if "other" in spec and isinstance(spec["other"], str) and len(spec) == (2 if "shape" in spec else 1):
        return wire.Opaque(safe_text(spec["other"]))  # a type's name, which a student chooses
    if "none" in spec and len(spec) == 1:
        return None
    raise Malformed("a returned value described in another form than the harness's")


def collected(job: Job, frames: Path, capture: Path, returncode: int | None, timed_out: bool, seconds: float) -> Execution:
    """What a notebook's own process left for the grader: its frames file and its capture file, each
    read within its cap and checked, and how the process ended."""
    execution = read_frames(messages_in(frames), job)
    output, execution.printed = read_output(capture, execution.cells)
    return finish(execution, output, returncode, timed_out, seconds)


def finish(execution: Execution, output: str, returncode: int | None, timed_out: bool, seconds: float) -> Execution:
    """Add how the process ended to what its frames said."""
    execution.output = output
    if timed_out:
        execution.status, execution.message = RunStatus.TIMEOUT, f"the notebook was stopped after {seconds:.0f} s in all ({execution.message})"
    elif execution.status == RunStatus.CRASHED:
        execution.message = f"the notebook's process died ({exit_reason(returncode)}) {execution.message}"
    return execution


def reached(execution: Execution, work: Path, limits: Limits, sandbox: Sandbox, cap: MemoryCap | None) -> Execution:
    """Say so when a notebook that did not end well had filled its disk quota (`work`'s tmpfs: its own
    writes failed from then on) or reached its memory cap (the kernel ended one of its processes)."""
    capped = cap is not None and cap.reached()  # asked after every notebook: a kill is counted for its own
    if execution.status == RunStatus.OK:
        return execution
    if sandbox.quota_on:
        stats = os.statvfs(work)
        if stats.f_bavail * stats.f_frsize < 2**20:
            execution.message += f" (it had filled its disk quota of {limits.disk // 2**20} MiB)"
    if capped:
        execution.message += (f" (its processes had reached their memory cap of {limits.together // 2**20} MiB "
                              "together, and the system ended one of them)")
    return execution


def messages_in(path: Path) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """The messages of a frames file, of which at most FRAMES_CAP bytes are read (the rest of a
    larger one makes a broken last frame)."""
    if not path.exists():
        return []
    with open(path, "rb") as f:
        return messages(f.read(FRAMES_CAP))


def messages(stream: bytes) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """Every complete frame of a harness's output, unpacked; a malformed one, or bytes after the
    last complete frame (the harness writes each frame whole), end the list with a `malformed` event."""
    out = []
    complete, rest = wire.frames(stream)
    for frame in complete:
        try:
            out.append(wire.unpack(frame))
        except Exception:
            return out + [({"event": "malformed"}, {})]
    return out + ([({"event": "malformed"}, {})] if rest else [])


def read_output(path: Path, cells: list[CellReport]) -> tuple[str, list[str]]:
    """What the notebook printed (its first OUTPUT_CAP characters) and each code cell's part of it (the
    cell's span of the capture file), as safe text, from one read of the capture file."""
    if not path.exists():
        return "", []
    with open(path, "rb") as f:
        raw = f.read(OUTPUT_CAP + 1)
    kept = raw[:OUTPUT_CAP]
    by_cell = [safe_text(kept[a:b].decode("utf-8", errors="replace"), OUTPUT_CAP) for a, b in (c.printed for c in cells)]
    return cap(raw.decode("utf-8", errors="replace")), by_cell


def cap(text: str) -> str:
    """What the notebook printed, as safe text cut to the first OUTPUT_CAP characters."""
    return safe_text(text[:OUTPUT_CAP], OUTPUT_CAP) + ("\n[... output cut ...]" if len(text) > OUTPUT_CAP else "")


def exit_reason(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            return f"killed by signal {-returncode}"
        why = {"SIGXCPU": ": it used up its CPU time", "SIGXFSZ": ": it wrote a file past the size limit"}.get(name, "")
        return f"killed by signal {-returncode} ({name}){why}"
    if returncode is not None and returncode > 128:  # bubblewrap reports a killed child as 128 + signal
        return exit_reason(128 - returncode)
    if returncode == wire.SWALLOWED:
        return (f"stopped: its code caught the interrupt of a time limit (an `except BaseException:` or a bare `except:`) "
                f"and ran on for {wire.GRACE:g} s more")
    return f"exit code {returncode}"
