"""Trial inputs: shapes drawn from the spec's symbolic dimensions, values from each argument's distribution.

Every trial's inputs derive from (seed, student id, exercise, trial), so each student gets different
inputs and a rerun gets the same ones. Every trial **discriminates**: each wrong answer of the
catalogue (`grader.scoring.mistakes`) that is a mistake for the exercise fails it under the exercise's
tolerance, with a margin, so a known mistake scores the same on every seed and for every student.
Inputs are built so this usually holds at the first draw (free dimensions distinct and at least 2,
`nonzero` inputs with an entry of each sign just past relu's kink); otherwise the trial is drawn
again, deterministically.

Over an exercise's trials the plan includes size-1 dimensions (they catch broadcasting bugs): trial
k sets the k-th dimension that may be 1 to 1, unless a size of 1 lets a catalogued mistake pass
(relu's n = 1: a single Θ(a) is either 0, like the gradient it masks, or 1, passing the input on;
and a single a, of one sign, cannot show a mask cut on the other side of 0).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from grader.scoring.compare import Tolerance
from grader.scoring.mistakes import CUT_CODES, MAX_PERMUTED_NDIM, OP_MISTAKES, cuts, from_inputs, orders, scalings, wrong_answers
from grader.spec import Args, Exercise, SpecError, frames

MARGIN = 2.0  # a catalogued wrong answer must miss by twice the tolerance, so float noise cannot let it pass
PROBES = 16  # draws per parity that decide which mistakes apply and which dimensions may be 1
MIN_SHARE = 0.25  # of the probe draws that must discriminate: below that, the spec is refused
MAX_ATTEMPTS = 100  # draws of a trial with its size-1 dimension, then as many without it

_GRADER = os.path.dirname(os.path.abspath(__file__)) + os.sep  # the grader's own frames, left out of a reference's traceback
Key = tuple[tuple[Any, ...], str, str]  # (where in the answer, mistake code, detail)
OP_ENTRIES = [(op, code, vjp) for op, codes in OP_MISTAKES.items() for code, vjp in codes.items()]  # (op name, code, its VJP)


@dataclass(frozen=True)
class Trial:
    """One call to grade: the inputs and the ground truth for them."""

    index: int
    args: dict[str, Any]  # arrays, or dicts of arrays, in the function's argument order
    expected: Any  # the reference's answer for these args
    batch: int | None = None  # the batch size, when these inputs have a batch axis

    @property
    def shapes(self) -> str:
        """'h=(3,) W=(3, 2) b=(2,)', as the reports show it."""
        return " ".join(f"{name}={value.shape}" for name, value in flat(self.args))


@dataclass(frozen=True)
class Plan:
    """What every student's trials of one exercise share, decided once from probe draws."""

    forced: tuple[str, ...]  # trial k sets forced[k] to 1
    mistakes: frozenset[Key]  # the catalogue entries that are mistakes here (a symmetric Jacobian's transpose is not)


def rng_for(seed: int | str, student_id: str, exercise: str, trial: int | str, bits: np.random.PCG64 | None = None) -> np.random.Generator:
    """A generator whose whole PCG64 state is a hash of (seed, student, exercise, trial): setting the
    state of a reused bit generator is ten times cheaper than seeding a new one."""
    digest = hashlib.sha256("\0".join(map(str, (seed, student_id, exercise, trial))).encode()).digest()
    bits = bits or np.random.PCG64(0)
    state = {"state": int.from_bytes(digest[:16], "big"), "inc": int.from_bytes(digest[16:], "big") | 1}
    bits.state = {"bit_generator": "PCG64", "state": state, "has_uint32": 0, "uinteger": 0}
    return np.random.Generator(bits)


def make_trials(exercise: Exercise, seed: int | str, student_id: str) -> list[Trial]:
    """The trials of one exercise for one student, with the reference's answers."""
    chosen = plan(exercise)
    bits = np.random.PCG64(0)  # reseeded for every draw; used by one draw at a time
    return [_discriminating(exercise, chosen, seed, student_id, index, bits) for index in range(exercise.trials)]


def _discriminating(exercise: Exercise, chosen: Plan, seed: int | str, student_id: str, index: int, bits: np.random.PCG64) -> Trial:
    forced = chosen.forced[index] if index < len(chosen.forced) else None
    for attempt in range(2 * MAX_ATTEMPTS):
        trial = draw_trial(exercise, seed, student_id, index, attempt, forced if attempt < MAX_ATTEMPTS else None, bits)
        if next(passing(exercise, trial, chosen.mistakes), None) is None:
            return trial
    raise SpecError(f"exercise {exercise.id}: no draw of trial {index} tells every catalogued mistake from the right answer")


def draw_trial(
    exercise: Exercise, seed: int | str, student_id: str, index: int, attempt: int, forced: str | None, bits: np.random.PCG64 | None = None
) -> Trial:
    """One draw of trial `index`: its dimensions (`forced` set to 1), its inputs and the reference's answer."""
    rng = rng_for(seed, student_id, exercise.id, index if attempt == 0 else f"{index}/{attempt}", bits)
    dims = draw_dims(exercise, forced, rng)
    args = _draw(exercise.args, dims, index, rng)
    batched = any(a.dim == exercise.batch and (not a.optional or index % 2 == 1) for a in exercise.axes)
    return Trial(index, args, answer(exercise, args), dims[exercise.batch] if batched else None)


def answer(exercise: Exercise, args: dict[str, Any]) -> Any:
    """The reference's answer; a reference that raises is the instructor's error, said with the
    exercise, the arguments' shapes and the reference's own frames (not the grader's)."""
    try:
        return exercise.expected(args)
    except SpecError:
        raise
    except Exception as exc:
        shapes = " ".join(f"{name}={np.shape(value)}" for name, value in flat(args))
        raise SpecError(f"exercise {exercise.id}: its reference {exercise.reference_name} raised {type(exc).__name__}: {exc} "
                        f"on arguments {shapes}{frames(exc, lambda filename: not filename.startswith(_GRADER))}") from None


def draw_dims(exercise: Exercise, forced: str | None, rng: np.random.Generator) -> dict[str, int]:
    """`forced` is 1; every other dimension gets a size of its own range, at least 2 where the range
    allows, that no other one has (while the ranges allow), drawn uniformly in turn."""
    sizes = {forced: 1} if forced else {}
    free = [s for s in exercise.symbols if s != forced]
    for symbol, u in zip(free, rng.random(len(free)).tolist()):
        low, high = exercise.dims[symbol]
        sizes_here = range(min(max(low, 2), high), high + 1)
        options = [v for v in sizes_here if v not in sizes.values()] or sizes_here
        sizes[symbol] = options[int(u * len(options))]
    return sizes


def _draw(args: Args, dims: dict[str, int], trial: int, rng: np.random.Generator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, arg in args.items():
        if isinstance(arg, dict):
            out[name] = _draw(arg, dims, trial, rng)
            continue
        shape = tuple(dims[a.dim] for a in arg.axes if not a.optional or trial % 2 == 1)
        out[name] = arg.draw(shape, rng, dims)
    return out


def passing(exercise: Exercise, trial: Trial, mistakes: frozenset[Key] | None) -> Iterator[Key]:
    """The catalogued wrong answers (among `mistakes`; None: all of them) that this trial cannot tell
    from the right answer: each is within the exercise's tolerance, times MARGIN, of the right answer.
    A wrong answer that is the right one times c is off by |c − 1| max|right|, which needs no array;
    entries that are no mistake here are not even computed."""
    tolerance, inputs = Tolerance(exercise.rtol, exercise.atol), None
    checks = _checks(frozenset(catalogue(exercise, trial)) if mistakes is None else mistakes)
    for where, right in leaves(trial.expected):
        mine = checks.get(where)
        if mine is None:
            continue
        largest = float(np.abs(right).max(initial=0.0))
        bound = MARGIN * tolerance.allowed(largest)
        for code, factor in scalings(trial.batch):
            if code in mine.scalings and abs(factor - 1.0) * largest <= bound:
                yield where, code, ""
        for code, detail, order in mine.orders:
            if len(order) == right.ndim:
                wrong = right.transpose(order)
                if wrong.shape == right.shape and np.abs(wrong - right).max(initial=0.0) <= bound:
                    yield where, code, detail
        if mine.inputs:
            inputs = inputs if inputs is not None else dict(flat(trial.args))
            found = from_inputs(right, {name: inputs[name] for _, name in mine.inputs if name in inputs})
            for wrong in itertools.chain(found, cuts(right, inputs) if mine.cuts else ()):  # a cut's u is another input than its x
                if (wrong.code, wrong.detail) in mine.inputs and np.abs(wrong.value - right).max(initial=0.0) <= bound:
                    yield where, wrong.code, wrong.detail
    for op_name, code, vjp in OP_ENTRIES:  # made everywhere the network uses the op: the whole answer must differ
        key: Key = ((), code, f"inside {op_name}")
        wrong = within(exercise, trial, op_name, vjp) if mistakes is None or key in mistakes else None
        if wrong is not None and all(
            value.shape == right.shape and np.abs(value - right).max(initial=0.0) <= MARGIN * tolerance.bound(right)
            for (_, right), (_, value) in zip(leaves(trial.expected), leaves(wrong))
        ):
            yield key


def within(exercise: Exercise, trial: Trial, op_name: str, vjp: Any) -> Any:
    """The reference's answer to the trial with `op_name`'s backward replaced by a mistaken one: the
    answer of a network built on a student's mistaken op (None if the reference cannot give one)."""
    from reference.tape import replaced  # the grader's side alone: the student kit never draws trials

    try:
        with replaced(op_name, vjp):
            return exercise.expected(trial.args)
    except Exception:
        return None


@dataclass(frozen=True)
class Checks:
    """The catalogue entries to try on one leaf of an answer (those that are mistakes for the exercise),
    sorted by how each is tried."""

    scalings: frozenset[str]  # codes of `scalings`: the right answer times a factor
    orders: tuple[tuple[str, str, tuple[int, ...]], ...]  # (code, detail, axes order) of `orders`
    inputs: frozenset[tuple[str, str]]  # (code, input name) of `from_inputs` and `cuts`
    cuts: bool = False  # relu's mask cut elsewhere than at 0 is among them


@functools.cache
def _checks(mistakes: frozenset[Key]) -> dict[tuple[Any, ...], Checks]:
    """The mistakes as the checks of each leaf they are on (a network's op mistakes aside)."""
    grouped: dict[tuple[Any, ...], set[tuple[str, str]]] = {}
    for where, code, detail in mistakes:
        if not detail.startswith("inside "):
            grouped.setdefault(where, set()).add((code, detail))
    scaling_codes = {code for code, _ in scalings(2)}
    checks = {}
    for where, pairs in grouped.items():
        reorders = tuple(o for ndim in range(2, MAX_PERMUTED_NDIM + 1) for o in orders(ndim) if o[:2] in pairs)
        taken = {o[:2] for o in reorders} | {(code, "") for code in scaling_codes}
        named = frozenset(pairs - taken)
        checks[where] = Checks(frozenset(c for c, d in pairs if d == "" and c in scaling_codes), reorders, named,
                               any(code in CUT_CODES for code, _ in named))
    return checks


def catalogue(exercise: Exercise, trial: Trial) -> set[Key]:
    """Every catalogued wrong answer of this trial, passing or not."""
    inputs = dict(flat(trial.args))
    keys = {(where, w.code, w.detail) for where, right in leaves(trial.expected) for w in wrong_answers(right, inputs, trial.batch)}
    return keys | {((), code, f"inside {op}") for op, code, _ in OP_ENTRIES}


@functools.cache
def plan(exercise: Exercise) -> Plan:
    """Decide from probe draws which catalogue entries are mistakes for this exercise (those that some
    draw tells from the right answer), check that most draws tell all of them apart, and which
    dimensions a trial may set to 1. Raises SpecError for a spec whose trials cannot discriminate."""
    parities = (0, 1) if any(a.optional for a in exercise.axes) else (0,)
    probes = [_probe(exercise, index, attempt, None) for index in parities for attempt in range(PROBES)]
    seen, passed = set(), []
    for trial in probes:
        seen |= catalogue(exercise, trial)
        passed.append(set(passing(exercise, trial, None)))
    mistakes = frozenset(key for key in seen if not all(key in p for p in passed))
    for parity in parities:
        if _share(probes, passed, mistakes, parity) < MIN_SHARE:
            stuck = Counter(key for trial, p in zip(probes, passed) if trial.index == parity for key in p & mistakes)
            (where, code, detail), times = stuck.most_common(1)[0]
            example = next(t for t, p in zip(probes, passed) if t.index == parity and (where, code, detail) in p)
            raise SpecError(
                f"exercise {exercise.id}: its trials cannot tell the mistake {code}{f' ({detail})' if detail else ''} on "
                f"{_output_name(exercise, where)} from the right answer: it passes {times} of {PROBES} draws (e.g. {example.shapes}); "
                "widen the ranges in [dims] or change the arguments' distributions"
            )
    forced: list[str] = []
    cut_keys = {key for key in mistakes if key[1] in CUT_CODES}
    for symbol in (s for s in exercise.symbols if exercise.dims[s][0] == 1):
        index = len(forced)
        draws = [_probe(exercise, index, attempt, symbol) for attempt in range(PROBES)]
        # A relu cut that a draw cannot make (a single entry has one sign) passes it: such a size is not forced.
        found = [set(passing(exercise, t, mistakes)) | (cut_keys - catalogue(exercise, t) if cut_keys else set()) for t in draws]
        if _share(draws, found, mistakes, index % 2) >= MIN_SHARE:
            forced.append(symbol)
    return Plan(tuple(forced), mistakes)


def _probe(exercise: Exercise, index: int, attempt: int, forced: str | None) -> Trial:
    return draw_trial(exercise, "probe", forced or "", index, attempt, forced)


def _share(trials: list[Trial], passed: list[set[Key]], mistakes: frozenset[Key], parity: int) -> float:
    """The share of these draws of trial parity `parity` that no mistake passes."""
    mine = [not (p & mistakes) for t, p in zip(trials, passed) if t.index % 2 == parity]
    return sum(mine) / len(mine)


def _output_name(exercise: Exercise, where: tuple[Any, ...]) -> str:
    if not where:
        return exercise.graded_name
    head = where[0]
    named = exercise.outputs[head] if isinstance(head, int) and head < len(exercise.outputs) and exercise.output is None else head
    return ".".join(map(str, (named, *where[1:])))


def leaves(value: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], np.ndarray]]:
    """The arrays of an answer (an array, a tuple of them or a dict of them), with where each is."""
    if isinstance(value, dict):
        for key, part in value.items():
            yield from leaves(part, (*where, key))
    elif isinstance(value, (tuple, list)):
        for index, part in enumerate(value):
            yield from leaves(part, (*where, index))
    else:
        yield where, np.asarray(value, dtype=np.float64)


def flat(args: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested argument dicts as (dotted name, value) pairs: params.W1."""
    items: list[tuple[str, Any]] = []
    for name, value in args.items():
        if isinstance(value, dict):
            items += flat(value, f"{prefix}{name}.")
        else:
            items.append((prefix + name, value))
    return items
