"""Trial inputs: shapes drawn from the spec's symbolic dimensions, values drawn as float64 normals.

Every trial's inputs derive from (seed, student id, exercise, trial), so each student gets different
inputs and a rerun gets the same ones. Over an exercise's trials the plan always includes size-1
dimensions (trial k sets the k-th dimension that may be 1 to 1) and keeps the other dimensions
distinct from each other, so W is never square by accident and a transpose cannot pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.spec import Args, Exercise

BATCH = "B"  # the dimension that is a batch axis, when an exercise uses it (seed 003)
KINK_MARGIN = 0.1  # `nonzero` inputs keep this far from 0, where relu's Θ(0) convention would matter


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


def rng_for(seed: int | str, student_id: str, exercise: str, trial: int, bits: np.random.PCG64 | None = None) -> np.random.Generator:
    """A generator whose whole PCG64 state is a hash of (seed, student, exercise, trial): setting the
    state of a reused bit generator is ten times cheaper than seeding a new one."""
    digest = hashlib.sha256("\0".join(map(str, (seed, student_id, exercise, trial))).encode()).digest()
    bits = bits or np.random.PCG64(0)
    state = {"state": int.from_bytes(digest[:16], "big"), "inc": int.from_bytes(digest[16:], "big") | 1}
    bits.state = {"bit_generator": "PCG64", "state": state, "has_uint32": 0, "uinteger": 0}
    return np.random.Generator(bits)


def make_trials(exercise: Exercise, seed: int | str, student_id: str) -> list[Trial]:
    """The trials of one exercise for one student, with the reference's answers."""
    trials = []
    bits = np.random.PCG64(0)  # reseeded for every trial; used by one trial at a time
    for index in range(exercise.trials):
        rng = rng_for(seed, student_id, exercise.id, index, bits)
        dims = draw_dims(exercise, index, rng)
        args = _draw(exercise.args, dims, index, rng)
        batched = any(a.dim == BATCH and (not a.optional or index % 2 == 1) for a in exercise.axes)
        trials.append(Trial(index, args, exercise.expected(args), dims[BATCH] if batched else None))
    return trials


def draw_dims(exercise: Exercise, trial: int, rng: np.random.Generator) -> dict[str, int]:
    """Trial k sets the k-th dimension that may be 1 to 1; every other dimension gets a size of its
    own range that no other one has (while the ranges allow), drawn uniformly in turn."""
    can_be_one = [s for s in exercise.symbols if exercise.dims[s][0] == 1]
    forced = can_be_one[trial] if trial < len(can_be_one) else None
    sizes = {forced: 1} if forced else {}
    free = [s for s in exercise.symbols if s != forced]
    for symbol, u in zip(free, rng.random(len(free)).tolist()):
        low, high = exercise.dims[symbol]
        sizes_here = range(min(max(low, 2 if forced else 1), high), high + 1)
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
        values = rng.standard_normal(shape)
        out[name] = np.sign(values) * (np.abs(values) + KINK_MARGIN) if arg.distribution == "nonzero" else values
    return out


def flat(args: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested argument dicts as (dotted name, value) pairs: params.W1."""
    items: list[tuple[str, Any]] = []
    for name, value in args.items():
        if isinstance(value, dict):
            items += flat(value, f"{prefix}{name}.")
        else:
            items.append((prefix + name, value))
    return items
