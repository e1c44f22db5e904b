"""The outcome of checking a hand file: one `Result` per equation, as text or JSON.

``--json`` prints `Report.to_dict()` (README "Checking your own derivation"
documents the schema). Exit code: 0 when every equation was shown equal,
1 when any is different or could not be decided.
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field

import numpy as np

from .diagnose import Cause

EQUAL, DIFFERENT, UNDECIDED = "equal", "different", "undecided"


def num(v) -> float | None:
    """A float for JSON: None, NaN and infinity (not JSON) become null."""
    return float(v) if v is not None and np.isfinite(float(v)) else None


def matrix(a) -> list | None:
    return None if a is None else [[num(v) for v in row] for row in np.asarray(a, dtype=float)]


def fmt(v) -> str:
    v = float(v) + 0.0  # no "-0"
    return f"{v:.6g}" if np.isfinite(v) else str(v)


@dataclass
class Counterexample:
    """Where yours and the derived value disagree, with both numbers (indices 1-based)."""

    instance: int | None = None
    sample: int | None = None
    entry: tuple | None = None
    yours: float | None = None
    derived: float | None = None
    yours_value: object = None
    derived_value: object = None
    inputs: dict = field(default_factory=dict)  # notation symbol -> value (x, y; a point for expressions)
    params: dict = field(default_factory=dict)
    message: str | None = None  # shape mismatches
    unit: str = "instance"  # "point" for scalar expressions
    labels: tuple = ()  # the inputs that are class labels (counted from 1, as every index here)
    scale: float | None = None  # a far point's factor (`randomdata.FAR`): the data there is a draw times it

    def to_dict(self) -> dict:
        return {
            self.unit: self.instance,
            "sample": self.sample,
            "entry": list(self.entry) if self.entry else None,
            "yours": num(self.yours),
            "derived": num(self.derived),
            "yours_value": matrix(self.yours_value),
            "derived_value": matrix(self.derived_value),
            "shapes": {k: None if v is None else list(np.shape(v))
                       for k, v in (("yours", self.yours_value), ("derived", self.derived_value))},
            "inputs": {k: (matrix(v) if np.ndim(v) == 2 else num(v)) for k, v in self.inputs.items()},
            "params": {k: matrix(v) for k, v in self.params.items()},
            "message": self.message,
            "scale": self.scale,
        }

    def lines(self) -> list[str]:
        head = f"counterexample: {self.unit} {self.instance}"
        head += f" (far from the origin, scale {self.scale:g})" if self.scale else ""
        head += f", sample {self.sample}" if self.sample is not None else ""
        if self.message:
            return [f"{head}: {self.message}"]
        if self.entry:
            head += f", entry ({self.entry[0]}, {self.entry[1]})"
        out = [head, f"  yours {fmt(self.yours)}, derived {fmt(self.derived)}"]
        if self.inputs and self.sample is not None or self.unit == "point":
            out.append("  at " + ", ".join(f"{k} = {_short(v)}" + (" (class)" if k in self.labels else "")
                                           for k, v in self.inputs.items()))
        elif self.inputs:
            out.append("  (the batch " + " and ".join(self.inputs) + " and the parameters are in --json)")
        return out


def _short(v) -> str:
    """A sample's input or target, a number or a column (a batch's are only in --json): 2, [1, 2]^T."""
    a = np.asarray(v, dtype=float)
    return fmt(a) if a.ndim == 0 else "[" + ", ".join(fmt(x) for x in a[:, 0]) + "]^T"


@dataclass
class Result:
    line: int
    lhs: str
    rhs: str
    status: str
    counterexample: Counterexample | None = None
    cause: Cause | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {
            "line": self.line,
            "lhs": self.lhs,
            "rhs": self.rhs,
            "status": self.status,
            "counterexample": self.counterexample.to_dict() if self.counterexample else None,
            "likely_cause": asdict(self.cause) if self.cause else None,
            "reason": self.reason,
        }


@dataclass
class Report:
    """Every equation's result, plus how they were compared."""

    target: str
    hand: str
    kind: str  # "network" or "expression"
    results: list
    settings: dict  # notation, layout, instances, sizes, batch, tolerance, seed
    header: list  # lines describing the comparison, for text output

    @property
    def counts(self) -> dict:
        return {s: sum(r.status == s for r in self.results) for s in (EQUAL, DIFFERENT, UNDECIDED)}

    @property
    def ok(self) -> bool:
        return all(r.status == EQUAL for r in self.results)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict:
        return {"target": self.target, "hand": self.hand, "kind": self.kind, **self.settings,
                "equations": [r.to_dict() for r in self.results], "summary": self.counts,
                "exit_code": self.exit_code}

    def render(self, width: int = 80) -> str:
        out = list(self.header) + [""]
        label = {EQUAL: "equal", DIFFERENT: "DIFFERENT", UNDECIDED: "UNDECIDED"}
        for r in self.results:
            out.append(f"{label[r.status]:<10} line {r.line}: {r.lhs} = {r.rhs}")
            notes = []
            if r.counterexample:
                notes += r.counterexample.lines()
            if r.cause:
                notes.append(f"likely cause: {r.cause.message}")
            if r.reason:
                notes.append(f"could not decide: {r.reason}")
            for note in notes:
                pad = 11 + len(note) - len(note.lstrip())
                out += textwrap.wrap(note.lstrip(), width, initial_indent=" " * pad, subsequent_indent=" " * (pad + 2))
        c = self.counts
        parts = [f"{c[EQUAL]} equal", f"{c[DIFFERENT]} different"] + ([f"{c[UNDECIDED]} undecided"] if c[UNDECIDED] else [])
        n = len(self.results)
        out += ["", f"{n} equation{'s' if n != 1 else ''}: {', '.join(parts)}"]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()
