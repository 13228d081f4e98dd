"""Compare a student's answer with the reference's: a pure function of the two values.

Shapes must match exactly ((1, n) is not (n,)); values must be finite and within
`atol + rtol · max(1, max|expected|)` of the expected ones, a tolerance under which a correct formula
computed in float32 passes and a wrong one does not.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from grader.inside.wire import Opaque

MAX_PARTS_SHOWN = 2  # of a tuple's or dict's wrong parts, the message describes this many
KEYS_SHOWN = 8  # of a returned dict's keys, a message names this many (40 characters of each)

@dataclass(frozen=True)
class Wrong:
    """An output whose numbers are wrong (its shape or its values): what a diagnosis looks at."""

    name: str
    expected: np.ndarray
    actual: np.ndarray


@dataclass(frozen=True)
class Check:
    passed: bool
    message: str = ""
    max_abs_err: float | None = None
    wrong: tuple[Wrong, ...] = ()


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    def bound(self, expected: np.ndarray) -> float:
        """The largest absolute error allowed anywhere in an answer to `expected`."""
        return self.allowed(float(np.abs(expected).max(initial=0.0)))

    def allowed(self, largest: float) -> float:
        """The same bound, from the largest magnitude in the expected answer."""
        return self.atol + self.rtol * max(1.0, largest)


def compare(expected: Any, actual: Any, name: str, tol: Tolerance, names: tuple[str, ...] = ()) -> Check:
    """Check `actual` against `expected`: an array, a tuple of arrays (named by `names`) or a dict of arrays."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return Check(False, f"{name} should be a dict with keys {', '.join(expected)}; got {describe(actual)}")
        missing = [k for k in expected if k not in actual]
        if missing:
            return Check(False, f"{name} is missing the key(s) {', '.join(missing)}")
        return _all([compare(v, actual[k], k, tol) for k, v in expected.items()])
    if isinstance(expected, tuple):
        labels = names if len(names) == len(expected) else tuple(f"{name}[{i}]" for i in range(len(expected)))
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return Check(False, f"{name} should return {len(expected)} values ({', '.join(labels)}); got {describe(actual)}")
        return _all([compare(e, a, label, tol) for e, a, label in zip(expected, actual, labels)])
    return compare_array(np.asarray(expected), actual, name, tol)


def compare_array(expected: np.ndarray, actual: Any, name: str, tol: Tolerance) -> Check:
    if isinstance(actual, (Opaque, tuple, list, dict)) or actual is None:
        return Check(False, f"{name} should be an array of shape {expected.shape}; got {describe(actual)}")
    actual = np.asarray(actual)
    if actual.dtype.kind not in "biuf":
        return Check(False, f"{name} should hold real numbers; got dtype {actual.dtype}")
    if actual.shape != expected.shape:
        return Check(False, f"{name} has shape {actual.shape}, expected {expected.shape}", None, (Wrong(name, expected, actual),))
    err = np.abs(actual.astype(np.float64, copy=False) - expected)
    max_err = float(err.max(initial=0.0))  # NaN or inf when `actual` holds one: `expected` never does
    if not math.isfinite(max_err):
        return Check(False, f"{name} contains NaN or inf (first at index {_index(np.argwhere(~np.isfinite(actual))[0])})")
    bound = tol.bound(expected)
    if max_err <= bound:
        return Check(True, "", max_err)
    at = tuple(np.argwhere(err > bound)[0])
    message = (
        f"{name} is wrong: max abs error {max_err:.3g}; first wrong entry at index {_index(at)}: "
        f"expected {expected[at]:.6g}, got {actual[at]:.6g}"
    )
    return Check(False, message, max_err, (Wrong(name, expected, actual),))


def paired(expected: Any, actual: Any, name: str, names: tuple[str, ...] = ()) -> Iterator[tuple[str, np.ndarray, Any]]:
    """(name, expected, actual) for every output of an answer whose structure matches, named as `compare` names them."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key in actual:
                yield from paired(value, actual[key], key)
    elif isinstance(expected, tuple) and isinstance(actual, (tuple, list)) and len(actual) == len(expected):
        labels = names if len(names) == len(expected) else tuple(f"{name}[{i}]" for i in range(len(expected)))
        for e, a, label in zip(expected, actual, labels):
            yield from paired(e, a, label)
    elif not isinstance(expected, (dict, tuple)):
        yield name, np.asarray(expected), actual


def describe(value: Any) -> str:
    """What a returned value is, in a student's words: 'a tuple of 2 values', 'an array of shape (3,)'."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}" if value.ndim else "a number"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} value{'s' * (len(value) != 1)}"
    if isinstance(value, dict):
        keys = [str(k)[:40] for k in itertools.islice(value, KEYS_SHOWN + 1)]
        more = f", ... ({len(value)} keys)" if len(keys) > KEYS_SHOWN else ""
        return f"a dict with keys {', '.join(keys[:KEYS_SHOWN]) or '(none)'}{more}"
    if value is None:
        return "None (did the function forget to return?)"
    return f"a value of type {value.type_name if isinstance(value, Opaque) else type(value).__name__}"


def _all(checks: list[Check]) -> Check:
    errors = [c.max_abs_err for c in checks if c.max_abs_err is not None]
    failed = [c for c in checks if not c.passed]
    shown = "; ".join(c.message.rstrip(".") for c in failed[:MAX_PARTS_SHOWN])
    return Check(
        not failed,
        shown + (f"; and {len(failed) - MAX_PARTS_SHOWN} more wrong" if len(failed) > MAX_PARTS_SHOWN else ""),
        max(errors) if errors else None,
        tuple(w for c in failed for w in c.wrong),
    )


def _index(at: Any) -> str:
    return str(tuple(int(i) for i in at)) if len(at) else "()"
