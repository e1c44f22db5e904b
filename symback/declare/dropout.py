"""Inverted dropout: ``d = m ⊙ h / (1 - p)`` with an explicit mask input ``m`` (a constant: no gradient by default).

For the derivation the mask is a per-sample constant input like ``x`` (``g.const``), so the module is one
elementwise expression and its backward, ``dl/dh = m ⊙ dl/dd / (1 - p)``, comes from ``sympy.diff`` of it.
The mask's node carries ``meta.rate = p``: a compiled module draws it (keep with probability 1 - p) in each
training step and sets it to 1 - p in ``forward``/``predict`` (inference: the identity). ``p = 0`` is the
identity (no mask). p is a number in [0, 1), kept exact (0.2 prints as 1/5), checked at declaration.

    g.dropout("d1", "h1", 0.5)                           # DAG module: d1 = m_d1 ⊙ h1 / (1 - 1/2)
    sb.Network(4, [sb.Dense(8, "relu"), sb.Dropout(0.5), sb.Dense(1)])
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import SymbackError
from ..ops.batchnorm import real

_M, _H = sp.Symbol("_m"), sp.Symbol("_h")


def rate(p, where: str) -> sp.Rational:
    """The drop probability: a real number in [0, 1), also as a float (1 - 1e-400 is 1.0, a division by 0), exact
    (0.2 -> 1/5); a one-line error otherwise."""
    value = real(p)
    if value is None or not 0 <= value < 1 or not 0 <= p < 1:
        raise SymbackError(f"{where}: p must be a number in [0, 1) (the probability of dropping a unit), "
                           f"got {p!r:.40}")
    return sp.nsimplify(p, rational=True)


def declare(g, name: str, x: str, p, mask: str | None = None) -> str:
    """On the DAG builder `g`: ``name = mask ⊙ x / (1 - p)``, the mask (``m_name`` unless named) as wide as `x`;
    ``p = 0``: ``name = x``."""
    p = rate(p, f"dropout {name}")
    if p == 0:
        return g.ew(name, _H, {"_h": x})
    mask = g.const(mask or f"m_{name}", like=x, rate=p)
    return g.ew(name, _M * _H / (1 - p), {"_m": mask, "_h": x}, kind="dropout")


@dataclass
class Dropout:
    """A `Network` layer: inverted dropout of the previous layer's output with drop probability `p`."""

    p: object

    opens_layer = False
    takes_images = True  # elementwise: an image stays an image

    def __post_init__(self):
        self.p = rate(self.p, "Dropout")

    def width(self, n_in):
        return n_in

    def lower(self, g, prev: str, k: int, n_in) -> str:
        """``d_k = m_k ⊙ h_k / (1 - p)`` after layer k (``d0`` on the input); p = 0 adds no node."""
        if self.p == 0:
            return prev
        k = k if prev != "x" else 0
        while f"d{k}" in g._decls or f"m{k}" in g._decls:  # a second dropout in one layer
            k = f"{k}_"
        return declare(g, f"d{k}", prev, self.p, f"m{k}")

    def __repr__(self) -> str:
        return f"Dropout({self.p})"
