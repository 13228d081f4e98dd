"""The class at a glance: `index.html`, built from the results' summaries (scores, statuses and
diagnosis codes), so it costs nothing more than the CSV reports. Plots are drawn with matplotlib
(`pip install -e '.[html]'`) and embedded as inline SVG, so the page opens from disk with nothing
beside it; without matplotlib the page has the same numbers as tables.
"""

from __future__ import annotations

import html
import io
from collections import Counter
from pathlib import Path

from grader.model import ExerciseStatus, RunStatus, SubmissionResult
from grader.reports.base import SummaryReport
from grader.reports.page import page
from grader.scoring.score import percent, points
from grader.spec import Assignment


MISTAKES_SHOWN = 3  # most frequent diagnoses listed per exercise


def index_html(summaries: list[SubmissionResult], assignment: Assignment, seed: int | str) -> str:
    max_total = assignment.max_total
    percents = [100 * r.total / max_total for r in summaries]
    pass_rates = {
        e.id: 100 * sum(1 for r in summaries for x in r.exercises if x.exercise == e.id and x.status == ExerciseStatus.PASSED) / max(1, len(summaries))
        for e in assignment.exercises
    }
    parts = [
        f"<h1>{html.escape(assignment.title)}</h1>",
        f"<p>{len(summaries)} submissions, graded with seed {html.escape(str(seed))}. "
        f"Mean {percent(sum(percents) / max(1, len(percents)), 100)}, full marks: {sum(p == 100 for p in percents)}.</p>",
        "<h2>Scores</h2>",
        _plot_histogram(percents),
        "<h2>Exercises</h2>",
        _plot_pass_rates(pass_rates),
        _exercise_table(summaries, assignment, pass_rates),
        "<h2>Submissions that need a look</h2>",
        _trouble_table(summaries),
        "<h2>Every student</h2>",
        _students_table(summaries, max_total),
    ]
    return page(f"{assignment.title}: class overview", "\n".join(parts))


def _exercise_table(summaries: list[SubmissionResult], assignment: Assignment, pass_rates: dict[str, float]) -> str:
    rows = []
    for e in assignment.exercises:
        codes = Counter(x.diagnosis for r in summaries for x in r.exercises if x.exercise == e.id and x.diagnosis)
        mistakes = ", ".join(f"{html.escape(code)} ({count})" for code, count in codes.most_common(MISTAKES_SHOWN)) or "—"
        rows.append(f"<tr><td>{html.escape(e.id)}</td><td>{pass_rates[e.id]:.0f}%</td><td>{mistakes}</td></tr>")
    return "<table><tr><th>exercise</th><th>passed by</th><th>most frequent diagnosed mistakes (count)</th></tr>" + "".join(rows) + "</table>"


def _trouble_table(summaries: list[SubmissionResult]) -> str:
    rows = []
    for r in summaries:
        timeouts = [x.exercise for x in r.exercises if x.status == ExerciseStatus.TIMEOUT]
        if r.status != RunStatus.OK or timeouts:
            what = r.message if r.status != RunStatus.OK else f"timed out in {', '.join(timeouts)}"
            rows.append(f"<tr><td>{_link(r.student_id)}</td><td class='bad'>{html.escape(r.status)}</td><td>{html.escape(what)}</td></tr>")
    if not rows:
        return "<p>None: every notebook ran, and no function ran past its time limit.</p>"
    return "<table><tr><th>student</th><th>status</th><th>what happened</th></tr>" + "".join(rows) + "</table>"


def _students_table(summaries: list[SubmissionResult], max_total: float) -> str:
    rows = [
        f"<tr><td>{_link(r.student_id)}</td><td>{points(r.total)} / {points(max_total)}</td><td>{html.escape(r.status)}</td>"
        f"<td>{_link(r.student_id, '.notebook.html', 'notebook') if r.notebook else ''}</td></tr>"
        for r in summaries
    ]
    return "<table><tr><th>student</th><th>score</th><th>status</th><th>with feedback</th></tr>" + "".join(rows) + "</table>"


def _link(student_id: str, suffix: str = ".html", shown: str | None = None) -> str:
    from urllib.parse import quote

    return f"<a href='feedback/{quote(student_id)}{suffix}'>{html.escape(student_id if shown is None else shown)}</a>"


def _figure(draw, caption: str) -> str:  # type: ignore[no-untyped-def]
    """An inline SVG drawn by `draw(axes)`, or nothing without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        return "<p><em>(install the html extra, matplotlib, for plots)</em></p>"
    matplotlib.rcParams["svg.hashsalt"] = "backprop-grader"  # the same ids on every run: reports reproduce
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, and drawn much faster
    figure = Figure(figsize=(7, 3))
    draw(figure.add_subplot())
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return f"<figure>{svg[svg.index('<svg'):]}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _plot_histogram(percents: list[float]) -> str:
    def draw(axes) -> None:  # type: ignore[no-untyped-def]
        from matplotlib.ticker import MaxNLocator

        axes.hist(percents, bins=[i * 10 for i in range(11)], color="#4c72b0", edgecolor="white")
        axes.set_xlabel("score (%)")
        axes.set_ylabel("students")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))

    return _figure(draw, "Distribution of scores")


def _plot_pass_rates(pass_rates: dict[str, float]) -> str:
    def draw(axes) -> None:  # type: ignore[no-untyped-def]
        axes.barh(list(pass_rates)[::-1], list(pass_rates.values())[::-1], color="#55a868")
        axes.set_xlim(0, 100)
        axes.set_xlabel("students who passed every trial (%)")
        axes.tick_params(axis="y", labelsize=7)

    return _figure(draw, "Pass rate per exercise")


class Overview(SummaryReport):
    names = ("index.html",)

    def write(self, staging: Path, summaries: list[SubmissionResult], assignment: Assignment, seed: int | str) -> None:
        (staging / "index.html").write_text(index_html(summaries, assignment, seed), encoding="utf-8")
