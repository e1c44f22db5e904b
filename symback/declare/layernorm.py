"""Modules over a vector's components (sum, mean, softmax, layer normalisation) and the `LayerNorm`, `Softmax` layers.

`Components` gives `DAG` its methods ``g.sum``, ``g.mean``, ``g.softmax``, ``g.layernorm``; each declares a
``coupled`` module (symback/ops/reduce.py), whose derivative SymPy takes from the definition. Per sample::

    mu = 1/n sum_j x_j        xhat_i = (x_i - mu) / sqrt(1/n sum_j (x_j - mu)^2 + eps)        y = gamma * xhat + beta

eps is inside the square root, as PyTorch's ``layer_norm`` has it; the variance is the biased one (divided by n).
The layers go in a `Network` after a `Dense`, sharing its index k: ``LayerNorm`` declares ``gamma{k}`` (kind
"scale") and ``beta{k}`` (kind "shift"), which weight decay, like PyTorch users', leaves alone, and the values
``xhat{k}`` and ``n{k} = gamma{k} * xhat{k} + beta{k}``.
"""

from __future__ import annotations

import sympy as sp

from ..errors import SymbackError
from ..ir import Meta, sym
from ..ops import reduce


def free(g, name: str) -> str:
    """`name`, or with a suffix when an earlier layer of the same index took it (two normalisations in one layer)."""
    taken, k, out = set(g.params()) | set(g._decls), 1, name
    while out in taken:
        k += 1
        out = f"{name}_{k}"
    return out


class Components:
    """`DAG` methods for modules that couple a vector's components; each returns the name it declares."""

    def sum(self, name: str, x: str, kind: str = "value", layer: int | None = None) -> str:
        """``name = sum_j x_j``, a per-sample scalar (elementwise modules broadcast it over vectors)."""
        return self._module(name, "coupled", (x,), lambda s: reduce.build_reduce(name, x, False, s),
                            Meta(kind=kind, layer=layer))

    def mean(self, name: str, x: str, kind: str = "value", layer: int | None = None) -> str:
        """``name = 1/n sum_j x_j``, a per-sample scalar."""
        return self._module(name, "coupled", (x,), lambda s: reduce.build_reduce(name, x, True, s),
                            Meta(kind=kind, layer=layer))

    def softmax(self, name: str, x: str, layer: int | None = None) -> str:
        """``name_i = exp(x_i) / sum_j exp(x_j)``."""
        return self._module(name, "coupled", (x,), lambda s: reduce.build_softmax(name, x, s),
                            Meta(kind="softmax", layer=layer))

    def layernorm(self, name: str, x: str, gamma: str, beta: str, eps=1e-5, hat: str | None = None,
                  layer: int | None = None) -> str:
        """``name = gamma * xhat + beta`` with ``xhat`` the normalised `x`, declared as `hat` (``xhat_<name>``)."""
        e, hat = reduce.eps_value(eps, f"layernorm {name}"), hat or f"xhat_{name}"
        xhat = self._module(hat, "coupled", (x,), lambda s: reduce.build_normalize(hat, x, e, s),
                            Meta(kind="normalized", layer=layer))
        g, b, h = sp.Symbol("_g"), sp.Symbol("_b"), sym(xhat)
        return self.ew(name, g * h + b, {"_g": gamma, "_b": beta, xhat: xhat}, kind="layernorm", layer=layer)


class LayerNorm:
    """Layer normalisation over the features of each sample, with per-feature gamma and beta (PyTorch's default
    ``elementwise_affine``): ``sb.LayerNorm(eps=1e-5)``."""

    opens_layer = False

    def __init__(self, eps=1e-5):
        reduce.eps_value(eps, "LayerNorm")
        self.eps = eps

    def width(self, n_in):
        if n_in == 1:  # (x - mu) is 0: the output is beta whatever the input, and no gradient flows back
            raise SymbackError("a layer norm over one feature is the constant beta")
        return n_in

    def lower(self, g, prev: str, k: int, n_in) -> str:
        k = 0 if prev == "x" else k  # normalising the network's input: index 0, as h_0 = x
        gamma = g.param(free(g, f"gamma{k}"), (n_in,), kind="scale", layer=k)
        beta = g.param(free(g, f"beta{k}"), (n_in,), kind="shift", layer=k)
        return g.layernorm(free(g, f"n{k}"), prev, gamma, beta, self.eps, hat=free(g, f"xhat{k}"), layer=k)

    def __repr__(self) -> str:
        return f"LayerNorm(eps={self.eps!r})"


class Softmax:
    """Softmax over the features of each sample, as a layer of its own: ``sb.Softmax()``."""

    opens_layer = False

    def width(self, n_in):
        return n_in

    def lower(self, g, prev: str, k: int, n_in) -> str:
        if n_in == 1:
            raise SymbackError(f"Softmax after layer {k}: a softmax over one feature is the constant 1")
        k = 0 if prev == "x" else k  # of the network's input: index 0
        return g.softmax(free(g, f"p{k}"), prev, layer=k)

    def __repr__(self) -> str:
        return "Softmax()"
