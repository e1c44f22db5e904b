"""Vector and matrix ops of the IR, each with its vector-Jacobian product rule.

Three ops carry layered networks and DAGs (the scalar core's ``scalar`` op
lives in `derive`):

``linear``
    a SymPy matrix expression of the args (``W*h + b``), vectors as columns.
    Its VJP is the matrix-calculus rule of a multilinear product: for a term
    ``P A Q`` the contribution to ``A`` is ``P^T G Q^T`` (``W^T g`` for the
    input, ``g h^T`` for the weight, ``g`` for the bias). The rule is verified
    against an index-level SymPy derivation in the tests.
``ew``
    elementwise: a scalar expression in the args' component symbols (``h1 =
    Max(0, f1)`` means each component). Its VJP is the scalar rule applied
    componentwise: ``diff`` of the expression, times the upstream component.
``loss``
    a scalar from the output vector and the target: a per-sample formula
    summed over components (separable) or an indexed one (softmax
    cross-entropy). Its VJP differentiates with respect to one component
    ``f[i]`` and removes the Kronecker deltas, giving an ``ew`` expression
    (``p_i - [i = y]``), possibly with reductions ``Sum(..., (j, 0, n-1))``.
"""

from __future__ import annotations

import sympy as sp

from .derive import VJP, Term, local_derivative
from .nonsmooth import take_conventions
from .errors import SymbackError
from .ir import Node, sym

#: the component index of an elementwise expression (``KroneckerDelta(I, y)`` is one-hot y)
I = sp.Symbol("i", integer=True, nonnegative=True)


def msym(name: str, shape: tuple) -> sp.MatrixSymbol:
    """The MatrixSymbol of a node: vectors are columns (n, 1)."""
    if len(shape) == 1:
        return sp.MatrixSymbol(name, shape[0], 1)
    if len(shape) == 2:
        return sp.MatrixSymbol(name, *shape)
    raise ValueError(f"{name}: no matrix symbol for shape {shape}")


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
        P = sp.MatMul(*left).T if left else None
        Q = sp.MatMul(*right).T if right else None
        core = G
        if P is not None:
            core = P * core
        if Q is not None:
            core = core * Q
        out = core.T if transposed else core
        return scalar * out if scalar != 1 else out
    return None


def _linear_vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    shapes = node.meta.shapes
    A = msym(arg, shapes[arg])
    G = msym(upstream.name, node.shape)
    terms = node.expr.args if isinstance(node.expr, sp.MatAdd) else (node.expr,)
    parts = [p for t in terms if (p := _product_vjp(t, A, G)) is not None]
    if not parts:
        raise SymbackError(f"node {node.name}: {arg} does not appear linearly in {node.expr}")
    value = parts[0] if len(parts) == 1 else sp.MatAdd(*parts)
    return Term(node.name, value, value, op="linear")


def _ew_vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    local = local_derivative(node.expr, sym(arg), f"node {node.name} = {node.expr}")
    from .simplify import in_terms_of_output

    local = in_terms_of_output(node, arg, local)
    return Term(node.name, local, local * upstream, op="ew")


def sum_kronecker(expr: sp.Expr) -> sp.Expr:
    """``Sum(g(j) * KroneckerDelta(i, j), (j, a, b))`` -> ``g(i)`` (i is a component, so in range)."""

    def collapse(s: sp.Sum):
        (j, lo, hi), body = s.limits[0], s.function
        for delta in body.atoms(sp.KroneckerDelta):
            if j in delta.args:
                other = delta.args[0] if delta.args[1] == j else delta.args[1]
                return body.xreplace({delta: sp.Integer(1)}).xreplace({j: other})
        return s

    return expr.replace(lambda e: isinstance(e, sp.Sum), collapse)


def _loss_vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    pred = node.meta.prediction
    if arg != pred:
        raise SymbackError(f"loss {node.name}: no gradient with respect to the target {arg}")
    base = sp.IndexedBase(pred, real=True)
    d = sp.diff(node.expr, base[I])
    d = sum_kronecker(d)
    # component i of the prediction and target become their component symbols
    d = d.replace(lambda e: isinstance(e, sp.Indexed) and e.indices == (I,), lambda e: sym(e.base.name))
    from .simplify import smallest

    d = smallest(take_conventions(d))
    value = d if node.meta.terminal else d * upstream
    return Term(node.name, d, value, op="ew")


def _concat_vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
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


VJP.update({"linear": _linear_vjp, "ew": _ew_vjp, "loss": _loss_vjp, "concat": _concat_vjp})
