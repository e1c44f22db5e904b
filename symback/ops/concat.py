"""``concat``: stacked vectors ``c = [a; b]`` (a SymPy BlockMatrix of column vectors).

Its VJP gives each part its slice of the upstream adjoint, ``g[o:o+n]``.
"""

from __future__ import annotations

import sympy as sp

from ..errors import SymbackError
from ..ir import Node
from . import batched
from .arrays import matrix
from .base import Op, Term, msym, register


def build(name: str, values: tuple[str, ...], shapes: dict) -> tuple[sp.BlockMatrix, tuple]:
    """``[a; b; ...]`` and its length; only vectors stack."""
    for v in values:
        if len(shapes[v]) != 1:
            raise SymbackError(f"module {name}: can only concatenate vectors, {v} has shape {shapes[v]}")
    expr = sp.BlockMatrix([[msym(v, shapes[v])] for v in values])
    return expr, (sum(shapes[v][0] for v in values),)


def vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    """``c = [a; b]``: the adjoint of a part is its slice of the upstream, ``g[o:o+n]``."""
    G = msym(upstream.name, node.shape)
    offset = 0
    parts = []
    for block in node.expr.blocks:
        n = block.shape[0]
        if block.name == arg:
            parts.append(G[offset:offset + n, :])
        offset += n
    value = parts[0] if len(parts) == 1 else sp.MatAdd(*parts)
    return Term(node.name, value, value, op="linear")


def _exact(node: Node, values: dict) -> sp.Matrix:
    return sp.Matrix.vstack(*[sp.Matrix(values[b.name]) for b in node.expr.blocks])


register(Op("concat", "[a; b]: stacked vectors", vjp=vjp, exact=_exact, numeric=matrix,
            batched=batched.matrix, build=build))
