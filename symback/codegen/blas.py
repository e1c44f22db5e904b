"""The BLAS layout: every matrix product is ``np.dot`` into a preallocated ``(B, n)`` view of the workspace.

Stage: codegen. Input: a `Plan`. Output: ``_step_blas``, for wide layers:
stored values of one width share a block (``V64``), one ``(B, 64)`` view per
slot (``h1 = V64[0]``); bias, activation, loss and masks are fused loops
over the rows; each matrix-vector term after the first of a product has its
own ``(B, n)`` view of the scratch block ``S``.
"""

from __future__ import annotations

import collections
import itertools
import math

from . import im2col, naming
from .base import Layout, coef, plus
from .body import Body
from .plan import Affine, Back


class BlasLayout(Layout):
    """np.dot (BLAS gemm) into preallocated (B, n) views, fused elementwise loops."""

    name = "blas"
    refcounts = True
    doc = ("Training step, BLAS: every matrix product is np.dot into a preallocated (B, n) view of the\n"
           "    workspace; bias, activation, loss and masks are fused loops over the rows.")
    inference_doc = ("Forward pass only (inference), BLAS: every matrix product is np.dot into a preallocated (B, n)\n"
                     "    view of the workspace; bias and activation are fused loops over the rows.")

    def __init__(self, plan, comments):
        self.copies_inputs = not (len(plan.inputs) == 1 and plan.inputs[0][1] == 0)
        super().__init__(plan, comments)
        self.count = collections.Counter(self.st.size)  # width -> slots of that width (one block each)
        self.widths = sorted(self.count)
        *starts, self.per_b = itertools.accumulate((n * self.count[n] for n in self.widths), initial=0)
        self.start = dict(zip(self.widths, starts))  # width -> where its block starts, in units of B
        self.index = {s: self.st.size[:s].count(n) for s, n in enumerate(self.st.size)}  # slot -> row in its block
        # scratch: a (B, n) view per matvec term after the first of a forward product, one for a backward
        # product whose matvec term is scaled or not first; Gs for a weight with several or scaled g h^T terms
        need = [max(sum(t.kind == "matvec" for t in st.terms) - 1, 0) * st.size for st in plan.steps
                if isinstance(st, Affine)]
        need += [plan.sizes[it.node] for st in plan.steps if isinstance(st, Back) for it in st.items
                 if it.grad is None and any(t.kind == "matvec" and not _direct(k, t) for k, t in enumerate(it.terms))]
        self.scratch = max(need, default=0)
        outer = [(it.grad, t.coef) for st in plan.steps if isinstance(st, Back) for it in st.items
                 for t in it.terms if t.kind == "outer"]
        self.gscratch = max((math.prod(plan.shapes[q]) for q, k in outer
                             if k != 1.0 or [r for r, _ in outer].count(q) > 1), default=0)
        self.im2col_at = plan.grad_block + self.gscratch  # the convolutions' GEMM buffers (`im2col`), fixed size
        self.gscratch += im2col.space(plan)

    def ws_size(self) -> str:
        return f"{self.plan.grad_block + self.gscratch} + {self.per_b + self.scratch} * B"

    def block_offset(self, n: int) -> str:
        base = self.plan.grad_block + self.gscratch
        return f"{base} + {self.start[n]} * B" if self.start[n] else str(base)

    def output(self) -> str:
        p = self.plan
        s = self.st.of(p, p.prediction)
        n = self.st.size[s]
        return (f"ws[{self.block_offset(n)} + {self.index[s] * n} * B:{self.block_offset(n)} + "
                f"{(self.index[s] + 1) * n} * B].reshape(B, {n})")

    def bind(self, name: str) -> str:
        if not self.copies_inputs and name == self.plan.inputs[0][0]:
            return "X"
        s = self.st.of(self.plan, name)
        return f"V{self.st.size[s]}[{self.index[s]}]"

    def read(self, name: str, idx: str) -> str:
        if name == "y":
            return f"Y[s, {idx}]"
        if name in self.plan.offsets:
            return f"{self.q(name)}[{idx}]"
        return f"{self.q(name)}[s, {idx}]"

    def blocks(self, c) -> None:
        p = self.plan
        for n in self.widths:
            c(f"V{n} = ws[{self.block_offset(n)}:{self.block_offset(n)} + {n * self.count[n]} * B]"
              f".reshape(({self.count[n]}, B, {n}))")
        if self.scratch:
            o = f"{p.grad_block + self.gscratch} + {self.per_b} * B"
            c(f"{naming.SCRATCH} = ws[{o}:{o} + {self.scratch} * B]")

    def prologue(self) -> None:
        c, p = self.code, self.plan
        if self.copies_inputs:
            for name, col, n in p.inputs:
                with c.block("for s in range(B):"), c.block(f"for j in range({n}):"):
                    c(f"{self.q(name)}[s, j] = X[s, {plus(col, 'j')}]")

    def affine(self, st: Affine) -> None:
        c = self.code
        self.comment(st.node, *[m.name for m in st.members])
        mv = [t for t in st.terms if t.kind == "matvec"]
        out = self.q(st.node)
        if len(mv) > 1:  # one scratch view per term after the first, summed in the loop below
            c(f"Sk = {naming.SCRATCH}[:{len(mv) - 1} * B * {st.size}].reshape(({len(mv) - 1}, B, {st.size}))")
        parts = []
        for k, t in enumerate(mv):
            w = self.q(t.a) if t.trans else f"{self.q(t.a)}.T"
            c(f"np.dot({self.q(t.b)}, {w}, {out if k == 0 else f'Sk[{k - 1}]'})")
            parts.append(coef(t.coef) + (f"{out}[s, i]" if k == 0 else f"Sk[{k - 1}, s, i]"))
        for t in st.terms:
            if t.kind == "vec":
                parts.append(coef(t.coef) + self.read(t.a, "i"))
        head = " + ".join(parts) or "0.0"
        trivial = head == f"{out}[s, i]"
        if not st.members and trivial:
            return
        body = Body(st.members, head=st.node) if st.members else None
        if body:
            self.zero_grads(body, st.size)
        with c.block("for s in range(B):"), c.block(f"for i in range({st.size}):"):
            c(f"f = {head}")
            if st.head_stored and not trivial:
                c(f"{out}[s, i] = f")
            if body:
                self.body_lines(body, self.names(body, head_code="f"))

    def index_form(self, st) -> None:
        if not im2col.emit(self, st, self.im2col_at):
            super().index_form(st)

    def back(self, st: Back) -> None:
        self.comment(*[it.node for it in st.items])
        for it in st.items:
            (self.back_grad if it.grad else self.back_vector)(it, st.upstream)

    def back_vector(self, it, up: str) -> None:
        c, g = self.code, self.q(up)
        out, k_out = self.q(it.node), self.plan.sizes[it.node]
        for k, t in enumerate(it.terms):  # matvec (W^T g: np.dot, into a scratch view unless first) or vec (g)
            src = f"{g}[s, j]"
            if t.kind == "matvec":
                w = self.q(t.a) if t.trans else f"{self.q(t.a)}.T"
                if _direct(k, t):
                    c(f"np.dot({g}, {w}, {out})")
                    continue
                c(f"Sk = {naming.SCRATCH}[:B * {k_out}].reshape((B, {k_out}))")
                c(f"np.dot({g}, {w}, Sk)")
                src = "Sk[s, j]"
            with c.block("for s in range(B):"), c.block(f"for j in range({k_out}):"):
                c(f"{out}[s, j] {'+=' if k else '='} {coef(t.coef)}{src}")

    def back_grad(self, it, up: str) -> None:
        """A parameter's gradient: g summed over the batch (vec), or g h^T by np.dot (outer; into a scratch
        view unless it is the first term and unscaled)."""
        c, p, q, g = self.code, self.plan, it.grad, self.q(up)
        for t in it.terms:
            first, dst = q not in self.ready, self.q(p.grads[q])
            if t.kind == "vec":
                n = p.sizes[up]
                if first:
                    with c.block(f"for i in range({n}):"):
                        c(f"{dst}[i] = 0.0")
                with c.block("for s in range(B):"), c.block(f"for i in range({n}):"):
                    c(f"{dst}[i] += {coef(t.coef)}{g}[s, i]")
            elif t.kind == "outer":
                a, b = (f"{g}.T", self.q(t.b)) if t.a == up else (f"{self.q(t.a)}.T", g)
                if first and t.coef == 1.0:
                    c(f"np.dot({a}, {b}, {dst})")
                else:
                    rows, cols = p.shapes[q]
                    c(f"Gs = ws[{p.n_params}:{p.n_params + rows * cols}].reshape(({rows}, {cols}))")
                    c(f"np.dot({a}, {b}, Gs)")
                    with c.block(f"for r in range({rows}):"), c.block(f"for j in range({cols}):"):
                        c(f"{dst}[r, j] {'=' if first else '+='} {coef(t.coef)}Gs[r, j]")
            self.ready.add(q)


def _direct(k: int, t) -> bool:
    """A backward product's term k goes straight into its result (np.dot's out) if first and unscaled."""
    return k == 0 and t.coef == 1.0
