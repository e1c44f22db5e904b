r"""Check hand-derived partial derivatives of a scalar expression (``symback check EXPR``).

Input: a `Gradient` (``sb.grad("(x + y)*z")``) and a hand file whose left
sides are ``df/dx`` (the output's name over a variable or a named
intermediate, e.g. ``df/dq`` for ``q = x + y; f = q*z``) and whose right
sides are SymPy syntax (``^`` is a power) or LaTeX. Output: a
`report.Report`. Both sides are evaluated at random points (standard normal
inputs; points where the expression is undefined are skipped) and compared
to `RTOL`; a difference comes with the point and, where one edit explains
it, the likely mistake (sign flip, factor 2, the derivative with respect to
another variable, the expression's value instead of its derivative).
"""

from __future__ import annotations

import re

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..evaluate import evaluate
from ..parse import parse_expression
from .diagnose import Cause
from .handfile import Equation, read_hand
from .report import DIFFERENT, EQUAL, UNDECIDED, Counterexample, Report, Result

RTOL = 1e-9
POINTS = 6
SEED = 0


def _key(name: str) -> str:
    return re.sub(r"[\\{}_\s]", "", name)


class ScalarNames:
    """The names a hand file may use for one scalar expression."""

    def __init__(self, g):
        self.g = g
        self.out = g.output
        self.nodes = [n.name for n in g.graph.forward()]
        # intermediates count when the user named them (q = x + y), not the automatic v1, v2, ...
        named = [n for n in self.nodes if n in g.inputs or g.named_steps]
        self.derivs = {f"d{self.out}/d{n}": g.adjoints_of(n) for n in named if n != self.out and n in g._adjoint_of}

    def listing(self) -> str:
        return ", ".join(self.derivs)

    def lhs(self, text: str, where: str) -> str:
        s = text.strip().strip("$").replace(" ", "")
        m = re.fullmatch(r"\\frac\{(?:\\partial|d)(.+?)\}\{(?:\\partial|d)(.+)\}", s)
        if m:
            s = f"d{m.group(1)}/d{m.group(2)}"
        s = s.replace("∂", "d").replace(r"\partial", "d")
        if "/d" in s:
            num, _, den = s[1:].partition("/d")
            s = f"d{_key(num)}/d{self.name(den) or _key(den)}"
        if s not in self.derivs:
            raise SymbackError(f"{where}: {text.strip()!r} is not a derivative of {self.out}; "
                               f"valid names: {self.listing()}")
        return s

    def name(self, written: str) -> str | None:
        key = _key(written)
        for n in self.nodes:
            if n == written or _key(n) == key:
                return n
        return None

    def parse(self, eq: Equation) -> sp.Expr:
        if eq.latex:
            from sympy.parsing.latex import parse_latex

            from .latex import _where, normalize

            try:
                expr = parse_latex(normalize(eq.rhs.strip().strip("$")), strict=True)
            except Exception as exc:  # LaTeXParsingError and antlr's own
                raise SymbackError(f"{eq.where}: could not parse LaTeX {eq.rhs.strip()!r}: {_where(eq.rhs, exc)}") from None
            expr = expr.subs({sp.Symbol("e"): sp.E})
        else:
            expr = parse_expression(eq.rhs, where=eq.where)
        rename = {}
        for s in expr.free_symbols:
            n = self.name(s.name)
            if n is None:
                raise SymbackError(f"{eq.where}: {s.name!r} is not a variable or named step of {self.g.source}; "
                                   f"its names: {', '.join(self.nodes)}")
            rename[s] = sp.Symbol(n)
        return expr.xreplace(rename)


def _points(g, count: int, seed: int) -> list[dict]:
    """Values of every node at `count` random points where the whole gradient is finite."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count * 10):
        point = {v: sp.Float(float(rng.standard_normal()), 30) for v in g.inputs}
        try:
            out.append(evaluate(g.graph, point))
        except (SymbackError, TypeError, ZeroDivisionError):
            continue
        if len(out) == count:
            break
    return out


def _value(expr: sp.Expr, values: dict) -> float:
    v = sp.N(expr.xreplace({sp.Symbol(k): val for k, val in values.items()}), 30)
    try:
        return float(v)
    except TypeError:
        return float("nan")


def _close(a: float, b: float) -> bool:
    return np.isfinite(a) and abs(a - b) <= RTOL * max(1.0, abs(a), abs(b))


def _cause(expr, target: str, names: ScalarNames, points) -> Cause | None:
    out = names.out
    yours = [_value(expr, p) for p in points]
    derived = [float(p[names.derivs[target]]) for p in points]

    def same(values):
        return all(_close(a, b) for a, b in zip(values, derived))

    if same([-v for v in yours]):
        return Cause("sign", f"sign flip: your value is the negative of {target}")
    if same([2 * v for v in yours]):
        return Cause("factor_2", f"factor 2: your value is half of {target}")
    if same([v / 2 for v in yours]):
        return Cause("factor_2", f"factor 2: your value is twice {target}")
    for other, adj in names.derivs.items():
        if other != target and all(_close(a, float(p[adj])) for a, p in zip(yours, points)):
            return Cause("variable", f"your value is {other}, the derivative with respect to another variable")
    if all(_close(a, float(p[out])) for a, p in zip(yours, points)):
        return Cause("value", f"your value is {out} itself, not its derivative")
    return None


def check_equation(eq: Equation, names: ScalarNames, points) -> Result:
    target = names.lhs(eq.lhs, eq.where)
    expr = names.parse(eq)
    result = Result(eq.line, eq.lhs, eq.rhs, EQUAL)
    if not points:
        result.status, result.reason = UNDECIDED, f"{names.g.source} is not finite at any random point"
        return result
    pairs = [(_value(expr, p), float(p[names.derivs[target]])) for p in points]
    bad = [i for i, (a, b) in enumerate(pairs) if not _close(a, b)]
    if bad:  # the clearest disagreement
        i = max(bad, key=lambda k: abs(pairs[k][0] - pairs[k][1]) / max(1.0, abs(pairs[k][1]))
                if np.isfinite(pairs[k][0]) else np.inf)
        point = {v: float(points[i][v]) for v in names.g.inputs}
        result.status = DIFFERENT
        result.counterexample = Counterexample(i + 1, None, None, *pairs[i], inputs=point, unit="point")
        result.cause = _cause(expr, target, names, points)
    return result


def check_gradient(g, hand, points: int = POINTS, seed: int = SEED, target: str = "") -> Report:
    """Compare each hand-written partial derivative of a scalar expression with the derived one."""
    names = ScalarNames(g)
    where, equations = read_hand(hand)
    pts = _points(g, points, seed)
    results = [check_equation(eq, names, pts) for eq in equations]
    header = [f"{g.source}: partial derivatives of {names.out}",
              f"compared at {len(pts)} random points (standard normal inputs), relative tolerance {RTOL:g}"]
    settings = {"notation": None, "layout": None, "instances": len(pts), "tolerance": RTOL, "seed": seed}
    return Report(target or g.source, where, "expression", results, settings, header)
