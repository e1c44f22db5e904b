"""The classic mistakes in the gradients of layer normalisation and of a softmax module, as repairs.

Stage: check. Each repair adds back what a student's line leaves out, written in the course's own names, and the
cause is named only when the repaired formula equals the derived value on every point (`diagnose`):

==========================  ======================================================================
kind                        the edit that makes it match (g the gradient of xhat, resp. of p)
==========================  ======================================================================
``layernorm_mean``          ``- sum_j g[j] / (n sigma)``: the path through the mean
``layernorm_variance``      ``- xhat ⊙ sum_j (g[j] ⊙ xhat[j]) / (n sigma)``: the path through sigma
``layernorm_one_over_n``    the line divided by n
``softmax_jacobian``        ``- p ⊙ sum_j (p[j] ⊙ g[j])``: softmax's Jacobian is diag(p) - p p^T
==========================  ======================================================================
"""

from __future__ import annotations

from .diagnose import Cause, Repair
from .formula import Num, Op, parse_text, show


def _spelled(ns, node: str, deriv: bool = False) -> str | None:
    """The course's name of IR node `node` (or of dl/d`node`) for one sample, in this namespace."""
    return next((q.name for q in ns.quantities.values() if q.node == node and q.deriv == deriv and not q.batch
                 and not q.alias and q.rows is None and "(via" not in q.name), None)


def _consumers(t, kind: str):
    """The forward ``coupled`` modules of `kind` that read the quantity of a per-sample gradient line."""
    if t.batch or not t.q.deriv:
        return []
    graph = t.space.derivation.graph
    return [c for c in graph.forward() if c.op == "coupled" and c.meta.kind == kind and t.q.node in c.args]


def layernorm_terms(t):
    """dl/dx of a layer normalisation's input: its mean term, its variance term or its 1/n left out."""
    ns, S = t.space.ns, t.formula
    for c in _consumers(t, "normalized"):
        n, sigma = c.shape[0], c.args[-1]
        g, xhat, s = _spelled(ns, c.name, True), _spelled(ns, c.name), _spelled(ns, sigma)
        if None in (g, xhat, s):
            continue
        mean = parse_text(f"sum_j {g}[j] / ({n} {s})", "a repair")
        var = parse_text(f"{xhat} ⊙ sum_j ({g}[j] ⊙ {xhat}[j]) / ({n} {s})", "a repair")
        x = t.lhs.partition("/d")[2]
        yield Repair(Cause("layernorm_mean", f"missing the mean term: the mean of {x} moves with every component, "
                                             f"so {t.lhs} has - {show(mean)}; with it the formula matches"),
                     Op("-", (S, mean)))
        yield Repair(Cause("layernorm_variance", f"missing the variance term: {s} moves with every component of "
                                                 f"{x}, so {t.lhs} has - {show(var)}; with it the formula matches"),
                     Op("-", (S, var)))
        yield Repair(Cause("layernorm_one_over_n", f"missing 1/n: the mean and the variance average over the {n} "
                                                   f"components, so the whole line is divided by {n} {s}; divided "
                                                   f"by {n} it matches"), Op("/", (S, Num(float(n), str(n)))))


def softmax_term(t):
    """dl/dx of a softmax module's input written as p ⊙ g: the Jacobian's - p p^T part left out."""
    ns, S = t.space.ns, t.formula
    for c in _consumers(t, "softmax"):
        p, g = _spelled(ns, c.name), _spelled(ns, c.name, True)
        if None in (p, g):
            continue
        term = parse_text(f"{p} ⊙ sum_j ({p}[j] ⊙ {g}[j])", "a repair")
        yield Repair(Cause("softmax_jacobian", f"missing the softmax Jacobian's sum term: every {p}_k depends on "
                                               f"every component, dp/df = diag(p) - p p^T, so {t.lhs} has "
                                               f"- {show(term)}; with it the formula matches"), Op("-", (S, term)))


def repairs(t):
    yield from layernorm_terms(t)
    yield from softmax_term(t)
