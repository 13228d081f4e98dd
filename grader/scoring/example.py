"""A failing case a student can reproduce: the smallest of an exercise's small cases that their
function gets wrong, as a few lines of Python to paste into a cell.

The small cases are drawn once, when the self-check bundle is written (`small_cases`, which needs
the reference): every dimension at its smallest sizes, and simple whole-number values of both
signs. The self-check tries them, smallest first, on a function that failed a public trial
(`reproduce`), and shows the first it fails with the expected answer beside the call.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable

import numpy as np

from grader.model import Call, CallStatus, Verdict
from grader.scoring.score import grade_exercise
from grader.spec import Args, Exercise
from grader.trials import Trial

CASES = 12  # small cases per exercise, smallest first
VALUES = (1.0, -2.0, 3.0, -1.0, 2.0, -3.0)  # whole numbers of both signs, never 0 (relu's kink)
SHOWN = 400  # characters of a student's answer shown in a snippet


def small_cases(exercise: Exercise) -> list[Trial]:
    """The exercise's smallest cases: each dimension at the three smallest sizes of its range, by total
    size, with and without its optional axes; each with the reference's answer."""
    sizes = [range(max(1, low), min(high, max(1, low) + 2) + 1) for low, high in (exercise.dims[s] for s in exercise.symbols)]
    combos = sorted(itertools.product(*sizes), key=lambda c: (sum(c), c))
    cases = []
    for index, combo in enumerate(combos[: CASES // 2] * 2):
        dims = dict(zip(exercise.symbols, combo))
        args = _fill(exercise.args, dims, index >= CASES // 2, itertools.cycle(VALUES))
        try:
            expected = exercise.expected(args)
        except Exception:  # a size the reference does not take: not a case
            continue
        batched = any(a.dim == exercise.batch and (not a.optional or index >= CASES // 2) for a in exercise.axes)
        cases.append(Trial(len(cases), args, expected, dims[exercise.batch] if batched else None))
    return sorted(cases, key=lambda t: sum(np.size(v) for v in _arrays(t.args)))


def _fill(args: Args, dims: dict[str, int], optional: bool, values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, arg in args.items():
        if isinstance(arg, dict):
            out[name] = _fill(arg, dims, optional, values)
        else:
            shape = tuple(dims[a.dim] for a in arg.axes if not a.optional or optional)
            if arg.distribution in ("normal", "nonzero"):  # a few plain numbers, off relu's kink and of both signs
                out[name] = np.array([next(values) for _ in range(int(np.prod(shape, dtype=int)))], dtype=np.float64).reshape(shape)
            else:  # labels, one-hot rows, probabilities...: values of their own kind
                out[name] = arg.draw(shape, np.random.default_rng(len(out)), dims)
    return out


def _arrays(args: dict[str, Any]) -> list[np.ndarray]:
    return [a for v in args.values() for a in (_arrays(v) if isinstance(v, dict) else [v])]


def reproduce(exercise: Exercise, cases: list[Trial], calls: Iterable[Call]) -> str:
    """Python that shows the first case the function got wrong (smallest first), '' if it got them all
    right; `calls` may be made as they are taken (a notebook's own function, called no more than needed)."""
    for case, call in zip(cases, calls):
        _, (trial,) = grade_exercise(exercise, [case], [call])
        if trial.verdict not in (Verdict.PASS, Verdict.TIMEOUT, Verdict.SKIPPED):
            return snippet(exercise, case, call)
    return ""


def snippet(exercise: Exercise, case: Trial, call: Call) -> str:
    lines = ["import numpy as np"]
    lines += [f"{name} = {_literal(value)}" for name, value in case.args.items()]
    picked = f"[{exercise.output}]" if exercise.output is not None else ""
    lines.append(f"print({exercise.function}({', '.join(case.args)}){picked})")
    lines.append(f"# expected: {_literal(case.expected)}")
    if call.status == CallStatus.OK:
        mine = call.result[exercise.output] if exercise.output is not None and isinstance(call.result, (tuple, list)) else call.result
        lines.append(f"# yours:    {shown(mine)}")
    return "\n".join(lines)


def shown(value: Any, limit: int = SHOWN) -> str:
    """What a student's function returned, on one line of at most `limit` characters (a comment:
    whatever its repr holds, it cannot become code in the pasted cell)."""
    try:
        text = " ".join(_literal(value).split())
    except Exception:  # a repr that raises
        text = f"a value of type {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _literal(value: Any) -> str:
    """`value` as Python that rebuilds it (arrays as np.array of nested lists)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
    if isinstance(value, np.ndarray) or np.isscalar(value):
        array = np.asarray(value)
        if array.size > SHOWN // 4:
            return f"an array of shape {array.shape}"
        if array.dtype.kind in "iu":  # class labels and the like stay integers: they index
            return f"np.array({array.tolist()!r})"
        if array.dtype.kind in "bf":
            return f"np.array({(np.round(array.astype(np.float64), 6) + 0.0).tolist()!r})"  # + 0.0: no -0.0
    return repr(value)[:200]
