"""Grading a class: an assignment file, a folder of hand files, points and feedback (``symback grade``).

A consumer of `symback.check` (check never imports it). The modules:
`assignment` (the TOML file, validated), `submissions` (finding and safely
reading each submission), `score` (one submission's text -> an `Outcome`:
points per asked quantity, with check's counterexample and likely cause),
`pool` (worker processes with a per-submission time limit), `feedback` (the
Markdown feedback, the CSV/JSON summary, Gradescope's and PrairieLearn's
``results.json``).

The derivation is built once: in the parent, which validates the assignment
with it, and so in every worker forked from it (a worker started otherwise
builds it in its initializer). Refused submissions never reach a worker.
"""

from __future__ import annotations

import re

from ..errors import SymbackError
from .assignment import Assignment, load
from .pool import Stopped, default_method, run
from .score import FAILED, REFUSED, TIMED_OUT, Grader, Outcome, refused
from .submissions import Refused, collect, read

_GRADER: Grader | None = None


def _init(assignment: Assignment, build) -> None:
    """A worker's initializer: the grader for `assignment` (inherited from a forking parent, else built)."""
    global _GRADER
    if _GRADER is None or _GRADER.assignment != assignment:
        _GRADER = Grader(assignment, build(assignment.spec))


def _grade(name: str, text: str) -> Outcome:
    """One submission in a worker; whatever its text does, an `Outcome` (never an exception)."""
    try:
        return _GRADER.grade(name, text)
    except RecursionError:
        return refused(name, REFUSED, "a formula is nested too deeply to check; write it out more simply",
                       _GRADER.assignment)
    except Exception as exc:  # noqa: BLE001 - a bad submission (SymbackError) or a bug: 0 for it, the batch goes on
        why = re.sub(r"^hand formulas\b", name, " ".join(str(exc).split()))  # check's name for a text it was given
        return refused(name, REFUSED, why or type(exc).__name__, _GRADER.assignment)


def prepare(assignment: Assignment, derivation) -> Grader:
    """The grader, built once in this process and inherited by forked workers; validates the quantities."""
    global _GRADER
    _GRADER = Grader(assignment, derivation)
    return _GRADER


def grade_all(grader: Grader, submissions, one: bool = False, jobs: int = 1, build=None,
              method: str | None = None) -> list[Outcome]:
    """Every submission under `submissions` graded, sorted by name; hostile ones score 0 with a message.

    Forked workers inherit `grader`; workers started otherwise (`method` 'spawn' or 'forkserver') build the
    derivation with ``build(spec)``.
    """
    a = grader.assignment
    if build is None and (method or default_method()) != "fork":
        raise SymbackError("grade_all: workers that are not forked build the derivation: pass build=, a function "
                           "from the SPEC to its Derivation")
    outcomes: dict[str, Outcome] = {}
    tasks = []
    for name, path in collect(submissions, one):
        try:
            tasks.append((name, read(path, a.file, a.max_bytes)))
        except (Refused, OSError) as exc:
            why = str(exc) if isinstance(exc, Refused) else f"{name} cannot be read ({exc.strerror or exc})"
            outcomes[name] = refused(name, REFUSED, why, a)
    if tasks:
        tasks.sort(key=lambda t: -len(t[1]))  # the longest first: a slow one runs beside the rest, not after them
        done = run(_grade, tasks, a.time_limit, jobs, _init, (a, build), method)
        for (name, _), result in zip(tasks, done):
            if isinstance(result, Stopped):
                why = (f"checking it took longer than this assignment's limit of {a.time_limit:g} s and was stopped; "
                       "write each formula out simply" if result.timed_out
                       else "the grader stopped while checking it (out of memory?); it scores 0")
                result = refused(name, TIMED_OUT if result.timed_out else FAILED, why, a)
            outcomes[name] = result
    return [outcomes[name] for name in sorted(outcomes)]


__all__ = ["Assignment", "Grader", "Outcome", "grade_all", "load", "prepare"]
