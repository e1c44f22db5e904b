"""The sample-outer layout: one pass per sample through forward, loss and backward (tiny layers, tiny batches).

Stage: codegen. Input: a `Plan`. Output: ``_step_sample``, whose stored
values are small vectors in the workspace, overwritten sample after sample,
and whose gradient accumulates in ``ws[:N]`` across the batch.
"""

from __future__ import annotations

import itertools
from contextlib import nullcontext

from . import naming
from .base import OUTPUT, Layout, coef, plus, times_b
from .batchnorm import refuse
from .body import Body
from .plan import Affine, Back, Return


class SampleLayout(Layout):
    """Sample-outer loops: the whole network per sample, on vectors of literal size."""

    name = "sample"
    outlines = False  # every step runs inside the one loop over the samples
    doc = ("Training step, sample-outer loops: per sample, forward, loss and backward on small vectors;\n"
           "    the gradient accumulates in ws[:N]. Best for tiny layers and batches of a few rows.")
    inference_doc = ("Forward pass only (inference), sample-outer loops: per sample, the network on small vectors.\n"
                     "    Best for tiny layers and batches of a few rows.")

    def __init__(self, plan, comments):
        super().__init__(plan, comments)
        *self.offset, self.out_offset = itertools.accumulate(self.st.size, initial=plan.grad_block)
        self.ready = set(plan.params)

    def ws_size(self) -> str:
        return f"{self.out_offset} + {times_b(self.plan.sizes[self.plan.prediction])}"

    def output(self) -> str:
        n = self.plan.sizes[self.plan.prediction]
        return f"ws[{self.out_offset}:{self.out_offset} + {times_b(n)}].reshape(B, {n})"

    def bind(self, name: str) -> str:
        if name == OUTPUT:
            n = self.plan.sizes[self.plan.prediction]
            return f"_view(ws[{self.out_offset}:{self.out_offset} + {times_b(n)}], (B, {n}))"
        if self.single_input and name == self.plan.inputs[0][0]:
            return "X"
        o, n = self.offset[self.st.of(self.plan, name)], self.plan.sizes[name]
        return f"ws[{o}:{o + n}]"

    def read(self, name: str, idx: str) -> str:
        col = next((c for n, c, _ in self.plan.inputs if n == name), None)
        if col is not None:
            return f"{self.q(name)}[s, {idx}]" if self.single_input else f"X[s, {plus(col, idx)}]"
        if name == "y":
            return f"Y[s, {idx}]"
        return f"{self.q(name)}[{idx}]"

    def prologue(self) -> None:
        c = self.code
        if not self.plan.inference:
            with c.block(f"for k in range({self.plan.n_params}):"):
                c("ws[k] = 0.0  # the gradient block")
        c("for s in range(B):")
        c.depth += 1

    def finish(self) -> None:
        self.code.depth -= 1
        if not self.plan.inference:
            with self.code.block(f"if mode == {naming.FORWARD}:"):
                self.code("return 0.0")
        super().finish()

    def affine(self, st: Affine) -> None:
        c = self.code
        self.comment(st.node, *[m.name for m in st.members])
        body = Body(st.members, head=st.node) if st.members else None
        with c.block(f"for i in range({st.size}):"):
            vecs = [t for t in st.terms if t.kind == "vec"]
            c(f"acc = {' + '.join(coef(t.coef) + self.read(t.a, 'i') for t in vecs) or '0.0'}")
            for t in st.terms:
                if t.kind == "matvec":
                    with c.block(f"for j in range({self.width(t)}):"):
                        c(f"acc += {coef(t.coef)}{self.weight(t, 'i', 'j')} * {self.read(t.b, 'j')}")
            if st.head_stored:
                c(f"{self.read(st.node, 'i')} = acc")
            if body:
                self.body_lines(body, self.names(body, head_code="acc"))

    def back(self, st: Back) -> None:
        c, p = self.code, self.plan
        self.comment(*[it.node for it in st.items])
        for it in st.items:  # explicit loops: a slice assignment costs a tiny step 5%
            if it.grad is None:
                with c.block(f"for j in range({p.sizes[it.node]}):"):
                    c(f"{self.read(it.node, 'j')} = 0.0")
        with c.block(f"for i in range({p.sizes[st.upstream]}):"):
            c(f"gi = {self.read(st.upstream, 'i')}")
            self.j_loops(self.back_term(it, t, st.upstream) for it in st.items for t in it.terms)

    def back_term(self, it, t, g):
        """One term's lines of a backward product, and the quantity whose components its j loop runs over (None:
        no loop)."""
        if t.kind == "vec":
            dst = self.grad_at(it.grad, "i") if it.grad else self.read(it.node, "i")
            return [f"{dst} += {coef(t.coef)}gi"], None
        if t.kind == "outer":
            if t.a == g:  # g a^T: row i of the gradient
                return [f"{self.grad_at(it.grad, 'i', 'j')} += {coef(t.coef)}gi * {self.read(t.b, 'j')}"], t.b
            # a g^T (a tied transpose): column i
            return [f"{self.grad_at(it.grad, 'j', 'i')} += {coef(t.coef)}{self.read(t.a, 'j')} * gi"], t.a
        # W^T g with W (n, k), or W g with W (k, n): entry (i, j) of W^T or W, j over the produced dimension
        return [f"{self.read(it.node, 'j')} += {coef(t.coef)}gi * {self.weight(t, 'j', 'i')}"], it.node

    batch = staticmethod(refuse)  # a batch sum needs every sample first: not inside the one loop over the samples

    def samples(self):
        """No loop: every step already runs inside the one loop over the batch."""
        return nullcontext()

    def ret(self, st: Return) -> None:
        c, training = self.code, not self.plan.inference  # inference: every sample's output row, the last step
        with c.block(f"if mode == {naming.FORWARD}:") if training else nullcontext():
            with c.block(f"for i in range({self.plan.sizes[st.node]}):"):
                c(f"{self.q(OUTPUT)}[s, i] = {self.read(st.node, 'i')}")
            if training:
                c("continue")
