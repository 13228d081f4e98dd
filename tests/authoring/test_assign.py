"""The instructor's workflow: solution → student version and bundle, then validate."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from grader.authoring.assign import AssignError, assign, strip_solutions
from grader.authoring.bundle import BUNDLE
from grader.authoring.validate import validate
from grader.spec import ASSIGNMENTS, load


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "backprop"
    shutil.copytree(ASSIGNMENTS / "backprop", target)
    return target


def test_solution_regions_become_placeholders_at_their_indentation():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\ny = 1"
    assert strip_solutions(source) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\ny = 1"


@pytest.mark.parametrize(
    "source, words",
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without ### BEGIN SOLUTION"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ],
)
def test_bad_markup_is_refused_with_the_line(source, words):
    with pytest.raises(AssignError) as info:
        strip_solutions(source, "cell 3")
    assert words in str(info.value) and "cell 3" in str(info.value)


def test_assign_writes_template_and_bundle_and_the_shipped_ones_are_current(folder):
    shipped = (folder / "student.ipynb").read_text()
    (folder / "student.ipynb").unlink()
    (folder / BUNDLE).unlink()
    student, bundle, handout = assign(folder)
    assert student.read_text() == shipped
    assert bundle.exists()
    nb = nbformat.read(student, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "h @ W + b" not in text and text.count("raise NotImplementedError()") == 11


def test_assign_refuses_to_overwrite_a_hand_edited_template_without_force(folder):
    nb = nbformat.read(folder / "student.ipynb", as_version=4)
    nb.cells[0].source += "\n\nA note the instructor added by hand."
    nbformat.write(nb, folder / "student.ipynb")
    with pytest.raises(AssignError) as info:
        assign(folder)
    assert "changed by hand" in str(info.value) and "--force" in str(info.value)
    assert "added by hand" in (folder / "student.ipynb").read_text()
    assign(folder, force=True)
    assert "added by hand" not in (folder / "student.ipynb").read_text()


@pytest.mark.parametrize("name", ["backprop", "backprop-columns"])
def test_shipped_assignments_validate(name):
    assert validate(load(name), timeout=10) == []


def test_validate_lists_every_problem(folder):
    nb = nbformat.read(folder / "solution.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("def sqerr_backward(f, y):\n    return f - y, f - y"))
    nbformat.write(nb, folder / "solution.ipynb")
    (folder / BUNDLE).unlink()
    problems = validate(load(folder), timeout=10)
    assert any("solution.ipynb, seed 0: sqerr_backward scored 0/1" in p for p in problems)
    assert any("student.ipynb differs" in p for p in problems)
    assert any("no self-check bundle" in p for p in problems)


def test_validate_catches_a_template_that_does_more_than_raise(folder):
    nb = nbformat.read(folder / "student.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("def relu_forward(a):\n    return a"))
    nbformat.write(nb, folder / "student.ipynb")
    problems = validate(load(folder), timeout=10)
    assert any("student.ipynb: relu_forward should fail only with NotImplementedError" in p for p in problems)


def test_validate_catches_inconsistent_argument_shapes(folder):
    spec = (folder / "assignment.toml").read_text().replace('W = "normal(n_in, n_out)", b = "normal(n_out)" }\noutputs = ["a"]', 'W = "normal(n_out, n_in)", b = "normal(n_out)" }\noutputs = ["a"]')
    (folder / "assignment.toml").write_text(spec)
    problems = validate(load(folder))
    assert len(problems) == 1 and "exercise linear_forward: its reference reference:linear.forward raised ValueError" in problems[0]
    assert "W has shape" in problems[0] and "on arguments h=" in problems[0]
    assert 'reference/ops.py", line' in problems[0] and "grader/" not in problems[0]  # the reference's own frames, not the grader's


def test_a_new_exercise_needs_only_a_reference_op_and_a_few_lines_of_spec(tmp_path):
    """Seed 002's sigmoid, graded through the same grader with no grader code added."""
    from grader.model import Options
    from grader.run import grade_all
    from notebooks import notebook

    right = "import numpy as np\ndef sigmoid_backward(dL_dh, a):\n    s = 1 / (1 + np.exp(-a))\n    return dL_dh * s * (1 - s)\n" \
            "def sigmoid_jacobian(a):\n    s = 1 / (1 + np.exp(-a))\n    return np.diag(s * (1 - s))"
    wrong = "import numpy as np\ndef sigmoid_backward(dL_dh, a):\n    s = 1 / (1 + np.exp(-a))\n    return dL_dh * s"
    notebook(tmp_path / "subs" / "ada.ipynb", right)
    notebook(tmp_path / "subs" / "bea.ipynb", wrong)
    spec = load(Path(__file__).parent.parent / "assignments" / "sigmoid")
    results = {r.student_id: r for r in grade_all(tmp_path / "subs", spec, Options(seed=1, jobs=2))}
    assert results["ada"].total == 2
    bea = {e.exercise: e for e in results["bea"].exercises}
    assert bea["sigmoid_backward"].score == 0 and bea["sigmoid_jacobian"].status == "missing"
