"""Numbers for every IR node at a point: the worked forward/backward table.

Each node is evaluated by its op's `exact` rule (see `ops`).

Values stay exact where the inputs are (integers and fractions give exact
results, as on the blackboard) and become 30-digit floats where a
transcendental function appears. A value that is not a finite real number
(log of a negative, division by zero) is reported with the node where it
first appears.
"""

from __future__ import annotations

import math

import mpmath
import sympy as sp

from .errors import SymbackError
from .ir import Graph, sym
from .textbuild import slow_exact
from .textparse import MAX_DIGITS, abbreviate
from .ops import lookup

DIGITS = 30
#: |value| at a point is below 10^MAX_POWER10 (Python prints integers of at most 4,300 digits); a value past it
#: (gamma(1e5), 10^10^10) is refused from a 15-digit estimate before its exact value is computed
MAX_POWER10 = MAX_DIGITS  # the parser's limit on a number's digits
_LIMIT = sp.Float(10) ** MAX_POWER10
#: |order| of polygamma and the Bessel functions at a point: their cost grows with it (order 20,000 takes seconds)
MAX_ORDER = 10_000
_ORDERED = (sp.polygamma, sp.besselj, sp.besseli, sp.besselk, sp.bessely)
_SHORT = 10**30  # exact integers and fractions print whole below this size, in a short float form above it


def numeric(value: sp.Expr, where: str, expr: sp.Expr | None = None) -> sp.Expr:
    """`value` as a finite real SymPy number, or a SymbackError naming `where`."""
    what = f" = {expr}" if expr is not None else ""
    if not value.is_Number:
        try:
            value = sp.N(value, DIGITS)
        except (OverflowError, ValueError, ZeroDivisionError) as exc:  # mpmath outside its domain, or overflowing
            raise SymbackError(f"{where}{what} cannot be evaluated at this point: {exc}") from None
    if value.has(sp.zoo, sp.oo, -sp.oo, sp.nan) or not value.is_Number or value.is_real is False:
        why = "not a finite real number"
        if value.has(sp.zoo) or value.has(sp.oo) or value.has(-sp.oo):
            why = "infinite (division by zero or a pole)"
        elif value.has(sp.I) or value.is_real is False:
            why = "not real (e.g. log or sqrt of a negative number)"
        raise SymbackError(f"{where}{what} is undefined at this point: {why}")
    return value


def evaluate(graph: Graph, point: dict[str, sp.Expr], bound: sp.Expr | None = None) -> dict[str, sp.Expr]:
    """Value of every node, in graph order, given values for the input leaves (each op's `exact` rule); with
    `bound`, a SymbackError as soon as one is larger in size (the next, exp of it, would take digits without end)."""
    values: dict[str, sp.Expr] = {}
    for node in graph:
        if node.is_leaf:
            values[node.name] = point[node.name]
            continue
        rule = lookup(node.op).exact
        if rule is None:
            raise SymbackError(f"node {node.name}: op {node.op!r} has no exact evaluation")
        kind = "gradient " if node.role == "adjoint" else ""
        _estimate(node, values, rule, f"{kind}node {node.name}")
        val = rule(node, inexact(node.expr, node.args, values))
        values[node.name] = numeric(val, f"{kind}node {node.name}", node.expr)
        v = values[node.name]  # a sum or product of exact numbers, or from decimals (mpmath is fast at any size)
        if abs(v) > _LIMIT or v.is_Rational and v.q > _LIMIT:
            _too_large(f"{kind}node {node.name}", node, f"about {short(v)}, " if abs(v) > _LIMIT else "")
        if bound is not None and abs(values[node.name]) > bound:
            raise SymbackError(f"{kind}node {node.name} = {node.expr} is beyond {bound:.3g} at this point")
    return values


def inexact(expr, names, values: dict) -> dict:
    """`values`, with the large exact ones of `names` as 30-digit decimals when `expr` holds polygamma (digamma,
    trigamma): SymPy's exact polygamma(0, n) is a harmonic number of n terms (digamma at 10^6 ran for minutes)."""
    if not isinstance(expr, sp.Expr) or not expr.has(sp.polygamma):
        return values
    return {**values, **{a: sp.Float(values[a], DIGITS) for a in names if slow_exact(values[a])}}


def value_at(expr: sp.Expr, values: dict, where: str) -> sp.Expr:
    """`numeric` of `expr` with each free symbol's value by name (large exact polygamma arguments as decimals)."""
    at = inexact(expr, [s.name for s in expr.free_symbols], values)
    return numeric(expr.xreplace({s: at[s.name] for s in expr.free_symbols}), where)


def _estimate(node, values: dict, rule, where: str) -> None:
    """Refuse a scalar node whose value at this point is past 10^MAX_POWER10, or a function order past MAX_ORDER,
    from 15-digit floats (fast at any size), before the exact value is computed (which could take hours)."""
    scalars = {a: values[a] for a in node.args}
    if not isinstance(node.expr, sp.Expr) or not all(isinstance(v, sp.Expr) and v.is_Number for v in scalars.values()):
        return
    subs = {sym(a): v for a, v in scalars.items()}
    for f in node.expr.atoms(*_ORDERED) if node.expr.has(*_ORDERED) else ():
        order = f.args[0].xreplace(subs)
        if order.is_Number and abs(order) > MAX_ORDER:
            raise SymbackError(f"{where}: {f.func.__name__} of order {short(order)} at this point "
                               f"(limit {MAX_ORDER:,}); use a smaller order")
    if not any(v.is_Rational for v in scalars.values()) or not node.expr.has(sp.Pow, sp.Function):
        return  # sums and products of bounded numbers stay bounded; decimals are checked once computed
    for pw in node.expr.atoms(sp.Pow):  # an exact power of a fraction: small, but of millions of digits
        if not all(q.exp.is_Integer and abs(q.exp) <= 2 for e in pw.args for q in e.atoms(sp.Pow)):
            continue  # base or exponent not cheap to compute exactly here: the estimate below bounds it
        base, exp = (e.xreplace(subs) for e in pw.args)
        if base.is_Rational and exp.is_Integer and base.p and (base.q != 1 or exp < 0):  # else: the estimate
            digits = abs(int(exp)) * math.log10(max(abs(base.p), base.q))
            if digits > MAX_POWER10:
                raise SymbackError(f"{where} = {abbreviate(str(node.expr), 60)[1:-1]} is an exact fraction of about "
                                   f"{digits:,.0f} digits at this point (limit {MAX_POWER10:,}); give decimals instead")
    try:
        est = rule(node, {**values, **{a: sp.Float(v, 15) for a, v in scalars.items()}})
        est = est if est.is_Number else sp.N(est, 15)
        about = f"about {short(est)}, " if est.is_Number and est.is_finite and abs(est) > _LIMIT else None
    except OverflowError:  # mpmath's own limit, far past ours
        about = ""
    except (ArithmeticError, TypeError, ValueError):  # no estimate: the exact value says what is wrong
        return
    if about is not None:
        _too_large(where, node, about)


def _too_large(where: str, node, about: str):
    raise SymbackError(f"{where} = {abbreviate(str(node.expr), 60)[1:-1]} is {about}too large to compute here "
                       f"(limit 10^{MAX_POWER10}); use smaller values")


def short(value) -> str:
    """A number in a few characters: 4.0279e+2570 past float64, 10^(3.0000e+302) for a power beyond that."""
    if value.is_Integer and abs(value) < _SHORT:
        return str(value)
    f = sp.Float(mpmath.mpf(value.p) / value.q if value.is_Rational else value, 5)  # no str() of 4,300+ digits
    _, man, exp, bits = f._mpf_ if f else (0, 0, 0, 0)
    if abs(exp + bits) < 10**6:  # binary exponent: the decimal form stays short
        return sp.sstr(f)
    return f"{'-' if f < 0 else ''}10^({sp.sstr(sp.Float(sp.Integer(exp + bits) * sp.Float(math.log10(2)), 5))})"


def to_python(value: sp.Expr):
    """A JSON-ready number: int when integral and exact, else float."""
    if value.is_Integer:
        return int(value)
    return float(value)


def show(value: sp.Expr) -> str:
    """Short text for a value: exact integers and fractions as such, floats to 6 significant digits."""
    if value.is_Rational and abs(value.p) < _SHORT and value.q < _SHORT:
        return str(value)
    f = float(value)
    return f"{f:.6g}" if math.isfinite(f) else short(value)
