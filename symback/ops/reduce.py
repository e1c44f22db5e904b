"""``coupled``: a per-sample value whose components depend on every component of a vector input.

Sums and means over a vector's components (``mu = Sum(h[j], (j, 0, n-1))/n``), softmax as a module
(``p = exp(f) / Sum(exp(f[j]), ...)``) and layer normalisation (``xhat = (x - mu) / sqrt(var + eps)``, eps inside
the square root, as PyTorch). The expression is written as the cross-entropy loss's adjoint is: a vector input's
own component is its symbol (component i), the others appear as ``x[j]`` under a ``Sum`` over the components;
`Meta.shapes` says which inputs are vectors. Elementwise evaluation and code printing read such sums already.

The VJP is `sympy.diff` of the definition in index form, ``sum_k u_k d out_k / d x_i``, with the Kronecker deltas
collapsed: SymPy's own derivative, which `derive.simplify` rewrites to the textbook forms.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import sympy as sp

from ..errors import SymbackError
from ..ir import Node, sym
from .arrays import pointwise
from .base import I, Op, Term, register
from .batched import pointwise as batched_pointwise
from .batchnorm import epsilon as eps_value  # noqa: F401  (eps of layer normalisation: as batch normalisation's)

J = sp.Symbol("j", integer=True, nonnegative=True)  # a reduction's index
K = sp.Symbol("k", integer=True, nonnegative=True)  # the output's component in a VJP's sum
L = sp.Symbol("l", integer=True, nonnegative=True)  # a sum's index inside another sum (the variance's mean)


def vector_of(name: str, x: str, shapes: dict, what: str):
    """The size of vector input `x` of module `name`, or a one-line error (a scalar has no components)."""
    if len(shapes[x]) != 1:
        raise SymbackError(f"module {name}: {what} needs a vector input, {x} has shape {shapes[x]}")
    return shapes[x][0]


def component_sum(x: str, n, body=None) -> sp.Sum:
    """``Sum(body(x[j]), (j, 0, n-1))`` (``body`` a function of one component; the component itself by default)."""
    xj = sp.IndexedBase(x, real=True)[J]
    return sp.Sum(xj if body is None else body(xj), (J, 0, n - 1))


def build_reduce(name: str, x: str, mean: bool, shapes: dict):
    """``name = sum_j x_j`` (or its mean): a per-sample scalar."""
    n = vector_of(name, x, shapes, "a mean" if mean else "a sum")
    return component_sum(x, n) / (n if mean else 1), ()


def build_softmax(name: str, x: str, shapes: dict):
    """``name_i = exp(x_i) / sum_j exp(x_j)``."""
    n = vector_of(name, x, shapes, "softmax")
    return sp.exp(sym(x)) / component_sum(x, n, sp.exp), (n,)


def variance(x: str, n, mean) -> sp.Expr:
    """``1/n sum_j (x_j - mean)^2``, PyTorch's biased variance in two passes: the one-pass ``sum_j x_j^2 / n - mu^2``
    cancels when the mean is large beside the spread (NaN for features around 1e8)."""
    return component_sum(x, n, lambda v: (v - mean) ** 2) / n


def normalized(x: str, n, eps) -> sp.Expr:
    """``(x_i - mu) / sqrt(var + eps)`` with mu = sum_j x_j / n and var = `variance` (eps inside the square root); the
    mean inside the variance's sum is written over its own index l."""
    inner = sp.Sum(sp.IndexedBase(x, real=True)[L], (L, 0, n - 1)) / n
    return (sym(x) - component_sum(x, n) / n) / sp.sqrt(variance(x, n, inner) + eps)


def build_normalize(name: str, x: str, eps, shapes: dict):
    """Layer normalisation's ``xhat`` (gamma and beta are an elementwise module after it)."""
    n = vector_of(name, x, shapes, "layer normalisation")
    return normalized(x, n, eps), (n,)


def _indexed(expr: sp.Expr, index, vectors: set) -> sp.Expr:
    """`expr` with each vector's component symbol written ``x[index]`` (the ``x[j]`` under sums are left alone)."""
    if isinstance(expr, sp.Indexed):
        return expr
    if expr.is_Symbol:
        return sp.IndexedBase(expr.name, real=True)[index] if expr.name in vectors else expr
    if not expr.args:
        return expr
    return expr.func(*[_indexed(a, index, vectors) for a in expr.args])


def collapse(expr: sp.Expr) -> sp.Expr:
    """Each ``Sum`` split over its terms, factors free of its index taken out, Kronecker deltas summed out."""

    def one(s: sp.Sum):
        (v, lo, hi), out = s.limits[0], []
        for t in sp.Add.make_args(sp.expand(s.function)):
            c, dep = t.as_independent(v, as_Add=False)
            delta = next((d for d in sp.Mul.make_args(dep) if isinstance(d, sp.KroneckerDelta) and v in d.args), None)
            if dep == 1:
                out.append(c * (hi - lo + 1))
            elif delta is not None:  # the component itself, in range
                other = delta.args[0] if delta.args[1] == v else delta.args[1]
                out.append(c * (dep / delta).xreplace({v: other}))
            else:
                out.append(c * sp.Sum(dep, s.limits))
        return sp.Add(*out)

    return expr.replace(lambda e: isinstance(e, sp.Sum), one)


def _over_j(expr: sp.Expr) -> sp.Expr:
    """Each remaining sum over the output's index K written over j, as the forward sums are (after `collapse`, a
    sum over K holds no sum over j)."""
    return expr.replace(lambda e: isinstance(e, sp.Sum) and e.limits[0][0] == K,
                        lambda e: sp.Sum(e.function.xreplace({K: J}), (J, *e.limits[0][1:])))


def components(expr: sp.Expr) -> sp.Expr:
    """``x[i]`` back to the component symbol ``x``."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.indices == (I,), lambda e: sym(e.base.name))


def over_components(expr: sp.Expr, n, vectors: set) -> sp.Expr:
    """``sum_k expr_k``: `expr` summed over the components of the `vectors` it reads (their symbols)."""
    return sp.factor_terms(_over_j(collapse(sp.Sum(_indexed(expr, K, vectors), (K, 0, n - 1)))))


def vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    vectors = {a for a, s in node.meta.shapes.items() if len(s) == 1}
    wrt = sp.IndexedBase(arg, real=True)[I] if arg in vectors else sym(arg)
    if node.shape == ():  # a per-sample scalar: d out / d x_i, times the upstream number
        local = components(collapse(sp.diff(node.expr, wrt)))
        return Term(node.name, local, local * upstream, op="ew", upstream=upstream)
    u = sp.IndexedBase(upstream.name, real=True)[K]
    out = _indexed(node.expr.xreplace({I: K}), K, vectors)
    d = sp.factor_terms(components(_over_j(collapse(sp.Sum(u * sp.diff(out, wrt), (K, 0, node.shape[0] - 1))))))
    return Term(node.name, d, d, op="ew")


@lru_cache(maxsize=256)
def _unnested(expr: sp.Expr):
    """`expr` with each sum inside another sum's body as a symbol, and (symbol name, that sum) pairs."""
    inner = {t: sp.Symbol(f"_inner{k}", real=True)
             for k, t in enumerate(sorted({t for s in expr.atoms(sp.Sum) for t in s.function.atoms(sp.Sum)}, key=str))}
    return expr.xreplace(inner), tuple((v.name, t) for t, v in inner.items())


def _two_pass(rule):
    """`rule` with the sums nested in a sum's body (the variance's mean) evaluated first, as per-sample scalars."""

    def run(node: Node, values: dict):
        expr, inner = _unnested(node.expr)
        if not inner:
            return rule(node, values)
        values = dict(values) | {name: rule(replace(node, expr=t, shape=()), values) for name, t in inner}
        return rule(replace(node, expr=expr), values)

    return run


register(Op("coupled", "a per-sample value coupling a vector's components (sum, mean, softmax, normalisation)",
            vjp=vjp, numeric=_two_pass(pointwise), batched=_two_pass(batched_pointwise)))
