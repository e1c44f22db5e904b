"""Plan the kernels of a derivation: what runs in which order, what is stored where.

Stage: codegen. Input: a `Derivation` (its pruned forward + backward graph).
Output: a `Plan`: the flat parameter layout, the input columns, the
per-sample values with their sizes, and an ordered list of steps that each
kernel layout (`emit`) renders in its own loops:

- `Affine`: a forward ``linear`` node (``W h + b``: matrix-vector terms plus
  vector terms) with an epilogue of elementwise nodes fused into its loop;
- `Group`: consecutive elementwise nodes (``ew``, ``loss``) of one size in one loop;
- `Back`: every backward ``linear`` node fed by one upstream adjoint ``g``
  (``W^T g`` for the input, ``g h^T`` and ``g`` summed over the batch for the
  parameters), so one pass over ``g`` serves them all;
- `Concat`, `Slice`: stacking vectors and taking a part of an adjoint;
- `Return`: the forward pass is done (``forward()`` stops here; an inference plan ends there).

Before scheduling, `rewrite.prepare` applies the codegen-only rewrites; the
facts read from the declaration and the initialisation schemes are in `facts`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import sympy as sp

from ..errors import SymbackError
from ..ir import Node, sym
from ..ops import I
from .batchnorm import BatchStep, constants
from .batchnorm import step as batch_step
from .attention import is_softmax, softmax_step
from .conv import IndexStep
from .dropout import drawn
from .facts import Declared, declared, init_schemes
from .im2col import index_step
from .rewrite import prepare, root


def fail(message: str):
    raise SymbackError(f"codegen: {message}")


@dataclass
class Term:
    """One term of a linear node: ``kind`` is matvec (coef M v or M^T v), vec (coef v),
    outer (coef u w^T, summed over the batch), slice (coef v[lo:lo+n]) or decay (coef W, weight decay's
    lambda W: once per batch, not per sample, so `Plan.decay` holds it and no step does)."""

    kind: str
    coef: float
    a: str
    b: str | None = None
    trans: bool = False
    lo: int = 0


@dataclass
class Member:
    """One node of an elementwise loop: `mode` is store, temp, grad (summed into a
    parameter's gradient), loss (a per-component term of the loss) or lossrow (a per-sample loss)."""

    name: str
    expr: sp.Expr
    mode: str


@dataclass
class Affine:
    node: str
    size: int
    terms: list[Term]
    members: list[Member] = field(default_factory=list)
    head_stored: bool = True


@dataclass
class Group:
    size: int | None
    members: list[Member]


@dataclass
class BackItem:
    node: str
    terms: list[Term]
    grad: str | None  # the parameter whose gradient this sums into, or None for a per-sample vector


@dataclass
class Back:
    upstream: str
    items: list[BackItem]


@dataclass
class Concat:
    node: str
    parts: list[tuple[str, int, int]]  # (value, offset, size)


@dataclass
class Slice:
    node: str
    src: str
    lo: int
    size: int
    coef: float
    grad: str | None = None


@dataclass
class Return:
    node: str


@dataclass
class Plan:
    params: list[str]
    shapes: dict[str, tuple]
    offsets: dict[str, int]
    n_params: int
    inputs: list[tuple[str, int, int]]  # (name, first column, size)
    n_in: int
    labels: bool  # class labels (B,) or targets (B, n_out)
    n_out: int  # classes or target width
    prediction: str
    loss: str
    reduction: str
    sizes: dict[str, int]  # per-sample vector sizes
    steps: list
    alias: dict[str, str]
    grad_of: dict[str, str]  # accumulating node -> parameter
    grads: dict[str, str]  # parameter -> its gradient's node (dl_dW1)
    masks: dict[str, tuple[str, str]]  # adjoint node -> (f, h): its mask I[f > 0] is tested as h > 0
    init: dict[str, str]  # parameter -> its initialisation scheme: he, glorot or zeros
    max_product: int  # the largest matrix (rows x cols) of a product
    declared: Declared
    inference: bool = False  # the forward pass only: no loss, no gradient, no update
    decay: dict[str, float] = field(default_factory=dict)  # weight -> lambda: J = L + lambda/2 ||W||^2, once a batch
    dropout: dict[str, float] = field(default_factory=dict)  # dropout mask -> p: drawn in the kernels (`dropout`)
    input_grad: list[str] = field(default_factory=list)  # the inputs whose gradient input_grad() gives (`inputgrad`)
    conv: str = "auto"  # convolutions by GEMM or by loops (`im2col.CHOICES`)
    image: tuple | None = None  # the one input's (C, H, W) or (C, L) when it is an image: X may come in that shape

    def root(self, name: str) -> str:
        return root(self.alias, name)

    @property
    def grad_block(self) -> int:
        """The workspace's first entries hold the gradient, laid out as the parameters (none for inference)."""
        return 0 if self.inference else self.n_params


def _int(value, where: str) -> int:
    if isinstance(value, int) or getattr(value, "is_Integer", False):
        return int(value)
    fail(f"{where}: size {value} is a symbol; give the network integer widths to compile it")


# -- linear expressions ---------------------------------------------------------------------------

def _split(term) -> tuple[float, list]:
    coef = sp.Integer(1)
    factors = list(term.args) if isinstance(term, sp.MatMul) else [term]
    while factors and not getattr(factors[0], "is_Matrix", False):
        coef *= factors.pop(0)
    return coef, factors


def linear_terms(node: Node, graph) -> list[Term]:
    """The terms of a linear node's matrix expression, or a one-line error naming the node."""

    def rank(m) -> int | None:
        return len(graph[m.name].shape) if isinstance(m, sp.MatrixSymbol) and m.name in graph else None

    out = []
    parts = node.expr.args if isinstance(node.expr, sp.MatAdd) else (node.expr,)
    for part in parts:
        coef, f = _split(part)
        if not coef.is_number:
            fail(f"node {node.name}: symbolic coefficient {coef} in {node.expr}")
        c = float(coef)
        if len(f) == 1 and rank(f[0]) == 2:
            out.append(Term("decay", c, f[0].name))
        elif len(f) == 1 and rank(f[0]) == 1:
            out.append(Term("vec", c, f[0].name))
        elif len(f) == 1 and isinstance(f[0], sp.MatrixSlice) and rank(f[0].parent) == 1:
            r0 = f[0].rowslice[0]
            out.append(Term("slice", c, f[0].parent.name, lo=int(r0)))
        elif len(f) == 2 and rank(f[0]) == 2 and rank(f[1]) == 1:
            out.append(Term("matvec", c, f[0].name, f[1].name))
        elif len(f) == 2 and isinstance(f[0], sp.Transpose) and rank(f[0].arg) == 2 and rank(f[1]) == 1:
            out.append(Term("matvec", c, f[0].arg.name, f[1].name, trans=True))
        elif len(f) == 2 and rank(f[0]) == 1 and isinstance(f[1], sp.Transpose) and rank(f[1].arg) == 1:
            out.append(Term("outer", c, f[0].name, f[1].arg.name))
        else:
            fail(f"node {node.name}: cannot compile the linear term {part} (expected W h, W^T h, g h^T or a vector)")
    return out


def per_sample(node: Node, graph) -> list[Term]:
    """A backward linear node's terms summed over the samples (weight decay's is `Plan.decay`'s)."""
    return [t for t in linear_terms(node, graph) if t.kind != "decay"]


def uses(expr) -> set[str]:
    """Names of the values an expression reads (component symbols, Indexed bases, matrix symbols)."""
    found = {s.name for s in expr.free_symbols if isinstance(s, sp.Symbol)}
    found |= {e.base.name for e in expr.atoms(sp.Indexed)}
    found |= {m.name for m in expr.atoms(sp.MatrixSymbol)}
    return found - {I.name}


def _separable(expr: sp.Expr):
    """A loss ``Sum(body(f[j], y[j]), (j, 0, n-1))`` as its per-component body, else None."""
    if not isinstance(expr, sp.Sum) or len(expr.limits) != 1:
        return None
    j = expr.limits[0][0]
    body = expr.function
    if any(e.indices != (j,) for e in body.atoms(sp.Indexed)):
        return None
    body = body.xreplace({e: sym(e.base.name) for e in body.atoms(sp.Indexed)})
    return None if body.has(j) else body


# -- the plan -------------------------------------------------------------------------------------


def _image(g) -> tuple | None:
    """The shape of the network's one input when it is an image (its Meta's geometry), else None."""
    leaves = list(g.leaves("input"))
    geometry = leaves[0].meta.geometry if len(leaves) == 1 else None
    return tuple(geometry.shape_in) if geometry is not None and geometry.kind == "image" else None


def build(d, inference: bool = False) -> Plan:
    """The plan of `d`'s kernels; with `inference`, of its forward pass alone (the steps up to `Return`)."""
    d, dropout = drawn(d, inference)  # dropout masks: drawn in the kernels, not columns of X
    g = d.graph
    exprs, alias, masks = prepare(d)
    facts = declared(d)
    for n in g:
        if n.op in ("scalar", "seed"):
            fail(f"node {n.name}: op {n.op!r} belongs to scalar expressions; compile a Network or a DAG")
        if n.op not in ("input", "param", "target", "linear", "ew", "loss", "concat", "batch", "conv", "pool", "index",
                        "coupled", "product"):
            fail(f"node {n.name}: no code generation for op {n.op!r}")
    params = list(d.params)
    shapes = {p: tuple(_int(s, f"param {p}") for s in g[p].shape) for p in params}
    *starts, n_params = itertools.accumulate((math.prod(shapes[p]) for p in params), initial=0)
    inputs, col = [], 0
    for n in g.leaves("input"):
        if len(n.shape) != 1:
            fail(f"input {n.name} must be a vector")
        size = _int(n.shape[0], f"input {n.name}")
        inputs.append((n.name, col, size))
        col += size
    loss = next(n for n in g if n.op == "loss")
    pred = loss.meta.prediction
    sizes = {n.name: _int(n.shape[0], f"value {n.name}") for n in g if len(n.shape) == 1 and n.op != "param"}
    batched = _batched(g)
    for n in g.forward():
        if not n.is_leaf and n.name not in batched:
            fail(f"node {n.name} depends on parameters only; compute it outside the network")

    # which nodes sum into which parameter's gradient
    grad_of = {}
    for p, a in d.adjoints.items():
        node = g[a]
        if node.meta.sum_of_paths and (len(node.shape) == 2 or all(g[v].of == p for v in node.args)):
            for v in node.args:
                grad_of[v] = p
        else:
            grad_of[a] = p
    summed = {a for p, a in d.adjoints.items() if a not in grad_of}  # sums of paths: nothing to compute

    decay = {t.a: t.coef for a in d.adjoints.values() if g[a].op == "linear" for t in linear_terms(g[a], g)
             if t.kind == "decay"}
    steps = _schedule(g, exprs, alias, grad_of, summed, sizes, pred, constants(g, params))
    if inference:  # what only the loss and the backward pass read is no longer stored
        steps = steps[:next(k for k, st in enumerate(steps) if isinstance(st, Return)) + 1]
    _mark_stored(steps, pred, alias)
    # the matrices of the products (W h, W^T g, g h^T) are the matrix parameters
    max_product = max((math.prod(shape) for shape in shapes.values() if len(shape) == 2), default=1)
    return Plan(
        params=params, shapes=shapes, offsets=dict(zip(params, starts)), n_params=n_params, inputs=inputs, n_in=col,
        image=_image(g),
        labels=loss.meta.loss_kind == "class", n_out=_int(loss.meta.size, "loss"), prediction=pred, loss=(loss.meta.loss or "custom"),
        reduction=facts.reduction, declared=facts, sizes=sizes, steps=steps, alias=alias, grad_of=grad_of,
        grads=dict(d.adjoints), masks=masks, init=init_schemes(g, params), max_product=max_product,
        inference=inference, decay=decay, dropout=dropout,
    )


def _batched(g) -> set[str]:
    out = {n.name for n in g if n.op in ("input", "target") or n.role == "adjoint"}
    for n in g:
        if any(a in out for a in n.args):
            out.add(n.name)
    return out


def _upstream(node: Node, terms: list[Term], g) -> str:
    cands = {v for t in terms for v in (t.a, t.b) if v is not None and v in g and g[v].role == "adjoint"}
    if len(cands) != 1:
        fail(f"node {node.name}: expected one upstream adjoint in {node.expr}, found {sorted(cands) or 'none'}")
    return cands.pop()


def _schedule(g, exprs, alias, grad_of, summed, sizes, pred, constant) -> list:
    """The steps in graph order; an elementwise node joins the loop of the step before it when it may."""
    steps: list = []
    done: set[str] = set()
    for n in g:
        if n.is_leaf or n.name in done or n.name in summed or n.name in alias or (n.shape == () and n.op != "loss"):
            continue  # (a per-sample scalar is computed where it is read: codegen/scalars.py)
        if n.op == "linear" and n.role == "forward":
            terms = linear_terms(n, g)
            for t in terms:
                if t.kind not in ("matvec", "vec"):
                    fail(f"node {n.name}: forward term {t.kind} is not supported")
            steps.append(Affine(n.name, sizes[n.name], terms))
        elif is_softmax(n):
            steps.append(softmax_step(n))
        elif n.op in ("conv", "pool", "index", "product"):
            steps.append(index_step(n, grad_of, g))
        elif n.op == "concat":
            parts = [b.name for b in n.expr.blocks]
            offsets = itertools.accumulate((sizes[b] for b in parts), initial=0)
            steps.append(Concat(n.name, [(b, off, sizes[b]) for b, off in zip(parts, offsets)]))
        elif n.op == "linear":
            terms = per_sample(n, g)
            if len(terms) == 1 and terms[0].kind == "slice":
                t = terms[0]
                steps.append(Slice(n.name, t.a, t.lo, sizes.get(n.name, 0), t.coef, grad_of.get(n.name)))
                done.add(n.name)
                continue
            up = _upstream(n, terms, g)
            items = []
            for m in g:  # every backward linear node fed by this upstream, in graph order
                if m.op != "linear" or m.role != "adjoint" or m.name in done or m.name in alias:
                    continue
                mt = per_sample(m, g)
                if any(t.kind == "slice" for t in mt) or _upstream(m, mt, g) != up:
                    continue
                items.append(BackItem(m.name, mt, grad_of.get(m.name)))
                done.add(m.name)
            steps.append(Back(up, items))
        elif n.op == "batch":  # sums over the batch: codegen.batchnorm
            steps.append(batch_step(n, sizes[n.name], constant))
        else:  # ew or loss
            _add_member(steps, n, exprs[n.name], grad_of, sizes, pred)
        if n.name == pred:
            steps.append(Return(pred))
    return steps


def _add_member(steps: list, n: Node, expr, grad_of, sizes, pred) -> None:
    """An elementwise or loss node joins the loop of the last step (an open `Affine` or `Group`) if it may run
    there: same size, no value it reduces over computed in that loop (nor, for a per-sample loss, any it reads),
    and no reduction inside a product's loop; else it opens a new `Group`."""
    size = sizes.get(n.name)
    if n.op == "loss":
        body = _separable(expr)
        member = Member(n.name, expr if body is None else body, "lossrow" if body is None else "loss")
        size = None if body is None else sizes[pred]
    elif n.name in grad_of:
        if len(n.shape) != 1:
            fail(f"node {n.name}: an elementwise gradient of a matrix parameter is not supported")
        member = Member(n.name, expr, "grad")
    else:
        member = Member(n.name, expr, "store")
    group = steps[-1] if steps and isinstance(steps[-1], (Affine, Group)) else None
    inside = {m.name for m in group.members} | ({group.node} if isinstance(group, Affine) else set()) \
        if group else set()
    reduced = _reduced(member.expr)
    if member.mode == "lossrow":
        fits = isinstance(group, Group) and not (reduced & inside) and not (uses(member.expr) & inside)
    else:
        fits = group is not None and (size is None or group.size in (None, size)) and not (reduced & inside) \
            and not (isinstance(group, Affine) and reduced)  # an epilogue runs inside the product's loop
    if not fits:
        group = Group(size, [])
        steps.append(group)
    elif isinstance(group, Group) and group.size is None:
        group.size = size
    group.members.append(member)


def _reduced(expr) -> set[str]:
    """Values read across components (inside a Sum, or picked as f[y]): they must be complete first."""
    return {e.base.name for e in expr.atoms(sp.Indexed)}  # inside a Sum or not


def _mark_stored(steps, pred, alias) -> None:
    """A member is stored if a later step reads it (or it is the network's output); else a loop temporary."""
    later_reads: dict[int, set[str]] = {}
    reads_after = set()
    for k in range(len(steps) - 1, -1, -1):
        later_reads[k] = set(reads_after)
        reads_after |= {root(alias, r) for r in step_reads(steps[k])}
    for k, st in enumerate(steps):
        if isinstance(st, Affine):
            st.head_stored = st.node in later_reads[k] or st.node == pred
        if isinstance(st, (Affine, Group)):
            for m in st.members:
                if m.mode == "store" and m.name not in later_reads[k] and m.name != pred:
                    m.mode = "temp"


def step_reads(st) -> set[str]:
    """Values a step reads that it does not compute itself."""
    if isinstance(st, (Affine, Group)):
        r = set().union(*(uses(m.expr) for m in st.members)) - {m.name for m in st.members}
        if isinstance(st, Affine):  # its terms are matvec (W h: reads h) or vec (reads v)
            r = (r | {t.b if t.kind == "matvec" else t.a for t in st.terms}) - {st.node}
        return r
    if isinstance(st, Back):
        return {st.upstream} | {v for it in st.items for t in it.terms for v in (t.a, t.b) if v is not None}
    if isinstance(st, Concat):
        return {p for p, _, _ in st.parts}
    if isinstance(st, Slice):
        return {st.src}
    if isinstance(st, Return):
        return {st.node}
    if isinstance(st, BatchStep):
        return st.reads
    if isinstance(st, IndexStep):
        return st.reads()
    return set()


def step_writes(st) -> list[str]:
    """Per-sample vectors a step stores (in order)."""
    if isinstance(st, (Affine, Group)):
        head = [st.node] if isinstance(st, Affine) and st.head_stored else []
        return head + [m.name for m in st.members if m.mode == "store"]
    if isinstance(st, Back):
        return [it.node for it in st.items if it.grad is None]
    if isinstance(st, Concat):
        return [st.node]
    if isinstance(st, Slice):
        return [] if st.grad else [st.node]
    if isinstance(st, BatchStep):
        return [st.node]
    if isinstance(st, IndexStep):
        return st.writes()
    return []
