"""What every kernel layout shares: source lines, named views, comments, checks and the SGD update.

Stage: codegen. Input: a `Plan`, its `Storage` and the equation of each
node. Output: the source of ``_step_<layout>(P, X, Y, ws, lr, mode)``: it
checks the batch (``_check_batch``, in `runtime`), binds a named
view for each quantity it touches (``W2 = _view(P[6:15], (3, 3))``,
``dl_dW2 = _view(ws[6:15], (3, 3))``, ``h1 = ws[34:37]``), runs the
forward pass (``mode == FORWARD`` stops there), the loss and the backward
pass, and the SGD update ``P -= lr * scale * G`` (``mode == SGD``). ``ws``
holds the gradient ``G`` (same layout as ``P``) and then the stored values.
An inference plan (``plan.inference``) gives a kernel of the forward pass
alone, with the same arguments: no loss, no gradient block, no update.
Sizes are literals, so LLVM sees every trip count (but the small layout's loops
over rows of B samples, `SmallLayout.over`); a loop of one trip is written as
straight-line code with its index folded (`Code.block`).
A layout subclass says where a stored value lives (`bind`, `read`) and how
each step kind loops (a method per step class, named in ``STEPS``).
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager, nullcontext
from itertools import chain

import sympy as sp

from ..derive.simplify import stabilize
from ..ir import sym
from ..ops import I
from . import naming
from . import attention, batchnorm, conv
from .attention import SoftmaxStep
from .batchnorm import BatchStep
from .body import Body
from .conv import IndexStep
from .outline import outline
from .plan import Affine, Back, Concat, Group, Plan, Return, Slice
from .printer import to_numba
from .storage import Storage, allocate

#: the key of the forward pass's output rows among the quantities (a space: never an IR name)
OUTPUT = " output"
#: the layout method that emits each kind of step
STEPS = {Affine: "affine", Group: "group", Back: "back", Concat: "concat", Slice: "slice", Return: "ret",
         BatchStep: "batch", IndexStep: "index_form", SoftmaxStep: "row_softmax"}
_LOOP = re.compile(r"for (\w+) in range\((?:(\d+), )?(\d+)\):$")
# "<number> + <number>" in an index, folded once a loop is unrolled; not after "- ", "* ", "/ " or "% ", where the
# first number belongs to the operation before it (n - 0 + 2 is n + 2, not n - 2)
_SUM = re.compile(r"(?<![-*/%] )(?<=[\[ ,(])(\d+) \+ (\d+)(?=[\],)])")


class Code:
    """Indented source lines; ``with code.block("for i in range(1):")`` emits its body once, with i = 0."""

    def __init__(self, depth: int = 1):
        self.lines: list[str] = []
        self.depth = depth
        self.fixed: dict[str, int] = {}  # loop variable -> its only value

    def __call__(self, line: str = "") -> None:
        if line and self.fixed and not line.startswith("#"):
            code, sep, note = line.partition("  # ")
            for var, value in self.fixed.items():
                code = re.sub(rf"\b{var}\b", str(value), code)
            line = _SUM.sub(lambda m: str(int(m[1]) + int(m[2])), code) + sep + note
        self.lines.append(("    " * self.depth + line) if line else "")

    @contextmanager
    def block(self, head: str):
        loop = _LOOP.match(head)
        if loop and int(loop[3]) - int(loop[2] or 0) == 1:
            saved, self.fixed = self.fixed, {**self.fixed, loop[1]: int(loop[2] or 0)}
            yield
            self.fixed = saved
            return
        self(head)
        self.depth += 1
        yield
        self.depth -= 1

    def text(self) -> str:
        return "\n".join(self.lines)


def plus(base, idx: str) -> str:
    """``base + idx`` with literal folding: ``i``, ``3 + i``."""
    return idx if base == 0 else f"{base} + {idx}"


def times_b(n: int) -> str:
    """``n * B`` rows of a batch, folded: ``B`` for one."""
    return "B" if n == 1 else f"B * {n}"


def coef(c: float) -> str:
    """A term's coefficient as a prefix: nothing for 1."""
    return "" if c == 1.0 else f"{c!r}*"


class Layout:
    """Shared machinery; subclasses say where each stored value lives and how each step loops."""

    name = ""
    doc = ""  # the kernel's docstring: a training step, then an inference kernel's
    inference_doc = ""
    copies_inputs = False
    refcounts = False  # does the kernel need Numba's reference counting (np.dot returns its out array)
    outlines = True  # may a long kernel's steps move into functions of their own (`outline`)

    def __init__(self, plan: Plan, comments: dict[str, str]):
        self.plan = plan
        self.comments = comments
        self.st: Storage = allocate(plan, inputs=self.copies_inputs)
        self.code = Code()
        self.ready: set[str] = set()  # parameters whose gradient view holds a value already
        self.used: dict[str, None] = {}  # every quantity the body names, in order of first use
        names = [n for n, _, _ in plan.inputs] + list(plan.params) + list(plan.sizes) + list(plan.grads.values())
        self.ids = naming.quantities(dict.fromkeys(names))
        self.ids[OUTPUT] = "out"
        self.single_input = len(plan.inputs) == 1 and plan.inputs[0][1] == 0

    # -- names -------------------------------------------------------------------------------------------
    def q(self, name: str) -> str:
        """The kernel's name for a quantity (a parameter, a gradient or a stored value), bound at the top."""
        self.used.setdefault(name)
        return self.ids[name]

    def weight(self, t, i: str, j: str) -> str:
        """Entry (i, j) of a matvec term's matrix as the product uses it: W[i, j], or W[j, i] for W^T."""
        return f"{self.q(t.a)}[{j}, {i}]" if t.trans else f"{self.q(t.a)}[{i}, {j}]"

    def width(self, t, inner: bool = True) -> int:
        """The summed (inner) or the produced dimension of a matvec term's matrix as the product uses it."""
        return self.plan.shapes[t.a][int(t.trans != inner)]  # W: (produced, summed); W^T swaps them

    def grad_at(self, param: str, *idx: str) -> str:
        """Entry `idx` of a parameter's gradient."""
        return f"{self.q(self.plan.grads[param])}[{', '.join(idx)}]"

    def names(self, body: Body, idx: str = "i", head_code: str | None = None) -> dict:
        """Source text for each symbol a loop body reads."""
        local = [t for t, _ in body.temps] + list(body.picks.values()) + [r.local for r in body.reductions]
        names = {I: idx} | {s: s.name for s in local + [r.mx for r in body.reductions if r.mx is not None]}
        exprs = [e for _, e in body.temps] + [e for _, e in body.outputs] + [e for _, e in body.row_exprs]
        for e in exprs:
            for s in e.free_symbols:
                if s in names or not isinstance(s, sp.Symbol):
                    continue
                if body.head is not None and s.name == body.head:
                    names[s] = head_code
                elif s.name == "y" and self.plan.labels:
                    names[s] = "Y[s]"
                else:
                    names[s] = self.read(s.name, idx)
        return names

    def comment(self, *names: str) -> None:
        """The equation of each node, as `symback derive` prints it, headed by the name the code uses."""
        for n in names:
            text = self.comments.get(n)
            if not text:
                continue
            lines = text.splitlines()
            ident = self.ids.get(n, n)
            grad = self.plan.grads.get(self.plan.grad_of.get(n))
            if grad is not None and grad != n:  # one path's part, summed straight into the gradient
                ident = f"{self.ids[grad]} (summed)"
            self.code(f"# {lines[0]}" if lines[0].startswith(f"{ident} = ") else f"# {ident}: {lines[0]}")
            for line in lines[1:]:
                self.code(f"#   {line}")
            if n in self.plan.masks:
                f, h = self.plan.masks[n]
                self.code(f"#   tested as {self.ids.get(h, h)} > 0, which holds exactly when {f} > 0")

    # -- the kernel ----------------------------------------------------------------------------------------
    def kernel(self) -> str:
        self.prologue()
        steps = [self.code.lines[:]]  # the prologue, then each step's lines, then the end
        for step in self.plan.steps:
            start = len(self.code.lines)
            getattr(self, STEPS[type(step)])(step)
            steps.append(self.code.lines[start:])
        start = len(self.code.lines)
        self.finish()
        end = self.code.lines[start:]
        # _nrt=False (no reference counting) where a layout allocates nothing: its named views of P and ws live
        # only during the call, and counting references tripled a tiny network's step; np.dot needs it (blas)
        decorator = f"@njit(cache=True, fastmath=_FASTMATH{'' if self.refcounts else ', _nrt=False'})"
        views = Code()
        self.blocks(views)
        self.bindings(views)
        kernel = naming.kernel(self.name)
        parts, body = outline(steps, views.text(), kernel, decorator) if self.outlines else ([], [*chain(*steps)])
        head = Code(0)
        head(decorator)
        head(f"def {kernel}({', '.join(naming.KERNEL_ARGS)}):")
        head.depth = 1
        head(f'"""{self.inference_doc if self.plan.inference else self.doc}"""')
        head("_check_batch(P, X, Y, lr, mode)")
        head("B = X.shape[0]")
        head.lines += views.lines
        if not self.plan.inference:
            head("loss = 0.0")
        return "".join(part + "\n\n" for part in parts) + "\n".join(head.lines + body + end) + "\n"

    def bindings(self, c: Code) -> None:
        """One line per view the body uses: parameters, gradients, then stored values (one slot, one line)."""
        p = self.plan
        for q in p.params:  # each parameter beside its gradient (the same layout), in the order of the buffer
            o, shape = p.offsets[q], p.shapes[q]
            part = f"[{o}:{o + math.prod(shape)}]"  # a matrix through runtime._view, cheaper than .reshape
            pair = [(self.ids[k], f"_view({buf}{part}, {shape})" if len(shape) == 2 else f"{buf}{part}")
                    for k, buf in ((q, "P"), (p.grads[q], "ws")) if k in self.used]
            if pair:
                c(f"{', '.join(n for n, _ in pair)} = {', '.join(v for _, v in pair)}")
        slots: dict[str, list[str]] = {}
        for name in self.used:
            if name not in p.offsets and name not in p.grads.values():
                slots.setdefault(self.bind(name), []).append(self.ids[name])
        for rhs, names in slots.items():
            c(f"{' = '.join(names)} = {rhs}")

    def blocks(self, c: Code) -> None:
        """Views of the workspace that the bindings slice further (per layout)."""

    def prologue(self) -> None:
        """Lines before the first step (per layout)."""

    def finish(self) -> None:
        c, p = self.code, self.plan
        if p.inference:  # the output rows are in the workspace, where the module's _LAYOUTS entry reads them
            c("return 0.0")
            return
        for q in p.params:
            if q not in self.ready:  # a parameter no gradient reaches: its gradient is zero
                c(f"{self.q(p.grads[q])}[:] = 0.0")
        c("scale = " + ("1.0 / B" if p.reduction == "mean" else "1.0"))
        for q, lam in p.decay.items():  # the gradient block is G with L = scale * sum of the losses: G += lam W / scale
            o = p.offsets[q]
            c(f"# weight decay on {q}: J = L + {lam!r}/2 ||{q}||^2 once per batch, so G += {lam!r} {q} / scale")
            with c.block(f"for k in range({o}, {o + math.prod(p.shapes[q])}):"):
                c(f"loss += {lam / 2!r} * P[k] * P[k] / scale")
                c(f"ws[k] += {lam!r} * P[k] / scale")
        with c.block(f"if mode == {naming.SGD}:"):
            c("# SGD: P <- P - lr * scale * G, one pass over the flat buffers (ws[:N] is G, laid out as P)")
            c("step = lr * scale")
            with c.block(f"for k in range({p.n_params}):"):
                c("P[k] -= step * ws[k]")
        c("return loss * scale")

    # -- steps, as the sample-outer layouts emit them (sample, blas): per sample, a loop over components --
    def samples(self):
        """The loop over the batch around a per-sample step."""
        return self.code.block("for s in range(B):")

    def group(self, st: Group) -> None:
        self.comment(*[m.name for m in st.members])
        self.sample_loop(Body(st.members), st.size)

    def sample_loop(self, body: Body, size: int | None) -> None:
        """Per sample: the body's reductions and picks, then its loop over the components."""
        self.zero_grads(body, size or 0)
        with self.samples():
            self.per_sample_lines(body)
            if body.outputs:
                with self.code.block(f"for i in range({size}):"):
                    self.body_lines(body, self.names(body))

    def concat(self, st: Concat) -> None:
        self.comment(st.node)
        with self.samples():
            for part, off, n in st.parts:
                with self.code.block(f"for i in range({n}):"):
                    self.code(f"{self.read(st.node, plus(off, 'i'))} = {self.read(part, 'i')}")

    def slice(self, st: Slice) -> None:
        c = self.code
        self.comment(st.node)
        if st.grad and st.grad not in self.ready:
            with c.block(f"for i in range({st.size}):"):
                c(f"{self.grad_at(st.grad, 'i')} = 0.0")
            self.ready.add(st.grad)
        with self.samples(), c.block(f"for i in range({st.size}):"):
            src = self.read(st.src, plus(st.lo, "i"))
            if st.grad:
                c(f"{self.grad_at(st.grad, 'i')} += {coef(st.coef)}{src}")
            else:
                c(f"{self.read(st.node, 'i')} = {coef(st.coef)}{src}")

    def index_form(self, st: IndexStep) -> None:
        conv.emit(self, st)

    def row_softmax(self, st: SoftmaxStep) -> None:
        attention.emit(self, st)

    # -- shared pieces -----------------------------------------------------------------------------------
    def store(self, m, local: str, grad: str | None) -> None:
        """One output of an elementwise body at component i: summed into a gradient, or stored."""
        self.code(f"{self.grad_at(grad, 'i')} += {local}" if grad else f"{self.read(m.name, 'i')} = {local}")

    def batch(self, st: BatchStep) -> None:
        """Sums over the batch, then each sample's value (`codegen.batchnorm`): step-major layouts only."""
        batchnorm.emit(self, st)

    def ret(self, st: Return) -> None:
        """The forward pass is done: ``forward()`` stops here (an inference kernel ends here anyway)."""
        if self.plan.inference:
            return
        with self.code.block(f"if mode == {naming.FORWARD}:"):
            self.code("return 0.0")

    def body_lines(self, body: Body, names: dict, store=None) -> None:
        """Temporaries, then the outputs. With one output written to memory, each is written directly;
        with several, every output goes into a local first, then the stores (reads before writes)."""
        c, store = self.code, store or self.store
        for t, e in body.temps:
            c(f"{t.name} = {to_numba(e, names)}")
        direct = sum(m.mode in ("grad", "store") for m, _ in body.outputs) <= 1
        outs = []
        for k, (m, e) in enumerate(body.outputs):
            if not direct:
                c(f"o{k} = {to_numba(e, names)}")
            outs.append((m, to_numba(e, names) if direct else f"o{k}"))
        for m, value in sorted(outs, key=lambda o: o[0].mode != "loss"):  # the write to memory last
            if m.mode == "loss":
                c(f"loss += {value}")
            else:
                store(m, value, self.plan.grad_of.get(m.name) if m.mode == "grad" else None)

    def per_sample_lines(self, body: Body) -> None:
        """Reductions (with max subtraction for sums of exponentials), picks and per-sample losses."""
        c, idx_read = self.code, self.read
        for r in body.reductions:
            local = r.local.name
            if r.kind == "lse":
                v, mx = r.vec, r.mx.name
                c(f"# log-sum-exp without overflow: m = max_j {v}_j, then sum_j exp({v}_j - m)")
                c(f"{mx} = {idx_read(v, str(r.lo))}")
                with c.block(f"for j in range({r.lo + 1}, {r.hi + 1}):"), c.block(f"if {idx_read(v, 'j')} > {mx}:"):
                    c(f"{mx} = {idx_read(v, 'j')}")
                c(f"{local} = 0.0")
                with c.block(f"for j in range({r.lo}, {r.hi + 1}):"):
                    c(f"{local} += math.exp({idx_read(v, 'j')} - {mx})")
            else:
                picks = {x: sp.Symbol(f"_p{k}") for k, x in enumerate(sorted(r.body.atoms(sp.Indexed), key=str))}
                names = {s: idx_read(x.base.name, "j") for x, s in picks.items()}
                names |= {q.local: q.local.name for q in body.reductions}  # an earlier sum (a mean in a variance)
                if r.body.has(sym("y")) and self.plan.labels:
                    names[sym("y")] = "Y[s]"
                c(f"{local} = 0.0")
                with c.block(f"for j in range({r.lo}, {r.hi + 1}):"):
                    c(f"{local} += {to_numba(stabilize(r.body.xreplace(picks)), names)}")
        for (v, index), local in body.picks.items():
            idx = "Y[s]" if index == sym("y") else str(int(index))
            c(f"{local.name} = {idx_read(v, idx)}")
        for _, e in body.row_exprs:
            c(f"loss += {to_numba(e, self.names(body))}")

    def j_loops(self, parts) -> None:
        """(lines, the quantity whose components j runs over, or None) pairs: the lines without a loop, then one j
        loop per trip count (`over` the first such quantity), in order of first use."""
        loops: dict[int | None, tuple] = {}
        for lines, name in parts:
            loops.setdefault(name and self.plan.sizes[name], (name, []))[1].extend(lines)
        for k, (name, lines) in sorted(loops.items(), key=lambda loop: loop[0] is not None):  # stable sort
            with nullcontext() if k is None else self.over("j", k, name):
                for line in lines:
                    self.code(line)

    def over(self, var: str, n: int, name: str | None = None):
        """A loop of n trips (a layout may read the count from `name`'s view)."""
        return self.code.block(f"for {var} in range({n}):")

    def zero_grads(self, body: Body, n: int) -> None:
        """Gradients this body sums into, first reached here: set them to zero."""
        for m, _ in body.outputs:
            q = self.plan.grad_of.get(m.name) if m.mode == "grad" else None
            if q and q not in self.ready:
                with self.code.block(f"for i in range({n}):"):
                    self.code(f"{self.grad_at(q, 'i')} = 0.0")
                self.ready.add(q)
