"""``linear``: a SymPy matrix expression of the args, ``W*h + b``, vectors as columns.

Its VJP is the matrix-calculus rule of a multilinear product: for a term
``P A Q`` the contribution to ``A`` is ``P^T G Q^T`` (``W^T g`` for the
input, ``g h^T`` for the weight, ``g`` for the bias). The rule is verified
against an index-level SymPy derivation in the tests.
"""

from __future__ import annotations

import sympy as sp

from ..errors import SymbackError
from ..ir import Node
from . import batched
from .arrays import matrix
from .base import Op, Term, msym, register


def build(name: str, w: str, x: str, b: str | None, transposed: bool, shapes: dict) -> tuple[sp.MatrixExpr, tuple]:
    """``W x (+ b)`` (``W^T x`` when tied) and its shape; shapes checked with one-line errors."""
    Ws = shapes[w]
    if len(Ws) != 2:
        raise SymbackError(f"module {name}: {w} must be a matrix, has shape {Ws} (a product of two computed values is "
                           "g.dot, g.outer or g.matmul)")
    Wm = msym(w, Ws).T if transposed else msym(w, Ws)
    rows, cols = Wm.shape
    if len(shapes[x]) != 1 or shapes[x][0] != cols:
        raise SymbackError(f"module {name}: {'(' + w + ')^T' if transposed else w} has {cols} columns "
                           f"but {x} has shape {shapes[x]}")
    expr = Wm * msym(x, shapes[x])
    if b is not None:
        if shapes[b] != (rows,):
            raise SymbackError(f"module {name}: bias {b} has shape {shapes[b]}, expected ({rows},)")
        expr = expr + msym(b, shapes[b])
    return expr, (rows,)


def _product_vjp(term: sp.MatrixExpr, target: sp.MatrixSymbol, G: sp.MatrixExpr) -> sp.MatrixExpr | None:
    """Contribution of one product term ``P A Q`` (or ``P A^T Q``) to A, given upstream G."""
    factors = list(term.args) if isinstance(term, sp.MatMul) else [term]
    scalar = sp.Integer(1)
    while factors and not getattr(factors[0], "is_Matrix", False):
        scalar *= factors.pop(0)
    for k, fac in enumerate(factors):
        transposed = isinstance(fac, sp.Transpose) and fac.arg == target
        if fac != target and not transposed:
            continue
        left, right = factors[:k], factors[k + 1 :]
        core = G
        if left:
            core = sp.MatMul(*left).T * core
        if right:
            core = core * sp.MatMul(*right).T
        out = core.T if transposed else core
        return scalar * out if scalar != 1 else out
    return None


def vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    shapes = node.meta.shapes
    A = msym(arg, shapes[arg])
    G = msym(upstream.name, node.shape)
    terms = node.expr.args if isinstance(node.expr, sp.MatAdd) else (node.expr,)
    parts = [p for t in terms if (p := _product_vjp(t, A, G)) is not None]
    if not parts:
        raise SymbackError(f"node {node.name}: {arg} does not appear linearly in {node.expr}")
    value = parts[0] if len(parts) == 1 else sp.MatAdd(*parts)
    return Term(node.name, value, value, op="linear")


def _exact(node: Node, values: dict) -> sp.Matrix:
    """The product with exact matrices substituted (vectors as columns)."""
    subs = {s: sp.Matrix(values[s.name]) for s in node.expr.atoms(sp.MatrixSymbol)}
    return sp.Matrix(node.expr.xreplace(subs).doit())


register(Op("linear", "W*h + b: a matrix expression of the args", vjp=vjp, exact=_exact, numeric=matrix,
            batched=batched.matrix, build=build))
