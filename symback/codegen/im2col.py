"""A convolution as one GEMM per sample (im2col): its forward sum, its weight gradient and its input gradient.

Stage: codegen. Input: a ``conv`` node, or a derived gradient (op ``index``) of one with respect to its input, its
weight or its bias. Output: the `Conv` the BLAS layout lowers to ``np.dot`` on preallocated workspace views, where
`chosen` says so; other index-form steps, and every step of the other layouts, keep `conv`'s direct loops.

The forward sum ``y[o, i, j] = sum_c sum_u sum_v W[o, c, u, v] x[c, s*i + d*u - P, s*j + d*v - P] + b[o]`` is the
product of the kernel matrix (C_out, K = C_in*kh*kw), as the module stores it, with the matrix of windows
``cols[(c, u, v), (i, j)]``, the input entry under tap (u, v) of position (i, j) (0 outside the image), gathered from
the forward sum's own index expressions. Its derivatives are the same product read the two other ways:
``dW = dY cols^T`` (the correlation of the input with the delta, summed over the samples) and ``dcols = W^T dY``,
whose entries are added back where they were gathered from (col2im: the flipped-kernel convolution, by scatter).
The bias gradient is the row sums of dY.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass

import sympy as sp

from ..errors import SymbackError
from ..ir import Node
from ..ops.tensor import bases
from .conv import IndexStep, _flat, _ints, _Printer
from .conv import index_step as loop_step

#: how a module's convolutions are compiled (`compile(..., conv=...)`): by the measured rule, or all one way
CHOICES = ("auto", "gemm", "loops")
#: "auto" takes the GEMM where one sample's product has at least this many multiply-adds (C_out * K * positions).
#: Measured by `python benchmarks/bench_conv.py --sweep` (one conv layer's SGD step at batch 64, BLAS 1 thread;
#: its docstring has the table): gemm / loops time 1.1-1.8 at 288-576 multiply-adds, 0.7-0.9 at 1,152-1,296, 0.1-0.6
#: from 2,592 up (LeNet's two convs 0.45 and 0.3, the digits CNN's 0.56), float64 and float32 alike.
MIN_MACS = 1000


@dataclass(frozen=True)
class Conv:
    """One conv's step as a GEMM per sample: ``y[o, p] = sum_k W[o, k] cols[k, p]`` (+ b[o]), where k runs over
    the kernel's taps (c, u, v) and p over the output positions (i, j)."""

    role: str  # forward, weight, input or bias: the conv's value, or its gradient with respect to W, x or b
    x: sp.Indexed  # the input entry under tap k of position p, as the forward sum reads it
    w: sp.Indexed  # W[o, c, u, v]
    positions: tuple  # ((i, extent), ...): the output positions
    bias: str | None
    up: str | None  # the upstream delta dl/dy (the gradients)

    @property
    def taps(self) -> list:
        return list(zip(self.w.indices[1:], _ints(self.w.base.shape[1:], self.w.base.name)))

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(C_out, K, positions): the product is (C_out, K) times (K, positions)."""
        return (int(self.w.base.shape[0]), math.prod(n for _, n in self.taps),
                math.prod(n for _, n in self.positions))


def choice(conv: str) -> str:
    if conv not in CHOICES:
        raise SymbackError(f"conv: expected one of {', '.join(map(repr, CHOICES))}, got {conv!r:.40}")
    return conv


def wins(g: Conv) -> bool:
    """The measured rule: the GEMM where one sample's product is large enough (`MIN_MACS`)."""
    return math.prod(g.sizes) >= MIN_MACS


def chosen(plan, g: Conv | None) -> bool:
    return g is not None and (plan.conv == "gemm" or plan.conv == "auto" and wins(g))


def index_step(node: Node, grad_of: dict, graph) -> IndexStep:
    """`conv.index_step`, with the step's GEMM form where it has one."""
    st = loop_step(node, grad_of)
    st.gemm = lowering(node, graph)
    return st


def lowering(node: Node, graph) -> Conv | None:
    """The conv a step computes by GEMM: its forward value, or its gradient with respect to the input or the
    weight when that node is the conv's alone (one term: no other path sums into it); else None."""
    up, role = None, "forward"
    if node.op == "index" and node.role == "adjoint":
        ups = [a for a in node.args if a in graph and graph[a].role == "adjoint"]
        if len(ups) != 1 or graph[ups[0]].of not in graph:
            return None
        up, conv = ups[0], graph[graph[ups[0]].of]
    elif node.op == "conv":
        conv = node
    else:
        return None
    if conv.op != "conv":
        return None
    forward = _forward_parts(conv, graph)
    if forward is None:
        return None
    x, w, bias = forward
    if up is not None:
        role = {x.base.name: "input", w.base.name: "weight", bias: "bias"}.get(node.of)
        reads = {"input": {w.base.name, up}, "weight": {x.base.name, up}, "bias": {up}}.get(role)
        if not isinstance(node.expr.body, sp.Sum) or set(bases(node.expr.body)) != reads:
            return None
    positions = tuple((i, int(n)) for i, n in conv.expr.axes[1:])
    return Conv(role, x, w, positions, bias, up)


def _forward_parts(conv: Node, graph) -> tuple | None:
    """(x entry, W entry, bias name or None) of ``sum W[o, c, u, v] x[...] (+ b[o])``, W a parameter matrix."""
    sums = [t for t in sp.Add.make_args(conv.expr.body) if isinstance(t, sp.Sum)]
    rest = [t for t in sp.Add.make_args(conv.expr.body) if not isinstance(t, sp.Sum)]
    o = conv.expr.indices[0]
    if len(sums) != 1 or len(rest) > 1 or rest and not (isinstance(rest[0], sp.Indexed) and rest[0].indices == (o,)):
        return None
    core = sums[0]
    while isinstance(core, sp.Sum):
        core = core.function
    factors = sp.Mul.make_args(core)
    w = next((f for f in factors if isinstance(f, sp.Indexed) and f.indices[0] == o), None)
    x = next((f for f in factors if isinstance(f, sp.Indexed) and f is not w), None)
    if len(factors) != 2 or w is None or x is None or w.base.name not in graph or graph[w.base.name].op != "param":
        return None
    return x, w, rest[0].base.name if rest else None


def space(plan) -> int:
    """Workspace entries the chosen GEMMs need, shared by every conv (one at a time): the window matrix (K x
    positions; the input gradient's W^T dY in its place) and, for a weight gradient, one sample's dY cols^T."""
    need = [st.gemm.sizes[1] * (st.gemm.sizes[2] + (st.gemm.sizes[0] if st.gemm.role == "weight" else 0))
            for st in plan.steps if isinstance(st, IndexStep) and chosen(plan, st.gemm)]
    return max(need, default=0)


def emit(layout, st: IndexStep, at: int) -> bool:
    """The step as GEMMs on the workspace from entry `at` (BLAS layout), if chosen; False leaves it to the loops."""
    g = st.gemm
    if not chosen(layout.plan, g):
        return False
    c_out, k, p = g.sizes
    c = layout.code
    layout.comment(st.node)
    names = {v: f"{v.name}_" for v, _ in g.taps + list(g.positions)}
    printer = _Printer(layout, names, {v: (0, n - 1) for v, n in g.taps + list(g.positions)})
    tap, pos = (_flat([names[v] for v, _ in axes], tuple(n for _, n in axes)) for axes in (g.taps, g.positions))
    window = printer.value(g.x)
    said = {"forward": f"im2col + GEMM: cols[k, p] = {g.x} (0 outside the input), k = ({_names(g.taps)}), "
                       f"p = ({_names(g.positions)}); then {st.node}[o, p] = (W cols)[o, p]"
                       + (f" + {g.bias}[o]" if g.bias else ""),
            "weight": f"as a GEMM: the correlation is dY cols^T, dY = {g.up}[o, p], summed over the samples",
            "bias": f"the row sums of dY = {g.up}[o, p], summed over the samples",
            "input": f"as a GEMM: dcols = W^T dY, dY = {g.up}[o, p]; then col2im: dcols[k, p] is added back at "
                     f"{g.x}, the entry cols[k, p] was gathered from (the flipped-kernel convolution, by scatter)"}
    c(f"#   {said[g.role]}")
    if g.role != "bias":
        c(f"cols_ = ws[{at}:{at + k * p}].reshape(({k}, {p}))")
    if g.role in ("weight", "bias"):
        grad = layout.q(layout.plan.grads[st.grad])
        if g.role == "weight":
            c(f"gw_ = ws[{at + k * p}:{at + k * p + c_out * k}].reshape(({c_out}, {k}))")
        if st.grad not in layout.ready:
            c(f"{grad}[:] = 0.0")
            layout.ready.add(st.grad)
    with layout.samples():
        if g.role in ("forward", "weight"):
            with _loops(c, g.taps + list(g.positions), names):
                c(f"cols_[{tap}, {pos}] = {window}")
        if g.role == "forward":
            c(f"y_ = {layout.q(st.node)}[s].reshape(({c_out}, {p}))")
            c(f"np.dot({layout.q(g.w.base.name)}, cols_, y_)")
            if g.bias:
                with c.block(f"for o_ in range({c_out}):"):
                    c(f"b_ = {layout.q(g.bias)}[o_]")
                    with c.block(f"for p_ in range({p}):"):
                        c("y_[o_, p_] += b_")
            return True
        c(f"dy_ = {layout.q(g.up)}[s].reshape(({c_out}, {p}))")
        if g.role == "bias":
            with c.block(f"for o_ in range({c_out}):"):
                c("acc = 0.0")
                with c.block(f"for p_ in range({p}):"):
                    c("acc += dy_[o_, p_]")
                c(f"{grad}[o_] += acc")
            return True
        if g.role == "weight":
            c("np.dot(dy_, cols_.T, gw_)")
            with c.block(f"for o_ in range({c_out}):"), c.block(f"for k_ in range({k}):"):
                c(f"{grad}[o_, k_] += gw_[o_, k_]")
            return True
        c(f"np.dot({layout.q(g.w.base.name)}.T, dy_, cols_)")
        with c.block(f"for k_ in range({math.prod(_ints(g.x.base.shape, g.x.base.name))}):"):
            c(f"{layout.read(st.node, 'k_')} = 0.0")
        read, tests = printer.parts(sp.IndexedBase(st.node, shape=g.x.base.shape)[g.x.indices])
        with _loops(c, g.taps + list(g.positions), names), c.block(f"if {' and '.join(tests)}:") if tests \
                else ExitStack():
            c(f"{read} += cols_[{tap}, {pos}]")
    return True


def _names(axes) -> str:
    return ", ".join(v.name for v, _ in axes)


def _loops(c, axes, names) -> ExitStack:
    stack = ExitStack()
    for v, n in axes:
        stack.enter_context(c.block(f"for {names[v]} in range({n}):"))
    return stack
