"""Codegen-only rewrites that let values die early, each an algebraic fact checked on the graph.

Stage: codegen. Input: a derivation's graph. Output: the code expression of
each elementwise and loss node, copy aliases, and the masks rewritten: a
ReLU-like mask ``I[f > 0]`` is read through the stored output ``h = max(0, f)``
(h > 0 iff f > 0), a loss of a sigmoid output is written in the logits
(stable), and an adjoint that is a plain copy (``dl/dv = dl/dout``) shares
its source's buffer.
"""

from __future__ import annotations

import sympy as sp

from ..derive.simplify import stabilize
from ..ir import Node, sym
from .scalars import inline_scalars


def _sign_preserving(h: Node, f: str) -> bool:
    """h = a(f) with h > 0 exactly when f > 0 (ReLU, leaky ReLU, ELU): the mask can read h."""
    u = sym(f)
    e = h.expr
    if e in (sp.Max(0, u), sp.Max(u, 0)):
        return True
    if isinstance(e, sp.Piecewise) and e.args[0] == (u, u > 0):
        rest = sp.Piecewise(*e.args[1:]) if len(e.args) > 2 else e.args[1][0]
        try:
            return sp.solveset(rest > 0, u, sp.Interval(-sp.oo, 0)) is sp.EmptySet
        except (NotImplementedError, TypeError, ValueError):  # SymPy's solveset raises these for what it cannot solve
            return False
    return False


def _masks_through_outputs(graph, exprs: dict) -> dict[str, tuple[str, str]]:
    """Rewrite each mask I[f > 0] as I[h > 0]; returns {adjoint node: (f, h)} for the comments."""
    done = {}
    for h in graph.forward():
        if h.op != "ew" or len(h.args) != 1 or len(h.shape) != 1:
            continue
        f = h.args[0]
        if not _sign_preserving(h, f):
            continue
        old, new = sp.StrictGreaterThan(sym(f), 0), sp.StrictGreaterThan(sym(h.name), 0)
        for name, e in exprs.items():
            if graph[name].role == "adjoint" and e.has(old):
                exprs[name] = e.xreplace({old: new})
                done[name] = (f, h.name)
    return done


def _loss_in_logits(graph, loss: Node, expr: sp.Expr) -> sp.Expr:
    """log(h[j]) with h = sigma(f) -> the stable form in f (BCE on a sigmoid output)."""
    pred = graph[loss.meta.prediction]
    if pred.op != "ew" or len(pred.args) != 1 or not pred.expr.has(sp.exp):
        return expr
    f = pred.args[0]
    hb, fb = sp.IndexedBase(pred.name, real=True), sp.IndexedBase(f, real=True)

    def fix(lg):
        picks = [e for e in lg.atoms(sp.Indexed) if e.base == hb]
        if not picks:
            return lg
        sub = {p: pred.expr.xreplace({sym(f): fb[p.indices[0]]}) for p in picks}
        better = stabilize(lg.xreplace(sub))
        return better if not better.has(sp.log) else lg

    return expr.replace(lambda e: isinstance(e, sp.log), fix)


def root(alias: dict, n: str) -> str:
    """The value a copy reads, followed to the end of a chain of copies."""
    while n in alias:
        n = alias[n]
    return n


def prepare(d) -> tuple[dict, dict, dict]:
    """Code expressions of the elementwise and loss nodes, copy aliases, and the masks read through outputs."""
    g = d.graph
    exprs = inline_scalars(g, {n.name: n.expr for n in g if n.op in ("ew", "loss", "coupled")})
    masks = _masks_through_outputs(g, exprs)
    for n in g:
        if n.op == "loss":
            exprs[n.name] = _loss_in_logits(g, n, exprs[n.name])
    alias = {}
    for n in g:
        e = exprs.get(n.name)
        if n.op == "ew" and n.role == "adjoint" and isinstance(e, sp.Symbol) and e.name in g \
                and len(g[e.name].shape) == 1 and g[e.name].role == "adjoint" and g[n.of].op != "param":
            alias[n.name] = e.name
    # a copy is read by its source's name (followed to the end of a chain of copies): in the loop computing
    # dl/do (o = s + t), the views dl/ds, dl/dt of its buffer are written only after the loop body
    roots = {sym(a): sym(root(alias, a)) for a in alias}
    return {k: e.xreplace(roots) for k, e in exprs.items()}, alias, masks
