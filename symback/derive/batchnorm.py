"""The batch-normalisation row of the rewrite table: named statistics and the compact input gradient.

Derived, ``bn = gamma (f - 1/B sum_c f[c]) / sqrt(1/B sum_b (f[b] - mu)^2 + eps) + beta`` has an input
gradient of six terms in sums of f and of the upstream g. The row names the batch statistics as forward
nodes (``mu = 1/B sum_b f[b]``, ``sigma = sqrt(1/B sum_b (f[b] - mu)^2 + eps)``, ``xhat = (f - mu)/sigma``,
``bn = gamma xhat + beta``) and rewrites every gradient through them with one algebraic fact, the mean's own
definition ``sum_b f[b] = B mu`` (that is, ``sum_b (f[b] - mu) = 0``), then ``f = mu + sigma xhat``: the input
gradient collapses to CS231n's ``batchnorm_backward_alt``,
``gamma / (B sigma) (B g - sum_b g[b] - xhat sum_b g[b] xhat[b])``; gamma's share to ``g xhat``.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from ..ir import Graph, Meta, Namer, Node, sym
from ..ops.batchnorm import INDEX_B, PLACEMENTS, B, batch_sum, distribute, has_batch_sum, samples, statistics


def _parts(node: Node):
    """(x, gamma, beta, mu, var, eps, its placement) of a batch-normalisation node as `ops.batchnorm.build` wrote
    it: ``1/sqrt(var + eps)`` or ``1/(sqrt(var) + eps)``."""
    x, gamma, beta = node.args
    mu, var = statistics(x)
    for p in node.expr.atoms(sp.Pow):
        if p.exp == -sp.Rational(1, 2) and p.base.has(var):
            return x, gamma, beta, mu, var, p.base - var, "variance"
        if p.exp == -1 and p.base.has(var * B):  # SymPy writes sqrt(S/B) as sqrt(S)/sqrt(B)
            return x, gamma, beta, mu, var, p.base - sp.sqrt(var), "std"
    raise ValueError(f"{node.name}: not a batch normalisation")


def _compact(expr: sp.Expr, x: str, var_expr, eps, at: str, names: tuple[str, str, str]) -> sp.Expr:
    """`expr` in mu, sigma and xhat, by sum_b x[b] = B mu and x = mu + sigma xhat, factored."""
    m, s, r = sp.Dummy("mu", real=True), sp.Dummy("sigma", positive=True), sp.Dummy("root", positive=True)
    X, XH = samples(x), samples(names[2])
    # the variance by sigma: var + eps = sigma^2, or sqrt(var) = r = sigma - eps
    e = expr.subs(var_expr + eps, s**2) if at == "variance" else expr.xreplace({var_expr * B: B * r**2})
    e = e.replace(lambda t: isinstance(t, sp.Sum) and isinstance(t.function, sp.Indexed) and t.function.base == X,
                  lambda t: B * m)  # the definition of the mean: sum_b x[b] = B mu, i.e. sum_b (x[b] - mu) = 0
    e = e.replace(lambda t: isinstance(t, sp.Indexed) and t.base == X, lambda t: m + s * XH[t.indices[0]])
    e = distribute(sp.expand(e.xreplace({sym(x): m + s * sym(names[2])})))
    e = e.replace(lambda t: isinstance(t, sp.Sum), lambda t: batch_sum(t.function.xreplace({t.limits[0][0]: INDEX_B})))
    e = e.xreplace({r: s - eps})
    forms = [sp.factor_terms(sp.together(e)), sp.factor_terms(sp.cancel(sp.together(e)))]
    return min(forms, key=sp.count_ops).xreplace({m: sym(names[0]), s: sym(names[1])})


def name_statistics(graph: Graph) -> Graph:
    """Every batch normalisation as mu, sigma, xhat and ``gamma xhat + beta``; its gradients in those names."""
    found = [n for n in graph.forward() if n.op == "batch" and n.meta.kind == "batchnorm"]
    if not found:
        return graph
    nodes, namer = list(graph), Namer(graph.names)
    for node in found:
        x, gamma, beta, _, var_expr, eps, at = _parts(node)
        stem = f"{node.meta.layer}" if node.meta.layer is not None else f"_{node.name}"
        names = tuple(namer.claim(f"{q}{stem}") for q in ("mu", "sigma", "xhat"))
        mu, sigma, xhat = (sym(n) for n in names)
        X, shape, layer = samples(x), node.shape, node.meta.layer
        new = [Node(names[0], "batch", (x,), batch_sum(X[INDEX_B]) / B, shape,
                    meta=Meta(kind="batch mean", layer=layer)),
               Node(names[1], "batch", (x, names[0]), PLACEMENTS[at](batch_sum((X[INDEX_B] - mu) ** 2) / B, eps),
                    shape, meta=Meta(kind="batch std", layer=layer)),
               Node(names[2], "ew", (x, names[0], names[1]), (sym(x) - mu) / sigma, shape,
                    meta=Meta(kind="normalized", layer=layer))]
        here = nodes.index(node)
        nodes[here:here] = new
        node.op, node.expr = "ew", sym(gamma) * xhat + sym(beta)
        node.args = (gamma, beta, names[2])
        order = {n.name: k for k, n in enumerate(nodes)}
        for adj in (n for n in nodes if n.role == "adjoint" and any(t.consumer == node.name for t in n.terms)):
            terms = []
            for t in adj.terms:
                if t.consumer == node.name:
                    value = _compact(t.value, x, var_expr, eps, at, names)
                    local = value if t.upstream is None else sp.cancel(value / t.upstream)
                    t = replace(t, value=value, local=local, op="batch" if has_batch_sum(value) else "ew")
                terms.append(t)
            if adj.expr == sp.Add(*[t.value for t in adj.terms]):
                adj.expr = sp.Add(*[t.value for t in terms])
                adj.op = "batch" if has_batch_sum(adj.expr) else "ew" if adj.op == "batch" else adj.op
                used = {getattr(s, "name", None) for s in adj.expr.free_symbols}
                adj.args = tuple(sorted(used & set(order), key=order.__getitem__))
            adj.terms = tuple(terms)
    return Graph(nodes)
