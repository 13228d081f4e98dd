"""The student kit, installed alone in a fresh virtual environment: it self-checks a notebook, and
nothing installed can compute an exercise's answer.

The fresh environment sees this run's third-party packages (numpy, IPython, nbformat, rich) through
a path file, but not this repository: not its `grader`, not its `reference`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.authoring.assign import assign
from grader.authoring.kit import modules
from notebooks import ROOT, notebook

SOLUTION_CODE = ("dL_da @ W.T", "np.outer(h, dL_da)", "h.T @ dL_da", "BEGIN SOLUTION", "np.maximum(a, 0)")


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kit")
    for name in ("backprop", "backprop-columns"):
        folder = root / name
        folder.mkdir()
        for file in ("assignment.toml", "solution.ipynb", "student.ipynb"):
            shutil.copy(ROOT / "assignments" / name / file, folder)
        assign(folder)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    site = next(venv.glob("lib/python3*/site-packages"))
    (site / "third_party.pth").write_text("\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    wheel = next((root / "backprop" / "handout").glob("*.whl"))
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    return {"root": root, "venv": venv, "site": site, "wheel": wheel, "handout": root / "backprop" / "handout"}


def run(kit: dict[str, Path], *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})


def test_the_handout_holds_the_notebook_the_bundle_the_kit_and_how_to_use_them(kit):
    names = sorted(p.name for p in kit["handout"].iterdir())
    assert names == sorted(["README.txt", "selfcheck.bundle", "student.ipynb", kit["wheel"].name])
    readme = (kit["handout"] / "README.txt").read_text()
    assert f"pip install {kit['wheel'].name}" in readme and "grader-check student.ipynb" in readme and "check()" in readme
    assert "check(linear_forward)" in readme  # a function of this assignment's, its first


def test_the_kit_holds_no_answer_key(kit):
    with zipfile.ZipFile(kit["wheel"]) as zf:
        files = zf.namelist()
        code = "\n".join(zf.read(f).decode() for f in files if f.endswith(".py"))
    assert sorted(f for f in files if f.endswith(".py")) == [f"grader/{m}.py" for m in modules()]
    assert not any(f.startswith("reference") or f.endswith((".ipynb", ".toml", ".bundle")) for f in files)
    assert not any(pattern in code for pattern in SOLUTION_CODE)
    installed = {p.name.split("-")[0] for p in kit["site"].iterdir()}
    assert "grader" in installed and "reference" not in installed
    probe = ("import importlib.util, grader\n"
             "from grader.spec import SpecError, load, resolve\n"
             "assert importlib.util.find_spec('reference') is None\n"
             "try:\n    resolve('reference:linear.backward')\nexcept SpecError as e:\n    print('no reference:', e)\n"
             f"try:\n    load({str(kit['root'] / 'backprop')!r})\nexcept SpecError as e:\n    print('no spec:', e)\n"
             "print(grader.__file__)")
    done = run(kit, kit["venv"] / "bin" / "python", "-c", probe, cwd=kit["root"])
    assert done.returncode == 0, done.stderr
    assert "no reference:" in done.stdout and "no spec:" in done.stdout and str(kit["site"]) in done.stdout


def test_grader_check_from_the_kit_alone(kit, tmp_path):
    shutil.copy(kit["handout"] / "selfcheck.bundle", tmp_path)
    notebook(tmp_path / "right.ipynb")
    shutil.copy(ROOT / "examples" / "submissions" / "bob.ipynb", tmp_path)
    right = run(kit, kit["venv"] / "bin" / "grader-check", "right.ipynb", cwd=tmp_path)
    assert right.returncode == 0 and "18 / 18 on the public trials" in right.stdout, right.stderr
    bob = run(kit, kit["venv"] / "bin" / "grader-check", "bob.ipynb", cwd=tmp_path)
    assert bob.returncode == 1 and "transpose of the expected one" in " ".join(bob.stdout.split())


def test_check_in_python_from_the_kit_alone(kit, tmp_path):
    shutil.copy(kit["handout"] / "selfcheck.bundle", tmp_path)
    script = ("import numpy as np\n"
              "def relu_forward(a):\n    return np.where(a > 0, a, 0.0)\n"
              "def relu_backward(dL_dh, a):\n    return (a > 0).astype(float)\n"
              "from grader import check\n"
              "print(check(relu_forward))\nprint(check())\n")
    done = run(kit, kit["venv"] / "bin" / "python", "-c", script, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "✓ relu_forward: 6/6 public trials passed" in done.stdout
    assert "✗ relu_backward: 0/6 public trials passed" in done.stdout and "step function Θ(a) alone" in done.stdout


def test_checking_against_another_assignments_bundle_says_so(kit, tmp_path):
    shutil.copy(kit["root"] / "backprop-columns" / "selfcheck.bundle", tmp_path)
    shutil.copy(kit["handout"] / "student.ipynb", tmp_path)
    done = run(kit, kit["venv"] / "bin" / "grader-check", "student.ipynb", cwd=tmp_path)
    assert done.returncode == 2
    assert "from the assignment 'backprop', but this self-check bundle is for 'backprop-columns'" in " ".join(done.stderr.split())
    script = "import numpy as np\ndef relu_forward(a):\n    return a\nfrom grader import check\ncheck(relu_forward)"
    done = run(kit, kit["venv"] / "bin" / "python", "-c", script, cwd=tmp_path)
    assert "this self-check bundle is for 'Backprop with column vectors'" in done.stderr
