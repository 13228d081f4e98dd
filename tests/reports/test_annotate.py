"""`grader run --notebooks`: each student's own notebook returned with what each cell printed and,
under the cell that (last) defines a graded function, a feedback cell per exercise; written as .ipynb
and rendered to HTML by nbconvert, sanitised; linked from the class overview."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from notebooks import notebook


@pytest.fixture(scope="module")
def returned(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("annotate")
    notebook(root / "subs" / "ada.ipynb", "print('hello from ada')")
    path = notebook(root / "subs" / "bob.ipynb",
                    "print('<script>alert(1)</script> **bold**')",
                    "def relu_backward(dL_dh, a):\n    return (a > 0).astype(float)",
                    "raise ValueError('<b>not bold</b>')")
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, new_markdown_cell("<img src=x onerror=alert(2)> a student's own markdown"))
    nbformat.write(nb, path)
    notebook(root / "plain" / "cyd.ipynb")
    done = subprocess.run([sys.executable, "-m", "grader.cli", "run", "subs", "--seed", "4", "--notebooks", "--out", "reports"],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    plain = subprocess.run([sys.executable, "-m", "grader.cli", "run", "plain", "--seed", "4", "--out", "plain-reports"],
                           cwd=root, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    return root


def test_each_cell_has_its_output_and_each_graded_function_its_feedback(returned):
    nb = nbformat.read(returned / "reports" / "feedback" / "bob.ipynb", as_version=4)
    feedback = [c.source for c in nb.cells if c.metadata.get("backprop_grader")]
    assert feedback[0].startswith("**Backprop by hand: feedback for bob") and len(feedback) == 1 + 14
    wrong = next(i for i, c in enumerate(nb.cells) if c.source == "def relu_backward(dL_dh, a):\n    return (a > 0).astype(float)")
    assert "✗ **relu_backward**: 0 / 1" in nb.cells[wrong + 1].source and "step function" in nb.cells[wrong + 1].source
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "def relu_backward" in c.source and i != wrong)
    following = []  # the cells between the solution's relu_backward and the next code cell
    for cell in nb.cells[first + 1 :]:
        if cell.cell_type == "code":
            break
        following.append(cell.source)
    assert first < wrong and not any("relu_backward" in source for source in following)  # the last definition counts
    outputs = {c.source: "".join(o.get("text", "") for o in c.outputs) for c in nb.cells if c.cell_type == "code"}
    assert outputs["print('<script>alert(1)</script> **bold**')"] == "<script>alert(1)</script> **bold**\n"
    assert "ValueError: <b>not bold</b>" in outputs["raise ValueError('<b>not bold</b>')"]


def test_the_html_is_rendered_by_nbconvert_and_shows_student_text_as_text(returned):
    page = (returned / "reports" / "feedback" / "bob.notebook.html").read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page and "<b>not bold</b>" not in page  # a student's HTML, sanitised to text
    assert "relu_backward" in page and "jp-Notebook" in page  # nbconvert's lab template


def test_the_overview_links_each_returned_notebook_and_nothing_is_returned_without_the_option(returned):
    index = (returned / "reports" / "index.html").read_text()
    assert "href='feedback/ada.notebook.html'" in index and "href='feedback/bob.notebook.html'" in index
    assert sorted(p.name for p in (returned / "plain-reports" / "feedback").iterdir()) == ["cyd.html", "cyd.md"]
    assert "notebook.html" not in (returned / "plain-reports" / "index.html").read_text()


def test_the_returned_notebook_is_the_same_file_on_a_regrade_and_stays_valid_in_its_own_format(returned):
    first = (returned / "reports" / "feedback" / "bob.ipynb").read_bytes()
    nb = nbformat.read(returned / "subs" / "ada.ipynb", as_version=4)
    nb.nbformat_minor = 4  # cells of nbformat 4.4 have no id
    for cell in nb.cells:
        cell.pop("id", None)
    nbformat.write(nb, returned / "subs" / "ada.ipynb")
    again = subprocess.run([sys.executable, "-m", "grader.cli", "run", "subs", "--seed", "4", "--notebooks", "--fresh", "--out", "again"],
                           cwd=returned, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (returned / "again" / "feedback" / "bob.ipynb").read_bytes() == first
    old = nbformat.read(returned / "again" / "feedback" / "ada.ipynb", as_version=nbformat.NO_CONVERT)
    assert old.nbformat_minor == 4 and any(c.metadata.get("backprop_grader") for c in old.cells)
    nbformat.validate(old)  # no cell id in a 4.4 notebook
    assert all(c.cell_type != "markdown" or "id" not in c for c in old.cells)
