"""Kernels of ``batch`` nodes: expressions with sums over the batch (batch normalisation's mu, sigma, dl/df).

Stage: codegen. Input: a ``batch`` node of the plan (``mu1 = sum_b f1[b] / B``,
``sigma1 = sqrt(sum_b (f1[b] - mu1)^2 / B + eps)``, ``dl/df1 = gamma1 (B g - sum_b g[b]
- xhat1 sum_b g[b] xhat1[b]) / (B sigma1)``). Output: a `BatchStep` and its loops, for
the step-major layouts (``small``, ``blas``): per component i, one pass over the
samples sums every batch sum, a second writes the value for each sample. A batch
statistic needs every sample's value first (a barrier), which step-major layouts give:
a step runs over the whole batch before the next one starts. The sample-outer layout
(``sample``: one sample through the whole network at a time) cannot, and refuses.
A batch statistic is stored like any per-sample value (the same for every sample).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import SymbackError
from ..ir import Node, sym
from ..ops.batchnorm import B
from .printer import to_numba


@dataclass
class BatchStep:
    """One ``batch`` node: its sums over the batch (each a body at a sample ``s``) and its value in them."""

    node: str
    size: int
    sums: list[sp.Expr]  # the body of each sum, its summed sample's values as plain symbols
    value: sp.Expr  # the node's expression, its sums as the symbols acc0, acc1, ...
    reads: set[str]


def constants(graph, params) -> set[str]:
    """The parameters and the batch statistics (``batch`` nodes with nothing per sample outside their sums):
    one value for the whole batch, so a batch sum may read them at any sample."""
    out = set(params)
    for n in (n for n in graph if n.op == "batch"):
        outside = n.expr.xreplace({s: 0 for s in n.expr.atoms(sp.Sum)}).free_symbols  # this sample's values
        if outside <= {sym(o) for o in out}:
            out.add(n.name)
    return out


def step(node: Node, size: int, constant: set[str]) -> BatchStep:
    """The node's sums and value; a one-line error for what the loops cannot compute (a sum inside a sum, a
    sum that reads this sample's own value besides the summed sample's)."""
    sums, value = [], node.expr
    for k, s in enumerate(sorted(node.expr.atoms(sp.Sum), key=sp.default_sort_key)):
        (j, lo, hi), body = s.limits[0], s.function
        if body.has(sp.Sum) or (lo, hi) != (0, B - 1):
            raise SymbackError(f"codegen: node {node.name}: cannot compile the batch sum {s}")
        picks = {e: sym(e.base.label.name) for e in body.atoms(sp.Indexed)}
        if any(e.indices != (j,) for e in picks):
            raise SymbackError(f"codegen: node {node.name}: the batch sum {s} reads another sample than its own")
        own = {x.name for x in body.free_symbols - {j} - {e.base.label for e in picks} if isinstance(x, sp.Symbol)}
        own -= constant | {B.name}
        if own:
            raise SymbackError(f"codegen: node {node.name}: the batch sum {s} reads this sample's {min(own)}")
        sums.append(body.xreplace(picks))
        value = value.xreplace({s: sp.Symbol(f"acc{k}")})
    reads = {x.name for e in [value, *sums] for x in e.free_symbols if isinstance(x, sp.Symbol)}
    return BatchStep(node.name, size, sums, value, reads - {B.name} - {f"acc{k}" for k in range(len(sums))})


def emit(layout, st: BatchStep) -> None:
    """for i: the sums over the samples, then the value of each sample (``layout.read`` reads sample s)."""
    c = layout.code
    layout.comment(st.node)
    with c.block("if B < 2:"):  # its own mean: the output would be beta and every earlier gradient 0 (PyTorch refuses)
        c('raise ValueError("X: a batch of 1 sample; batch normalisation needs at least 2 (its statistics are over '
          'the batch)")')
    with c.block(f"for i in range({st.size}):"):
        names = {B: "B"} | {sp.Symbol(f"acc{k}"): f"acc{k}" for k in range(len(st.sums))}
        for e in [st.value, *st.sums]:
            for x in e.free_symbols:
                if x not in names:
                    names[x] = layout.read(x.name, "i")
        for k in range(len(st.sums)):
            c(f"acc{k} = 0.0")
        if st.sums:
            with c.block("for s in range(B):"):
                for k, body in enumerate(st.sums):
                    c(f"acc{k} += {to_numba(body, names)}")
        with c.block("for s in range(B):"):
            c(f"{layout.read(st.node, 'i')} = {to_numba(st.value, names)}")


def refuse(st: BatchStep) -> None:
    raise SymbackError(f"codegen: {st.node} sums over the batch, which the sample-outer layout (one sample through "
                       "the whole network at a time) cannot; compile with the small or blas layout")
