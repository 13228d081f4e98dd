"""The self-check bundle: public trials' inputs and expected outputs, handed out with the template.

It holds no solution code and no grading seed, and reading it needs nothing from `reference/`: a
student's machine grades against it with the same comparison and diagnosis as the real grading.
Public trials are drawn from the spec's `public_seed` under the name `public`, apart from every
grading trial (those are drawn from the grading seed and a student id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.inside.wire import decode, encode, pack, unpack
from grader.scoring.example import small_cases
from grader.spec import Assignment, Exercise
from grader.trials import Trial, make_trials

BUNDLE = "selfcheck.bundle"
METADATA = "backprop_grader"  # a student notebook's metadata key: its assignment's name and its cells' hash
PUBLIC = "public"


def public_trials(assignment: Assignment) -> dict[str, list[Trial]]:
    return {e.id: make_trials(e, f"{PUBLIC}:{assignment.public_seed}", PUBLIC) for e in assignment.exercises}


def write_bundle(assignment: Assignment, path: Path) -> Path:
    arrays: dict[str, Any] = {}
    trials = public_trials(assignment)
    exercises = [
        {
            "id": e.id, "function": e.function, "output": e.output, "outputs": list(e.outputs), "points": e.points,
            "rtol": e.rtol, "atol": e.atol, "hints": e.hints, "scoring": e.scoring,
            "trials": [{"args": encode(t.args, arrays), "expected": encode(t.expected, arrays), "batch": t.batch} for t in trials[e.id]],
            "examples": [{"args": encode(t.args, arrays), "expected": encode(t.expected, arrays), "batch": t.batch} for t in small_cases(e)],
        }
        for e in assignment.exercises
    ]
    manifest = {"title": assignment.title, "name": assignment.name, "convention": assignment.convention, "exercises": exercises}
    path.write_bytes(pack(manifest, arrays))
    return path


def read_bundle(path: Path) -> tuple[Assignment, dict[str, list[Trial]], dict[str, list[Trial]]]:
    """The assignment as the bundle describes it (no reference callables), its public trials, and each
    exercise's small cases (`grader.scoring.example`), smallest first (none in a bundle written before them)."""
    try:
        manifest, arrays = unpack(path.read_bytes())
        exercises = tuple(_exercise(e) for e in manifest["exercises"])
        trials = {e["id"]: _trials(e["trials"], arrays) for e in manifest["exercises"]}
        examples = {e["id"]: _trials(e.get("examples", []), arrays) for e in manifest["exercises"]}
    except FileNotFoundError:
        raise FileNotFoundError(f"no self-check bundle at {path}: put the {BUNDLE} your instructor handed out beside your notebook") from None
    except Exception as exc:
        raise ValueError(f"{path} is not a self-check bundle ({type(exc).__name__}: {exc})") from None
    assignment = Assignment(manifest["name"], manifest["title"], manifest["convention"], path.parent, 0, exercises)
    return assignment, trials, examples


def _trials(described: list[dict[str, Any]], arrays: Any) -> list[Trial]:
    return [Trial(i, decode(t["args"], arrays), decode(t["expected"], arrays), t["batch"]) for i, t in enumerate(described)]


def _exercise(e: dict[str, Any]) -> Exercise:
    return Exercise(
        id=e["id"], function=e["function"], args={}, reference=None, reference_name="", output=e["output"],
        reference_output=None, outputs=tuple(e["outputs"]), points=e["points"], trials=len(e["trials"]),
        rtol=e["rtol"], atol=e["atol"], dims={}, hints=e["hints"], scoring=e.get("scoring", "proportional"),
    )

