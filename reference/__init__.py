"""The reference backprop engine: ground-truth gradients and Jacobians for grading (seed 001 §4).

    from reference import linear, relu, sqerr, sigmoid    # row convention, a = hW + b
    from reference import tanh, mse, softmax, log_softmax, softmax_cross_entropy, softmax_cross_entropy_onehot
    from reference import columns                         # column convention, z = Wx + b
    from reference import jacobian, mlp
"""

from reference import columns, mlp
from reference.ops import Op, linear, mse, relu, sigmoid, sqerr, tanh
from reference.softmax import log_softmax, softmax, softmax_cross_entropy, softmax_cross_entropy_onehot
from reference.tape import Tape, Var, jacobian

__all__ = ["Op", "Tape", "Var", "columns", "jacobian", "linear", "log_softmax", "mlp", "mse", "relu", "sigmoid", "softmax",
           "softmax_cross_entropy", "softmax_cross_entropy_onehot", "sqerr", "tanh"]
