"""Per-sample scalars (a mean, a standard deviation, a sum's gradient) written into the loops that read them.

Stage: codegen. Input: the graph and the code expressions of its elementwise nodes (`rewrite.prepare`). Output:
the expressions with every per-sample scalar node substituted by its own expression, so that no step stores a
scalar: ``xhat = (h - mu) / sigma`` becomes ``(h - Sum(h[l])/n) / sqrt(Sum((h[l] - Sum(h[l])/n)**2)/n + eps)``,
whose sums `body.Body` computes once per sample before the loop over the components, a sum inside another's body
(the mean inside the variance's: two passes) first.
"""

from __future__ import annotations

import sympy as sp

from ..ir import sym
from ..ops.reduce import J, L


def inline_scalars(graph, exprs: dict) -> dict:
    """`exprs` without the per-sample scalar nodes (not the loss), each substituted where it is read."""
    scalars = [n for n in graph if n.name in exprs and n.shape == () and n.op != "loss"]
    known: dict[sp.Symbol, sp.Expr] = {}
    for n in scalars:  # graph order: a scalar read by a later one is substituted there first
        known[sym(n.name)] = exprs.pop(n.name).xreplace(known).xreplace({J: L})  # its sums over l, not a reader's j
    return {k: e.xreplace(known) for k, e in exprs.items()} if known else exprs
