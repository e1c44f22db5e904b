"""The row-wise softmax's forward loops: each row's max, the exponentials and their sum, then the quotients.

Stage: codegen. Input: a forward ``product`` node of kind "softmax" (``P[i, j] = exp(S[i, j]) / sum_u exp(S[i,
u])``, symback/ops/attention.py). The index-form emitter (`codegen.conv`) sums terms; a quotient by a sum needs the
sum first, so this step computes it, per sample and row, shifted by the row's max (the same value, without
overflow). Every other product, and every derived gradient, is an index-form step.
"""

from __future__ import annotations

import sympy as sp

from ..ir import Node
from ..ops.tensor import bases
from .conv import IndexStep


class SoftmaxStep(IndexStep):
    """An index-form step (its reads and writes are the node's) that `emit` computes row by row."""


def is_softmax(node: Node) -> bool:
    return node.op == "product" and node.role == "forward" and node.meta.geometry.kind == "softmax"


def softmax_step(node: Node) -> SoftmaxStep:
    return SoftmaxStep(node.name, node.expr, None)


def emit(layout, st: SoftmaxStep) -> None:
    c, (rows, n), (src,) = layout.code, (int(sp.sympify(k)) for k in st.form.shape), bases(st.form.body)
    layout.comment(st.node)
    with layout.samples(), c.block(f"for t_ in range({rows}):"):
        c("top_ = -math.inf")
        with c.block(f"for u_ in range({n}):"):
            c(f"top_ = max(top_, {layout.read(src, f't_*{n} + u_')})")
        c("acc = 0.0")
        with c.block(f"for u_ in range({n}):"):
            c(f"e_ = math.exp({layout.read(src, f't_*{n} + u_')} - top_)")
            c(f"{layout.read(st.node, f't_*{n} + u_')} = e_")
            c("acc += e_")
        with c.block(f"for u_ in range({n}):"):
            c(f"{layout.read(st.node, f't_*{n} + u_')} /= acc")
