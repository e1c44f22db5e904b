"""Grading one submission's text: `symback check` on it, then points per quantity the assignment asks.

`Grader` holds the assignment and its one `Derivation` (built once per
process). ``grade(name, text)`` checks the text with ``Derivation.check``; a
line check cannot read (a typo, an unknown name) is set aside with its message
(and costs the assignment's penalty) and the rest is checked again, so one bad
line never loses the others. A line answers an asked quantity when it names it
in any spelling the notation accepts: ``dJ/dz^[2]`` answers ``delta^[2]``
(check itself decides: a hand line ``L = Q`` is circular exactly when L and Q
are one quantity). The text is data: only check's safe parser reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..check.report import DIFFERENT, EQUAL, UNDECIDED
from ..errors import SymbackError
from .assignment import Assignment, where

MISSING, UNREADABLE = "missing", "unreadable"
#: what a submission's status says: it was graded, or it scored 0 before any line was checked
GRADED, REFUSED, TIMED_OUT, FAILED = "graded", "refused", "timed out", "failed"
#: check's message for a line: "<where>:<line>: <what>"
_AT_LINE = re.compile(r"^[^:\n]*:(\d+): (.*)$", re.DOTALL)
#: a left side picking components, as check's names spell them (not a superscript's ^[2])
_COMPONENT = re.compile(r".*[^^]\[\d+(\.\.\d+)?\]")


@dataclass
class Line:
    """One hand line as check judged it, with check's notes (counterexample, likely cause, reason)."""

    number: int
    text: str
    status: str
    notes: list = field(default_factory=list)


@dataclass
class Mark:
    """The points one asked quantity earned, and why."""

    name: str
    points: float
    max_points: float
    verdict: str  # equal, different, undecided, missing, unreadable
    lines: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.verdict == EQUAL


@dataclass
class Outcome:
    """A submission's grade: its marks, the lines nobody could read, and the total."""

    name: str
    status: str
    score: float
    max_points: float
    message: str = ""
    marks: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)  # Line(number, text, UNREADABLE, [message])
    others: list = field(default_factory=list)  # lines naming no asked quantity (not graded)
    deducted: float = 0.0  # the penalty for the unreadable lines


def notes(result) -> list[str]:
    """check's explanation of one result, as lines (the text report's notes)."""
    out = result.counterexample.lines() if result.counterexample else []
    if result.cause:
        out.append(f"likely cause: {result.cause.message}")
    if result.reason:
        out.append(f"could not decide: {result.reason}")
    return out


class Grader:
    """An assignment with its derivation: ``grade(name, text)`` -> `Outcome`."""

    def __init__(self, assignment: Assignment, derivation):
        self.assignment, self.derivation = assignment, derivation
        self._answers: dict[str, str | None] = {}  # a written left side -> the asked quantity it names
        for i, q in enumerate(assignment.quantities):  # every asked name must be a quantity of the network
            try:
                self._check(f"{q.name} = {q.name}\n")
            except SymbackError as exc:
                reason = _AT_LINE.sub(r"\2", str(exc))
                raise SymbackError(f"{where(assignment, 'name', i)}: quantity {q.name!r}: {reason}") from None
            self._answers[q.name] = q.name
        # the LaTeX parser loads on first use (0.2-0.5 s): here, once, so that forked workers inherit it loaded
        self._check(f"{assignment.quantities[0].name} = $0$\n")

    def _check(self, text: str):
        a = self.assignment
        return self.derivation.check(text, notation=a.notation, layout=a.layout, target=a.spec)

    def answers(self, lhs: str) -> str | None:
        """The asked quantity a written left side names, or None (cached: students write few spellings)."""
        if lhs not in self._answers:
            asked = [q.name for q in self.assignment.quantities]
            try:  # a component (f_3[2], dJ/dW^[1][1..2]) never answers the whole quantity
                results = [] if _COMPONENT.fullmatch(lhs.replace(" ", "")) else \
                    self._check("".join(f"{lhs} = {name}\n" for name in asked)).results
            except SymbackError:
                results = []
            self._answers[lhs] = next((n for n, r in zip(asked, results) if r.status == UNDECIDED), None)
        return self._answers[lhs]

    def report(self, text: str):
        """check's report on `text`, with the lines it cannot read blanked out: (report or None, unreadable)."""
        lines, unreadable = text.splitlines(), []
        while True:
            try:
                return self._check("\n".join(lines) + "\n"), unreadable  # "\n": always text, never a path
            except SymbackError as exc:
                m = _AT_LINE.match(str(exc))
                n = int(m.group(1)) if m else 0
                if not 1 <= n <= len(lines) or not lines[n - 1].strip():
                    if unreadable:  # every line was set aside: nothing left to check
                        return None, unreadable
                    raise
                unreadable.append(Line(n, lines[n - 1].strip(), UNREADABLE, [m.group(2)]))
                lines[n - 1] = ""

    def grade(self, name: str, text: str) -> Outcome:
        a = self.assignment
        report, unreadable = self.report(text)
        by_quantity: dict[str, list[Line]] = {q.name: [] for q in a.quantities}
        others = []
        for r in report.results if report else []:
            line = Line(r.line, f"{r.lhs} = {r.rhs}", r.status, notes(r))
            asked = self.answers(r.lhs)
            (by_quantity[asked] if asked else others).append(line)
        marks = [self._mark(q, by_quantity[q.name], unreadable) for q in a.quantities]
        deducted = a.penalty * len(unreadable)
        earned = max(0.0, min(a.total, sum(m.points for m in marks)) - deducted)
        return Outcome(name, GRADED, earned, a.total, marks=marks, unreadable=unreadable, others=others,
                       deducted=deducted)

    @staticmethod
    def _mark(q, lines: list[Line], unreadable: list[Line]) -> Mark:
        if not lines:  # an unreadable line that starts with the quantity's name explains why it is missing
            tried = [u for u in unreadable if u.text.partition("=")[0].split() == q.name.split()]
            return Mark(q.name, 0.0, q.points, UNREADABLE if tried else MISSING, tried)
        equal = [line.status == EQUAL for line in lines]
        ok = all(equal) if q.require == "all" else any(equal)
        wrong = next((line.status for line in lines if line.status != EQUAL), DIFFERENT)
        return Mark(q.name, q.points if ok else 0.0, q.points, EQUAL if ok else wrong, lines)


def refused(name: str, status: str, message: str, assignment: Assignment) -> Outcome:
    """A submission that scores 0 before any line is checked (unreadable file, time-out, crash)."""
    marks = [Mark(q.name, 0.0, q.points, MISSING) for q in assignment.quantities]
    return Outcome(name, status, 0.0, assignment.total, message=message, marks=marks)
