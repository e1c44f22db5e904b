"""The classic mistakes of an inverted-dropout backward, named by `symback check`.

Stage: check. Like `mistakes`, each repair is one small edit of the student's formula that is named only when the
edited formula equals the derived value at every point: the formula times 1/(1 - p) (the inverted-dropout scale
left out of the backward), or ⊙ m (the mask forgotten, so the gradient flows through dropped units too), or both.
"""

from __future__ import annotations

from .diagnose import Cause, Repair
from .formula import Name, Num, Op, names


def _spelling(ns, node: str, batch: bool, deriv: bool = False) -> str | None:
    """How the hand file's namespace writes IR node `node`'s value (or its derivative), per sample or for the batch."""
    return next((q.name for q in ns.quantities.values() if q.node == node and q.deriv == deriv and q.batch == batch
                 and not q.alias and q.rows is None), None)


def dropout(t):
    """The inverted-dropout backward ``dl/dh = m ⊙ dl/dd / (1 - p)`` without its scale, its mask, or both."""
    ns = t.space.ns
    graph = ns.derivation.graph
    for node in graph.leaves("input"):
        d = next((c for c in graph.consumers(node.name) if graph[c].meta.kind == "dropout"), None)
        if node.meta.rate is None or d is None:
            continue
        p, mask = node.meta.rate, _spelling(ns, node.name, t.batch)
        h = next(a for a in graph[d].args if a != node.name)
        keep = 1 - p
        scale = Num(float(1 / keep), str(1 / keep))
        d_, h_, dd, dh = (_spelling(ns, v, t.batch, deriv) or v for deriv in (False, True) for v in (d, h))
        m = mask or node.name
        rule = f"{d_} = {m} ⊙ {h_}/(1 - p) with p = {p}, so {dh} = {m} ⊙ {dd}/(1 - p)"
        yield Repair(Cause("dropout_scale", f"missing the inverted-dropout scale 1/(1 - p) = {1 / keep}: {rule}"),
                     Op("matmul", (scale, t.formula)))
        if mask is None or mask in names(t.formula):
            continue
        masked = Op("had", (Name(mask), t.formula))
        yield Repair(Cause("dropout_mask", f"the dropout mask {mask} is missing, so the gradient flows through the "
                                           f"dropped units too: {rule}"), masked)
        yield Repair(Cause("dropout_mask", f"the dropout mask {mask} and the scale 1/(1 - p) = {1 / keep} are "
                                           f"missing: {rule}"), Op("matmul", (scale, masked)))
