"""The tape: the forward pass records each operation, the backward pass walks the record in reverse.

This is the algorithm that closes seed 001 §4.2: (1) run the forward pass, recording the order of and
outputs from all operations; (2) run the backward pass, calling each operation's `backward` (a
vector-Jacobian product) in reverse order, so that the gradient each step needs was made by the step
before it (Eq. 30).
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

if TYPE_CHECKING:
    from reference.ops import Op


@dataclass(eq=False)
class Var:
    """A value living on a tape; ops called on a Var record themselves instead of just computing."""

    value: np.ndarray
    tape: Tape


@dataclass(frozen=True)
class Record:
    """One recorded operation: which op, on which inputs (Vars or constant data), giving which output."""

    op: Op
    inputs: tuple[object, ...]
    output: Var


@dataclass
class Tape:
    """The record of a forward pass, in the order the operations ran."""

    records: list[Record] = field(default_factory=list)

    def var(self, value: object) -> Var:
        """A new input to differentiate with respect to."""
        return Var(np.asarray(value, dtype=np.float64), self)

    def record(self, op: Op, inputs: tuple[object, ...]) -> Var:
        """Run `op.forward` on the values of `inputs` and remember that it ran."""
        output = Var(op.forward(*_values(inputs)), self)
        self.records.append(Record(op, inputs, output))
        return output

    def backward(self, output: Var, grad: np.ndarray | None = None) -> dict[Var, np.ndarray]:
        """dL/dv for every Var v that `output` depends on, where dL/d(output) = `grad` (1 for a scalar loss).

        Gradients of data (plain arrays among the inputs) are computed by the ops and thrown away, as
        seed 001 does with dL/dx and dL/dy.
        """
        grads = {output: np.ones_like(output.value) if grad is None else np.asarray(grad, dtype=np.float64)}
        for record in reversed(self.records):
            upstream = grads.get(record.output)
            if upstream is None:
                continue
            vjp = _replaced.get().get(record.op.name, record.op.vjp)
            for source, grad_in in zip(record.inputs, vjp(upstream, *_values(record.inputs))):
                if isinstance(source, Var):
                    grads[source] = grads[source] + grad_in if source in grads else grad_in
        return grads


_replaced: ContextVar[dict[str, Callable[..., tuple[np.ndarray, ...]]]] = ContextVar("replaced", default={})


@contextlib.contextmanager
def replaced(op_name: str, vjp: Callable[..., tuple[np.ndarray, ...]]) -> Iterator[None]:
    """Within this block, backward passes use `vjp(grad_out, *inputs)` for every op named `op_name`:
    the gradients a network would get from a mistaken backward of that op (a grader asks, to draw
    inputs on which such a network's answer differs from the right one)."""
    token = _replaced.set({**_replaced.get(), op_name: vjp})
    try:
        yield
    finally:
        _replaced.reset(token)


def jacobian(fn: Callable[..., Var], *inputs: object) -> np.ndarray | tuple[np.ndarray, ...]:
    """Full Jacobians of `fn` at `inputs`, built row by row from VJPs with one-hot output gradients.

    Layout `output.shape + input.shape` (as torch.autograd.functional.jacobian); one array for one
    input, a tuple otherwise. An independent route to the closed forms in `Op.jacobian`.
    """
    tape = Tape()
    variables = [tape.var(x) for x in inputs]
    output = fn(*variables)
    if not isinstance(output, Var) or output.tape is not tape:
        raise ValueError("jacobian: fn must compute its output from its inputs with reference ops")
    out_shape = output.value.shape
    jacobians = [np.zeros(out_shape + v.value.shape) for v in variables]
    for index in np.ndindex(out_shape):
        one_hot = np.zeros(out_shape)
        one_hot[index] = 1.0
        grads = tape.backward(output, one_hot)
        for jac, v in zip(jacobians, variables):
            if v in grads:
                jac[index] = grads[v]
    return jacobians[0] if len(jacobians) == 1 else tuple(jacobians)


def _values(inputs: tuple[object, ...]) -> list[object]:
    return [x.value if isinstance(x, Var) else x for x in inputs]
