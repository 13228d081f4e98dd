"""Central finite differences: the slow, obviously-correct route every gradient is checked against."""

from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_jacobian(fn: Callable[..., np.ndarray], inputs: list[np.ndarray], wrt: int, eps: float = 1e-6) -> np.ndarray:
    """∂fn/∂inputs[wrt] in the layout output.shape + input.shape."""
    x = inputs[wrt]
    out_shape = np.shape(fn(*inputs))
    jac = np.zeros(out_shape + x.shape)
    for index in np.ndindex(x.shape):
        plus = [a.copy() for a in inputs]
        minus = [a.copy() for a in inputs]
        plus[wrt][index] += eps
        minus[wrt][index] -= eps
        jac[(Ellipsis,) + index] = (np.asarray(fn(*plus)) - np.asarray(fn(*minus))) / (2 * eps)
    return jac


def contract(grad_out: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """Σ_j dL/d out_j · ∂out_j/∂in: the chain rule done with the explicit Jacobian (Eq. 25)."""
    return np.tensordot(grad_out, jac, axes=grad_out.ndim)
