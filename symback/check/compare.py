"""The one checker: every hand equation against the quantity it names, for any derivation.

Stage: check. Input: a `Derivation` and a hand file (a `pathlib.Path`, or a str of its text, one
``LHS = RHS`` per line, see `handfile`). Output: a `report.Report` (text via
``str``, JSON via ``to_dict``, ``exit_code`` 0 when every equation is equal).

What differs between a scalar expression and a network is data, a space
(`spaces.ExpressionSpace`, `spaces.NetworkSpace`); the control flow is here:

1. read the hand file, then draw the space's random points;
2. per equation: resolve the left side, parse the right side, value both on
   every point (`trial.Trial`);
3. decide: *equal* when every point agrees to `trial.RTOL` and so does every
   far point (`space.far`: the draws times 10 to 10^6, either sign; points
   where either side is not finite or not defined are skipped), else
   *different* with a counterexample at the clearest disagreement and the
   likely mistake (the first repair in `diagnose` that makes it agree); a
   formula whose sizes do not fit together is different too; *undecided* when
   the right side uses the left side itself or the derived value is never finite;
4. report, with the space's header and settings.

Names the space does not know, malformed formulas and a missing file are bad
input: `SymbackError` (one line, exit 2 on the command line).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .diagnose import likely_cause, shape_cause
from .handfile import Equation, read_hand
from .indexform import is_index_form, judge_index
from .matrix import ShapeError
from .report import DIFFERENT, EQUAL, UNDECIDED, Report, Result
from .spaces import INSTANCES, POINTS, SEED, DagSpace, ExpressionSpace, NetworkSpace
from .trial import Trial, close, finite, gap


def check(derivation, hand, space, target: str = "") -> Report:
    """Compare each equation of `hand` with the quantity it names in `space`."""
    where, equations = read_hand(hand)
    space.draw()
    results = [judge(eq, space) for eq in equations]
    return Report(target or derivation.summary.source, where, space.kind, results, space.settings, space.header)


def judge(eq: Equation, space) -> Result:
    """One equation's result: equal, different (with a counterexample and a likely cause) or undecided."""
    if is_index_form(eq.rhs):  # (o, c, u, v) ↦ ...: a conv or pool array, as symback prints it
        return judge_index(eq, space)
    lhs, formula, batch = space.read(eq)
    t = Trial(space, lhs, formula, space.points(batch), batch)
    result = partial(Result, eq.line, eq.lhs, eq.rhs)
    if space.circular(lhs, formula):
        return result(UNDECIDED, reason=f"the right-hand side uses {lhs} itself, so agreeing proves nothing")
    if not t.finite:
        return result(UNDECIDED, reason=space.never_finite(lhs))
    expected = t.expected()
    try:
        got = t.values(formula)
    except ShapeError as exc:
        ce = space.counterexample(t, 0, None, expected[0], exc.message)
        return result(DIFFERENT, ce, likely_cause(t) or shape_cause(exc.message))
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if not close(g, e)]
    near = bool(bad)
    if not near:  # equal near the origin: confirmed far from it, or the far point is the counterexample
        with np.errstate(all="ignore"):
            t = Trial(space, lhs, formula, space.far(batch), batch)
            got, expected = far_values(t), t.expected()
        bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g is not None and not close(g, e)]
        if not bad:
            return result(EQUAL)
    i = max(bad, key=lambda k: gap(got[k], expected[k]))  # the clearest disagreement
    ce = space.counterexample(t, i, got[i], expected[i])
    cause = likely_cause(t) if near else None  # a repair is judged near the origin, where this formula agrees
    return result(DIFFERENT, ce, cause or (shape_cause(ce.message) if ce.message else space.note(t)))


def far_values(t: Trial) -> list:
    """The formula's value at each of the trial's finite points; None where it is not a finite number there (float64
    overflowed, or it is undefined), so that point proves nothing against it."""
    out = []
    for i in t.finite:
        try:
            v = t.space.evaluate(t.formula, t.points[i])
        except (ShapeError, ArithmeticError, ValueError, TypeError):
            v = None
        out.append(v if v is not None and finite(v) else None)
    return out


def check_derivation(derivation, hand, notation="udl", layout: str | None = None,
                     instances: int = INSTANCES, seed: int = SEED, target: str = "") -> Report:
    """Any derivation's hand formulas (``Derivation.check``): a network's or a DAG's in a course's notation, an
    expression's partials (``df/dx``); a `Report` (exit code 0 or 1)."""
    if derivation.summary.kind == "expression":
        return check_gradient(derivation, hand, seed=seed, target=target)
    space = DagSpace if derivation.summary.kind == "dag" else NetworkSpace
    return check(derivation, hand, space(derivation, notation, layout, instances, seed), target)


def check_gradient(derivation, hand, points: int = POINTS, seed: int = SEED, target: str = "") -> Report:
    """A scalar expression's hand-written partials ``df/dx = ...`` (``Gradient.check``); a `Report`."""
    return check(derivation, hand, ExpressionSpace(derivation, points, seed), target)
