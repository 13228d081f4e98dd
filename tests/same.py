"""Reports compared across runs: text exactly, the numbers in it within a tolerance.

Floats computed with BLAS (the reference's answers, the errors in the reports) may differ in their
last bits between machines, kernels and processes: no test compares them bit for bit.
"""

from __future__ import annotations

import math
import re

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def same_text(a: str, b: str, rel: float = 1e-6, abs_: float = 1e-9) -> bool:
    """Equal but for numbers, which may differ by `rel` (or `abs_` near 0)."""
    if NUMBER.split(a) != NUMBER.split(b):
        return False
    x, y = NUMBER.findall(a), NUMBER.findall(b)
    return len(x) == len(y) and all(p == q or math.isclose(float(p), float(q), rel_tol=rel, abs_tol=abs_) for p, q in zip(x, y))


def assert_same_reports(a: dict[str, bytes], b: dict[str, bytes]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert same_text(a[name].decode(), b[name].decode()), name
