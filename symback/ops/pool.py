"""``pool``: max or average pooling in index form, per channel.

    max: out[c, i, j] = Max over taps (u, v) of x[c, s*i + d*u - P, s*j + d*v - P]   (padding reads -inf)
    avg: out[c, i, j] = 1/(kh*kw) sum_u sum_v x[c, s*i + u - P, s*j + v - P]          (padding reads 0, counted)

The Max is written out tap by tap (the kernel is a number), so SymPy differentiates it to the max gate: each tap's
derivative is ``I[x_tap > Max(the other taps)]``, which the collapse routes to the argmax position; the average's
derivative spreads 1/(kh*kw) over the window. Both as PyTorch's max_pool and avg_pool (count_include_pad) compute.
"""

from __future__ import annotations

from itertools import product

import sympy as sp

from . import tensor
from .base import Op, register
from .conv import TAPS, Geometry, out_axes, window
from .tensor import IndexForm, index, nested


def build(g: Geometry, x: str) -> IndexForm:
    """The pooling's index form, reading the array `x` (C x H x W)."""
    X = sp.IndexedBase(x, shape=g.shape_in, real=True)
    c = index("c")
    if g.kind == "maxpool":
        body = sp.Max(*[window(g, X, c, taps) for taps in product(*[range(k) for k in g.kernel])], evaluate=False)
    else:
        taps = [index(TAPS[a]) for a in range(g.dims)]
        size = sp.Mul(*g.kernel)
        body = nested(window(g, X, c, taps), [(t, 0, k - 1) for t, k in zip(taps, g.kernel)]) / size
    return IndexForm(body, out_axes(g, "c"), g.forward_note)


register(Op("pool", "max or average pooling in index form, per channel", vjp=tensor.vjp, numeric=tensor.value,
            batched=tensor.batched))
