"""``loss``: a scalar from the output vector and the target.

A per-sample formula summed over components (separable: ``Sum((f[j] -
y[j])**2, (j, 0, n-1))``) or an indexed one (class: softmax cross-entropy,
``-f[y] + log(Sum(exp(f[j]), ...))``). Its VJP differentiates with respect to
one component ``f[i]`` and removes the Kronecker deltas, giving an ``ew``
expression (``p_i - [i = y]``), possibly with reductions ``Sum(..., (j, 0, n-1))``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp

from .. import library
from ..errors import SymbackError
from ..ir import Graph, Meta, Node, sym
from ..nonsmooth import take_conventions
from . import batched
from .arrays import pointwise
from .base import I, Op, Term, holding, msym, register


def build(pred: str, n_out, loss: library.Loss) -> Node:
    """The loss node ``l``: a per-sample formula, summed over components or indexed by the label."""
    base = sp.IndexedBase(pred, real=True)
    j = library.J
    if loss.kind == "separable":
        target = sp.IndexedBase("y", real=True)
        body = loss.expr.xreplace({library.F: base[j], library.Y: target[j]})
        expr = sp.Sum(body, (j, 0, n_out - 1))
    else:
        expr = loss.expr.xreplace({library.FV: base, library.N: n_out, library.LABEL: sym("y")})
    return Node("l", "loss", args=(pred, "y"), expr=expr, shape=(),
                meta=Meta(kind="loss", prediction=pred, loss=loss.name, loss_kind=loss.kind,
                          terminal=True, size=n_out))


def sum_kronecker(expr: sp.Expr) -> sp.Expr:
    """``Sum(g(j) * KroneckerDelta(i, j), (j, a, b))`` -> ``g(i)`` (i is a component, so in range)."""

    def collapse(s: sp.Sum):
        (j, _, _), body = s.limits[0], s.function
        for delta in body.atoms(sp.KroneckerDelta):
            if j in delta.args:
                other = delta.args[0] if delta.args[1] == j else delta.args[1]
                return body.xreplace({delta: sp.Integer(1)}).xreplace({j: other})
        return s

    return expr.replace(lambda e: isinstance(e, sp.Sum), collapse)


def regularize(graph: Graph, weights: dict, lam) -> Graph:
    """`graph` with weight decay on its loss node: ``lam/2 * sum_k Trace(W_k^T W_k)`` over `weights` (name ->
    shape), kept in ``meta.regularizer`` beside the per-sample loss and added once to the batch objective
    ``J = L + lam/2 sum_k ||W_k||^2``; the weights become arguments of the loss, so `vjp` differentiates it."""
    reg = sp.Add(*[lam / 2 * sp.Trace(msym(w, shape).T * msym(w, shape)) for w, shape in weights.items()])
    nodes = [replace(n, args=n.args + tuple(weights), meta=replace(n.meta, regularizer=reg)) if n.op == "loss" else n
             for n in graph]
    return Graph(nodes)


def decay_rate(graph):
    """The lambda of the weight decay on the loss among `graph`'s nodes, or None."""
    reg = next((n.meta.regularizer for n in graph if n.op == "loss"), None)
    return None if reg is None else 2 * sp.Add.make_args(reg)[0].as_independent(sp.Trace)[0]


def vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    pred = node.meta.prediction
    if node.meta.regularizer is not None and arg not in (pred, "y"):  # a decayed weight: d/dW of lam/2 ||W||^2
        weight = next(m for m in node.meta.regularizer.atoms(sp.MatrixSymbol) if m.name == arg)
        d = sp.diff(holding(node.meta.regularizer, arg), weight)  # SymPy gives 0 for a sum of traces as a whole
        return Term(node.name, d, d, op="linear", joins=True)
    if arg != pred:
        raise SymbackError(f"loss {node.name}: no gradient with respect to the target {arg}")
    base = sp.IndexedBase(pred, real=True)
    d = sum_kronecker(sp.diff(node.expr, base[I]))
    # component i of the prediction and target become their component symbols
    d = d.replace(lambda e: isinstance(e, sp.Indexed) and e.indices == (I,), lambda e: sym(e.base.name))
    # as SymPy gives it, in the conventions every local derivative takes (`local_derivative`): 2*(f - y);
    # `simplify` writes the textbook form
    d = sp.factor_terms(take_conventions(d))
    if node.meta.terminal:
        return Term(node.name, d, d, op="ew")
    return Term(node.name, d, d * upstream, op="ew", upstream=upstream)


def with_penalty(rule):
    """`rule` (a sample's or a batch's loss value) plus the weight decay: each sample's objective is l_i + lambda/2
    sum_k ||W_k||^2, so their mean is L + the penalty once, and its gradient the derived l_i' + lambda W."""

    def value(node: Node, values: dict):
        lam = decay_rate([node])
        if lam is None:
            return rule(node, values)
        if not lam.is_number:
            raise SymbackError(f"weight decay {lam} is a symbol: give Network(weight_decay=) a number to evaluate it")
        weights = {m.name for m in node.meta.regularizer.atoms(sp.MatrixSymbol)}
        penalty = float(lam) / 2 * sum(np.sum(np.square(values[w]), axis=(0, 1)) for w in sorted(weights))
        return rule(node, values) + penalty

    return value


register(Op("loss", "a per-sample loss of the prediction and the target", vjp=vjp, numeric=with_penalty(pointwise),
            batched=with_penalty(batched.pointwise), build=build))
