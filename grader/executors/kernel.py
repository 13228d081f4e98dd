"""`--executor kernel`: each notebook in a real Jupyter kernel (ipykernel), driven by nbclient.

For full Jupyter fidelity (ipykernel's display machinery, `get_ipython().kernel`, everything a
notebook can rely on in Jupyter), at the cost of starting a kernel per notebook. The kernel runs in
the same sandbox as the other executors: the program inside it, started with `--kernel`, sets the limits and drops to the
notebook's uid before ipykernel starts. It talks to nbclient over unix sockets in the job's
directory (ZeroMQ's IPC transport), the one channel that crosses the sandbox's network namespace.
After the notebook's cells one more cell makes the exercises' calls, whose results come back as
the same frames as the other executors'.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_event_loop
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from grader.executors.base import Executor, STARTUP_GRACE, budget, environment, install_inside, kill_group, launch, stage
from grader.executors.cgroup import MemoryCap
from grader.executors.received import cap, finish, messages_in, reached, read_frames
from grader.executors.sandbox import Sandbox
from grader.inside import wire
from grader.model import Execution, Job

SAFETY = 5.0  # seconds past a cell's own alarm before nbclient gives up on the kernel
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the program inside the sandbox with `--kernel` instead of the kernel
    spec's command; the kernel sees the job's directory at the sandbox's path, so it gets its own
    copy of the connection file with the sockets' path as it sees them."""

    box: Path
    sandbox: Sandbox
    disk: int  # bytes the namespace's own /tmp may hold
    cap: MemoryCap | None  # the slot's memory cgroup

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        inside = self.sandbox.path(self.box)
        info = json.loads(Path(self.connection_file).read_text())
        info["ip"] = str(inside / "work" / ".ipc" / "kernel")
        (self.box / "kernel.json").write_text(json.dumps(info))
        argv = launch(sys.executable, inside, "--kernel", str(inside / "kernel.json"), str(inside / wire.JOB_FILE))
        return self.sandbox.command(argv, self.box, disk=self.disk, cap=self.cap)


class KernelExecutor(Executor):
    """`Executor` with one fresh ipykernel per notebook."""

    def run(self, job: Job, slot: int) -> Execution:
        """Each notebook's kernel session in an event loop of its own, closed after it: never one
        inherited from the process this one was forked from (shared with its other children, that
        loop's epoll would hang them), and nothing left open for the next notebook."""
        return contextvars.Context().run(self._run, job, slot)

    def _run(self, job: Job, slot: int) -> Execution:
        seconds, uid, memory = budget(job), self.sandbox.uid(slot), self.caps[slot]
        with tempfile.TemporaryDirectory(prefix="grader-kernel-") as tmp, contextlib.ExitStack() as quota:
            box, work = Path(tmp) / "box", Path(tmp) / "box" / "work"
            work.mkdir(parents=True)
            quota.enter_context(self.sandbox.quota(work, self.limits.disk))  # unmounted before the folder goes
            stage(box, work, job, self.limits, seconds, uid, Path(tmp))
            install_inside(box)
            for own in (".ipc", ".ipython"):  # the kernel's sockets and IPython's files: written as the notebook's uid, so in its quota
                (work / own).mkdir(exist_ok=True)
                if uid is not None:
                    os.chown(work / own, uid, uid)
            nb = new_notebook(cells=[new_code_cell(source) for source in job.cells])
            km = SandboxedKernelManager(transport="ipc", ip=str(work / ".ipc" / "kernel"), connection_file=str(box / "connection.json"))
            km.box, km.sandbox, km.disk, km.cap = box, self.sandbox, self.limits.disk, memory
            client = NotebookClient(
                nb, km=km, timeout=int(job.timeout + SAFETY), startup_timeout=int(STARTUP_GRACE), allow_errors=True,
                shutdown_kernel="immediate", record_timing=False,
            )
            reports: list[tuple[dict[str, Any], dict[str, Any]]] = []
            returncode, timed_out = None, False
            env = environment(self.sandbox.path(box)) | {"IPYTHONDIR": str(self.sandbox.path(box) / "work" / ".ipython")}
            try:
                # What the kernel process itself writes (ipykernel's banner; in Jupyter, the server's
                # terminal) is not the notebook's output: that is what its cells' outputs hold.
                with client.setup_kernel(env=env, cwd=str(box / "work"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
                    for index, cell in enumerate(nb.cells):
                        client.execute_cell(cell, index)
                        reports.append((_cell_report(cell, index + 1, nb), {}))
                    nb.cells.append(new_code_cell(f"__import__({wire.KERNEL_MODULE!r}).kernel_calls({_cell_of_count(nb)!r})"))
                    client.timeout = int(seconds)
                    client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
            except CellTimeoutError:  # the kernel hung past a cell's alarm
                timed_out = True
            except (DeadKernelError, RuntimeError):  # it died, or never answered at start-up
                pass
            except Exception as exc:  # a message nbclient cannot take: the notebook's code wrote it, not ipykernel
                why = f"a Jupyter message the grader cannot read ({type(exc).__name__})"
                reports.append(({"event": "malformed", "why": why}, {}))
            finally:
                process = km.provisioner.process if km.provisioner else None  # type: ignore[attr-defined]
                if process is not None:
                    returncode = process.poll()
                    kill_group(process.pid)
                    process.wait()
                self.sandbox.end(uid)  # without namespaces, what left the kernel's process group
                _close(client, km)
            frames = box / wire.FRAMES_FILE
            reports += messages_in(frames)
            pieces = [_printed(cell) for cell in nb.cells]
            execution = read_frames(reports, job)
            execution.printed = [cap(piece) for piece in pieces[: len(job.cells)]]
            execution = finish(execution, cap("".join(pieces)), returncode, timed_out, seconds)
            return reached(execution, work, self.limits, self.sandbox, memory)


def _close(client: NotebookClient, km: SandboxedKernelManager) -> None:
    """Close the client's channels, the manager's ZeroMQ context and this notebook's event loop: each
    holds sockets, epoll descriptors and a thread, which a worker grading hundreds of notebooks would
    otherwise run out of."""
    if client.kc is not None:
        client.kc.stop_channels()
    km.context.destroy(linger=0)
    loop = ensure_event_loop()
    loop.close()
    asyncio.set_event_loop(None)


def _cell_report(cell: NotebookNode, index: int, nb: NotebookNode) -> dict[str, Any]:
    """The harness's report for a cell, from the error nbclient recorded in its outputs."""
    error = next((o for o in cell.get("outputs", []) if o.output_type == "error"), None)
    if error is None:
        return {"event": "cell", "cell": index, "status": "ok"}
    if error.get("ename") == "TimeLimit":
        return {"event": "cell", "cell": index, "status": "timeout"}
    message = f"{_text(error.get('ename'))}: {_text(error.get('evalue'))}".strip().rstrip(":")
    return {"event": "cell", "cell": index, "status": "error",
            "error": {"type": _text(error.get("ename")), "message": message[:500], "where": _where(error.get("traceback"), nb)}}


def _where(traceback: list[str], nb: NotebookNode) -> str:
    """'code cell 3, line 4: `return h @ W`' from the innermost cell IPython's traceback names."""
    found = re.findall(r"Cell In\[(\d+)\], line (\d+)", _ANSI.sub("", _text(traceback, "\n")))
    counts = _cell_of_count(nb)
    for count, line in reversed(found):
        if int(count) in counts:
            lines = nb.cells[counts[int(count)] - 1].source.splitlines()
            code = lines[int(line) - 1].strip() if 0 < int(line) <= len(lines) else ""
            return f"code cell {counts[int(count)]}, line {line}: `{code}`"
    return ""


def _cell_of_count(nb: NotebookNode) -> dict[int, int]:
    """Which code cell (1, 2, ...) each execution count belongs to, as far as the kernel has run."""
    return {cell.execution_count: index for index, cell in enumerate(nb.cells, start=1) if cell.execution_count}


def _printed(cell: NotebookNode) -> str:
    """What one cell showed as text, as a forked child's capture has it: streams and tracebacks (cap()
    drops the colours of its tracebacks)."""
    shown = {"stream": lambda o: _text(o.get("text")), "error": lambda o: _text(o.get("traceback"), "\n") + "\n"}
    return "".join(shown[o.output_type](o) for o in cell.get("outputs", []) if o.output_type in shown)


def _text(value: object, between: str = "") -> str:
    """A Jupyter output's text, which a kernel's message (the notebook's code can send its own) may
    give as a string, a list of strings, or anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return between.join(_text(v) for v in value)
    return "" if value is None else repr(value)

