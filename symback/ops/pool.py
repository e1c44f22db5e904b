"""``pool``: max or average pooling in index form, per channel.

    max: out[c, i, j] = Max over taps (u, v) of x[c, s*i + d*u - P, s*j + d*v - P]   (padding reads -inf)
    avg: out[c, i, j] = 1/(kh*kw) sum_u sum_v x[c, s*i + u - P, s*j + v - P]          (padding reads 0, counted)

The max is written out tap by tap (the kernel is a number) as a `WindowMax`, so SymPy differentiates it to the max
gate: each tap's derivative is ``I[x_tap > Max(the taps before it)] I[x_tap >= Max(the taps after it)]``, which the
collapse routes to the argmax position, the first tap in row-major order at a tie; the average's derivative spreads
1/(kh*kw) over the window. Both as PyTorch's max_pool and avg_pool (count_include_pad) compute. Ties are common
here, not a measure-zero accident: a window of padding, or of blank background (a digit's border after a conv and
ReLU), holds equal values, the same function of the bias; the gradient must reach exactly one of them (none would
drop the bias's gradient there: tests/test_conv_compiled.py).
"""

from __future__ import annotations

from itertools import product

import sympy as sp

from . import tensor
from .base import Op, register
from .conv import TAPS, Geometry, out_axes, window
from .tensor import IndexForm, index, nested


class WindowMax(sp.Max):
    """``Max`` of a pooling window's taps, kept in scan order: at a tie the first tap takes the gradient (its
    derivative by tap i is 1 where tap i is above every earlier tap and not below any later one). Evaluated,
    printed and lowered as ``Max``, whose subclass it is."""

    def __new__(cls, *args, **options):
        args = tuple(map(sp.sympify, args))
        if all(a.is_number for a in args):  # numbers (a printer's stand-ins): their max, as Max gives
            return sp.Max(*args)
        obj = sp.Expr.__new__(cls, *args)
        obj._argset = frozenset(args)
        return obj

    def fdiff(self, argindex=1):
        tap, earlier, later = self.args[argindex - 1], self.args[:argindex - 1], self.args[argindex:]
        # each group a WindowMax even of one tap: a tap in the padding reads -inf there, where 0 would be a value
        above = sp.Heaviside(tap - WindowMax(*earlier), 0) if earlier else sp.Integer(1)
        return above * (sp.Heaviside(tap - WindowMax(*later), 1) if later else sp.Integer(1))


def build(g: Geometry, x: str) -> IndexForm:
    """The pooling's index form, reading the array `x` (C x H x W)."""
    X = sp.IndexedBase(x, shape=g.shape_in, real=True)
    c = index("c")
    if g.kind == "maxpool":
        body = WindowMax(*[window(g, X, c, taps) for taps in product(*[range(k) for k in g.kernel])])
    else:
        taps = [index(TAPS[a]) for a in range(g.dims)]
        size = sp.Mul(*g.kernel)
        body = nested(window(g, X, c, taps), [(t, 0, k - 1) for t, k in zip(taps, g.kernel)]) / size
    return IndexForm(body, out_axes(g, "c"), g.forward_note)


register(Op("pool", "max or average pooling in index form, per channel", vjp=tensor.vjp, numeric=tensor.value,
            batched=tensor.batched))
