"""A notebook's run in its own process: its code cells in order in an IPython shell, then each
exercise's calls, with one frame on the result channel after each cell and each exercise."""

from __future__ import annotations

import contextlib
import gc
import linecache
import os
import re
import sys
import traceback
from typing import Any, BinaryIO

import numpy as np

from . import guard
from .guard import TimeLimit, arm, enter
from .wire import MAX_RESULT, TooLarge, changed_inputs, decode, encode, frame, unpack


class Run:
    """One notebook's run: cells in order, then each exercise's calls."""

    def __init__(self, job: dict[str, Any], job_arrays: Any, channel: BinaryIO) -> None:
        self.job, self.job_arrays, self.channel = job, job_arrays, channel
        self.cell_of_count: dict[int, int] = {}
        self.shell = shell()

    def send(self, manifest: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        self.channel.write(frame(manifest, arrays))
        self.channel.flush()

    def timed(self, seconds: float, fn: Any, *args: Any) -> Any:
        arm(seconds)
        try:
            return fn(*args)
        finally:
            arm(0)

    def where(self, exc: BaseException) -> str:
        """'cell 3, line 4: `return h @ W`' for the innermost frame of the student's own code."""
        for entry in reversed(traceback.extract_tb(exc.__traceback__)):
            shown = self.shell.compile.format_code_name(entry.filename)  # ("Cell", "In[7]") for a cell's code
            match = re.fullmatch(r"In\[(\d+)\]", shown[1]) if shown else None
            if match and int(match.group(1)) in self.cell_of_count:
                line = (entry.line or linecache.getline(entry.filename, entry.lineno or 0)).strip()
                return f"code cell {self.cell_of_count[int(match.group(1))]}, line {entry.lineno}: `{line}`"
        return ""

    def describe(self, exc: BaseException) -> dict[str, str]:
        try:
            shown = str(exc)
        except BaseException:  # an exception whose own __str__ raises
            shown = "(its message cannot be turned into text)"
        text = f"{type(exc).__name__}: {shown}".strip().rstrip(":")
        return {"type": type(exc).__name__, "message": text[:500], "where": self.where(exc)}

    def run_cells(self) -> None:
        for index, source in enumerate(self.job["cells"], start=1):  # numbered as a student counts code cells
            self.cell_of_count[self.shell.execution_count] = index
            start = printed_so_far()
            try:
                result = self.timed(self.job["timeout"], self.shell.run_cell, source, True)
                error = result.error_before_exec or result.error_in_exec
            except TimeLimit as exc:  # arrived outside the cell's own code, in IPython's machinery
                error = exc
            report: dict[str, Any] = {"event": "cell", "cell": index, "status": "ok", "printed": [start, printed_so_far()]}
            if isinstance(error, TimeLimit):
                report |= {"status": "timeout"}
            elif error is not None:
                report |= {"status": "error", "error": self.describe(error)}
            if error is not None:
                error = result = None
                forget_failure(self.shell)
            self.send(report)

    def call_all(self) -> None:
        for exercise in self.job["exercises"]:
            fn = self.shell.user_ns.get(exercise["function"])
            report: dict[str, Any] = {"event": "exercise", "id": exercise["id"], "calls": []}
            arrays: dict[str, np.ndarray] = {}
            if not callable(fn):
                report["missing"] = "not defined" if fn is None else f"not a function ({type(fn).__name__})"
            else:
                timed_out = False
                for trial in exercise["trials"]:
                    report["calls"].append({"status": "skipped"} if timed_out else self.call(fn, trial, arrays))
                    timed_out = timed_out or report["calls"][-1]["status"] == "timeout"
            self.send(report, arrays)

    def call(self, fn: Any, trial: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        args = decode(trial, self.job_arrays)  # fresh copies for every call
        before = len(arrays)

        def forget() -> None:
            """Drop the arrays of a result that is not sent after all."""
            for key in list(arrays)[before:]:
                del arrays[key]

        def changed() -> list[str]:
            """The inputs the call wrote into, against the job's own copy of them."""
            return changed_inputs(decode(trial, self.job_arrays, copy=False), args)

        def call_and_encode() -> dict[str, Any]:
            """The call and the encoding of what it returned, under one time limit (a result's own
            methods, which encoding runs, are the student's code too)."""
            result = fn(*args.values())
            try:
                return {"status": "ok", "result": encode(result, arrays, budget=[MAX_RESULT]), "changed": changed()}
            except TooLarge:  # far larger than any answer: say so, instead of flooding the channel
                forget()
                return {"status": "ok", "result": {"other": f"a value of more than {MAX_RESULT} bytes"}, "changed": changed()}
            except TimeLimit:
                raise
            except BaseException as exc:  # a result whose own methods misbehave
                forget()
                return {"status": "raised", "error": {"type": "BadResult", "message": f"{type(exc).__name__} while sending the result back", "where": ""}}

        try:
            return self.timed(self.job["timeout"], call_and_encode)
        except TimeLimit:
            forget()
            return {"status": "timeout"}
        except BaseException as exc:  # the student's exception, SystemExit included, is a result
            forget()
            return {"status": "raised", "error": self.describe(exc)}


def printed_so_far() -> int:
    """Bytes the notebook has printed so far: the size of the capture file its stdout and stderr share
    (so each cell's report says which of them are its own)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        return os.fstat(1).st_size
    except OSError:
        return 0


def forget_failure(shell: Any) -> None:
    """Drop every reference to a failed cell's frames, so the memory they hold is freed."""
    for name in ("last_type", "last_value", "last_traceback"):
        if hasattr(sys, name):
            delattr(sys, name)
    shell.last_execution_result = None
    shell.InteractiveTB.tb = None  # IPython keeps the last traceback, and with it every frame
    gc.collect()


def shell() -> Any:
    """The IPython shell that runs the cells (one per process; a warm server makes it before forking)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if not InteractiveShell.initialized():
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        config.InteractiveShell.colors = "nocolor"
        instance = InteractiveShell.instance(config=config)
        _skip_if_python(instance)
        instance.should_run_async = _only_if_awaiting(instance.should_run_async)
        instance.enable_gui = lambda gui=None: None  # no GUI event loop here: `%matplotlib inline` only picks the backend
        import IPython.core.ultratb  # noqa: F401 - loaded now: a traceback under memory pressure must not import
        import stack_data  # noqa: F401
        students_tracebacks(instance)
    return InteractiveShell.instance()


def students_tracebacks(shell: Any) -> None:
    """Tracebacks of a cell's error that show the student's own frames only (its cells, and its own
    files in the working directory): never the harness's, the standard library's or the installed
    packages' frames, whose paths are the grader's and the instructor's machine's."""
    import traceback as tb

    def showtraceback(exc_tuple: Any = None, filename: Any = None, tb_offset: Any = None, exception_only: bool = False,
                      running_compiled_code: bool = False) -> None:
        etype, value, trace = exc_tuple or sys.exc_info()
        if etype is None:
            return
        if issubclass(etype, SyntaxError):
            shell.showsyntaxerror(filename)
            return
        lines = []
        for entry in tb.extract_tb(trace):
            shown = shell.compile.format_code_name(entry.filename)  # ("Cell", "In[7]") for a cell's code
            if shown or entry.filename.startswith(guard.own_folder):
                place = f"{shown[0]} {shown[1]}" if shown else f"File {os.path.relpath(entry.filename)}"
                here, code = f"{place}, line {entry.lineno}", (entry.line or "").strip()
                lines.append(f"{here}\n    {code}" if code else here)
        lines = ["Traceback (most recent call last):", *lines] if lines else lines
        if issubclass(etype, TimeLimit):
            lines.append("stopped: the cell ran past its time limit")
        else:
            lines += [line.rstrip("\n") for line in tb.format_exception_only(etype, value)]
        shell._showtraceback(etype, value, lines)

    shell.showtraceback = showtraceback


def _skip_if_python(shell: Any) -> None:
    """IPython's static input transforms rewrite only what is not Python (magics, `!`, `?`, prompts),
    re-tokenizing the cell several times to find it; a cell that already parses as Python is passed
    through untouched, which halves the cost of running a typical cell. Its tree is kept for IPython's
    own parse of the same text, which would otherwise parse it a second time."""
    transform, ast_parse = shell.input_transformer_manager.transform_cell, shell.compile.ast_parse
    parsed: dict[str, Any] = {}  # the cell just checked, and its tree

    def transform_cell(cell: str) -> str:
        parsed.clear()
        try:
            tree = ast_parse(cell)  # with the shell's __future__ flags, as IPython parses it
        except (SyntaxError, ValueError, TypeError, OverflowError, MemoryError):
            return transform(cell)
        cell = cell if cell.endswith("\n") else cell + "\n"
        parsed[cell] = tree
        return cell

    def parse(source: str, filename: str = "<unknown>", symbol: str = "exec") -> Any:
        tree = parsed.pop(source, None) if symbol == "exec" else None
        return tree if tree is not None else ast_parse(source, filename, symbol)

    shell.input_transformer_manager.transform_cell = transform_cell
    shell.compile.ast_parse = parse


def _only_if_awaiting(should_run_async: Any) -> Any:
    """IPython compiles every cell once more to find a top-level `await`; a cell without the word
    cannot have one, and is spared that compilation."""

    def check(raw_cell: str, **kwargs: Any) -> bool:
        return ("await" in raw_cell or "async" in raw_cell) and should_run_async(raw_cell, **kwargs)

    return check


def run_job(job_path: str, channel: BinaryIO) -> None:
    """All one notebook's process does, from reading its job to its last frame; never returns.

    stdout and stderr (fds 1 and 2) must already go to the capture file.
    """
    with open(job_path, "rb") as f:
        job, job_arrays = unpack(f.read())
    os.unlink(job_path)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # so what was printed survives a crash
    run = Run(job, job_arrays, channel)  # IPython is loaded while the limits are still the grader's
    enter(job)
    run.run_cells()
    run.call_all()
    run.send({"event": "done"})
    channel.close()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)  # no atexit hooks or finalizers of the student's code
