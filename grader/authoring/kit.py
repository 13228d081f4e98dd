"""The student kit: what students install to self-check, with no answer key in it.

`grader assign` writes the handout folder: the student notebook, the self-check bundle, a
README.txt, and the kit, a wheel of the grader's self-check alone: `grader.selfcheck` and the
modules it imports at load time, found from their import statements. It holds no reference engine
(the answer key), no solution notebook, no spec and no grading seed: the only expected answers a
student can see are those of the bundle's public trials. `pip install` of the wheel gives
`from grader import check` in a notebook and `grader-check NOTEBOOK` in a terminal.

The wheel is written with zipfile (`grader.authoring.wheel`), so an instructor needs no build tool
and no network; its bytes depend only on its files.
"""

from __future__ import annotations

import ast
import importlib.metadata
import shutil
from pathlib import Path

from grader.authoring.bundle import read_bundle
from grader.authoring.wheel import write_wheel

NAME = "backprop_selfcheck"
ENTRY = "selfcheck"  # the kit is this module and what it imports
REQUIRES = ("numpy>=1.26", "nbformat>=5.9", "ipython>=8.12", "rich>=13.0")
HERE = Path(__file__).resolve().parent.parent  # the grader package
STUDENTS = """\
Self-check for {title}

1. Install the self-check once (Python 3.11 or newer), from this folder:
       pip install {wheel}
2. Keep selfcheck.bundle beside your notebook ({notebook}).
3. In the notebook, after defining a function:
       from grader import check
       check({function})      # one function
       check()                   # every function defined so far
   In a terminal, the whole notebook, run as the grading runs it:
       grader-check {notebook}

The self-check uses public trials: the grading uses other inputs, drawn for each student.
"""


def modules() -> list[str]:
    """The grader's modules the kit holds, as paths below `grader/` without `.py`: `selfcheck`, the
    package's `__init__`, everything they import at module level (imports inside functions serve
    paths the kit does not take), the `__init__` of every folder on the way, and the whole program
    that runs inside the sandbox (the self-check's executor copies that folder into the sandbox)."""
    found, todo = set(), ["__init__", ENTRY]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += _imports(HERE / f"{name}.py")
            todo += [f"{'/'.join(name.split('/')[:depth])}/__init__" for depth in range(1, name.count("/") + 1)]
    if "reference" in found:
        raise RuntimeError("the student kit would hold the reference engine")
    if any(name.startswith("inside/") for name in found):
        found |= {f"inside/{path.stem}" for path in (HERE / "inside").glob("*.py")}
    return sorted(found)


def _imports(path: Path) -> list[str]:
    """The grader modules (and `reference`, which must not be one) a module imports at its top level."""
    names: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        imported = [(node.module, a.name) for a in node.names] if isinstance(node, ast.ImportFrom) and node.module else \
                   [(a.name, "") for a in node.names] if isinstance(node, ast.Import) else []
        for module, name in imported:
            top, _, rest = module.partition(".")
            if top == "reference":
                names.append("reference")
            elif top == "grader":
                names.append(_module(rest.replace(".", "/"), name))
    return [n for n in names if n]


def _module(folder: str, name: str) -> str:
    """The module that `from grader.<folder> import <name>` loads: `name` itself when it is a module
    of that folder, else the folder's own module (or its `__init__`)."""
    if name and (HERE / folder / f"{name}.py").is_file():
        return f"{folder}/{name}".lstrip("/")
    if not folder or (HERE / folder).is_dir():
        return f"{folder}/__init__".lstrip("/")
    return folder


def version() -> str:
    try:
        return importlib.metadata.version("backprop-grader")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def write_kit(folder: Path) -> Path:
    """The kit's wheel, written into `folder`."""
    files = {f"grader/{name}.py": (HERE / f"{name}.py").read_bytes() for name in modules()}
    return write_wheel(folder, NAME, version(), files, "Self-check for backpropagation notebooks (no answer key inside)", REQUIRES,
                       {"grader-check": "grader.selfcheck:main"}, ["grader"])


def write_handout(folder: Path, student: Path, bundle: Path) -> Path:
    """The folder to hand out: the student notebook, the bundle, the kit and how to use them."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy(student, folder / student.name)
    shutil.copy(bundle, folder / bundle.name)
    wheel = write_kit(folder)
    assignment = read_bundle(bundle)[0]
    (folder / "README.txt").write_text(STUDENTS.format(title=assignment.title, wheel=wheel.name, notebook=student.name,
                                                       function=assignment.exercises[0].function), encoding="utf-8")
    return folder
