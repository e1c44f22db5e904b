"""The scalar core: leaves, the one-operation ``scalar`` node and the adjoint ``seed``.

``input`` / ``param`` / ``target``
    leaves: no expression, no rule; their values are given.
``scalar``
    a scalar SymPy expression of the args' symbols (``q = x + y``). Its VJP is
    ``sympy.diff`` of that one-operation expression, times the upstream
    adjoint: ``diff(a + b, a) = 1`` (add distributes), ``diff(a*b, a) = b``
    (mul swaps), ``diff(Max(a, b), a) = I[a > b]`` (max routes).
``seed``
    d output / d output = 1, the start of the reverse sweep.
"""

from __future__ import annotations

import sympy as sp

from ..ir import Node, sym
from . import batched
from .arrays import pointwise, substitute
from .base import Op, Term, local_derivative, register


def _scalar_vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    local = local_derivative(node.expr, sym(arg), lambda: f"node {node.name} = {node.expr}")
    return Term(node.name, local, local * upstream, upstream=upstream)


for _leaf in ("input", "param", "target"):
    register(Op(_leaf, f"a leaf: the {_leaf}'s value is given"))
register(Op("scalar", "a scalar expression of the args' symbols", vjp=_scalar_vjp, exact=substitute,
            numeric=pointwise, batched=batched.pointwise))
register(Op("seed", "d output / d output = 1", exact=substitute, numeric=pointwise, batched=batched.pointwise))
