"""Elementwise loop bodies: what one pass over the components of a group of elementwise nodes computes.

Stage: codegen. Input: the members of an `Affine` epilogue or a `Group`
(plan). Output: a `Body`: per-sample reductions (sums, log-sum-exp with its
maximum) and picks (``f[y]``), common subexpressions shared by every output
(``sympy.cse``), and each member's expression in them; the layouts print it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..derive.simplify import stabilize
from ..ir import sym
from .plan import Member


class Body:
    """An elementwise loop body: reductions and picks per sample, CSE'd temporaries, outputs."""

    def __init__(self, members: list[Member], head: str | None = None):
        exprs, known = [], {}
        for m in members:  # inline earlier members: one CSE over everything the loop computes
            e = stabilize(m.expr).xreplace(known)
            exprs.append(e)
            if m.mode in ("store", "temp"):
                known[sym(m.name)] = e
        self.reductions: list[Red] = []
        self.picks: dict[tuple, sp.Symbol] = {}  # (vector, index expr) -> its local
        exprs = [self._reduce(e) for e in exprs]
        self.row_exprs = [(m, e) for m, e in zip(members, exprs) if m.mode == "lossrow"]
        elem = [k for k, m in enumerate(members) if m.mode not in ("lossrow", "temp")]  # temps: inlined above
        self.temps, reduced = sp.cse([exprs[k] for k in elem], symbols=sp.numbered_symbols("t"), order="canonical")
        self.outputs = [(members[k], e) for k, e in zip(elem, reduced)]
        self.head = head

    def _reduce(self, e: sp.Expr) -> sp.Expr:
        while any(s.function.has(sp.Sum) for s in e.atoms(sp.Sum)):  # a sum in a sum's body: the inner one first
            e = self._reduce_sums(e, [s for s in e.atoms(sp.Sum) if not s.function.has(sp.Sum)])
        e = self._reduce_sums(e, e.atoms(sp.Sum))
        for x in sorted(e.atoms(sp.Indexed), key=sp.default_sort_key):
            key = (x.base.name, x.indices[0])
            e = e.xreplace({x: self.picks.setdefault(key, sp.Symbol(f"pk{len(self.picks)}"))})
        return e

    def _reduce_sums(self, e: sp.Expr, sums) -> sp.Expr:
        for s in sorted(sums, key=sp.default_sort_key):
            (j, lo, hi), body = s.limits[0], s.function
            picks = [x for x in body.atoms(sp.Indexed) if x.indices == (j,)]
            lo, hi = int(lo), int(hi)
            lse = isinstance(body, sp.exp) and len(picks) == 1 and body.args[0] == picks[0]
            key = ("lse" if lse else "sum", body, lo, hi)
            red = next((r for r in self.reductions if (r.kind, r.body, r.lo, r.hi) == key), None)
            if red is None:  # each reduction once per sample, however many outputs use it
                k = len(self.reductions)
                red = Red(key[0], sp.Symbol(f"red{k}"), body, picks[0].base.name if lse else None, lo, hi,
                          sp.Symbol(f"mx{k}") if lse else None)
                self.reductions.append(red)
            if lse:
                v, mx, local = red.vec, red.mx, red.local
                big = sp.Symbol("_E", positive=True)  # e^m, cancelled below
                z = sp.Symbol(local.name + "_", positive=True)
                e = e.xreplace({s: big * z}).xreplace({sp.exp(sym(v)): big * sp.exp(sym(v) - mx)})
                e = sp.expand_log(e, force=True).xreplace({sp.log(big): mx}).xreplace({big: sp.exp(mx), z: local})
            else:
                e = e.xreplace({s: red.local})
        return e

    @property
    def per_sample(self) -> bool:
        return bool(self.reductions or self.picks or self.row_exprs)


@dataclass
class Red:
    """A per-sample reduction sum_{j=lo..hi} body(v[j]); kind lse subtracts the maximum first."""

    kind: str
    local: sp.Symbol
    body: sp.Expr
    vec: str | None
    lo: int
    hi: int
    mx: sp.Symbol | None

