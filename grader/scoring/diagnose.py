"""Name the mistake: a registry of hypotheses, each a small pure function that says whether a wrong
answer is one known mistake.

A hypothesis looks at one wrong output of one trial (the expected array, the student's, the trial's
inputs) and yields the details under which it explains it (an axes order, an input's name; "" when
the code says it all), nothing when it does not. A cause is named for an exercise only when one
hypothesis, with one detail, explains every failing trial of it: an answer averaged over the batch
is "half the expected one" in a trial whose batch has 2 rows, and is named only by what every trial
agrees on (say less rather than something wrong). A diagnosis only adds words: it is made after the
comparison failed and never changes a verdict. Its words name no course: an assignment adds its own
course's reasoning as hints (`[hints.dL_dW] transpose = "..."`, for an output or a function).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from grader.scoring.compare import Tolerance
from grader.scoring.mistakes import wrong_answers

FITS = Tolerance(rtol=1e-4, atol=1e-6)  # "fits" means: equal up to the grading tolerance of the built-in assignments
LOW_PRECISION = Tolerance(rtol=1e-2, atol=1e-3)  # right to 2-3 digits: float16, or rounded


@dataclass(frozen=True)
class Context:
    """What a hypothesis may look at besides the two arrays: the trial's inputs, named."""

    name: str  # the graded output's name, e.g. dL_dW
    inputs: dict[str, np.ndarray]  # flattened: params.W1 for nested dicts
    batch: int | None = None  # the batch size, when the trial has a batch axis


@dataclass(frozen=True)
class Cause:
    """One hypothesis explaining one output: the same mistake in two trials is the same Cause."""

    code: str
    output: str  # the output's name ("" for an exception, which is the function's)
    detail: str = ""


@dataclass(frozen=True)
class Diagnosis:
    code: str  # the causes' codes, for reports and counts: transpose, sign, not_summed, ...
    message: str


Test = Callable[[np.ndarray, np.ndarray, Context], Iterable[str]]


@dataclass(frozen=True)
class Hypothesis:
    code: str
    explanation: str  # {name}: the output; {detail}: what the test yielded
    test: Test
    predicts: bool = False  # its mistake is right on some inputs: a trial the student passed must fit it too, or it is refuted


REGISTRY: dict[str, Hypothesis] = {}  # in the order causes are told
ANY = "*"  # a detail a trial cannot tell: it fits that hypothesis with any detail the other trials show
THRESHOLDS = (-1.0, -0.5, -0.25, -0.1, 0.1, 0.25, 0.5, 1.0)  # the cuts a relu backward's mask is tried with
OPEN_WHEN_MANY = {"threshold"}  # two cuts that every failing trial fits leave the mistake open: not named
SCALINGS = {"sign", "double", "half", "mean_not_sum", "times_batch", "batch_factor", "per_size"}  # more telling than a constant factor
BATCH_MEANS = {"mean_not_sum", "batch_factor"}  # more telling than a mean over an input's length that is the batch


def hypothesis(code: str, explanation: str, predicts: bool = False) -> Callable[[Test], Test]:
    """Register a test under `code`, with the words that explain it to a student."""

    def register(test: Test) -> Test:
        REGISTRY[code] = Hypothesis(code, explanation, test, predicts)
        return test

    return register


def close(expected: np.ndarray, actual: np.ndarray, tolerance: Tolerance = FITS) -> bool:
    return expected.shape == actual.shape and bool(np.all(np.abs(actual - expected) <= tolerance.bound(expected)))


# The catalogue's wrong answers (grader.scoring.mistakes: every trial is drawn so that each fails it), in a
# student's words.
CATALOGUED = {
    "transpose": "your {name} is the transpose of the expected one",
    "axes_order": "your {name} has the right numbers with its axes in another order (yours are the expected axes {detail}); "
                  "a Jacobian's layout is the output's axes first, then the input's",
    "sign": "your {name} is −1 times the expected one: a sign error",
    "double": "your {name} is twice the expected one",
    "half": "your {name} is half the expected one",
    "mean_not_sum": "your {name} is the expected one divided by the batch size: averaged over the batch instead of summed",
    "times_batch": "your {name} is the expected one times the batch size",
    "mask_only": "your {name} is the step function Θ({detail}) alone: multiply it by the upstream gradient",
    "returned_input": "your {name} is the input {detail}, unchanged",
    "no_upstream": "your {name} is the local derivative alone: multiply it by the upstream gradient {detail} (the chain rule)",
    "no_onehot": "your {name} is softmax(z) without the targets {detail} subtracted: the cross-entropy's gradient is softmax(z) − onehot(y)",
    "softmax_axis": "your {name} takes the softmax of {detail} over the wrong axis (down the batch's columns): each row is one "
                    "datapoint, so the softmax runs along each row",
}


def _catalogued(code: str) -> Test:
    def test(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
        for wrong in wrong_answers(expected, ctx.inputs, ctx.batch):
            # An all-0 or all-1 mask would fit any input of that shape, and name the wrong culprit.
            if wrong.code == code and (code != "mask_only" or 0 < wrong.value.sum() < wrong.value.size) and close(wrong.value, actual):
                yield wrong.detail

    return test


for _code, _words in CATALOGUED.items():
    REGISTRY[_code] = Hypothesis(_code, _words, _catalogued(_code))


@hypothesis("batch_factor", "your {name} is the expected one times {detail}, B being the batch size: a mean over the batch "
                            "(with the factor 2 of a squared error's derivative) where the loss is a sum")
def batch_factor(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    if ctx.batch:
        yield from (f"{k}/B" for k in _over(expected, actual, ctx.batch, (2, 3)))


@hypothesis("per_size", "your {name} is the expected one times {detail}: a mean where the loss is a sum")
def per_size(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    """Divided by an input's length (a mean over its entries), with or without a squared error's 2."""
    seen: set[int] = set()
    for name, x in ctx.inputs.items():
        if "." not in name and x.ndim == 1 and x.size and x.size not in seen:
            seen.add(x.size)  # inputs of one length (f and y) are one n: named after the first
            yield from (f"{k}/n, n the length of {name}" for k in _over(expected, actual, x.size, (1, 2)))


def _over(expected: np.ndarray, actual: np.ndarray, size: int, factors: tuple[int, ...]) -> Iterator[int]:
    """The factors k for which `actual` is k/size times `expected`."""
    return (k for k in factors if close(expected * k / size, actual))


@hypothesis("left_out", "your {name} is the expected one without {detail}: a term left out")
def left_out(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    """An input missing from a sum (the bias of a linear layer)."""
    for name, x in ctx.inputs.items():
        if ctx.name.endswith(f"_d{name}"):  # a gradient with respect to x holds no term x (x subtracted is another mistake)
            continue
        if "." not in name and x.ndim >= 1 and x.shape == expected.shape[expected.ndim - x.ndim:] and np.abs(x).max(initial=0.0) > FITS.bound(expected):
            if close(expected - x, actual):
                yield name


@hypothesis("diagonal_only", "your {name} holds only the diagonal of the expected Jacobian: return the whole matrix "
                             "(np.diag of your vector), whose entries off the diagonal are 0")
def diagonal_only(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] and actual.shape == expected.shape[:1]:
        if close(np.diag(expected).copy(), actual) and close(np.diag(np.diag(expected)), expected):
            yield ""


@hypothesis("constant_factor", "your {name} is the expected one times {detail}: a constant factor too many or too few")
def constant_factor(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    """The same factor in every trial (a factor that tracks the batch size is another hypothesis's)."""
    if expected.shape == actual.shape and np.abs(expected).max(initial=0.0) > FITS.bound(expected):
        factor = float(np.vdot(expected, actual) / np.vdot(expected, expected))
        if abs(factor) > 1e-6 and not any(abs(factor - c) < 1e-6 for c in (1.0, -1.0, 2.0, 0.5)) and close(factor * expected, actual):
            yield f"{factor:.6g}"  # trials agree on the factor to 6 digits, or it is no constant


@hypothesis("reshape", "the values are right but {name} has {detail}: only a size-1 axis differs, so reshaping "
                       "(.reshape to the expected shape, or .ravel()) would make it right")
def reshaped(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    if actual.shape != expected.shape and actual.size == expected.size and np.squeeze(actual).shape == np.squeeze(expected).shape:
        if close(expected, actual.reshape(expected.shape)):
            yield axes(actual, expected)


@hypothesis("not_summed", "{name} has one {detail} per datapoint: summing them over the batch gives the expected answer; "
                          "a parameter is shared by every datapoint, so its gradient adds up their contributions")
def not_summed(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    """A batch axis left in: first (rows are datapoints) or last (columns are)."""
    if ctx.batch:
        for axis, shape, where in ((0, (ctx.batch,) + expected.shape, "row"), (-1, expected.shape + (ctx.batch,), "column")):
            if actual.shape == shape and close(expected, actual.sum(axis=axis)):
                yield where


@hypothesis("summed_everything", "your {name} is one number, the sum of every entry of the expected one: it was summed over "
                                 "every axis; sum over the batch axis alone")
def summed_everything(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    if actual.size == 1 and (expected.size > 1 or actual.ndim < expected.ndim) and close(np.asarray(expected.sum()), actual.reshape(())):
        yield ""


@hypothesis("wrong_axis", "your {name} sums {detail}")
def wrong_axis(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    """The expected answer is an input summed over one axis; the student summed it over another."""
    for name, x in ctx.inputs.items():
        if x.ndim >= 2 and "." not in name:
            for right in range(x.ndim):
                if close(expected, x.sum(axis=right)):
                    for wrong in range(x.ndim):
                        if wrong != right and close(x.sum(axis=wrong), actual):
                            yield f"{name} over its axis {wrong}; the expected answer sums it over its axis {right}"


@hypothesis("broadcast", "your {name} has {detail}: the expected answer repeated along an extra axis")
def broadcast(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    if actual.ndim > expected.ndim and actual.size > expected.size:
        try:
            stretched = np.broadcast_to(expected, actual.shape)
        except ValueError:
            return
        if close(stretched, actual):
            yield axes(actual, expected)


@hypothesis("clipped", "your {name} clips at {detail} instead of 0: relu is max(a, 0)", predicts=True)
def clipped(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    """relu's forward with another floor (np.maximum(-1, a), np.clip(a, c, None)): the floor where an
    input is below it, ANY where none is (the trial fits every floor below its inputs)."""
    for name, x in ctx.inputs.items():
        if x.shape == expected.shape and x.size and close(np.maximum(x, 0), expected):
            floor = float(actual.min())
            if abs(floor) > FITS.atol and close(np.maximum(x, floor), actual):
                yield f"{floor:.3g}" if (x < floor - FITS.bound(x)).any() else ANY


@hypothesis("threshold", "your {name} keeps the upstream gradient {detail}, not where the input is positive: relu's "
                         "derivative Θ(a) is 1 for a > 0 and 0 for a < 0", predicts=True)
def threshold(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    """relu's backward with the wrong mask: inverted, or cut at another of THRESHOLDS than 0 (one value
    every failing trial agrees on; a mask that only looks like a cut in some trial is no cause)."""
    shaped = {n: x for n, x in ctx.inputs.items() if x.shape == expected.shape and "." not in n}
    for upstream_name, upstream in shaped.items():
        for name, x in shaped.items():
            if name == upstream_name or not close(upstream * (x > 0), expected):
                continue
            if close(upstream * (x < 0), actual):
                yield f"where {name} is negative"
            for cut in THRESHOLDS:
                if close(upstream * (x > cut), actual):
                    yield f"where {name} is above {cut:g}"


@hypothesis("low_precision", "your {name} is right to about 2 or 3 digits only: computed in float16, or rounded")
def low_precision(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> Iterator[str]:
    if close(expected, actual, LOW_PRECISION):
        yield ""


def axes(actual: np.ndarray, expected: np.ndarray) -> str:
    """How two shapes differ, in words that do not change with a trial's sizes."""
    return f"{actual.ndim} axes instead of {expected.ndim}" if actual.ndim != expected.ndim else "its size-1 axis elsewhere"


def causes(expected: np.ndarray, actual: np.ndarray, ctx: Context) -> frozenset[Cause]:
    """Every registered cause that explains `actual`, a wrong answer to `expected`."""
    expected, actual = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if not np.all(np.isfinite(actual)) or close(expected, actual):
        return frozenset()
    return frozenset(Cause(h.code, ctx.name, detail) for h in REGISTRY.values() for detail in h.test(expected, actual, ctx))


# Causes found outside the registry's tests (by `grader.scoring.score`): an exception whose kind says something,
# inputs changed in place, what type was returned, and a mistake inside a network's op (found with
# the reference's network, which only the grader has).
BEHAVIOURS = {
    "shape_mismatch": "the shapes in a product or sum do not line up: the trials use non-square matrices, so a missing or "
                      "extra transpose shows up as this error",
    "name_error": "the function uses a name that is not defined when it runs: define or import it in the notebook",
    "indexerror": "check the shapes the function assumes against the contract",
    "keyerror": "check the keys the function assumes against the contract",
    "in_place": "a function must leave its inputs as they were: its caller, and the rest of a network, still need them",
    "returned_list": "return a numpy array (np.asarray of your list), not a Python list",
    "inside_relu": "your network's gradients are those of a network whose relu backward passes the upstream gradient "
                   "through unchanged, ignoring Θ(a): check the relu backward your network uses",
    "matrix": "your function returns a numpy.matrix, which is always 2-D and where * is a matrix product: work with "
              "ndarrays (np.asarray) and @",
    "masked": "your function returns a masked array: its masked entries still hold numbers, which are graded; return an "
              "ndarray (np.where sets entries to 0, for example)",
}


def error_cause(error_type: str, message: str) -> Cause | None:
    if error_type == "ValueError" and any(w in message for w in ("matmul", "not aligned", "could not be broadcast", "mismatch")):
        return Cause("shape_mismatch", "")
    if error_type == "NameError":
        return Cause("name_error", "")
    if error_type in ("IndexError", "KeyError"):
        return Cause(error_type.lower(), "")
    return None


def refuted(cause: Cause, expected: np.ndarray, actual: np.ndarray, ctx: Context) -> bool:
    """Whether a right answer (a trial the student passed) refutes `cause`: the mistake it names would
    have failed that trial. Only hypotheses that predict answers are refuted so."""
    hypothesis = REGISTRY.get(cause.code)
    if hypothesis is None or not hypothesis.predicts:
        return False
    details = set(hypothesis.test(np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64), ctx))
    return cause.detail not in details and ANY not in details


def explains(cause: Cause, found: frozenset[Cause]) -> bool:
    """Whether a trial whose answer fits `found` is explained by `cause`."""
    return cause in found or Cause(cause.code, cause.output, ANY) in found


def common(failing: list[frozenset[Cause]]) -> list[Cause]:
    """The causes that explain every failing trial, in the registry's order: none unless all agree. A
    trial whose detail is ANY agrees with any detail the others show; a detail no trial shows is not
    named, nor a threshold that every trial fits at two cuts. A constant factor is not named where a
    more telling scaling is."""
    if not failing:
        return []
    named = []
    for code, output in {(c.code, c.output) for c in failing[0]}:
        details = [{c.detail for c in causes if (c.code, c.output) == (code, output)} for causes in failing]
        if all(details):
            shown = [d - {ANY} for d in details if d - {ANY}]
            agreed = sorted(set.intersection(*shown)) if shown else []
            if agreed and (len(agreed) == 1 or code not in OPEN_WHEN_MANY):  # two axes orders of one array are one answer
                named.append(Cause(code, output, agreed[0]))
    scaled = {c.output for c in named if c.code in SCALINGS}
    batch = {c.output for c in named if c.code in BATCH_MEANS}
    named = [c for c in named if not (c.code == "constant_factor" and c.output in scaled or c.code == "per_size" and c.output in batch)]
    order = {code: i for i, code in enumerate([*REGISTRY, *BEHAVIOURS])}
    return sorted(named, key=lambda c: (order[c.code], c.output, c.detail))


def explain(named: list[Cause], hints: dict[str, dict[str, str]], names: tuple[str, ...] = ()) -> Diagnosis | None:
    """The words for the named causes, each with the spec's hint for its output (or, for an exception,
    for the function or any of its outputs: `names`), if there is one."""
    if not named:
        return None
    sentences = []
    for cause in named:
        if cause.code in BEHAVIOURS:
            words, keys = BEHAVIOURS[cause.code], names
        else:
            words, keys = REGISTRY[cause.code].explanation.format(name=cause.output, detail=cause.detail), (cause.output,)
        hint = next((hints[k][cause.code] for k in keys if cause.code in hints.get(k, {})), "")
        sentences.append(f"{words}. {hint}" if hint else words)
    return Diagnosis("+".join(dict.fromkeys(c.code for c in named)), "; ".join(sentences))
