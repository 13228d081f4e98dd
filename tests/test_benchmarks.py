"""The benchmark scripts whose numbers the README quotes still run, and print what it quotes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks and reads wait4's page faults")
def test_steps_times_every_step_of_a_notebooks_forked_process(tmp_path: Path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "steps.py"), "--children", "3"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {m[1]: (float(m[2]), int(m[3])) for m in re.finditer(r"^(\w+)\s+([\d.]+)\s+(\d+)\s+[+-][\d.]+\s+[+-]\d+$", done.stdout, re.M)}
    assert list(rows) == ["fork", "read", "limits", "exec", "cells", "calls"]
    assert all(cpu > 0 and pages > 0 for cpu, pages in rows.values())
    assert rows["calls"][1] > rows["cells"][1] > rows["limits"][1] > rows["fork"][1]  # each step touches more pages than the one before


def test_bench_prints_the_grader_the_baseline_and_the_floor(tmp_path: Path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "bench.py"), "--sizes", "2", "--baseline-sample", "1", "--jobs", "1"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    row = done.stdout.splitlines()[-1].split()
    n, seconds, rate, baseline, ratio, floor, share, peak = row
    assert n == "2" and float(seconds) > 0 and float(baseline) > 0 and float(floor) > 0 and int(peak) > 0
    assert abs(float(rate) - 2 / float(seconds)) < 0.1 and share.endswith("%")
