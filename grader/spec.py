"""Assignment specs: `assignments/<name>/assignment.toml`, read with tomllib and checked up front.

A spec names, for each exercise, the student's function, how to generate its arguments (with
symbolic shapes such as `normal(n_in, n_out)`), which output is graded, the points, the number of
trials, the tolerances and the reference callable that produces the expected answer. README.md
documents every field.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.distributions import DISTRIBUTIONS, Distribution, own


def _builtin() -> Path:
    """The built-in assignments: grader/assignments/ where the package is installed (a wheel),
    assignments/ beside grader/ in the source tree (an editable install)."""
    here = Path(__file__).resolve().parent
    return here / "assignments" if (here / "assignments").is_dir() else here.parent / "assignments"


ASSIGNMENTS = _builtin()
SCORING = ("proportional", "all_or_nothing")
VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's, for an exercise's result
_ARG = re.compile(r"^\s*([A-Za-z_][\w.]*(?::[\w.]+)?)\s*(?:\[([^\[\]]*)\])?\s*\(([^()]*)\)\s*$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
TOP_FIELDS = ("title", "convention", "public_seed", "batch", "dims", "defaults", "hints", "exercises")
EXERCISE_FIELDS = ("id", "function", "args", "reference", "output", "reference_output", "outputs", "points", "trials", "rtol", "atol",
                   "scoring", "visibility", "shown_trials", "reveal", "dims")
DEFAULT_FIELDS = ("function", "reference", "output", "reference_output", "outputs", "points", "trials", "rtol", "atol", "scoring",
                  "visibility", "shown_trials", "reveal")


class SpecError(ValueError):
    """An assignment spec that cannot be graded with; the message says which field and why."""


@dataclass(frozen=True)
class Axis:
    dim: str
    optional: bool  # written `B?`: the axis is there in odd-numbered trials only


@dataclass(frozen=True)
class Arg:
    """How to draw one array argument: a distribution, its parameters and a symbolic shape."""

    distribution: str
    axes: tuple[Axis, ...]
    params: tuple[str | float, ...] = ()  # numbers, or dimensions whose sizes in the trial they take
    source: Distribution = DISTRIBUTIONS["normal"]

    def __str__(self) -> str:
        params = f"[{', '.join(p if isinstance(p, str) else f'{p:g}' for p in self.params)}]" if self.params else ""
        return f"{self.distribution}{params}({', '.join(a.dim + '?' * a.optional for a in self.axes)})"

    def draw(self, shape: tuple[int, ...], rng: Any, dims: dict[str, int]) -> Any:
        """Values of this shape, the parameters that are dimensions taking their sizes in `dims`."""
        return self.source.draw(shape, rng, *(dims[p] if isinstance(p, str) else p for p in self.params))


Args = dict[str, "Arg | Args"]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: `grader.trials.plan` is cached per exercise
class Exercise:
    id: str
    function: str
    args: Args
    reference: Callable[..., Any] | None  # None in a self-check bundle, which carries expected outputs instead
    reference_name: str
    output: int | None  # which of the student's return values is graded (None: all of it)
    reference_output: int | None  # likewise for the reference callable
    outputs: tuple[str, ...]  # names of the student's return values, for messages
    points: float
    trials: int
    rtol: float
    atol: float
    dims: dict[str, tuple[int, int]]
    hints: dict[str, dict[str, str]] = field(default_factory=dict)  # output name -> mistake code -> hint
    scoring: str = "proportional"  # proportional: points × passed / trials; all_or_nothing: points only if all pass
    batch: str = "B"  # the dimension that is a batch axis (one datapoint per row or column), when an argument has it
    visibility: str = "visible"  # when a student sees this exercise's result on Gradescope (VISIBILITY)
    shown_trials: int | None = None  # trials 0 … shown_trials−1 may show their inputs and expected values; the rest are hidden (None: all shown)
    reveal: str = "after_published"  # when Gradescope shows the hidden trials' details (VISIBILITY)

    @functools.cached_property
    def axes(self) -> tuple[Axis, ...]:
        """Every axis of every argument, in order."""
        def walk(args: Args) -> list[Axis]:
            return [a for arg in args.values() for a in (walk(arg) if isinstance(arg, dict) else arg.axes)]
        return tuple(walk(self.args))

    @functools.cached_property
    def symbols(self) -> tuple[str, ...]:
        """The symbolic dimensions the arguments use, in order of first use."""
        return tuple(dict.fromkeys(a.dim for a in self.axes))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (for the process that draws the reports) without the reference and the arguments'
        distributions: another process has no use for them, and a function of an assignment folder's
        own module cannot be looked up there by name."""
        return {**self.__dict__, "reference": None, "args": {}}

    def expected(self, args: dict[str, Any]) -> Any:
        if self.reference is None:
            raise SpecError(f"exercise '{self.id}' has no reference callable here")
        value = self.reference(*args.values())
        if self.reference_output is not None and not (isinstance(value, (tuple, list)) and self.reference_output < len(value)):
            got = f"{len(value)} values" if isinstance(value, (tuple, list)) else f"a {type(value).__name__}"
            valid = f" (valid: 0 … {len(value) - 1})" if isinstance(value, (tuple, list)) and value else ""
            raise SpecError(f"exercise '{self.id}': reference_output = {self.reference_output}, but its reference "
                            f"{self.reference_name} returns {got}{valid}")
        return _select(value, self.reference_output)

    def hidden(self, trial: int) -> bool:
        """Whether feedback may not show this trial's inputs and expected values."""
        return self.shown_trials is not None and trial >= self.shown_trials

    @property
    def has_hidden(self) -> bool:
        """Whether some of its trials are hidden."""
        return self.hidden(self.trials - 1)

    @property
    def graded_name(self) -> str:
        """What the graded value is called in messages ('dL_dW', or the function's name)."""
        if self.output is not None and self.output < len(self.outputs):
            return self.outputs[self.output]
        return self.outputs[0] if len(self.outputs) == 1 else self.function


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    convention: str
    path: Path
    public_seed: int
    exercises: tuple[Exercise, ...]

    @property
    def max_total(self) -> float:
        return sum(e.points for e in self.exercises)


def load(name_or_path: str | Path) -> Assignment:
    """The assignment at a path, or a built-in one by name (`backprop`)."""
    path = Path(name_or_path)
    if not path.exists() and (ASSIGNMENTS / str(name_or_path)).exists():
        path = ASSIGNMENTS / str(name_or_path)
    toml = path / "assignment.toml" if path.is_dir() else path
    if not toml.is_file():
        known = ", ".join(sorted(p.name for p in ASSIGNMENTS.iterdir() if (p / "assignment.toml").exists()))
        raise SpecError(f"no assignment at '{name_or_path}' (built-in assignments: {known})")
    try:
        data = tomllib.loads(toml.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{toml}: not valid TOML: {exc}") from None
    return _assignment(data, toml)


def _assignment(data: dict[str, Any], toml: Path) -> Assignment:
    where = str(toml)
    _known(data, TOP_FIELDS, f"{where}: field", "the spec")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SpecError(f"{where}: [defaults] must be a table, e.g. [defaults] points = 2")
    _known(defaults, DEFAULT_FIELDS, f"{where}: [defaults] field", "[defaults]")
    if not isinstance(data.get("exercises", []), list) or not all(isinstance(e, dict) for e in data.get("exercises", [])):
        raise SpecError(f"{where}: exercises must be [[exercises]] tables")
    dims = {k: _range(v, f"{where}: dims.{k}") for k, v in data.get("dims", {}).items()}
    hints = data.get("hints", {})
    if not (isinstance(hints, dict) and all(isinstance(v, dict) and all(isinstance(t, str) for t in v.values()) for v in hints.values())):
        raise SpecError(f"{where}: [hints] must be tables of text, e.g. [hints.dL_dW] transpose = \"...\"")
    batch = data.get("batch", "B")
    if not isinstance(batch, str) or not batch.isidentifier():
        raise SpecError(f"{where}: batch must name a dimension, e.g. batch = \"B\", got {batch!r}")
    exercises = [_exercise(e, defaults, dims, hints, batch, where, toml.parent) for e in data.get("exercises", [])]
    if not exercises:
        raise SpecError(f"{where}: no [[exercises]]")
    ids = [e.id for e in exercises]
    if len(set(ids)) != len(ids):
        raise SpecError(f"{where}: exercise ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    return Assignment(
        name=toml.parent.name,
        title=str(data.get("title", toml.parent.name)),
        convention=_choice(data.get("convention", "rows"), ("rows", "columns"), f"{where}: convention"),
        path=toml.parent,
        public_seed=int(data.get("public_seed", 0)),
        exercises=tuple(exercises),
    )


def _exercise(
    data: dict[str, Any], defaults: dict[str, Any], dims: dict[str, tuple[int, int]], hints: dict[str, dict[str, str]], batch: str,
    where: str, folder: Path,
) -> Exercise:
    ex_id = data.get("id")
    if not isinstance(ex_id, str) or not ex_id.isidentifier():
        raise SpecError(f"{where}: every exercise needs an id that is a name, got {ex_id!r}")
    where = f"{where}: exercise '{ex_id}'"
    _known(data, EXERCISE_FIELDS, f"{where}: field", "an exercise")
    field = {**defaults, **data}
    own_dims = dims | {k: _range(v, f"{where}: dims.{k}") for k, v in data.get("dims", {}).items()}
    args = _args(data.get("args"), own_dims, where, folder)
    function = field.get("function", ex_id)
    if not isinstance(function, str) or not function.isidentifier():
        raise SpecError(f"{where}: function must be a Python name, got {function!r}")
    reference_name = field.get("reference")
    if not isinstance(reference_name, str):
        raise SpecError(f"{where}: reference is missing (e.g. reference = \"reference:linear.backward\")")
    outputs = field.get("outputs", [function])
    if not (isinstance(outputs, list) and outputs and all(isinstance(o, str) and o for o in outputs)):
        raise SpecError(f"{where}: outputs must name the function's return values, e.g. outputs = [\"dL_dh\", \"dL_dW\", \"dL_db\"]")
    output = _index(field.get("output"), f"{where}: output")
    trials = int(_positive(field.get("trials", 5), f"{where}: trials"))
    if output is not None and output >= len(outputs):
        raise SpecError(f"{where}: output = {output}, but outputs names {len(outputs)} return value(s) ({', '.join(outputs)}): "
                        "output picks one of them, from 0")
    return Exercise(
        id=ex_id,
        function=function,
        args=args,
        reference=resolve(reference_name, where, folder),
        reference_name=reference_name,
        output=output,
        reference_output=_index(field.get("reference_output"), f"{where}: reference_output"),
        outputs=tuple(outputs),
        points=_positive(field.get("points", 1), f"{where}: points"),
        trials=trials,
        rtol=_positive(field.get("rtol", 1e-4), f"{where}: rtol"),
        atol=_positive(field.get("atol", 1e-6), f"{where}: atol"),
        dims=own_dims,
        hints=hints,
        scoring=_choice(field.get("scoring", "proportional"), SCORING, f"{where}: scoring"),
        batch=batch,
        visibility=_choice(field.get("visibility", "visible"), VISIBILITY, f"{where}: visibility"),
        shown_trials=_shown(field.get("shown_trials"), trials, f"{where}: shown_trials"),
        reveal=_choice(field.get("reveal", "after_published"), VISIBILITY, f"{where}: reveal"),
    )


def _args(data: Any, dims: dict[str, tuple[int, int]], where: str, folder: Path | None = None) -> Args:
    if not isinstance(data, dict) or not data:
        raise SpecError(f"{where}: args must be a table such as {{ h = \"normal(n_in)\" }}")
    args: Args = {}
    for name, value in data.items():
        if isinstance(value, dict):
            args[name] = _args(value, dims, f"{where}: args.{name}", folder)
        else:
            args[name] = _arg(value, dims, f"{where}: args.{name}", folder)
    return args


def _arg(value: Any, dims: dict[str, tuple[int, int]], where: str, folder: Path | None) -> Arg:
    """One argument: `name(axes)` or `name[params](axes)`, the name one of DISTRIBUTIONS or an
    instructor's own (`module:function`)."""
    match = _ARG.match(str(value))
    known = ", ".join(f"{n}[{', '.join(d.params)}]" if d.params else n for n, d in DISTRIBUTIONS.items())
    if not match or (":" not in match.group(1) and match.group(1) not in DISTRIBUTIONS):
        raise SpecError(f"{where} = {value!r}; write e.g. \"normal(n_in, n_out)\" or \"labels[k](B?)\" (distributions: {known}; "
                        "or your own, module:function)")
    name, written, shape = match.groups()
    source = own(resolve(name, where, folder)) if ":" in name else DISTRIBUTIONS[name]
    axes = tuple(Axis(a.strip().rstrip("?"), a.strip().endswith("?")) for a in shape.split(",") if a.strip())
    params = tuple(float(p) if _NUMBER.match(p) else p for p in (t.strip() for t in (written or "").split(",")) if p)
    unknown = [a.dim for a in axes if a.dim not in dims] + [p for p in params if isinstance(p, str) and p not in dims]
    if unknown:
        raise SpecError(f"{where} uses unknown dimension {unknown[0]!r}; known: {', '.join(dims)}")
    if source.params != ("*",) and len(params) != len(source.params):
        raise SpecError(f"{where} = {value!r}: {name} takes {len(source.params)} parameter(s) in [...]"
                        f"{' (' + ', '.join(source.params) + ')' if source.params else ''}, got {len(params)}")
    why = source.check(*params) if params and all(isinstance(p, float) for p in params) else ""
    if why:
        raise SpecError(f"{where} = {value!r}: {why}")
    return Arg(name, axes, params, source)


def assignment_files(assignment: Assignment) -> dict[str, bytes]:
    """What another machine needs to load the assignment: its spec and its own Python files."""
    folder = assignment.path
    files = [folder / "assignment.toml", *(p for p in sorted(folder.rglob("*.py")) if "__pycache__" not in p.parts)]
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


def _known(table: dict[str, Any], fields: tuple[str, ...], where: str, what: str) -> None:
    """Refuse a field the spec does not know (a misspelling would be silently ignored), naming the
    closest known one."""
    for key in table:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(f"{where} {key!r} is not one the grader knows{hint}; the fields of {what} are {', '.join(fields)}")


def resolve(name: str, where: str = "reference", folder: Path | None = None) -> Callable[..., Any]:
    """`module:attr.attr` (e.g. `reference:linear.backward`) as a callable. A module that is a file of
    the assignment's `folder` (`myref:tanh_forward` with myref.py beside assignment.toml) is loaded
    from there, in every command and on every machine the folder travels to, with no PYTHONPATH."""
    module_name, _, attrs = name.partition(":")
    try:
        target: Any = _module(module_name, folder)
        for attr in attrs.split("."):
            target = getattr(target, attr)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] != module_name.split(".")[0]:  # found, but what it imports is not
            raise SpecError(f"{where}: reference {name!r}: its module imports {exc.name}, which cannot be found{frames(exc, _in(folder))}") from None
        raise SpecError(f"{where}: reference {name!r} cannot be found ({exc})") from None
    except (ImportError, AttributeError, ValueError) as exc:
        raise SpecError(f"{where}: reference {name!r} cannot be found ({exc})") from None
    except Exception as exc:  # the instructor's module itself fails on import
        raise SpecError(f"{where}: reference {name!r}: its module raised {type(exc).__name__}: {exc} on import{frames(exc, _in(folder))}") from None
    if not callable(target):
        raise SpecError(f"{where}: reference {name!r} is not callable")
    return target


def frames(exc: BaseException, keep: Callable[[str], bool]) -> str:
    """The frames of an exception whose files `keep` takes (the instructor's own code, never the
    grader's), as a traceback shows them, on lines of their own after a newline; "" if none."""
    import traceback

    own = [f for f in traceback.extract_tb(exc.__traceback__) if keep(f.filename)]
    return ("\n" + "".join(traceback.format_list(own)).rstrip()) if own else ""


def _in(folder: Path | None) -> Callable[[str], bool]:
    inside = str(folder.resolve()) if folder else None
    return lambda filename: inside is not None and str(Path(filename).resolve()).startswith(inside)


def _module(name: str, folder: Path | None) -> Any:
    """The module `name`: the assignment folder's own (its file, or its package) before any installed
    one, loaded under a name of its folder's own, and so are the sibling files it imports (the folder
    is on sys.path only while it runs, and an other assignment's module of one of their names is set
    aside meanwhile), so two assignments' `myref` or `helpers` never meet."""
    top = name.split(".")[0]
    own = {p.stem for p in folder.glob("*.py")} | {p.parent.name for p in folder.glob("*/__init__.py")} if folder else set()
    if top not in own:
        return importlib.import_module(name)
    assert folder is not None
    prefix = f"_assignment_{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]}_"
    if prefix + name in sys.modules:
        return sys.modules[prefix + name]
    aside = {m: sys.modules.pop(m) for m in list(sys.modules) if m.split(".")[0] in own}
    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
        for loaded in [m for m in list(sys.modules) if m.split(".")[0] in own]:  # this folder's modules, under its own names
            sys.modules[prefix + loaded] = sys.modules.pop(loaded)
        sys.modules.update(aside)
    return module


def _select(value: Any, index: int | None) -> Any:
    return value if index is None else value[index]


def _range(value: Any, where: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value) and 1 <= value[0] <= value[1]):
        raise SpecError(f"{where} must be [low, high] with 1 <= low <= high, got {value!r}")
    return value[0], value[1]


def _index(value: Any, where: str) -> int | None:
    if value is not None and (not isinstance(value, int) or value < 0):
        raise SpecError(f"{where} must be a position (0, 1, ...), got {value!r}")
    return value


def _shown(value: Any, trials: int, where: str) -> int | None:
    if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= trials):
        raise SpecError(f"{where} must be a number of trials from 0 to the exercise's {trials}, got {value!r}")
    return value


def _positive(value: Any, where: str) -> float:
    if not isinstance(value, (int, float)) or value <= 0:
        raise SpecError(f"{where} must be a positive number, got {value!r}")
    return float(value)


def _choice(value: Any, choices: tuple[str, ...], where: str) -> str:
    if value not in choices:
        raise SpecError(f"{where} must be one of {', '.join(choices)}, got {value!r}")
    return value
