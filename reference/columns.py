"""The column-vector convention of seeds 000 and 004: z = Wx + b, ∂J/∂W = δxᵀ.

Here W is (n_out, n_in), x is (n_in,) or, for a batch, (n_in, B) with one datapoint per column.
Every array is the transpose of its row-convention twin (z = Wx + b ⇔ zᵀ = xᵀWᵀ + bᵀ), so this op
delegates to `reference.ops.linear` and transposes; a Jacobian transposes by reversing its output
axes and its input axes. The elementwise ops and sqerr do not depend on the convention and are
re-exported, so `reference.columns` is a complete namespace for a column-convention assignment.
"""

from __future__ import annotations

import numpy as np

from reference.checks import as_array
from reference.ops import Arrays, Op, linear as row_linear, relu, sigmoid, sqerr
from reference.tape import Tape

__all__ = ["linear", "relu", "sigmoid", "sqerr", "two_layer_loss_and_grads"]


class ColumnLinear(Op):
    """linear(x, W, b) = Wx + b."""

    name = "linear (columns)"

    def _transposed(self, x: object, W: object, b: object) -> Arrays:
        x, W, b = (as_array(self.name, n, v) for n, v in (("x", x), ("W", W), ("b", b)))
        if W.ndim != 2 or x.ndim not in (1, 2) or x.shape[0] != W.shape[-1] or b.shape != W.shape[:1]:
            raise ValueError(
                f"{self.name}: x has shape {x.shape}, W {W.shape}, b {b.shape}; need W (n_out, n_in), "
                "x (n_in,) or (n_in, B), b (n_out,)"
            )
        return x.T, W.T, b

    def forward(self, x: object, W: object, b: object) -> np.ndarray:
        return row_linear.forward(*self._transposed(x, W, b)).T

    def vjp(self, dL_dz: object, x: object, W: object, b: object) -> Arrays:
        """dL/dx = Wᵀδ, dL/dW = δxᵀ, dL/db = δ (summed over the batch's columns), with δ = dL/dz."""
        dL_dz = as_array(self.name, "dL_dz", dL_dz)
        return tuple(g.T for g in row_linear.vjp(dL_dz.T, *self._transposed(x, W, b)))

    def jacobian(self, x: object, W: object, b: object) -> Arrays:
        """∂z_j/∂x_α = W_jα, ∂z_j/∂W_βα = δ_jβ x_α, ∂z_j/∂b_α = δ_jα (with a δ over the batch)."""
        inputs = self._transposed(x, W, b)
        out_ndim = inputs[0].ndim
        return tuple(
            _reverse_axes(jac, out_ndim, arg.ndim) for jac, arg in zip(row_linear.jacobian(*inputs), inputs)
        )


def _reverse_axes(jac: np.ndarray, out_ndim: int, in_ndim: int) -> np.ndarray:
    """The Jacobian of transposed output w.r.t. transposed input: reverse each group of axes."""
    out_axes = list(range(out_ndim))[::-1]
    in_axes = list(range(out_ndim, out_ndim + in_ndim))[::-1]
    return jac.transpose(out_axes + in_axes)


linear = ColumnLinear()


def two_layer_loss_and_grads(x: object, y: object, params: dict[str, object]) -> tuple[float, dict[str, np.ndarray]]:
    """Seed 004's two-layer network, z1 = W1 x + b1, a = relu(z1), o = W2 a + b2, J = ½ Σ (y − o)²,
    recorded on a tape and walked back: δ2 = o − y, ∂J/∂W2 = δ2 aᵀ, δ1 = W2ᵀ δ2 ⊙ relu'(z1), ∂J/∂W1 = δ1 xᵀ."""
    names = ("W1", "b1", "W2", "b2")
    missing = [k for k in names if k not in params]
    if missing:
        raise ValueError(f"two-layer network: params is missing {', '.join(missing)} (needs {', '.join(names)})")
    tape = Tape()
    p = {k: tape.var(params[k]) for k in names}
    loss = sqerr(linear(relu(linear(x, p["W1"], p["b1"])), p["W2"], p["b2"]), y)
    grads = tape.backward(loss)
    return float(loss.value), {k: grads[v] for k, v in p.items()}
