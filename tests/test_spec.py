"""Specs are strict: an unknown field is an error naming the closest known one; output indexes are
checked against the outputs and what the reference returns; the assignment folder's own modules are
references in every command, with no PYTHONPATH; a reference that raises is the instructor's error,
said with the exercise, the arguments' shapes and the reference's own frames."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.spec import SpecError, load
from grader.trials import make_trials, plan
from notebooks import notebook

TINY = Path(__file__).parent / "assignments" / "tiny"


def _tiny(tmp_path: Path, name: str = "tiny", replace: tuple[str, str] = ("", ""), extra: str = "") -> Path:
    folder = tmp_path / name
    shutil.copytree(TINY, folder)
    toml = folder / "assignment.toml"
    text = toml.read_text()
    if replace[0]:
        assert replace[0] in text
        text = text.replace(*replace)
    toml.write_text(text + extra)
    return folder


@pytest.mark.parametrize("replace, extra, words", [
    (("trials = 3", "trials = 3\npionts = 2"), "", "field 'pionts' is not one the grader knows (did you mean 'points'?)"),
    (("reference =", "refrence ="), "", "field 'refrence' is not one the grader knows (did you mean 'reference'?)"),
    (("trials = 3", "trails = 3"), "", "field 'trails' is not one the grader knows (did you mean 'trials'?)"),
    (("outputs = [\"h\"]", "outputs = [\"h\"]\nvisiblity = \"hidden\""), "", "did you mean 'visibility'?"),
    (("title = \"Tiny\"", "tittle = \"Tiny\""), "", "field 'tittle' is not one the grader knows (did you mean 'title'?)"),
    (("", ""), "\n[defaults]\nrtoll = 1e-3\n", "[defaults] field 'rtoll' is not one the grader knows (did you mean 'rtol'?)"),
    (("", ""), "\n[defaults]\nid = \"x\"\n", "[defaults] field 'id' is not one the grader knows"),
    (("outputs = [\"h\"]", "outputs = [\"h\"]\noutput = 5"), "", "output = 5, but outputs names 1 return value(s) (h)"),
    (("outputs = [\"h\"]", "outputs = \"h\""), "", "outputs must name the function's return values"),
    (("outputs = [\"h\"]", "outputs = []"), "", "outputs must name the function's return values"),
])
def test_a_spec_with_an_unknown_field_or_a_wrong_index_is_refused_at_load(tmp_path, replace, extra, words):
    with pytest.raises(SpecError) as caught:
        load(_tiny(tmp_path, replace=replace, extra=extra))
    assert words in str(caught.value)


def test_reference_output_is_checked_against_what_the_reference_returns(tmp_path):
    folder = _tiny(tmp_path, replace=("outputs = [\"h\"]", "outputs = [\"h\"]\nreference_output = 1"))
    with pytest.raises(SpecError, match="reference_output = 1, but its reference reference:relu.forward returns a ndarray"):
        plan(load(folder).exercises[0])


MYREF = """import numpy as np
from helpers import keep
def relu_forward(a):
    return keep(np.maximum(a, 0))
"""
BROKEN = """import numpy as np
def relu_forward(a):
    if a.size == 1:
        return 1 / 0
    return np.maximum(a, 0)
"""


def test_the_assignment_folders_own_modules_are_references_everywhere(tmp_path):
    first = _tiny(tmp_path, "first", replace=('reference = "reference:relu.forward"', 'reference = "myref:relu_forward"'))
    (first / "myref.py").write_text(MYREF)
    (first / "helpers.py").write_text("def keep(x):\n    return x\n")
    second = _tiny(tmp_path, "second", replace=('reference = "reference:relu.forward"', 'reference = "myref:relu_forward"'))
    (second / "myref.py").write_text("import numpy as np\ndef relu_forward(a):\n    return -np.maximum(a, 0)\n")
    one, two = load(first).exercises[0], load(second).exercises[0]  # two modules named myref, in one process
    assert (make_trials(one, 1, "ada")[0].expected >= 0).all() and (make_trials(two, 1, "ada")[0].expected <= 0).all()
    notebook(tmp_path / "subs" / "ada.ipynb")
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_SEED", "PYTHONPATH")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(tmp_path / "subs"), "--assignment", str(first), "--seed", "1",
                           "--out", "out"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "1/1" in done.stdout


@pytest.mark.parametrize("module, words", [
    (BROKEN, "exercise relu_forward: its reference myref:relu_forward raised ZeroDivisionError: division by zero on arguments a=(1,)"),
    ("raise RuntimeError('half written')\n", "reference 'myref:relu_forward': its module raised RuntimeError: half written on import"),
    ("import numpy as np\nSCALE = 1 / 0\n", 'its module raised ZeroDivisionError: division by zero on import File "'),
    ("import nosuchmodule\n", "reference 'myref:relu_forward': its module imports nosuchmodule, which cannot be found"),
    ("import numpy as np\n", "reference 'myref:relu_forward' cannot be found"),
])
def test_a_reference_that_fails_is_the_instructors_error_said_plainly(tmp_path, module, words):
    folder = _tiny(tmp_path, replace=('reference = "reference:relu.forward"', 'reference = "myref:relu_forward"'))
    (folder / "myref.py").write_text(module)
    notebook(tmp_path / "subs" / "ada.ipynb")
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SEED"}
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", "subs", "--assignment", str(folder), "--seed", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    text = " ".join(done.stderr.split())
    assert done.returncode == 2 and words in text and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "reports").exists()  # said before a seed is drawn or a store made
    if "SCALE" in module:
        assert 'myref.py", line 2, in <module>' in text and "SCALE = 1 / 0" in text
    if module is BROKEN:
        assert 'myref.py", line 4, in relu_forward' in text and "return 1 / 0" in text and "grader/" not in text
