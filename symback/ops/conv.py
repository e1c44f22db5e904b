"""``conv``: a 1-D or 2-D convolution (cross-correlation, as the frameworks compute it) in index form.

    out[o, i, j] = sum_c sum_u sum_v W[o, c, u, v] x[c, s*i + d*u - P, s*j + d*v - P] + b[o]

with stride s, dilation d and zero padding P per spatial axis (an entry of x outside the image reads 0). The node's
value is an `IndexForm` (`tensor`); its VJP is `tensor.vjp`, SymPy's derivative of this very sum. `Geometry`
records the shapes (C x H x W in, out), kernel, stride, padding and dilation of a conv, pool or image node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy as sp

from ..errors import SymbackError
from . import tensor
from .base import Op, register
from .tensor import IndexForm, index, nested

#: index names: output channel o, input channel c, output positions i j, kernel taps u v, gradient positions m n
POSITIONS, TAPS, SPOTS = ("i", "j"), ("u", "v"), ("m", "n")


@dataclass(frozen=True)
class Geometry:
    """One conv, pool or image node's shapes: ``shape_in`` and ``shape_out`` are (C, H, W) or (C, L)."""

    kind: str  # image, conv, maxpool, avgpool
    shape_in: tuple
    shape_out: tuple
    kernel: tuple = ()
    stride: tuple = ()
    padding: tuple = ()
    dilation: tuple = ()
    grad_indices: tuple = ()  # (arg, its gradient's free indices) pairs

    @property
    def dims(self) -> int:
        return len(self.shape_in) - 1

    def indices_of(self, arg: str) -> tuple:
        return dict(self.grad_indices)[arg]

    @property
    def settings(self) -> str:
        """``stride 2, padding 1`` (and the dilation when it is not 1), as the notes print them."""
        def text(values):
            return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))
        out = f"stride {text(self.stride)}, padding {text(self.padding)}"
        return out + (f", dilation {text(self.dilation)}" if set(self.dilation) != {1} else "")

    @property
    def forward_note(self) -> str:
        window = "x".join(map(str, self.kernel))
        return {"conv": f"the input correlated with the {window} kernel, {self.settings}",
                "maxpool": f"the max of each {window} window, {self.settings}",
                "avgpool": f"the mean of each {window} window, {self.settings}"}[self.kind]

    @property
    def notes(self) -> dict:
        """arg -> the textbook statement of its gradient."""
        args = [a for a, _ in self.grad_indices]
        spread = "" if set(self.stride) == {1} else " (its entries spread apart by the stride)"
        said = {"conv": [f"the full convolution of the upstream delta{spread} with the spatially flipped kernel: "
                         f"the backward pass of a convolution is a convolution, {self.settings}",
                         f"the correlation of the input with the upstream delta, {self.settings}",
                         "the upstream delta summed over positions"],
                "maxpool": ["the max gate: each window's upstream delta goes to its argmax (at a tie, the first)"],
                "avgpool": [f"each window's upstream delta spread evenly, 1/{math.prod(self.kernel)} to each entry"]}
        return dict(zip(args, said[self.kind]))


def out_size(n, k: int, s: int, p: int, d: int, what: str):
    """Output positions along one axis; a one-line error when the kernel does not fit or the stride leaves a rest."""
    span = d * (k - 1) + 1
    room = n + 2 * p - span
    if isinstance(room, int) or room.is_number:
        if room < 0:
            raise SymbackError(f"{what}: kernel spans {span} but the padded input has {n + 2 * p} ({n} + 2*{p})")
        if room % s:
            raise SymbackError(f"{what}: stride {s} does not tile the input: {room % s} left over "
                               f"(({n} + 2*{p} - {span}) = {room} is not a multiple of {s})")
        return int(room // s + 1)
    return room / s + 1 if s == 1 else sp.floor(room / s) + 1


def window(g: Geometry, x: sp.IndexedBase, c, taps) -> sp.Indexed:
    """``x[c, s*i + d*u - P, ...]``: the input entry under kernel tap `taps` of output position (i, j)."""
    spots = [g.stride[a] * index(POSITIONS[a]) + g.dilation[a] * taps[a] - g.padding[a] for a in range(g.dims)]
    return x[(c, *spots)]


def out_axes(g: Geometry, channel: str) -> list:
    return [(index(channel), g.shape_out[0])] + [(index(POSITIONS[a]), g.shape_out[a + 1]) for a in range(g.dims)]


def build(g: Geometry, x: str, w: str, b: str | None) -> IndexForm:
    """The convolution's index form, reading arrays `x` (C x H x W), `w` (C_out x C x kh x kw) and `b` (C_out)."""
    X = sp.IndexedBase(x, shape=g.shape_in, real=True)
    Wb = sp.IndexedBase(w, shape=(g.shape_out[0], g.shape_in[0], *g.kernel), real=True)
    o, c = index("o"), index("c")
    taps = [index(TAPS[a]) for a in range(g.dims)]
    body = nested(Wb[(o, c, *taps)] * window(g, X, c, taps),
                  [(c, 0, g.shape_in[0] - 1), *[(t, 0, k - 1) for t, k in zip(taps, g.kernel)]])
    if b is not None:
        body = body + sp.IndexedBase(b, shape=(g.shape_out[0],), real=True)[o]
    return IndexForm(body, out_axes(g, "o"), g.forward_note)


def grad_indices(dims: int, x: str, w: str | None = None, b: str | None = None) -> tuple:
    """The free indices of each arg's gradient: x[c, m, n], W[o, c, u, v], b[o]."""
    free = [(x, tuple(index(n, bound=False) for n in ("c", *SPOTS[:dims])))]
    if w is not None:
        free.append((w, tuple(index(n, bound=False) for n in ("o", "c", *TAPS[:dims]))))
    if b is not None:
        free.append((b, (index("o", bound=False),)))
    return tuple(free)


register(Op("conv", "a convolution in index form: sum_c sum_u W[o, c, u] x[c, s*i + d*u - P] + b[o]",
            vjp=tensor.vjp, numeric=tensor.value, batched=tensor.batched))
