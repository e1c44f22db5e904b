"""The textbook forms of the VJPs of softmax and layer normalisation modules (rows of `simplify.REWRITES`).

SymPy's derivative of a ``coupled`` module (symback/ops/reduce.py) is written in the module's inputs and their sums.
These rows write it in the module's own output, which the forward pass has computed anyway:

- softmax ``p = exp(x) / S``, ``S = sum_j exp(x_j)``: put ``exp(x_k) = p_k S`` and cancel S, giving
  ``dx = p * (u - sum_k u_k p_k)`` (u the upstream gradient);
- layer normalisation ``xhat = (x - mu) / sigma``: hoist ``mu = 1/n sum_j x_j`` and
  ``sigma = sqrt(1/n sum_j (x_j - mu)^2 + eps)`` (two passes) as forward nodes, put ``sum_j x_j = n mu`` (over any
  index), ``sum_j x_j^2 = n (sigma^2 - eps + mu^2)`` and ``x_k = mu + sigma xhat_k``, and cancel, giving
  ``dx = (n u - sum_k u_k - xhat sum_k u_k xhat_k) / (n sigma)``.

Each step is algebra on the expression at hand (the module is recognised by its definition, not its name), and
tests prove the result equal to SymPy's own derivative numerically.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from ..ir import Graph, Meta, Namer, Node, sym
from ..ops.reduce import J, L, collapse, component_sum, normalized, variance


def _cancel(expr: sp.Expr, keep: dict) -> sp.Expr:
    """`expr` over a common denominator and factored, its sums held as symbols; then `keep`'s symbols restored."""
    expr = collapse(expr)
    sums = {s: sp.Dummy("sum") for s in expr.atoms(sp.Sum)}
    out = sp.factor_terms(sp.factor(sp.cancel(expr.xreplace(sums))))
    c, rest = out.as_coeff_Mul()
    adds = [f for f in sp.Mul.make_args(rest) if f.is_Add]
    if c < 0 and adds:  # -p*(-u + s) -> p*(u - s): the minus into the sum
        out = -c * rest.xreplace({adds[0]: -adds[0]})
    return out.xreplace({v: s for s, v in sums.items()}).xreplace(keep)


def _softmax_of(node: Node):
    """(x, S) when `node` is ``exp(x) / S`` with S the sum of exp over x's components, else None."""
    if node.role != "forward" or node.op != "coupled" or len(node.args) != 1 or node.shape == ():
        return None
    x = node.args[0]
    s = component_sum(x, node.shape[0], sp.exp)
    return (x, s) if node.expr == sp.exp(sym(x)) / s else None


def _rewrite_terms(graph: Graph, rule) -> Graph:
    """Each adjoint's terms through ``rule(consumer, term value)`` (None: unchanged); the adjoint's expression is
    rebuilt when it is their sum, as `derive` wrote it."""
    for node in graph.backward():
        if not node.terms:
            continue
        terms = []
        for t in node.terms:
            new = rule(graph[t.consumer], t.value) if t.consumer in graph else None
            terms.append(t if new is None else replace(t, local=new if t.upstream is None else t.local, value=new))
        if all(a is b for a, b in zip(terms, node.terms)):
            continue
        if node.expr == sp.Add(*[t.value for t in node.terms]):
            node.expr = sp.Add(*[t.value for t in terms])
            node.args = graph.uses(node.expr)
        node.terms = tuple(terms)
    return graph


def _softmax_term(consumer: Node, value: sp.Expr):
    found = _softmax_of(consumer)
    if found is None:
        return None
    x, s = found
    p, big = sp.IndexedBase(consumer.name, real=True), sp.Dummy("S", positive=True)
    v = value.xreplace({s: big})
    v = v.replace(lambda e: isinstance(e, sp.exp) and isinstance(e.args[0], sp.Indexed) and e.args[0].base.name == x,
                  lambda e: p[e.args[0].indices[0]] * big)
    return _cancel(v.xreplace({sp.exp(sym(x)): consumer.symbol * big}), {})


def softmax(graph: Graph) -> Graph:
    """``sum_k u_k dp_k/dx_i -> p_i (u_i - sum_k u_k p_k)`` for softmax modules."""
    return _rewrite_terms(graph, _softmax_term)


def _normalized_of(node: Node):
    """(x, n, eps) when `node` is layer normalisation's ``xhat`` of x (`reduce.normalized`), else None."""
    if node.role != "forward" or node.op != "coupled" or len(node.args) != 1 or node.shape == ():
        return None
    x, n = node.args[0], node.shape[0]
    roots = [p for p in node.expr.atoms(sp.Pow) if p.exp == -sp.Rational(1, 2)]
    if len(roots) != 1:
        return None
    eps = roots[0].base - variance(x, n, sp.Sum(sp.IndexedBase(x, real=True)[L], (L, 0, n - 1)) / n)
    return (x, n, eps) if eps.is_number and node.expr == normalized(x, n, eps) else None


def layernorm(graph: Graph) -> Graph:
    """Hoist each layer normalisation's mean and standard deviation as forward nodes, write ``xhat = (x - mu) /
    sigma``, and its VJP ``dx = (n u - sum_k u_k - xhat sum_k u_k xhat_k) / (n sigma)``."""
    nodes, namer, found = list(graph), Namer(graph.names), {}
    for c in list(nodes):
        hit = _normalized_of(c)
        if hit is None:
            continue
        x, n, eps = hit
        tail = c.name[4:] if c.name.startswith("xhat") else f"_{c.name}"  # xhat1 -> mu1, sigma1
        mu, sigma = namer.claim(f"mu{tail}"), namer.claim(f"sigma{tail}")
        s1, s2 = component_sum(x, n), component_sum(x, n, lambda v: v**2)
        layer = c.meta.layer
        new = [Node(mu, "coupled", (x,), s1 / n, (), meta=Meta(kind="mean", layer=layer, shapes={x: (n,)})),
               Node(sigma, "coupled", (x, mu), sp.sqrt(variance(x, n, sym(mu)) + eps), (),
                    meta=Meta(kind="std", layer=layer, shapes={x: (n,), mu: ()}))]
        at = nodes.index(c)
        nodes[at:at] = new
        found[c.name] = (x, n, eps, sym(mu), sym(sigma), s1, s2)
        c.expr, c.args = (sym(x) - sym(mu)) / sym(sigma), (x, mu, sigma)
        c.meta = replace(c.meta, shapes={x: (n,), mu: (), sigma: ()})
    if not found:
        return graph

    def term(consumer: Node, value: sp.Expr):
        if consumer.name not in found:
            return None
        x, n, eps, mu, sigma, s1, s2 = found[consumer.name]
        s, xhat = sp.Dummy("sigma", positive=True), sp.IndexedBase(consumer.name, real=True)
        v = value.xreplace({s1: n * mu, s1.xreplace({J: L}): n * mu, s2: n * (s**2 - eps + mu**2)})
        v = v.replace(lambda e: isinstance(e, sp.Indexed) and e.base.name == x, lambda e: mu + s * xhat[e.indices[0]])
        return _cancel(v.xreplace({sym(x): mu + s * consumer.symbol}), {s: sigma})

    return _rewrite_terms(Graph(nodes), term)
