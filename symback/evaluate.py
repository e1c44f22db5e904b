"""Numbers for every IR node at a point: the worked forward/backward table.

Each node is evaluated by its op's `exact` rule (see `ops`).

Values stay exact where the inputs are (integers and fractions give exact
results, as on the blackboard) and become 30-digit floats where a
transcendental function appears. A value that is not a finite real number
(log of a negative, division by zero) is reported with the node where it
first appears.
"""

from __future__ import annotations

import sympy as sp

from .errors import SymbackError
from .ir import Graph
from .ops import lookup

DIGITS = 30


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
        val = rule(node, values)
        kind = "gradient " if node.role == "adjoint" else ""
        values[node.name] = numeric(val, f"{kind}node {node.name}", node.expr)
        if bound is not None and abs(values[node.name]) > bound:
            raise SymbackError(f"{kind}node {node.name} = {node.expr} is beyond {bound:.3g} at this point")
    return values


def to_python(value: sp.Expr):
    """A JSON-ready number: int when integral and exact, else float."""
    if value.is_Integer:
        return int(value)
    return float(value)


def show(value: sp.Expr) -> str:
    """Short text for a value: exact integers and fractions as such, floats to 6 significant digits."""
    if value.is_Integer or value.is_Rational:
        return str(value)
    return f"{float(value):.6g}"
