"""The harness's entry point in the sandbox, which the executors start with
`grader.executors.base.launch` (`python -I -c LAUNCH BOX ARGS`: the box is on `sys.path` only while
this package is imported). One notebook per process (`--executor process`): `JOB`; the warm server
(`--executor fork`): `--serve [--own-namespaces]`; a notebook's kernel (`--executor kernel`):
`--kernel CONNECTION JOB`.
"""

from __future__ import annotations

import os

from .kernel import kernel
from .runner import run_job
from .server import serve


def main(argv: list[str]) -> None:
    if argv[:1] == ["--serve"]:
        serve("--own-namespaces" in argv[1:])
    elif argv[:1] == ["--kernel"]:
        kernel(argv[1], argv[2])
    else:
        channel = os.fdopen(os.dup(1), "wb")  # one process per notebook: stderr is already the capture file
        os.dup2(2, 1)
        run_job(argv[0], channel)
