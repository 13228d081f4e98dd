"""The reference backprop engine: ground-truth gradients and Jacobians for grading (seed 001 §4).

    from reference import linear, relu, sqerr, sigmoid    # row convention, a = hW + b
    from reference import columns                         # column convention, z = Wx + b
    from reference import jacobian, mlp
"""

from reference import columns, mlp
from reference.ops import Op, linear, relu, sigmoid, sqerr
from reference.tape import Tape, Var, jacobian

__all__ = ["Op", "Tape", "Var", "columns", "jacobian", "linear", "mlp", "relu", "sigmoid", "sqerr"]
