"""One hand equation on every random point: the student's formula against the quantity it names.

Stage: check. Input: a space (`spaces`), the left side's quantity name, the
right side's formula, the points. Output: both sides' values as 2-D arrays
(a scalar is 1x1), compared entry by entry to `RTOL` relative to
max(1, largest |entry|). Points where the derived value is not finite are left
out (`finite`). Values are float arrays, or object arrays of 30-digit SymPy
numbers at an expression's far points (where float64 would overflow or cancel). `matches` answers the question every repair in `diagnose` asks:
does this formula (read in this space, scaled) equal this quantity everywhere?
"""

from __future__ import annotations

import numpy as np

from ..errors import SymbackError
from .matrix import ShapeError

RTOL = 1e-9  # relative to max(1, largest |entry|)


def finite(a: np.ndarray) -> bool:
    """Whether every entry is a finite real number (a float, or a SymPy number at 30 digits)."""
    if a.dtype != object:
        return bool(np.all(np.isfinite(a)))
    return all(getattr(v, "is_Number", False) and v.is_finite and v.is_real for v in a.flat)


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether yours (`a`, finite) equals the derived `b` to `RTOL` relative to max(1, largest entry)."""
    if a.shape != b.shape or not finite(a):
        return False
    scale = max(1.0, np.max(np.abs(a)), np.max(np.abs(b)))
    return bool(np.max(np.abs(a - b)) <= RTOL * scale)


def gap(g: np.ndarray, e: np.ndarray) -> float:
    """How clearly two values differ: the largest entry gap relative to max(1, largest entry)."""
    if g.shape != e.shape or not finite(d := np.abs(g - e)):
        return np.inf
    return float(np.max(d) / max(1.0, np.max(np.abs(e))))


class Trial:
    """The formula and the quantity `lhs` of one equation, valued on `points` in `space`."""

    def __init__(self, space, lhs: str, formula, points: list, batch: bool):
        self.space, self.lhs, self.formula, self.points, self.batch = space, lhs, formula, points, batch
        self.q = space.quantity(lhs, batch)
        self.notes: dict = {}  # what a diagnosis computed once (the subterms' shapes)
        self._derived: dict = {}
        every = self._all(space, lhs)
        self.finite = [i for i, e in enumerate(every) if finite(e)]
        self.expected_shape = every[0].shape if every else ()

    def _all(self, space, lhs: str) -> list:
        key = (id(space), lhs)
        if key not in self._derived:
            q = space.quantity(lhs, self.batch)
            self._derived[key] = [space.value(q, p) for p in self.points]
        return self._derived[key]

    def expected(self, space=None, lhs: str | None = None) -> list:
        """The derived values at the finite points (of another quantity, or in another space, if given)."""
        every = self._all(space or self.space, lhs or self.lhs)
        return [every[i] for i in self.finite]

    def values(self, formula, space=None) -> list:
        """The formula's values at the finite points (raises `ShapeError` where its sizes do not fit)."""
        space = space or self.space
        with np.errstate(all="ignore"):
            return [space.evaluate(formula, self.points[i]) for i in self.finite]

    def matches(self, formula, space=None, lhs: str | None = None, scale: float = 1.0) -> bool:
        try:
            got = self.values(formula, space)
        except (ShapeError, SymbackError, KeyError, ValueError, TypeError, IndexError):
            return False
        with np.errstate(all="ignore"):
            got = [g * scale for g in got]
        return all(close(g, e) for g, e in zip(got, self.expected(space, lhs)))
