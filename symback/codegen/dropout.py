"""Dropout masks in the kernels: drawn in each training call, 1 - p in ``forward`` (inference: the identity).

Stage: codegen. Input: a `Derivation` whose graph has dropout masks (inputs of kind ``const`` with
``meta.rate = p``, `declare.dropout`). Output: the same derivation planned with each mask a computed value
``m = Keep(1 - p, h)`` beside the value ``h`` it drops (so its loop runs where h is computed), no longer a column
of X; the backward reads the stored mask, as derived. ``Keep`` prints as a draw from Numba's generator
(``np.random.random() < 1 - p``: 1 kept, 0 dropped) when the kernel trains, and as 1 - p when ``mode == FORWARD``,
so ``d = m ⊙ h / (1 - p)`` is h up to rounding. An inference module has no draw: its masks are 1 - p, and
``d = h`` exactly. A constant without a rate (``g.const``) stays an input.
"""

from __future__ import annotations

import copy

import sympy as sp

from ..ir import Graph, Node, sym
from . import naming


class Keep(sp.Function):
    """``Keep(q, h)``: 1 with probability q, else 0, drawn per component of h each training call; q in forward()."""

    nargs = 2

    def _numbacode(self, printer):
        q = printer._print(self.args[0])
        return f"({q} if mode == {naming.FORWARD} else (1.0 if np.random.random() < {q} else 0.0))"


def drawn(d, inference: bool = False) -> tuple[object, dict[str, float]]:
    """(`d` with its dropout masks computed in the kernels, {mask: p}); `d` itself when it has none."""
    beside, masks = {}, {}  # value dropped -> its masks; mask -> its node
    for n in d.graph.leaves("input"):
        dropout = next((c for c in d.graph.consumers(n.name) if d.graph[c].meta.kind == "dropout"), None)
        if n.meta.rate is not None and dropout is not None:
            masks[n.name] = n
            beside.setdefault(next(a for a in d.graph[dropout].args if a != n.name), []).append(n.name)
    if not masks:
        return d, {}
    keep = {m: 1 - n.meta.rate for m, n in masks.items()}
    nodes = []
    for n in d.graph:
        if n.name in masks:
            continue
        if inference and n.args and set(n.args) & set(masks):  # m = 1 - p: the module is h itself
            n = copy.copy(n)
            n.expr = n.expr.xreplace({sym(m): keep[m] for m in masks})
            n.args = tuple(a for a in n.args if a not in masks)
        nodes.append(n)
        if not inference:
            nodes += [Node(m, "ew", args=(n.name,), expr=Keep(keep[m], n.symbol), shape=n.shape) for m in
                      beside.get(n.name, ())]
    planned = copy.copy(d)
    planned.graph = Graph(nodes)
    return planned, {m: float(n.meta.rate) for m, n in masks.items()}


def source(rates: dict[str, float]) -> str:
    """The module's seeding function when its kernels draw masks (Numba's generator is not NumPy's)."""
    if not rates:
        return ""
    return '''

@njit(cache=True)
def _seed_dropout(seed):
    np.random.seed(seed)


def seed_dropout(seed):
    """Seed the generator the training kernels draw their dropout masks from (Numba's, one per thread; NumPy's
    np.random.seed does not reach it). Each training call draws new masks; forward() and predict() draw none."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed: expected an integer in [0, 2**32), got {seed!r:.40}")
    _seed_dropout(int(seed))
'''


def doc(rates: dict[str, float]) -> str:
    """The docstring's paragraph on dropout (empty without masks)."""
    if not rates:
        return ""
    listed = ", ".join(f"{m} (p = {p:g})" for m, p in rates.items())
    return (f"Dropout masks {listed}: drawn in each loss_and_grad, sgd_step, step and train call (keep with\n"
            "probability 1 - p) from Numba's generator, one per thread: seed_dropout(seed) seeds the calling thread's,\n"
            "so only calls in one thread replay; forward() and predict() use dropout off (inference mode: each mask\n"
            "is 1 - p, so dropout is the identity up to rounding).\n")
