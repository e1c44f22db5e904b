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

from operator import attrgetter

import sympy as sp

from ..ir import CANONICAL, Node, in_order, plain, rename, shape, times
from . import batched
from .arrays import pointwise, substitute
from .base import Op, Term, holding, local_derivative, register


def _scalar_vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    template, held = _local(node, arg)
    local = rename(template, held)
    return Term(node.name, local, upstream if local is sp.S.One else times(template, held, upstream), upstream=upstream)


def _local(node: Node, arg: str) -> tuple[sp.Expr, tuple | None]:
    """d node / d arg by SymPy, derived once per expression shape: (that shape's derivative, the symbols it is
    over, in name order; None for a derivative written in the node's own symbols).

    Only the terms that hold `arg` matter (of a sum, its terms with `arg`);
    their symbols are renamed ``_a0, _a1, ...`` in name order, so ``x3*y3``
    and ``x7*y7`` are one shape, ``_a0*_a1``, differentiated once: a sum of n
    products costs n look-ups, not n calls of ``sympy.diff``.
    """
    part = holding(node.expr, arg)
    args = (part,) if part.is_Symbol else part.args
    quick = (part.func, len(args), [a.name for a in args].index(arg)) if in_order(args) else None
    if quick in _SHAPES:  # most nodes: a product or function of IR symbols, in name order already
        return _SHAPES[quick], args
    where = lambda: f"node {node.name} = {node.expr}"  # noqa: E731 - built only for an error message
    held = sorted(part.args if part.args and plain(part.args) else part.free_symbols, key=_NAME)
    wrt = next(s for s in held if s.name == arg)  # the expression's own symbol object: quick look-ups
    if len(held) > len(CANONICAL):
        return local_derivative(part, wrt, where), None
    names = dict(zip(held, CANONICAL))
    key = (shape(part, names), names[wrt])
    if key not in _SHAPES:
        if len(_SHAPES) > 4096:  # bounded: the shapes of one large derivation repeat, a stream of new ones does not
            _SHAPES.clear()
        _SHAPES[key] = local_derivative(part.xreplace(names), names[wrt], where)
    if quick is not None:  # the same derivative under the short key of its shape
        _SHAPES[quick] = _SHAPES[key]
    return _SHAPES[key], held


_SHAPES: dict[tuple, sp.Expr] = {}
_NAME = attrgetter("name")


for _leaf in ("input", "param", "target"):
    register(Op(_leaf, f"a leaf: the {_leaf}'s value is given"))
register(Op("scalar", "a scalar expression of the args' symbols", vjp=_scalar_vjp, exact=substitute,
            numeric=pointwise, batched=batched.pointwise))
register(Op("seed", "d output / d output = 1", exact=substitute, numeric=pointwise, batched=batched.pointwise))
