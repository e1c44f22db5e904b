"""The batch-innermost layout: every stored vector transposed, one row of B samples per component.

Stage: codegen. Input: a `Plan`. Output: ``_step_small``, whose inner loops
run over the batch with unit stride (``h1_i[s]``, row i of ``h1``), for tiny
layers at any batch size. The inputs are copied in transposed first.
"""

from __future__ import annotations

import collections
import itertools
from contextlib import nullcontext

import sympy as sp

from ..ir import sym
from . import naming
from .base import Layout, coef, plus
from .body import Body
from .plan import Affine, Back, Concat, Group, Slice


class SmallLayout(Layout):
    """Batch-innermost loops over a transposed block ``R``: row r holds one component for every sample."""

    name = "small"
    copies_inputs = True
    doc = ("Training step, batch-innermost loops: every stored vector is transposed, one row of B samples\n"
           "    per component, so each inner loop is a unit-stride loop over the batch. Tiny layers.")
    inference_doc = ("Forward pass only (inference), batch-innermost loops: every stored vector is transposed, one\n"
                     "    row of B samples per component, so each inner loop is a unit-stride loop over the batch.")

    def __init__(self, plan, comments):
        super().__init__(plan, comments)
        *self.base, self.rows = itertools.accumulate(self.st.size, initial=0)  # each slot's first row, and all

    def ws_size(self) -> str:
        return plus(self.plan.grad_block, f"{self.rows} * B")

    def output(self) -> str:
        p = self.plan
        b = self.base[self.st.of(p, p.prediction)]
        n = p.sizes[p.prediction]
        return f"ws[{plus(p.grad_block, f'{b} * B')}:{plus(p.grad_block, f'{b + n} * B')}].reshape({n}, B).T"

    def blocks(self, c) -> None:
        n = self.plan.grad_block
        c(f"{naming.ROWS} = ws[{n or ''}:{plus(n, f'{self.rows} * B')}].reshape(({self.rows}, B))")

    def bind(self, name: str) -> str:
        b = self.base[self.st.of(self.plan, name)]
        return f"{naming.ROWS}[{b}:{b + self.plan.sizes[name]}]"

    def over(self, var: str, n: int, name: str | None = None):
        """A loop over the n rows of `name`'s block, its trip count read from the view (``len(h1)``): LLVM keeps
        it rolled, where a literal count has it unrolled and every batch loop inside vectorized once per row (the
        kernel's compile time 1.5-2x, nothing gained at run time). One row: no loop (`Code.block`)."""
        return self.code.block(f"for {var} in range({n if n == 1 or name is None else f'len({self.q(name)})'}):")

    def row(self, name: str, idx: str) -> str:
        return f"{self.q(name)}[{idx}]"

    def read(self, name: str, idx: str) -> str:  # s-outer loops (reductions): h1[i, s]
        if name == "y":
            return f"Y[s, {idx}]"
        if name in self.plan.offsets:
            return f"{self.q(name)}[{idx}]"
        return f"{self.q(name)}[{idx}, s]"

    def prologue(self) -> None:
        c = self.code
        for name, col, n in self.plan.inputs:
            c(f"# {self.ids[name]}^T: one row per input component")
            # a literal count (not `over`): rolled, LLVM rounds attention's index-form sums over these rows otherwise
            with c.block(f"for j in range({n}):"):
                c(f"r = {self.row(name, 'j')}")
                with c.block("for s in range(B):"):
                    c(f"r[s] = X[s, {plus(col, 'j')}]")

    def elementwise(self, body: Body, n: int, head: str | None = None) -> None:
        """for i: rows; for s: body (no per-sample reductions)."""
        c = self.code
        grads = [m for m, _ in body.outputs if m.mode == "grad"]
        self.zero_grads(body, n)
        stores = [m.name for m, _ in body.outputs if m.mode == "store"]
        with self.over("i", n, stores[0] if stores else None) if head is None else nullcontext():
            names = self.names_rows(body, head)
            for name in stores:
                c(f"{naming.row(self.q(name))} = {self.row(name, 'i')}")
            sums = {m.name: f"acc{k + 1}" for k, m in enumerate(grads)}
            for m in grads:
                c(f"{sums[m.name]} = 0.0")

            def store(m, local, grad):  # a gradient sums over the batch into acc<k>; a stored row at s
                c(f"{sums[m.name]} += {local}" if grad else f"{naming.row(self.q(m.name))}[s] = {local}")

            with c.block("for s in range(B):"):
                self.body_lines(body, names, store)
            for m in grads:
                c(f"{self.grad_at(self.plan.grad_of[m.name], 'i')} += {sums[m.name]}")

    def names_rows(self, body: Body, head: str | None) -> dict:
        """Names for an i-outer, s-inner body: each stored vector read through its row view."""
        names = self.names(body, head_code="z[s]")
        p = self.plan
        for s in sorted(names, key=sp.default_sort_key):
            n = s.name
            if s != sym(n) or n == head or n not in p.sizes or n in p.offsets or n == "y":
                continue
            local = naming.row(self.q(n))
            self.code(f"{local} = {self.row(n, 'i')}")
            names[s] = f"{local}[s]"
        return names

    def affine(self, st: Affine) -> None:
        c, p = self.code, self.plan
        self.comment(st.node, *[m.name for m in st.members])
        with self.over("i", st.size, st.node):
            c(f"z = {self.row(st.node, 'i')}")
            inits = []
            for k, t in enumerate(t for t in st.terms if t.kind == "vec"):
                if t.a in p.offsets:
                    c(f"bias{k} = {coef(t.coef)}{self.q(t.a)}[i]")
                    inits.append(f"bias{k}")
                else:
                    c(f"vec{k} = {self.row(t.a, 'i')}")
                    inits.append(f"{coef(t.coef)}vec{k}[s]")
            with c.block("for s in range(B):"):
                c(f"z[s] = {' + '.join(inits) or '0.0'}")
            for t in st.terms:
                if t.kind == "matvec":
                    with self.over("j", self.width(t), t.b):
                        c(f"w = {coef(t.coef)}{self.weight(t, 'i', 'j')}")
                        c(f"a = {self.row(t.b, 'j')}")
                        with c.block("for s in range(B):"):
                            c("z[s] += w * a[s]")
            if st.members:
                self.elementwise(Body(st.members, head=st.node), st.size, head=st.node)

    def group(self, st: Group) -> None:
        self.comment(*[m.name for m in st.members])
        body = Body(st.members)
        (self.sample_loop if body.per_sample else self.elementwise)(body, st.size)

    def back(self, st: Back) -> None:
        c, p = self.code, self.plan
        self.comment(*[it.node for it in st.items])
        n = p.sizes[st.upstream]
        for it in st.items:
            if it.grad is None:
                with self.over("j", p.sizes[it.node], it.node):
                    c(f"r = {self.row(it.node, 'j')}")
                    with c.block("for s in range(B):"):
                        c("r[s] = 0.0")
        for q, k in collections.Counter(it.grad for it in st.items if it.grad for _ in it.terms).items():
            if k > 1 and q not in self.ready:  # several terms sum into it, in j_loops' order: zero it first
                c(f"{self.q(p.grads[q])}[:] = 0.0")
                self.ready.add(q)
        first = {it.node: it.grad not in self.ready for it in st.items if it.grad}
        with self.over("i", n, st.upstream):
            c(f"g = {self.row(st.upstream, 'i')}")
            self.j_loops(self.back_term(it, t, st.upstream, first.get(it.node, False))
                         for it in st.items for t in it.terms)
        for it in st.items:
            if it.grad:
                self.ready.add(it.grad)

    def back_term(self, it, t, g, first):
        """One term's lines of a backward product, and the quantity whose rows its j loop runs over (None: no loop)."""
        op = "=" if first else "+="
        if t.kind == "vec":
            if it.grad:
                return ["acc = 0.0", "for s in range(B):", "    acc += g[s]",
                        f"{self.grad_at(it.grad, 'i')} {op} {coef(t.coef)}acc"], None
            return [f"o = {self.row(it.node, 'i')}", "for s in range(B):", f"    o[s] += {coef(t.coef)}g[s]"], None
        if t.kind == "outer":
            other = t.b if t.a == g else t.a
            dst = self.grad_at(it.grad, "i", "j") if t.a == g else self.grad_at(it.grad, "j", "i")
            return [f"a = {self.row(other, 'j')}", "acc = 0.0", "for s in range(B):", "    acc += g[s] * a[s]",
                    f"{dst} {op} {coef(t.coef)}acc"], other
        return [f"w = {coef(t.coef)}{self.weight(t, 'j', 'i')}", f"o = {self.row(it.node, 'j')}",
                "for s in range(B):", "    o[s] += w * g[s]"], it.node

    def concat(self, st: Concat) -> None:
        c = self.code
        self.comment(st.node)
        for part, off, n in st.parts:
            with self.over("i", n, part):
                c(f"d = {self.row(st.node, plus(off, 'i'))}")
                c(f"a = {self.row(part, 'i')}")
                with c.block("for s in range(B):"):
                    c("d[s] = a[s]")

    def slice(self, st: Slice) -> None:
        c = self.code
        self.comment(st.node)
        with self.over("i", st.size, None if st.grad else st.node):
            c(f"a = {self.row(st.src, plus(st.lo, 'i'))}")
            if st.grad:
                c("acc = 0.0")
                with c.block("for s in range(B):"):
                    c("acc += a[s]")
                op = "=" if st.grad not in self.ready else "+="
                c(f"{self.grad_at(st.grad, 'i')} {op} {coef(st.coef)}acc")
            else:
                c(f"d = {self.row(st.node, 'i')}")
                with c.block("for s in range(B):"):
                    c(f"d[s] = {coef(st.coef)}a[s]")
        if st.grad:
            self.ready.add(st.grad)

