"""Where student code runs: the executors, each a way to run one notebook in the sandbox.

`EXECUTORS` maps `--executor`'s names to the class that implements each, by dotted name, so only
the executor a run uses is imported (the kernel executor's nbclient and ZeroMQ, for instance). To add
one: a module here with a subclass of `grader.executors.base.Executor` that implements `run`, and
one line below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.executors.base import Executor

EXECUTORS = {
    "fork": "grader.executors.fork:ForkExecutor",  # the default: a child forked from a warm server per notebook
    "process": "grader.executors.process:ProcessExecutor",  # a fresh Python per notebook
    "kernel": "grader.executors.kernel:KernelExecutor",  # a fresh ipykernel per notebook, driven by nbclient
}


def executor(name: str, **options: Any) -> Executor:
    """A new executor of that name (one of EXECUTORS), with the base class's options."""
    module, _, cls = EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), cls)(**options)
