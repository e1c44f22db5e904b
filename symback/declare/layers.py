"""`Network` layers besides `Dense`: `BatchNorm` (training mode) and `Activation`.

Both follow the layer protocol of `network` (``lower(g, prev, k, n_in)``,
``width(n_in)``) and share the index k of the `Dense` before them, so
``[Dense(64), BatchNorm(), Activation("relu"), Dense(10)]`` is CS231n's
affine - batchnorm - relu - affine: ``f1 = W1 x + b1``, ``bn1 = gamma1 ⊙
(f1 - mu1) / sqrt(var1 + eps) + beta1``, ``h1 = relu(bn1)``, ``f2 = W2 h1 + b2``.
"""

from __future__ import annotations

import sympy as sp

from .. import library
from ..errors import SymbackError
from ..ops.batchnorm import epsilon, placement
from .dag import DAG
from .layernorm import free as _free


def checked_activation(given, where: str) -> sp.Lambda:
    """The activation `given` names, refused when its derivative is zero almost everywhere (a step: no gradient
    would flow through it), in one line naming `where`."""
    try:
        fn = library.activation(given)
    except SymbackError as exc:
        raise SymbackError(f"{where}: {exc}") from None
    body = fn(library.Z)
    if body.has(sp.I):  # compiled, it would fail inside Numba at the first call
        raise SymbackError(f"{where}: activation {given!r:.60} is complex-valued (it holds I); an activation is a "
                           "real function of one real variable")
    if sp.diff(body, library.Z).replace(sp.DiracDelta, lambda *a: sp.Integer(0)) == 0 and body.free_symbols:
        raise SymbackError(
            f"activation {given!r} has derivative 0 almost everywhere (a step), so no gradient would flow "
            "through it; use a smooth surrogate such as tanh or a straight-through estimator written as "
            "an expression"
        )
    return fn


class BatchNorm:
    """Batch normalisation in training mode: each feature is standardised by the batch's mean and variance, then
    scaled by gamma and shifted by beta (per-feature parameters, kinds "scale" and "shift": weight decay, which
    takes the weights, leaves them alone). eps is added to the variance inside the square root, as CS231n and
    PyTorch do; ``eps_at="std"`` adds it to the standard deviation, sqrt(var) + eps, as UDL writes it."""

    opens_layer = False

    def __init__(self, eps=1e-5, eps_at: str = "variance"):
        self.eps, self.eps_at = epsilon(eps, "BatchNorm"), placement(eps_at, "BatchNorm")

    def width(self, n_in):
        return n_in

    def lower(self, g: DAG, prev: str, k: int, n_in) -> str:
        gamma = g.param(_free(g, f"gamma{k}"), (n_in,), kind="scale", layer=k)
        beta = g.param(_free(g, f"beta{k}"), (n_in,), kind="shift", layer=k)
        return g.batchnorm(_free(g, f"bn{k}"), prev, gamma, beta, self.eps, self.eps_at, layer=k)

    def __repr__(self) -> str:
        return f"BatchNorm(eps={self.eps}{'' if self.eps_at == 'variance' else ', eps_at=' + repr(self.eps_at)})"


class Activation:
    """An elementwise activation as a layer of its own (after a `BatchNorm`): ``h_k = a(prev)``."""

    opens_layer = False
    takes_images = True  # elementwise: an image stays an image

    def __init__(self, activation):
        checked_activation(activation, f"Activation({activation!r:.40})")
        self.activation = activation

    def width(self, n_in):
        return n_in

    def lower(self, g: DAG, prev: str, k: int, n_in) -> str:
        k = 0 if prev == "x" else k  # of the network's input: index 0, so the first Dense keeps its h1
        return g.map(_free(g, f"h{k}"), prev, self.activation, kind="act", layer=k)

    def __repr__(self) -> str:
        return f"Activation({self.activation!r})"
