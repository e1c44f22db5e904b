"""Kernel source from a plan: one njit function per loop layout, one rule per step kind.

Stage: codegen. Input: a `Plan` and its `Storage`. Output: the source of
``_step_<layout>(P, X, Y, ws, lr, mode)``, which validates its arguments,
runs the forward pass (``mode`` 0 stops there), the loss and the backward
pass (``mode`` 1), and the SGD update ``P -= lr * scale * G`` (``mode`` 2).
``ws`` holds the gradient ``G`` (same layout as ``P``) and then the stored
values. Sizes and offsets are literals, so LLVM sees every trip count.

Three layouts (benchmarks/numba_mlp.py measured each):

``sample``  sample-outer loops, everything per sample (tiny layers, batch <= 4);
``small``   batch-innermost loops over a transposed block, one row per component (tiny layers);
``blas``    ``np.dot`` into preallocated ``(B, n)`` views, fused elementwise loops.

Each layout registers one method per step kind in its ``RULES`` dict.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import sympy as sp

from ..ir import sym
from ..ops import I
from . import naming
from .plan import Affine, Back, Concat, Group, Member, Plan, Return, Slice
from .printer import stabilize, to_numba
from .storage import Storage, allocate


class Code:
    """Indented source lines."""

    def __init__(self, depth: int = 1):
        self.lines: list[str] = []
        self.depth = depth

    def __call__(self, line: str = "") -> None:
        self.lines.append(("    " * self.depth + line) if line else "")

    @contextmanager
    def block(self, head: str):
        self(head)
        self.depth += 1
        yield
        self.depth -= 1

    def text(self) -> str:
        return "\n".join(self.lines)


def _plus(base, idx: str) -> str:
    """``base + idx`` with literal folding: ``i``, ``3 + i``."""
    if isinstance(base, int) and base == 0:
        return idx
    return f"{base} + {idx}"


def _c(coef: float) -> str:
    return "" if coef == 1.0 else f"{coef!r}*"


# -- elementwise loop bodies --------------------------------------------------------------------------

class Body:
    """An elementwise loop body: reductions and picks per sample, CSE'd temporaries, outputs."""

    def __init__(self, members: list[Member], plan: Plan, head: str | None = None):
        self.members = members
        self.plan = plan
        exprs, known = [], {}
        for m in members:  # inline earlier members: one CSE over everything the loop computes
            e = stabilize(m.expr).xreplace(known)
            exprs.append(e)
            if m.mode in ("store", "temp"):
                known[sym(m.name)] = e
        self.reductions: list[Red] = []
        self.picks: list[tuple] = []  # (local, vector, index expr)
        exprs = [self._reduce(e) for e in exprs]
        rows = [k for k, m in enumerate(members) if m.mode == "lossrow"]
        self.row_exprs = [(members[k], exprs[k]) for k in rows]
        elem = [k for k, m in enumerate(members) if m.mode not in ("lossrow", "temp")]  # temps: inlined above
        repl, reduced = sp.cse([exprs[k] for k in elem], symbols=_names(naming.temp), order="canonical") \
            if elem else ([], [])
        self.temps = repl
        self.outputs = [(members[k], e) for k, e in zip(elem, reduced)]
        self.head = head

    def _reduce(self, e: sp.Expr) -> sp.Expr:
        for s in sorted(e.atoms(sp.Sum), key=sp.default_sort_key):
            (j, lo, hi), body = s.limits[0], s.function
            picks = [x for x in body.atoms(sp.Indexed) if x.indices == (j,)]
            lo, hi = int(lo), int(hi)
            lse = isinstance(body, sp.exp) and len(picks) == 1 and body.args[0] == picks[0]
            key = ("lse" if lse else "sum", body, lo, hi)
            red = next((r for r in self.reductions if (r.kind, r.body, r.lo, r.hi) == key), None)
            if red is None:  # each reduction once per sample, however many outputs use it
                k = len(self.reductions)
                red = Red(key[0], sp.Symbol(naming.reduction(k)), body, picks[0].base.name if lse else None, j, lo, hi,
                          sp.Symbol(naming.maximum(k)) if lse else None)
                self.reductions.append(red)
            if lse:
                v, mx, local = red.vec, red.mx, red.local
                big = sp.Symbol("_E", positive=True)  # e^m, cancelled below
                z = sp.Symbol(local.name + "_", positive=True)
                e = e.xreplace({s: big * z}).xreplace({sp.exp(sym(v)): big * sp.exp(sym(v) - mx)})
                e = sp.expand_log(e, force=True).xreplace({sp.log(big): mx}).xreplace({big: sp.exp(mx), z: local})
            else:
                e = e.xreplace({s: red.local})
        for x in sorted(e.atoms(sp.Indexed), key=sp.default_sort_key):
            pick = next((p for p in self.picks if (p[1], p[2]) == (x.base.name, x.indices[0])), None)
            if pick is None:
                pick = (sp.Symbol(naming.pick(len(self.picks))), x.base.name, x.indices[0])
                self.picks.append(pick)
            e = e.xreplace({x: pick[0]})
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
    j: sp.Symbol
    lo: int
    hi: int
    mx: sp.Symbol | None


def _names(make):
    k = 0
    while True:
        yield sp.Symbol(make(k))
        k += 1


# -- the layouts ------------------------------------------------------------------------------------

class Layout:
    """Shared machinery; subclasses say how a value's component is read and how each step loops."""

    name = ""
    copies_inputs = False
    RULES: dict = {}

    def __init__(self, plan: Plan, comments: dict[str, str]):
        self.plan = plan
        self.comments = comments
        self.st: Storage = allocate(plan, inputs=self.copies_inputs)
        self.code = Code()
        self.ready: set[str] = set()  # parameters whose gradient slot holds a value already
        self.single_input = len(plan.inputs) == 1 and plan.inputs[0][1] == 0

    # -- names and reads -----------------------------------------------------------------------------
    def input_col(self, name: str):
        return next((c for n, c, _ in self.plan.inputs if n == name), None)

    def label(self) -> str:
        return "Y[s]"

    def names(self, body: Body, idx: str = naming.COMPONENT, head_code: str | None = None) -> dict:
        """Source text for each symbol a loop body reads."""
        names = {I: idx}
        for t, _ in body.temps:
            names[t] = t.name
        for r in body.reductions:
            names[r.local] = r.local.name
            if r.mx is not None:
                names[r.mx] = r.mx.name
        for p in body.picks:
            names[p[0]] = p[0].name
        exprs = [e for _, e in body.temps] + [e for _, e in body.outputs] + [e for _, e in body.row_exprs]
        for e in exprs:
            for s in e.free_symbols:
                if s in names or not isinstance(s, sp.Symbol):
                    continue
                if body.head is not None and s.name == body.head:
                    names[s] = head_code
                elif s.name == "y" and self.plan.labels:
                    names[s] = self.label()
                else:
                    names[s] = self.read(s.name, idx)
        return names

    def read(self, name: str, idx: str) -> str:
        """Source reading entry `idx` of stored quantity `name`; each layout defines where it lives."""
        raise TypeError(f"{type(self).__name__} must define read(): where {name} is stored in this layout")

    def grad_at(self, param: str, idx: str) -> str:
        return f"ws[{_plus(self.plan.offsets[param], idx)}]"

    def comment(self, *names: str) -> None:
        for n in names:
            text = self.comments.get(n)
            if text:
                for line in text.splitlines():
                    self.code(f"# {line}")

    # -- the kernel ----------------------------------------------------------------------------------------
    def kernel(self) -> str:
        c = self.code
        p = self.plan
        c.depth = 0
        c("@njit(cache=True, fastmath=_FASTMATH)")
        c(f"def {naming.kernel(self.name)}(P, X, Y, ws, lr, mode):")
        c.depth = 1
        c(f'"""{self.doc}"""')
        self.validate()
        self.prologue()
        for step in p.steps:
            self.RULES[type(step)](self, step)
        self.finish()
        return c.text() + "\n"

    def validate(self) -> None:
        c, p = self.code, self.plan
        c("B = X.shape[0]")
        with c.block(f"if B < 1 or X.shape[1] != {p.n_in}:"):
            c(f'raise ValueError("X: expected shape (batch, {p.n_in}) with batch >= 1")')
        with c.block(f"if P.shape[0] != {p.n_params}:"):
            c(f'raise ValueError("params: expected {p.n_params} values in the flat buffer")')
        c("chk = 0.0")
        with c.block("for s in range(B):"):
            with c.block(f"for j in range({p.n_in}):"):
                c("chk += X[s, j] * 0.0  # NaN or inf makes this NaN (x - x would be folded to 0)")
        with c.block("if not chk == 0.0:"):
            c('raise ValueError("X: contains NaN or infinity")')
        with c.block("if mode != 0:"):
            if p.labels:
                with c.block("if Y.shape[0] != B:"):
                    c('raise ValueError("Y: expected shape (batch,), one class label per row of X")')
                with c.block("for s in range(B):"):
                    with c.block(f"if Y[s] < 0 or Y[s] >= {p.n_out}:"):
                        c(f'raise ValueError("Y: class labels must lie in 0..{p.n_out - 1}")')
            else:
                with c.block(f"if Y.shape[0] != B or Y.shape[1] != {p.n_out}:"):
                    c(f'raise ValueError("Y: expected shape (batch, {p.n_out}), one target row per row of X")')
                with c.block("for s in range(B):"):
                    with c.block(f"for j in range({p.n_out}):"):
                        c("chk += Y[s, j] * 0.0")
                with c.block("if not chk == 0.0:"):
                    c('raise ValueError("Y: contains NaN or infinity")')
        c("loss = 0.0")

    def prologue(self) -> None:
        pass

    def finish(self) -> None:
        c, p = self.code, self.plan
        unset = [q for q in p.params if q not in self.ready and self.name != "sample"]
        for q in unset:  # a parameter no gradient reaches: its gradient is zero
            n = 1
            for s in p.shapes[q]:
                n *= s
            with c.block(f"for k in range({n}):"):
                c(f"ws[{_plus(p.offsets[q], 'k')}] = 0.0")
        c("scale = " + ("1.0 / B" if p.reduction == "mean" else "1.0"))
        with c.block("if mode == 2:"):
            c("# SGD: P <- P - lr * scale * G, one pass over the flat buffers")
            c("step = lr * scale")
            with c.block(f"for k in range({p.n_params}):"):
                c("P[k] -= step * ws[k]")
        c("return loss * scale")

    # -- shared pieces -----------------------------------------------------------------------------------
    def body_lines(self, body: Body, names: dict, store) -> None:
        """Temporaries, then every output into a local, then the stores (reads before writes)."""
        c = self.code
        for t, e in body.temps:
            c(f"{t.name} = {to_numba(e, names)}")
        outs = []
        for k, (m, e) in enumerate(body.outputs):
            local = naming.out(k)
            c(f"{local} = {to_numba(e, names)}")
            outs.append((m, local))
        for m, local in outs:
            if m.mode == "loss":
                c(f"loss += {local}")
            elif m.mode == "grad":
                store(m, local, grad=self.plan.grad_of[m.name])
            elif m.mode == "store":
                store(m, local, grad=None)

    def per_sample_lines(self, body: Body, idx_read) -> None:
        """Reductions (with max subtraction for sums of exponentials), picks and per-sample losses."""
        c = self.code
        for r in body.reductions:
            local = r.local.name
            if r.kind == "lse":
                v, mx = r.vec, r.mx.name
                c(f"# log-sum-exp without overflow: m = max_j {v}_j, then sum_j exp({v}_j - m)")
                c(f"{mx} = {idx_read(v, str(r.lo))}")
                with c.block(f"for j in range({r.lo + 1}, {r.hi + 1}):"):
                    with c.block(f"if {idx_read(v, 'j')} > {mx}:"):
                        c(f"{mx} = {idx_read(v, 'j')}")
                c(f"{local} = 0.0")
                with c.block(f"for j in range({r.lo}, {r.hi + 1}):"):
                    c(f"{local} += math.exp({idx_read(v, 'j')} - {mx})")
            else:
                picks = {x: sp.Symbol(f"_p{k}") for k, x in enumerate(sorted(r.body.atoms(sp.Indexed), key=str))}
                names = {s: idx_read(x.base.name, "j") for x, s in picks.items()}
                if r.body.has(sym("y")) and self.plan.labels:
                    names[sym("y")] = self.label()
                c(f"{local} = 0.0")
                with c.block(f"for j in range({r.lo}, {r.hi + 1}):"):
                    c(f"{local} += {to_numba(stabilize(r.body.xreplace(picks)), names)}")
        for local, v, index in body.picks:
            idx = self.label() if index == sym("y") else str(int(index))
            c(f"{local.name} = {idx_read(v, idx)}")
        if body.row_exprs:
            names = self.names(body)
            for m, e in body.row_exprs:
                c(f"loss += {to_numba(e, names)}")


# -- sample-outer ------------------------------------------------------------------------------------

class SampleLayout(Layout):
    """Sample-outer: one pass per sample through forward, loss and backward (tiny layers, tiny batches)."""

    name = "sample"
    doc = ("Training step, sample-outer loops: per sample, forward, loss and backward on small vectors;\n"
           "    the gradient accumulates in ws[:NP]. Best for tiny layers and batches of a few rows.")

    def __init__(self, plan, comments):
        super().__init__(plan, comments)
        base = plan.n_params
        self.offset = []
        for n in self.st.size:
            self.offset.append(base)
            base += n
        self.out_offset = base
        self.ws_fixed = base
        self.ready = set(plan.params)

    def ws_size(self) -> str:
        return f"{self.ws_fixed} + B * {self.plan.sizes[self.plan.prediction]}"

    def output(self) -> str:
        n = self.plan.sizes[self.plan.prediction]
        return f"ws[{self.out_offset}:{self.out_offset} + B * {n}].reshape(B, {n})"

    def read(self, name: str, idx: str) -> str:
        p = self.plan
        col = self.input_col(name)
        if col is not None:
            return f"X[s, {_plus(col, idx)}]"
        if name == "y":
            return f"Y[s, {idx}]"
        if name in p.offsets:
            return f"P[{_plus(p.offsets[name], idx)}]"
        return f"ws[{_plus(self.offset[self.st.of(p, name)], idx)}]"

    def slot_at(self, name: str, idx: str) -> str:
        return f"ws[{_plus(self.offset[self.st.of(self.plan, name)], idx)}]"

    def prologue(self) -> None:
        c = self.code
        with c.block(f"for k in range({self.plan.n_params}):"):
            c("ws[k] = 0.0")
        c("for s in range(B):")
        c.depth += 1

    def finish(self) -> None:
        self.code.depth -= 1
        with self.code.block("if mode == 0:"):
            self.code("return 0.0")
        super().finish()

    def store(self, m, local, grad):
        if grad is not None:
            self.code(f"{self.grad_at(grad, 'i')} += {local}")
        else:
            self.code(f"{self.slot_at(m.name, 'i')} = {local}")

    def affine(self, st: Affine) -> None:
        c, p = self.code, self.plan
        self.comment(st.node, *[m.name for m in st.members])
        body = Body(st.members, p, head=st.node) if st.members else None
        with c.block(f"for i in range({st.size}):"):
            vecs = [t for t in st.terms if t.kind == "vec"]
            init = " + ".join(_c(t.coef) + self.read(t.a, "i") for t in vecs) or "0.0"
            c(f"acc = {init}")
            for t in st.terms:
                if t.kind != "matvec":
                    continue
                rows, cols = p.shapes[t.a]
                k = rows if t.trans else cols
                w = f"P[{_plus(p.offsets[t.a], f'j*{cols} + i' if t.trans else f'i*{cols} + j')}]"
                with c.block(f"for j in range({k}):"):
                    c(f"acc += {_c(t.coef)}{w} * {self.read(t.b, 'j')}")
            if st.head_stored:
                c(f"{self.slot_at(st.node, 'i')} = acc")
            if body:
                self.body_lines(body, self.names(body, head_code="acc"), self.store)

    def group(self, st: Group) -> None:
        c = self.code
        self.comment(*[m.name for m in st.members])
        body = Body(st.members, self.plan)
        self.per_sample_lines(body, self.read)
        if body.outputs:
            with c.block(f"for i in range({st.size}):"):
                self.body_lines(body, self.names(body), self.store)

    def back(self, st: Back) -> None:
        c, p = self.code, self.plan
        self.comment(*[it.node for it in st.items])
        n = p.sizes[st.upstream]
        for it in st.items:
            if it.grad is None:
                with c.block(f"for j in range({p.sizes[it.node]}):"):
                    c(f"{self.slot_at(it.node, 'j')} = 0.0")
        with c.block(f"for i in range({n}):"):
            c(f"gi = {self.read(st.upstream, 'i')}")
            loops: dict[int, list[str]] = {}
            for it in st.items:
                for t in it.terms:
                    line, k = self.back_term(it, t, st.upstream, n)
                    if k is None:
                        c(line)
                    else:
                        loops.setdefault(k, []).append(line)
            for k, lines in loops.items():
                with c.block(f"for j in range({k}):"):
                    for line in lines:
                        c(line)

    def back_term(self, it, t, g, n):
        p = self.plan
        if t.kind == "vec":
            dst = self.grad_at(it.grad, "i") if it.grad else self.slot_at(it.node, "i")
            return f"{dst} += {_c(t.coef)}gi", None
        if t.kind == "outer":
            if t.a == g:  # g a^T: row i of the gradient
                k = p.sizes[t.b]
                return f"{self.grad_at(it.grad, f'i*{k} + j')} += {_c(t.coef)}gi * {self.read(t.b, 'j')}", k
            k = p.sizes[t.a]  # a g^T (a tied transpose): column i
            return f"{self.grad_at(it.grad, f'j*{n} + i')} += {_c(t.coef)}{self.read(t.a, 'j')} * gi", k
        rows, cols = p.shapes[t.a]
        if t.trans:  # W^T g: W is (n, k)
            w = f"P[{_plus(p.offsets[t.a], f'i*{cols} + j')}]"
            k = cols
        else:  # W g: W is (k, n)
            w = f"P[{_plus(p.offsets[t.a], f'j*{cols} + i')}]"
            k = rows
        return f"{self.slot_at(it.node, 'j')} += {_c(t.coef)}gi * {w}", k

    def concat(self, st: Concat) -> None:
        c = self.code
        self.comment(st.node)
        for part, off, n in st.parts:
            with c.block(f"for i in range({n}):"):
                c(f"{self.slot_at(st.node, _plus(off, 'i'))} = {self.read(part, 'i')}")

    def slice(self, st: Slice) -> None:
        c = self.code
        self.comment(st.node)
        with c.block(f"for i in range({st.size}):"):
            src = self.read(st.src, _plus(st.lo, "i"))
            if st.grad:
                c(f"{self.grad_at(st.grad, 'i')} += {_c(st.coef)}{src}")
            else:
                c(f"{self.slot_at(st.node, 'i')} = {_c(st.coef)}{src}")

    def ret(self, st: Return) -> None:
        c = self.code
        n = self.plan.sizes[st.node]
        with c.block("if mode == 0:"):
            with c.block(f"for i in range({n}):"):
                c(f"ws[{self.out_offset} + s*{n} + i] = {self.read(st.node, 'i')}")
            c("continue")

    RULES = {Affine: affine, Group: group, Back: back, Concat: concat, Slice: slice, Return: ret}


# -- batch-innermost, transposed ------------------------------------------------------------------------

class SmallLayout(Layout):
    """Batch-innermost loops over a transposed block: row r of R holds one component for all samples."""

    name = "small"
    copies_inputs = True
    doc = ("Training step, batch-innermost loops: every stored vector is transposed, one row of B samples\n"
           "    per component, so each inner loop is a unit-stride loop over the batch. Tiny layers.")

    def __init__(self, plan, comments):
        super().__init__(plan, comments)
        self.base = []
        r = 0
        for n in self.st.size:
            self.base.append(r)
            r += n
        self.rows = r

    def ws_size(self) -> str:
        return f"{self.plan.n_params} + {self.rows} * B"

    def output(self) -> str:
        p = self.plan
        b = self.base[self.st.of(p, p.prediction)]
        n = p.sizes[p.prediction]
        return f"ws[{p.n_params} + {b} * B:{p.n_params} + {b + n} * B].reshape({n}, B).T"

    def row(self, name: str, idx: str) -> str:
        p = self.plan
        if name in p.offsets:
            raise KeyError(name)
        return f"R[{_plus(self.base[self.st.of(p, name)], idx)}]"

    def read(self, name: str, idx: str) -> str:  # s-outer loops (reductions): R[r, s]
        p = self.plan
        if name == "y":
            return f"Y[s, {idx}]"
        if name in p.offsets:
            return f"P[{_plus(p.offsets[name], idx)}]"
        return f"R[{_plus(self.base[self.st.of(p, name)], idx)}, s]"

    def prologue(self) -> None:
        c, p = self.code, self.plan
        c(f"R = ws[{p.n_params}:{p.n_params} + {self.rows} * B].reshape(({self.rows}, B))")
        for name, col, n in p.inputs:
            c(f"# {name}^T: one row per input component")
            with c.block(f"for j in range({n}):"):
                c(f"r = {self.row(name, 'j')}")
                with c.block("for s in range(B):"):
                    c(f"r[s] = X[s, {_plus(col, 'j')}]")

    def elementwise(self, body: Body, size: int, head: str | None = None) -> None:
        """for i: rows; for s: body (no per-sample reductions)."""
        c = self.code
        grads = [m for m, _ in body.outputs if m.mode == "grad"]
        for m in grads:
            if self.plan.grad_of[m.name] not in self.ready:
                with c.block(f"for i in range({size}):"):
                    c(f"{self.grad_at(self.plan.grad_of[m.name], 'i')} = 0.0")
                self.ready.add(self.plan.grad_of[m.name])
        ctx = c.block(f"for i in range({size}):") if head is None else _nullblock()
        with ctx:
            names = self.names_rows(body, head)
            for m, _ in body.outputs:
                if m.mode == "store":
                    c(f"{naming.row(m.name)}_o = {self.row(m.name, 'i')}")
            gaccs = {}
            for k, m in enumerate(grads):
                gaccs[m.name] = f"acc{k + 1}"
                c(f"acc{k + 1} = 0.0")

            def store(m, local, grad):
                if grad is not None:
                    c(f"{gaccs[m.name]} += {local}")
                else:
                    c(f"{naming.row(m.name)}_o[s] = {local}")

            with c.block("for s in range(B):"):
                self.body_lines(body, names, store)
            for m in grads:
                c(f"{self.grad_at(self.plan.grad_of[m.name], 'i')} += {gaccs[m.name]}")

    def names_rows(self, body: Body, head: str | None) -> dict:
        """Names for an i-outer, s-inner body: each stored vector read through its row view."""
        names = self.names(body, head_code="z[s]")
        for s in sorted(names, key=sp.default_sort_key):
            n = s.name
            if s != sym(n) or n == head or n not in self.plan.sizes or n in self.plan.offsets or n == "y":
                continue
            local = naming.row(n)
            self.code(f"{local} = {self.row(n, 'i')}")
            names[s] = f"{local}[s]"
        return names

    def affine(self, st: Affine) -> None:
        c, p = self.code, self.plan
        self.comment(st.node, *[m.name for m in st.members])
        with c.block(f"for i in range({st.size}):"):
            c(f"z = {self.row(st.node, 'i')}")
            vecs = [t for t in st.terms if t.kind == "vec"]
            inits = []
            for k, t in enumerate(vecs):
                if t.a in p.offsets:
                    c(f"b{k} = {_c(t.coef)}P[{_plus(p.offsets[t.a], 'i')}]")
                    inits.append(f"b{k}")
                else:
                    c(f"a{k} = {self.row(t.a, 'i')}")
                    inits.append(f"{_c(t.coef)}a{k}[s]")
            with c.block("for s in range(B):"):
                c(f"z[s] = {' + '.join(inits) or '0.0'}")
            for t in st.terms:
                if t.kind != "matvec":
                    continue
                rows, cols = p.shapes[t.a]
                k = rows if t.trans else cols
                w = f"P[{_plus(p.offsets[t.a], f'j*{cols} + i' if t.trans else f'i*{cols} + j')}]"
                with c.block(f"for j in range({k}):"):
                    c(f"w = {_c(t.coef)}{w}")
                    c(f"a = {self.row(t.b, 'j')}")
                    with c.block("for s in range(B):"):
                        c("z[s] += w * a[s]")
            if st.members:
                self.elementwise(Body(st.members, p, head=st.node), st.size, head=st.node)

    def group(self, st: Group) -> None:
        c, p = self.code, self.plan
        self.comment(*[m.name for m in st.members])
        body = Body(st.members, p)
        if not body.per_sample:
            self.elementwise(body, st.size)
            return
        for m, _ in body.outputs:
            if m.mode == "grad" and p.grad_of[m.name] not in self.ready:
                with c.block(f"for i in range({st.size}):"):
                    c(f"{self.grad_at(p.grad_of[m.name], 'i')} = 0.0")
                self.ready.add(p.grad_of[m.name])
        with c.block("for s in range(B):"):
            self.per_sample_lines(body, self.read)
            if body.outputs:
                with c.block(f"for i in range({st.size}):"):
                    def store(m, local, grad):
                        if grad is not None:
                            c(f"{self.grad_at(grad, 'i')} += {local}")
                        else:
                            c(f"{self.read(m.name, 'i')} = {local}")

                    self.body_lines(body, self.names(body), store)

    def back(self, st: Back) -> None:
        c, p = self.code, self.plan
        self.comment(*[it.node for it in st.items])
        n = p.sizes[st.upstream]
        for it in st.items:
            if it.grad is None:
                with c.block(f"for j in range({p.sizes[it.node]}):"):
                    c(f"r = {self.row(it.node, 'j')}")
                    with c.block("for s in range(B):"):
                        c("r[s] = 0.0")
        first = {it.node: it.grad not in self.ready for it in st.items if it.grad}
        with c.block(f"for i in range({n}):"):
            c(f"g = {self.row(st.upstream, 'i')}")
            loops: dict[int, list[list[str]]] = {}
            for it in st.items:
                for t in it.terms:
                    lines, k = self.back_term(it, t, st.upstream, n, first.get(it.node, False))
                    if k is None:
                        for line in lines:
                            c(line)
                    else:
                        loops.setdefault(k, []).append(lines)
            for k, blocks in loops.items():
                with c.block(f"for j in range({k}):"):
                    for lines in blocks:
                        for line in lines:
                            c(line)
        for it in st.items:
            if it.grad:
                self.ready.add(it.grad)

    def back_term(self, it, t, g, n, first):
        p = self.plan
        op = "=" if first else "+="
        if t.kind == "vec":
            if it.grad:
                return ["acc = 0.0", "for s in range(B):", "    acc += g[s]",
                        f"{self.grad_at(it.grad, 'i')} {op} {_c(t.coef)}acc"], None
            return [f"o = {self.row(it.node, 'i')}", "for s in range(B):", f"    o[s] += {_c(t.coef)}g[s]"], None
        if t.kind == "outer":
            other = t.b if t.a == g else t.a
            k = p.sizes[other]
            dst = self.grad_at(it.grad, f"i*{k} + j" if t.a == g else f"j*{n} + i")
            return [f"a = {self.row(other, 'j')}", "acc = 0.0", "for s in range(B):", "    acc += g[s] * a[s]",
                    f"{dst} {op} {_c(t.coef)}acc"], k
        rows, cols = p.shapes[t.a]
        if t.trans:
            w, k = f"P[{_plus(p.offsets[t.a], f'i*{cols} + j')}]", cols
        else:
            w, k = f"P[{_plus(p.offsets[t.a], f'j*{cols} + i')}]", rows
        return [f"w = {_c(t.coef)}{w}", f"o = {self.row(it.node, 'j')}", "for s in range(B):",
                "    o[s] += w * g[s]"], k

    def concat(self, st: Concat) -> None:
        c = self.code
        self.comment(st.node)
        for part, off, n in st.parts:
            with c.block(f"for i in range({n}):"):
                c(f"d = {self.row(st.node, _plus(off, 'i'))}")
                c(f"a = {self.row(part, 'i')}")
                with c.block("for s in range(B):"):
                    c("d[s] = a[s]")

    def slice(self, st: Slice) -> None:
        c = self.code
        self.comment(st.node)
        with c.block(f"for i in range({st.size}):"):
            c(f"a = {self.row(st.src, _plus(st.lo, 'i'))}")
            if st.grad:
                c("acc = 0.0")
                with c.block("for s in range(B):"):
                    c("acc += a[s]")
                op = "=" if st.grad not in self.ready else "+="
                c(f"{self.grad_at(st.grad, 'i')} {op} {_c(st.coef)}acc")
            else:
                c(f"d = {self.row(st.node, 'i')}")
                with c.block("for s in range(B):"):
                    c(f"d[s] = {_c(st.coef)}a[s]")
        if st.grad:
            self.ready.add(st.grad)

    def ret(self, st: Return) -> None:
        with self.code.block("if mode == 0:"):
            self.code("return 0.0")

    RULES = {Affine: affine, Group: group, Back: back, Concat: concat, Slice: slice, Return: ret}


@contextmanager
def _nullblock():
    yield


# -- BLAS ---------------------------------------------------------------------------------------------

class BlasLayout(Layout):
    """np.dot (BLAS gemm) into preallocated (B, n) views, fused elementwise loops."""

    name = "blas"
    doc = ("Training step, BLAS: every matrix product is np.dot into a preallocated (B, n) view of the\n"
           "    workspace; bias, activation, loss and masks are fused loops over the rows.")

    def __init__(self, plan, comments):
        self.copies_inputs = not (len(plan.inputs) == 1 and plan.inputs[0][1] == 0)
        super().__init__(plan, comments)
        self.widths = sorted(set(self.st.size))
        self.index = {}  # slot -> index within its width block
        count: dict[int, int] = {}
        for s, n in enumerate(self.st.size):
            self.index[s] = count.get(n, 0)
            count[n] = count.get(n, 0) + 1
        self.count = count
        self.scratch = 0
        for step in plan.steps:  # extra product terms and gradient paths need a scratch matrix
            if isinstance(step, Affine):
                extra = [t for t in step.terms if t.kind == "matvec"][1:]
                if extra:
                    self.scratch = max(self.scratch, step.size)
            if isinstance(step, Back):
                for it in step.items:
                    if it.grad is None and sum(t.kind == "matvec" for t in it.terms) > 1:
                        self.scratch = max(self.scratch, plan.sizes[it.node])
        self.gscratch = max((n for q, n in ((q, _prod(plan.shapes[q])) for q in plan.params)
                             if sum(1 for v, pp in plan.grad_of.items() if pp == q) > 1), default=0)

    def ws_size(self) -> str:
        per_b = sum(n * self.count[n] for n in self.widths) + self.scratch
        return f"{self.plan.n_params + self.gscratch} + {per_b} * B"

    def block_offset(self, n: int) -> str:
        before = sum(w * self.count[w] for w in self.widths if w < n)
        return f"{self.plan.n_params + self.gscratch} + {before} * B"

    def output(self) -> str:
        p = self.plan
        s = self.st.of(p, p.prediction)
        n = self.st.size[s]
        return (f"ws[{self.block_offset(n)} + {self.index[s] * n} * B:{self.block_offset(n)} + "
                f"{(self.index[s] + 1) * n} * B].reshape(B, {n})")

    def view(self, name: str) -> str:
        p = self.plan
        if name in p.offsets:
            return naming.param(name)
        if not self.copies_inputs and name == p.inputs[0][0]:
            return "X"
        return naming.value(p.root(name)) if p.root(name) in self.st.slot else naming.value(name)

    def read(self, name: str, idx: str) -> str:
        p = self.plan
        if name == "y":
            return f"Y[s, {idx}]"
        if name in p.offsets:
            return f"P[{_plus(p.offsets[name], idx)}]"
        return f"{self.view(name)}[s, {idx}]"

    def prologue(self) -> None:
        c, p = self.code, self.plan
        for q in p.params:
            o, shape = p.offsets[q], p.shapes[q]
            n = _prod(shape)
            if len(shape) == 2:
                c(f"{naming.param(q)} = P[{o}:{o + n}].reshape(({shape[0]}, {shape[1]}))")
                c(f"{naming.grad(q)} = ws[{o}:{o + n}].reshape(({shape[0]}, {shape[1]}))")
        for n in self.widths:
            c(f"{naming.block(n)} = ws[{self.block_offset(n)}:{self.block_offset(n)} + {n * self.count[n]} * B]"
              f".reshape(({self.count[n]}, B, {n}))")
        if self.scratch:
            o = f"{p.n_params + self.gscratch} + {sum(w * self.count[w] for w in self.widths)} * B"
            c(f"S = ws[{o}:{o} + {self.scratch} * B]")
        for root, s in self.st.slot.items():
            c(f"{naming.value(root)} = {naming.block(self.st.size[s])}[{self.index[s]}]")
        if self.copies_inputs:
            for name, col, n in p.inputs:
                with c.block("for s in range(B):"):
                    with c.block(f"for j in range({n}):"):
                        c(f"{naming.value(name)}[s, j] = X[s, {_plus(col, 'j')}]")

    def store(self, m, local, grad):
        if grad is not None:
            self.code(f"{self.grad_at(grad, 'i')} += {local}")
        else:
            self.code(f"{self.view(m.name)}[s, i] = {local}")

    def zero_grads(self, body: Body, size: int) -> None:
        for m, _ in body.outputs:
            q = self.plan.grad_of.get(m.name) if m.mode == "grad" else None
            if q and q not in self.ready:
                with self.code.block(f"for i in range({size}):"):
                    self.code(f"{self.grad_at(q, 'i')} = 0.0")
                self.ready.add(q)

    def affine(self, st: Affine) -> None:
        c, p = self.code, self.plan
        self.comment(st.node, *[m.name for m in st.members])
        mv = [t for t in st.terms if t.kind == "matvec"]
        out = self.view(st.node)
        parts = []
        for k, t in enumerate(mv):
            w = naming.param(t.a) if t.trans else f"{naming.param(t.a)}.T"
            dst = out if k == 0 else f"S[:B * {st.size}].reshape((B, {st.size}))"
            if k > 0:
                c(f"Sk = {dst}")
                dst = "Sk"
            c(f"np.dot({self.view(t.b)}, {w}, {dst})")
            parts.append(_c(t.coef) + (f"{out}[s, i]" if k == 0 else "Sk[s, i]"))
        for t in st.terms:
            if t.kind == "vec":
                parts.append(_c(t.coef) + self.read(t.a, "i"))
        head = " + ".join(parts) or "0.0"
        trivial = head == f"{out}[s, i]"
        if not st.members and trivial:
            return
        body = Body(st.members, p, head=st.node) if st.members else None
        if body:
            self.zero_grads(body, st.size)
        with c.block("for s in range(B):"):
            with c.block(f"for i in range({st.size}):"):
                c(f"f = {head}")
                if st.head_stored and not trivial:
                    c(f"{out}[s, i] = f")
                if body:
                    self.body_lines(body, self.names(body, head_code="f"), self.store)

    def group(self, st: Group) -> None:
        c, p = self.code, self.plan
        self.comment(*[m.name for m in st.members])
        body = Body(st.members, p)
        self.zero_grads(body, st.size or 0)
        with c.block("for s in range(B):"):
            self.per_sample_lines(body, self.read)
            if body.outputs:
                with c.block(f"for i in range({st.size}):"):
                    self.body_lines(body, self.names(body), self.store)

    def back(self, st: Back) -> None:
        c, p = self.code, self.plan
        self.comment(*[it.node for it in st.items])
        g = self.view(st.upstream)
        n = p.sizes[st.upstream]
        for it in st.items:
            if it.grad is None:
                self.back_vector(it, g, n)
            else:
                self.back_grad(it, st.upstream, n)

    def back_vector(self, it, g, n) -> None:
        c, p = self.code, self.plan
        out = self.view(it.node)
        k_out = p.sizes[it.node]
        first = True
        for t in it.terms:
            if t.kind == "matvec":
                w = naming.param(t.a) if t.trans else f"{naming.param(t.a)}.T"
                if first and t.coef == 1.0:
                    c(f"np.dot({g}, {w}, {out})")
                else:
                    c(f"Sk = S[:B * {k_out}].reshape((B, {k_out}))")
                    c(f"np.dot({g}, {w}, Sk)")
                    with c.block("for s in range(B):"):
                        with c.block(f"for j in range({k_out}):"):
                            c(f"{out}[s, j] {'=' if first else '+='} {_c(t.coef)}Sk[s, j]")
            elif t.kind == "vec":
                with c.block("for s in range(B):"):
                    with c.block(f"for j in range({k_out}):"):
                        c(f"{out}[s, j] {'=' if first else '+='} {_c(t.coef)}{g}[s, j]")
            first = False

    def back_grad(self, it, up, n) -> None:
        c, p = self.code, self.plan
        g = self.view(up)
        q = it.grad
        first = q not in self.ready
        for t in it.terms:
            if t.kind == "vec":
                if first:
                    with c.block(f"for i in range({n}):"):
                        c(f"{self.grad_at(q, 'i')} = 0.0")
                with c.block("for s in range(B):"):
                    with c.block(f"for i in range({n}):"):
                        c(f"{self.grad_at(q, 'i')} += {_c(t.coef)}{g}[s, i]")
            elif t.kind == "outer":
                a, b = (f"{g}.T", self.view(t.b)) if t.a == up else (f"{self.view(t.a)}.T", g)
                shape = p.shapes[q]
                if first and t.coef == 1.0:
                    c(f"np.dot({a}, {b}, {naming.grad(q)})")
                else:
                    m = _prod(shape)
                    c(f"Gs = ws[{p.n_params}:{p.n_params + m}].reshape(({shape[0]}, {shape[1]}))")
                    c(f"np.dot({a}, {b}, Gs)")
                    with c.block(f"for r in range({shape[0]}):"):
                        with c.block(f"for j in range({shape[1]}):"):
                            op = "=" if first else "+="
                            c(f"{naming.grad(q)}[r, j] {op} {_c(t.coef)}Gs[r, j]")
            first = False
        self.ready.add(q)

    def concat(self, st: Concat) -> None:
        c = self.code
        self.comment(st.node)
        out = self.view(st.node)
        with c.block("for s in range(B):"):
            for part, off, n in st.parts:
                with c.block(f"for i in range({n}):"):
                    c(f"{out}[s, {_plus(off, 'i')}] = {self.read(part, 'i')}")

    def slice(self, st: Slice) -> None:
        c = self.code
        self.comment(st.node)
        if st.grad:
            if st.grad not in self.ready:
                with c.block(f"for i in range({st.size}):"):
                    c(f"{self.grad_at(st.grad, 'i')} = 0.0")
                self.ready.add(st.grad)
        with c.block("for s in range(B):"):
            with c.block(f"for i in range({st.size}):"):
                src = self.read(st.src, _plus(st.lo, "i"))
                if st.grad:
                    c(f"{self.grad_at(st.grad, 'i')} += {_c(st.coef)}{src}")
                else:
                    c(f"{self.view(st.node)}[s, i] = {_c(st.coef)}{src}")

    def ret(self, st: Return) -> None:
        with self.code.block("if mode == 0:"):
            self.code("return 0.0")

    RULES = {Affine: affine, Group: group, Back: back, Concat: concat, Slice: slice, Return: ret}


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


LAYOUTS = {"sample": SampleLayout, "small": SmallLayout, "blas": BlasLayout}
