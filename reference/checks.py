"""Input validation shared by the ops: every bad input names the argument and the shapes involved."""

from __future__ import annotations

import numpy as np


def as_array(op: str, name: str, value: object) -> np.ndarray:
    """`value` as a float64 array, or a ValueError that says which argument of `op` is not numeric."""
    if type(value) is np.ndarray and value.dtype == np.float64:  # the common case, met dozens of times a pass
        return value
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{op}: {name} must be a numeric array, got {type(value).__name__} ({exc})") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{op}: {name} must be a numeric array, got dtype {array.dtype} with shape {array.shape}")
    return array.astype(np.float64, copy=False)


def same_shape(op: str, name: str, value: np.ndarray, other: str, shape: tuple[int, ...]) -> None:
    """Raise unless `value` has exactly `shape` (the shape `other` implies)."""
    if value.shape != shape:
        raise ValueError(f"{op}: {name} has shape {value.shape} but {other} needs {shape}")
