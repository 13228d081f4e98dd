"""backprop-grader: grades backpropagation notebooks against a reference backprop engine.

Students: `from grader import check`, then `check(linear_backward)` in the notebook.
"""

from grader.selfcheck import check

__all__ = ["check"]
