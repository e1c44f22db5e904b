"""The op table: one `Op` entry per IR op, looked up by the stages that walk a graph.

An entry holds what the pipeline needs of one op, side by side: its
vector-Jacobian product rule (`vjp`, for `derive`), its exact value at a point
(`exact`, for worked tables), its NumPy value for one sample (`numeric`, for
oracles) or a whole batch (`batched`) and, for the ops a front end declares, the `build` rule that writes
its SymPy expression and checks its shapes. Each op family registers its
entries in its own module (`scalar`, `linear`, `elementwise`, `loss`,
`concat`), next to the rules themselves.

A VJP rule gets SymPy to differentiate the node's own forward expression
(`local_derivative`); nothing here is a per-activation table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from ..errors import SymbackError
from ..ir import LEAF_OPS, Node
from ..nonsmooth import take_conventions

#: the component index of an elementwise expression (``KroneckerDelta(I, y)`` is one-hot y)
I = sp.Symbol("i", integer=True, nonnegative=True)


@dataclass(frozen=True, slots=True)
class Term:
    """One consumer's contribution to an adjoint: ``upstream * local``."""

    consumer: str
    local: sp.Expr  # d consumer / d this node
    value: sp.Expr  # the contribution itself, in node symbols
    op: str = "scalar"  # the op that computes `value`: scalar, ew or linear
    upstream: sp.Expr | None = None  # the consumer's adjoint when value = local * upstream
    joins: bool = False  # added into the adjoint's one expression, not a path of its own (a regulariser's lam W)


Vjp = Callable[[Node, str, sp.Symbol], Term]


@dataclass(frozen=True)
class Op:
    """Everything symback knows about one op; `None` where the op has no such rule."""

    name: str
    doc: str
    vjp: Vjp | None = None  # (node, arg, upstream symbol) -> that arg's contribution
    exact: Callable[[Node, dict], sp.Expr] | None = None  # node value from exact arg values
    numeric: Callable[[Node, dict], object] | None = None  # node value (NumPy) from one sample's values
    batched: Callable[[Node, dict], object] | None = None  # the same for a batch (trailing batch axis)
    build: Callable | None = None  # the front end's constructor: SymPy expression and shape rule

    @property
    def is_leaf(self) -> bool:
        return self.name in LEAF_OPS


#: op name -> its entry; filled by the family modules as they are imported
OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add `op` to the table (once per name)."""
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is registered twice")
    OPS[op.name] = op
    return op


def lookup(name: str) -> Op:
    """The entry of op `name`, or a one-line error naming it."""
    try:
        return OPS[name]
    except KeyError:
        raise SymbackError(f"unknown op {name!r}; known: {', '.join(sorted(OPS))}") from None


def vjp_of(node: Node) -> Vjp:
    """The VJP rule of `node`'s op."""
    rule = lookup(node.op).vjp
    if rule is None:
        raise SymbackError(f"node {node.name}: no derivative rule for op {node.op!r}")
    return rule


_TERMS: dict[int, tuple] = {}  # id(sum) -> (the sum, its index): by identity, as `==` of two equal sums costs O(n)


def _terms_by_name(expr: sp.Add) -> dict[str, list[sp.Expr]]:
    """symbol name -> the terms of the sum `expr` that hold it (built once per sum, asked once per argument)."""
    hit = _TERMS.get(id(expr))
    if hit is None or hit[0] is not expr:
        if len(_TERMS) >= 8:
            _TERMS.clear()
        index: dict[str, list[sp.Expr]] = {}
        for t in expr.args:
            for s in t.free_symbols:
                index.setdefault(s.name, []).append(t)
        _TERMS[id(expr)] = hit = (expr, index)
    return hit[1]


def holding(expr: sp.Expr, wrt: str) -> sp.Expr:
    """The part of `expr` that depends on the symbol named `wrt`: of a sum, its terms holding it (the others have
    derivative 0), so a flat sum of n terms costs O(n) in all, not O(n) per argument."""
    if not expr.is_Add:
        return expr
    terms = _terms_by_name(expr).get(wrt, ())
    return terms[0] if len(terms) == 1 else sp.Add(*terms)


def local_derivative(expr: sp.Expr, wrt: sp.Symbol, where: str | Callable[[], str]) -> sp.Expr:
    """d expr / d wrt by SymPy, in the frameworks' conventions for kinks.

    `where` names the node for the error message; pass a callable to build
    that text only when there is an error (printing a large node costs time
    proportional to its size, once per argument).
    """
    part = holding(expr, wrt.name)
    # factor_terms undoes SymPy's distribution of numbers: 2*(f - t), not 2*f - 2*t
    d = sp.factor_terms(take_conventions(sp.diff(part, wrt)))
    if d.has(sp.Derivative, sp.Subs):
        place = where() if callable(where) else where
        raise SymbackError(f"{place}: SymPy cannot differentiate {expr} with respect to {wrt}")
    return d


def msym(name: str, shape: tuple) -> sp.MatrixSymbol:
    """The MatrixSymbol of a node: vectors are columns (n, 1)."""
    if len(shape) == 1:
        return sp.MatrixSymbol(name, shape[0], 1)
    if len(shape) == 2:
        return sp.MatrixSymbol(name, *shape)
    raise ValueError(f"{name}: no matrix symbol for shape {shape}")
