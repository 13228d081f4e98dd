"""The last step before a notebook's code: the grader's and the reference engine's modules are out of
reach, whether or not the process had loaded them, and no other module is touched."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.executors.base import install_inside
from grader.inside import wire


@pytest.mark.parametrize(
    "loaded",
    [
        [],  # the harness's own case: neither package was ever imported
        ["grader", "grader.spec", "grader.scoring.compare"],
        ["reference", "reference.mlp"],
        ["grader", "grader.trials", "reference", "reference.tape", "reference.ops"],
    ],
)
def test_enter_unloads_the_graders_and_the_references_modules_and_blocks_them(tmp_path: Path, loaded: list[str]):
    install_inside(tmp_path)
    bystanders = ["graders", "referenced", "my_reference", "grader_notes"]  # names that only begin alike
    script = textwrap.dedent(f"""
        import sys, types
        sys.path.insert(0, {str(tmp_path)!r})
        from {wire.PACKAGE}.guard import enter
        for name in {loaded + bystanders!r}:
            sys.modules[name] = types.ModuleType(name)
        enter({{"limits": {{}}, "uid": None}})
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("grader", "reference", *{bystanders!r})))
        for name in ("reference", "reference.mlp", "grader.spec"):
            try:
                __import__(name)
                print(name, "imported")
            except ImportError as exc:
                print(name, "refused:", exc)
        import grader
        print(sorted(m for m in sys.modules if m.split(".")[0] == "grader"), grader.check.__name__)
    """)
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == str(sorted(bystanders))  # every module of the two packages gone; the others kept
    assert lines[1] == "reference refused: 'reference' is not available to graded code"
    assert lines[2] == "reference.mlp refused: 'reference' is not available to graded code"
    assert lines[3].startswith("grader.spec refused: ")  # `grader` is the stand-in, which holds no modules
    assert lines[4] == "['grader'] <lambda>"  # only the stand-in, whose check does nothing
