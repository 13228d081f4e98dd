"""The program that runs inside a student's process: execute the notebook's cells, call its functions.

It is started as a plain script, so it imports nothing from `grader` or `reference`, and it forbids
the student's code to import them: `python -I harness.py JOB` runs one notebook (`--executor
process`), `--serve` is the warm server that forks one child per notebook (`--executor fork`), and
`--kernel` is a notebook's ipykernel (`--executor kernel`). It sends back only data: after each cell
and each exercise, one frame on a channel of its own (8-byte length, then a message of `pack`: JSON
and raw numeric arrays, never pickle). The grader decodes the frames with `decode` below and does
every comparison in its own process, so nothing the student's code does here can change a verdict.

`encode` and `decode` are also the grader's codec for the job file, so the wire format lives in one
place.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib.machinery
import json
import linecache
import math
import os
import re
import signal
import sys
import time
import traceback
import types
from typing import Any, BinaryIO

import numpy as np

MAX_ELEMENTS = 1_000_000  # a result larger than this is not an answer to any exercise here
MAX_DEPTH = 32  # tuples, lists and dicts nested deeper than this are not an answer either
MAX_RESULT = 2**20  # bytes one call's result may take on the channel (answers here take a few KiB)
BLOCKED = ("grader", "reference")
JOB_FILE = "job.bin"
INSIDE = "/grading"  # where the sandbox shows the job's folder to the notebook
FRAMES_FILE = "frames.bin"  # where a warm server's child writes its frames


# ---- the codec: nested tuples/lists/dicts of arrays and numbers <-> JSON and raw array bytes ----


class TooLarge(Exception):
    """A value whose description would take more than its budget of bytes."""


def encode(value: Any, arrays: dict[str, np.ndarray], depth: int = 0, budget: list[int] | None = None) -> dict[str, Any]:
    """A JSON-able description of `value`; its arrays go into `arrays` (so no pickle is ever needed).
    With a `budget` (a one-item list of bytes), raises TooLarge once the description would exceed it."""
    if depth > MAX_DEPTH:
        return {"other": f"a value nested more than {MAX_DEPTH} deep"}
    kind = type(value)
    if isinstance(value, np.ndarray):
        value = np.ndarray.view(value, np.ndarray)  # numpy's own dtype and size, whatever a subclass claims
    if budget is not None:
        budget[0] -= 16 + (value.nbytes if isinstance(value, np.ndarray) else len(value) * 16 if isinstance(value, (tuple, list, dict)) else 0)
        if budget[0] < 0:
            raise TooLarge()
    if isinstance(value, np.ndarray):  # the common case first
        if value.dtype.kind not in "biuf":
            return {"other": f"ndarray of dtype {value.dtype}", "shape": list(value.shape)}
        if value.size > MAX_ELEMENTS:
            return {"other": f"ndarray with {value.size} elements", "shape": list(value.shape)}
        key = f"a{len(arrays)}"
        arrays[key] = np.array(value, copy=True, subok=False)
        if kind is not np.ndarray and kind.__module__.split(".")[0] == "numpy":  # np.matrix, a masked array: named in feedback
            return {"array": key, "subclass": kind.__name__[:40]}
        return {"array": key}
    if isinstance(value, (bool, int, float, np.generic)) and np.asarray(value).dtype.kind in "biuf":
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return {"array": key}
    if isinstance(value, (tuple, list)):  # a namedtuple is a tuple
        return {"seq": [encode(v, arrays, depth + 1, budget) for v in value], "kind": "list" if isinstance(value, list) else "tuple"}
    if isinstance(value, dict):
        return {"map": {str(k)[:200]: encode(v, arrays, depth + 1, budget) for k, v in value.items()}}
    if value is None:
        return {"none": True}
    return {"other": type(value).__name__}


def decode(spec: dict[str, Any], arrays: Any) -> Any:
    """Rebuild what `encode` described; anything that is not data comes back as an `Opaque`."""
    if "array" in spec:
        return np.array(arrays[spec["array"]])
    if "seq" in spec:
        items = [decode(v, arrays) for v in spec["seq"]]
        return items if spec.get("kind") == "list" else tuple(items)
    if "map" in spec:
        return {k: decode(v, arrays) for k, v in spec["map"].items()}
    if "none" in spec:
        return None
    return Opaque(str(spec.get("other", "unknown")))


class Opaque:
    """A returned value that is not numeric data (a string, a function, an object array...)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def pack(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """One message: an 8-byte header length, a JSON header (the manifest, and each array's dtype,
    shape and place), then the arrays' raw bytes back to back."""
    layout, chunks, offset = {}, [], 0
    for key, array in arrays.items():
        raw = np.ascontiguousarray(array).tobytes()
        layout[key] = [array.dtype.str, list(array.shape), offset, len(raw)]
        chunks.append(raw)
        offset += len(raw)
    header = json.dumps({"manifest": manifest, "arrays": layout}).encode()
    return len(header).to_bytes(8, "big") + header + b"".join(chunks)


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and the arrays of one message. Only numeric dtypes are read: nothing is ever
    unpickled, so a hostile message can at worst be refused."""
    size = int.from_bytes(data[:8], "big")
    header = json.loads(data[8 : 8 + size].decode())
    body = memoryview(data)[8 + size :]
    arrays = {}
    for key, (dtype, shape, offset, length) in header["arrays"].items():
        kind = np.dtype(dtype)
        if kind.kind not in "biuf" or offset < 0 or offset + length > len(body) or length != kind.itemsize * math.prod(shape):
            raise ValueError(f"malformed array {key!r} in a message")
        arrays[key] = np.frombuffer(body[offset : offset + length], dtype=kind).reshape(shape)
    return header["manifest"], arrays


def frame(manifest: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """One message of a stream: its 8-byte length, then the message."""
    data = pack(manifest, arrays or {})
    return len(data).to_bytes(8, "big") + data


def frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Split a stream of length-prefixed frames into the complete ones and the incomplete rest
    (still to come, or cut short by a dying process)."""
    out, at = [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 8], "big")
        if at + 8 + size > len(data):
            break
        out.append(data[at + 8 : at + 8 + size])
        at += 8 + size
    return out, data[at:]


# ---- inside the student's process ----


class TimeLimit(BaseException):
    """Raised by the alarm when a cell or a call runs past its time limit (BaseException, so that a
    student's `except Exception` does not swallow it)."""


class _Blocker:
    """A meta-path finder that refuses the grader's own packages to the student's code. `import grader`
    gives a stand-in whose `check` does nothing, so a self-check cell does not break the notebook."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name == "grader":
            return importlib.machinery.ModuleSpec(name, self)
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"'{name}' is not available to graded code")
        return None

    def create_module(self, spec: Any) -> Any:
        module = types.ModuleType(spec.name, "Stand-in for the grader while grading.")
        module.check = lambda *args, **kwargs: print("(self-check is off while the notebook is being graded)")  # type: ignore[attr-defined]
        return module

    def exec_module(self, module: Any) -> None:
        pass


GRACE = 2.0  # seconds a cell or a call has to end after its time limit's interrupt
SWALLOWED = 75  # the exit code of a process whose code caught that interrupt and ran on past GRACE


def arm(seconds: float) -> None:
    """Start the time limit of a cell or a call (0: stop it). The handler is set again whenever it is
    not ours: a previous limit's grace period, or a student's own `signal.signal(SIGALRM, ...)`."""
    if seconds and signal.getsignal(signal.SIGALRM) is not _alarm:
        signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _alarm(signum: int, frame: Any) -> None:
    """Interrupt the student's code; should that code catch the interrupt (`except BaseException:`, a
    bare `except:`) and run on, end the whole process GRACE seconds later."""
    signal.signal(signal.SIGALRM, lambda signum, frame: os._exit(SWALLOWED))
    signal.setitimer(signal.ITIMER_REAL, GRACE)
    raise TimeLimit()


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

        def call_and_encode() -> dict[str, Any]:
            """The call and the encoding of what it returned, under one time limit (a result's own
            methods, which encoding runs, are the student's code too)."""
            result = fn(*args.values())
            try:
                return {"status": "ok", "result": encode(result, arrays, budget=[MAX_RESULT]), "inputs_after": encode(args, arrays)}
            except TooLarge:  # far larger than any answer: say so, instead of flooding the channel
                forget()
                return {"status": "ok", "result": {"other": f"a value of more than {MAX_RESULT} bytes"}, "inputs_after": encode(args, arrays)}
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


def confine(limits: dict[str, int], uid: int | None) -> None:
    """Lower every limit for good, then give up root: nothing after this can raise them again."""
    import resource

    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    oom_score(1000)  # the first process its memory cgroup ends; set as root, it cannot lower it again
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write fails instead of killing the process
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        clear_keyrings()  # the uid's own: what an earlier notebook of this uid left there, while a process of its lingered


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
        instance.input_transformer_manager.transform_cell = _skip_if_python(instance.input_transformer_manager.transform_cell)
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
            if shown or entry.filename.startswith(_own_folder):
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


def _skip_if_python(transform: Any) -> Any:
    """IPython's static input transforms rewrite only what is not Python (magics, `!`, `?`, prompts),
    re-tokenizing the cell several times to find it; a cell that already parses as Python is passed
    through untouched, which halves the cost of running a typical cell."""
    import ast

    def transform_cell(cell: str) -> str:
        try:
            ast.parse(cell)
        except (SyntaxError, ValueError):
            return transform(cell)
        return cell if cell.endswith("\n") else cell + "\n"

    return transform_cell


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


_own_folder = "\0"  # the notebook's working directory, once `enter` knows it (matches no path before)


def enter(job: dict[str, Any]) -> None:
    """The last step before student code: the limits, the uid, and the grader out of reach."""
    global _own_folder
    confine(job["limits"], job.get("uid"))
    _own_folder = os.getcwd() + os.sep  # its own files' folder for tracebacks: where it starts (a later os.chdir changes nothing)
    if "" not in sys.path:  # as in Jupyter: the notebook imports its own modules from its folder (`python -I` leaves it out)
        sys.path.insert(0, "")
    sys.meta_path.insert(0, _Blocker())
    for name in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
        del sys.modules[name]


def kernel(connection_file: str, job_path: str) -> None:
    """A notebook's Jupyter kernel: `python -I harness.py --kernel CONNECTION JOB` (`--executor kernel`).

    The job is read and the frames file opened while the process may still do so; then the limits
    are set and the uid dropped, and only then does ipykernel start. Each cell runs under the same
    alarm as in a forked child; after the notebook's cells the grader sends one more cell,
    `kernel_calls(...)`, which makes the exercises' calls and writes their frames."""
    global _kernel_job
    with open(job_path, "rb") as f:
        job, job_arrays = unpack(f.read())
    os.unlink(job_path)
    channel = open(os.path.join(os.path.dirname(job_path), FRAMES_FILE), "wb")
    _kernel_job = job, job_arrays, channel
    sys.modules[KERNEL_MODULE] = sys.modules[__name__]  # where the calls cell finds kernel_calls
    enter(job)
    if os.environ.get("JPY_PARENT_PID") != str(os.getppid()):  # in a pid namespace the grader is out of sight:
        os.environ.pop("JPY_PARENT_PID", None)  # ipykernel must not take that for its parent's death
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(["-f", connection_file, "--HistoryManager.hist_file=:memory:", "--InteractiveShell.colors=nocolor"])

    def after_cell(result: Any) -> None:
        arm(0)
        if result.error_in_exec is not None:  # e.g. a MemoryError whose frames still hold the memory
            traceback.clear_frames(result.error_in_exec.__traceback__)
            forget_failure(app.shell)

    students_tracebacks(app.shell)
    app.shell.events.register("pre_run_cell", lambda info: arm(job["timeout"]))
    app.shell.events.register("post_run_cell", after_cell)
    app.start()


KERNEL_MODULE = "backprop_grader_harness"
_kernel_job: tuple[dict[str, Any], Any, BinaryIO] | None = None


def kernel_calls(cell_of_count: dict[int, int]) -> None:
    """The calls cell of `--executor kernel`: every exercise's calls, then `done`, as frames."""
    assert _kernel_job is not None
    job, job_arrays, channel = _kernel_job
    arm(0)  # each call has its own limit
    run = Run(job, job_arrays, channel)
    run.cell_of_count = cell_of_count
    run.call_all()
    run.send({"event": "done"})
    channel.close()


def main() -> None:
    """One process per notebook: `python -I harness.py JOB`, stderr already the capture file."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    run_job(sys.argv[1], channel)


def oom_score(adjustment: int) -> None:
    """How soon the kernel ends this process when its memory cgroup is full (-1000 never, 1000 first);
    lowering it needs root, and where it cannot be set the cgroup is not there either."""
    with contextlib.suppress(OSError):
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(adjustment))


def serve(own_namespaces: bool) -> None:
    """A warm server: `python -I harness.py --serve [--own-namespaces]`. numpy and IPython are loaded
    once; for each line `JOB_DIR BUDGET` on stdin it forks a child that runs that job in ./work (its
    disk quota), writing its frames to JOB_DIR/frames.bin, waits at most BUDGET seconds, kills
    whatever the child left behind (in namespaces of its own: every other process there, every System
    V object, everything in /tmp), then writes an `exit` frame naming the job on its own stdout,
    which no child can write to. It never runs student code itself."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    oom_score(-500)  # in the slot's memory cgroup with its notebooks: they go first, whatever they hold
    warm = shell()
    for source in ("pass", "raise ValueError"):  # IPython initialises much on a first cell and a first traceback
        warm.run_cell(source, store_history=False)
    forget_failure(warm)
    for stream in (sys.stdout, sys.stderr):  # what the warm-up printed must not reach the first child's output
        stream.flush()
    gc.freeze()  # the collector then leaves these objects alone, so the children share their pages
    _become_subreaper()
    work = os.path.abspath("work")  # every notebook's working directory, emptied by the grader after each
    for line in sys.stdin:
        job_dir, budget = line.split()
        capture = os.open(os.path.join(job_dir, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        frames_fd = os.open(os.path.join(job_dir, FRAMES_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(out.fileno())
                os.setsid()
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                os.dup2(capture, 1)
                os.dup2(capture, 2)
                os.chdir(work)
                os.environ["HOME"] = os.getcwd()
                run_job(os.path.join(job_dir, JOB_FILE), os.fdopen(frames_fd, "wb"))
            finally:
                os._exit(70)
        os.close(capture)
        os.close(frames_fd)
        status, timed_out = _wait(pid, float(budget))
        _kill_descendants(pid)
        if own_namespaces:  # what escaped the list of descendants (a chain of double forks), and what is no process
            if any(p.isdigit() and int(p) not in (1, os.getpid()) for p in os.listdir("/proc")):  # its own /proc
                sweep()
            clear_ipc()  # a shared memory segment must not carry one student's data to the next
            empty("/tmp")  # the namespace's own, writable by a notebook where the grader is not root
        out.write(frame({"event": "exit", "job": job_dir, "returncode": status, "timed_out": timed_out}))
        out.flush()


def _wait(pid: int, budget: float) -> tuple[int, bool]:
    """The child's exit status (negative: killed by that signal), and whether it ran out of time."""
    import select

    deadline = time.monotonic() + budget
    fd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL, True
        if fd is not None:
            select.select([fd], [], [], left)
        else:
            time.sleep(min(left, 0.005))
    if fd is not None:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), False


SWEEPS = 3  # rounds of SIGKILL to every process that may be signalled: one forked during a round gets the next


def sweep() -> None:
    """SIGKILL every process this one may signal but itself and its namespace's init, a few times
    over. Only where that is a notebook's leftovers alone: in a PID namespace of the notebook's own
    (as root there), or as the notebook's uid (`grader.sandbox.reap`)."""
    with contextlib.suppress(ProcessLookupError):  # none left (some kernels never say so: hence a fixed count)
        for _ in range(SWEEPS):
            os.kill(-1, signal.SIGKILL)


def empty(folder: str | os.PathLike[str]) -> None:
    """Remove everything in `folder`, which stays: however deep (no recursion, and every path relative
    to an open folder, so no path is ever too long), whatever modes a notebook set, following no link
    and entering no other file system (a mount point in it, such as the Python installation that
    bubblewrap binds under the namespace's /tmp, stays as it is, and so do the folders above it).
    For a folder whose processes have all ended: it walks back up through `..`."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    device = os.fstat(fd).st_dev
    above: list[tuple[str, list[str]]] = []  # (the current folder's name in its parent, the parent's folders still to remove)
    pending = _remove_files(fd)
    try:
        while True:
            if pending:
                name = pending.pop()
                try:
                    mode = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if mode.st_dev != device:
                        continue  # another file system mounted here
                    if mode.st_mode & 0o700 != 0o700:  # made unreadable by a notebook: opened up for its owner alone
                        os.chmod(name, (mode.st_mode & 0o7777) | 0o700, dir_fd=fd)  # a folder, not a link: scandir said so
                    inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError:
                    continue
                if os.fstat(inner).st_dev != device:  # mounted between the two looks
                    os.close(inner)
                    continue
                above.append((name, pending))
                os.close(fd)
                fd, pending = inner, _remove_files(inner)
            elif above:
                name, pending = above.pop()
                outer = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = outer
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=fd)
            else:
                return
    finally:
        os.close(fd)


def _remove_files(fd: int) -> list[str]:
    """Remove what is not a folder in the folder open as `fd`; its folders' names."""
    folders = []
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.name)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.name, dir_fd=fd)
    return folders


def clear_ipc(owner: int | None = None) -> None:
    """Remove the System V shared memory segments, semaphore sets and message queues of this IPC
    namespace (only `owner`'s, when given): what one notebook leaves there must not reach the next."""
    c = libc()
    remove = {"shm": lambda i: c.shmctl(i, 0, None), "sem": lambda i: c.semctl(i, 0, 0), "msg": lambda i: c.msgctl(i, 0, None)}
    for kind, rmid in remove.items():  # 0 is IPC_RMID
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                header, *rows = (line.split() for line in table)
        except (OSError, ValueError):
            continue
        for row in rows:
            if owner is None or int(row[header.index("uid")]) == owner:
                rmid(int(row[1]))


KEYCTL = {"x86_64": 250, "aarch64": 219}  # the keyctl system call's number


def clear_keyrings() -> None:
    """Empty this uid's user and user-session keyrings (they outlive a process, and live as long as any
    process of the uid does)."""
    import platform

    keyctl = KEYCTL.get(platform.machine())
    if keyctl:
        for keyring in (-4, -5):  # KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING
            libc().syscall(keyctl, 7, keyring)  # KEYCTL_CLEAR


@functools.cache
def libc() -> Any:
    """The C library, loaded once per process (clear_ipc runs after every notebook)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _become_subreaper() -> None:
    """Orphans of the notebooks are re-parented to this server instead of init, so it can end them."""
    try:
        libc().prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _kill_descendants(pid: int) -> None:
    """Kill the child's process group, then every process re-parented to us, until none is left."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for _ in range(100):  # a process stuck in the kernel cannot stall us for ever
        orphans = _children()
        for orphan in orphans:
            try:
                os.kill(orphan, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:  # reap whatever has died
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not orphans:
            return
        time.sleep(0.001)


def _children() -> list[int]:
    """This process's children (the orphans re-parented to it included): the kernel's own list
    when it keeps one (CONFIG_PROC_CHILDREN), else a scan of /proc, a hundred times slower."""
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            return [int(pid) for pid in f.read().split()]
    except OSError:
        return _scan_children()


def _scan_children() -> list[int]:
    me, found = str(os.getpid()), []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me:  # the parent pid
            found.append(int(entry))
    return found


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve("--own-namespaces" in sys.argv[2:])
    elif sys.argv[1:2] == ["--kernel"]:
        kernel(*sys.argv[2:4])
    else:
        main()
