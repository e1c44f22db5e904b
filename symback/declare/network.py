"""Front end for layered networks: `Network` of layers (`Dense`, and any `Layer`) -> IR `Graph`.

The network lowers to the chain the lectures write (CS229 indexing, which
is the IR's; notation presets rename and re-index at render time)::

    h0 = x
    f_k = W_k h_{k-1} + b_k          (linear)      k = 1..K
    h_k = a_k(f_k)                   (ew; skipped when a_k is the identity)
    l   = loss(h_K, y)               (loss)

Widths may be integers or SymPy symbols. Activations and losses are forward
formulas only (`library`); every derivative comes later from SymPy.

A layer is any object with ``lower(g, prev, k, n_in) -> value`` (declare its parameters and modules on the `DAG`
`g`, reading the value `prev` of width `n_in`, as layer `k` in CS229's indexing) and ``width(n_in) -> n_out``.
`Dense` opens a new layer index (``opens_layer = True``); other layers (a normalisation or dropout after a
`Dense`) share the index of the `Dense` before them. A network of `Dense` layers alone is "layered"
(consumers show the per-layer delta recursion); with other layers it is shown node by node, as a DAG.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import sympy as sp

from .. import library
from ..derivation import Derivation, Layer, Summary
from ..errors import SymbackError
from ..ir import Graph
from ..ops.loss import regularize
from .conv import check_shapes, image_input, image_shape
from .dag import DAG, derivation, width
from .layernorm import Softmax
from .layers import checked_activation

Z = library.Z


@dataclass
class Dense:
    """A fully connected layer ``h = a(W h_prev + b)`` with `n_out` units."""

    n_out: object
    activation: object = "identity"
    name: str | None = None
    fn: sp.Lambda = field(init=False, repr=False)

    def __post_init__(self):
        self.n_out = width(self.n_out, f"Dense({self.n_out!r})")
        self.fn = checked_activation(self.activation, f"Dense({self.n_out})")

    opens_layer = True

    def width(self, n_in):
        return self.n_out

    def lower(self, g: DAG, prev: str, k: int, n_in) -> str:
        """``f_k = W_k h_{k-1} + b_k`` and ``h_k = a_k(f_k)`` (no h_k for the identity)."""
        g.param(f"W{k}", (self.n_out, n_in), kind="weight", layer=k)
        g.param(f"b{k}", (self.n_out,), kind="bias", layer=k)
        out = g.linear(f"f{k}", f"W{k}", prev, f"b{k}", kind="pre", layer=k)
        return out if self.is_identity else g.map(f"h{k}", out, self.activation, kind="act", layer=k)

    @property
    def activation_name(self) -> str:
        return self.activation if isinstance(self.activation, str) else str(self.fn(Z))

    @property
    def is_identity(self) -> bool:
        return self.fn(Z) == Z


def _decay(lam):
    """`weight_decay`: None or 0 (none), a positive finite number (exact, so 0.1 prints as 1/10) or a SymPy symbol."""
    if isinstance(lam, sp.Symbol):
        return sp.Symbol(lam.name, positive=True)
    if lam is not None and (isinstance(lam, bool) or not isinstance(lam, (numbers.Real, sp.Rational))
                            or not math.isfinite(lam) or lam < 0):
        raise SymbackError(f"Network: weight_decay must be a positive number or a SymPy symbol, got {lam!r:.40}")
    return None if lam is None or lam == 0 else sp.nsimplify(lam, rational=True)


class Network:
    """A layered network: ``Network(n_in, layers=[Dense(...), ...], loss="mse")``."""

    def __init__(self, n_in, layers, loss="mse", reduction: str = "mean", name: str | None = None, weight_decay=None):
        image = isinstance(n_in, (tuple, list))
        self.n_in = image_shape(n_in, "Network(n_in)") if image else width(n_in, "Network(n_in)")
        if not isinstance(layers, (list, tuple)):
            raise SymbackError(f"Network: layers must be a list, e.g. layers=[sb.Dense(1)], got {type(layers).__name__}")
        if not layers:
            raise SymbackError("Network: give at least one layer, e.g. layers=[sb.Dense(1)]")
        for k, layer in enumerate(layers, 1):
            if isinstance(layer, type):
                raise SymbackError(f"layer {k}: {layer.__name__} is a class; give a layer, {layer.__name__}(...)")
            if not (callable(getattr(layer, "lower", None)) and callable(getattr(layer, "width", None))):
                raise SymbackError(f"layer {k}: expected sb.Dense(...) or another symback layer, "
                                   f"got {type(layer).__name__}")
        self.layers = list(layers)
        check_shapes(self.n_in, self.layers)
        try:
            self.loss = library.loss(loss)
        except SymbackError as exc:
            raise SymbackError(f"Network: {exc}") from None
        if isinstance(self.layers[-1], Softmax) and self.loss.name == "softmax_cross_entropy":
            raise SymbackError("Network: the loss 'softmax_cross_entropy' takes logits and applies the softmax itself; "
                               "remove the last sb.Softmax() (it would apply softmax twice)")
        if reduction not in ("mean", "sum"):
            raise SymbackError(f"Network: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.name = name
        self.weight_decay = _decay(weight_decay)
        if self.weight_decay is not None and reduction != "mean":
            raise SymbackError("Network: weight_decay needs reduction='mean' (the penalty joins the mean loss once, as "
                               "torch.optim.SGD's weight_decay does; a sum of losses would count it per sample)")

    @property
    def layered(self) -> bool:
        """Whether every layer is `Dense` (the per-layer delta recursion applies)."""
        return all(isinstance(layer, Dense) for layer in self.layers)

    @property
    def sizes(self) -> list:
        """The width of the input and of each `Dense` layer's output."""
        return [self.n_in] + [layer.n_out for layer in self.layers if isinstance(layer, Dense)]

    @property
    def depth(self) -> int:
        return sum(isinstance(layer, Dense) for layer in self.layers)

    def params(self) -> list[str]:
        return [n.name for n in self.graph()[0].leaves("param")]

    def graph(self) -> tuple[Graph, str]:
        """Lower to the IR through the DAG builder (one mechanism, two front ends): each layer declares its own
        parameters and modules."""
        g = DAG(self.name)
        x = image_input(g, "x", self.n_in) if isinstance(self.n_in, tuple) else g.input("x", self.n_in)
        prev, k, n = x, 0, self.n_in
        for layer in self.layers:
            k += bool(getattr(layer, "opens_layer", False))
            prev, n = layer.lower(g, prev, max(k, 1), n), layer.width(n)
        g.loss(prev, self.loss, self.reduction)
        graph, output = g.graph()
        if self.weight_decay is not None:
            graph = regularize(graph, {n.name: n.shape for n in graph.leaves("param") if n.meta.kind == "weight"},
                               self.weight_decay)
        return graph, output

    def derive(self, simplify: bool = True, notation="udl", layout: str | None = None, wrt=None) -> Derivation:
        """The backpropagation equations of this network (a `Derivation`), shown in `notation` and `layout` by default.

        ``net.derive(notation="cs229")`` renders, prints and displays in Jupyter in CS229's symbols;
        ``net.derive(wrt=["x"])`` gives dl/dx besides the parameters' gradients (CS231n's dx).
        """
        return derivation(self, simplify, notation, layout, wrt)

    def summary(self) -> Summary:
        """The plain description consumers read instead of this object (a DAG's when some layer is not `Dense`)."""
        if not self.layered:
            return Summary("dag", repr(self), name=self.name, loss=self.loss, reduction=self.reduction)
        layers = tuple(Layer(layer.n_out, layer.activation_name, layer.fn, layer.is_identity) for layer in self.layers)
        return Summary("network", repr(self), name=self.name, sizes=tuple(self.sizes), layers=layers, loss=self.loss,
                       reduction=self.reduction)

    def __repr__(self) -> str:
        layers = ", ".join(f"Dense({l.n_out}, {l.activation_name!r})" if isinstance(l, Dense) else repr(l)
                           for l in self.layers)
        decay = "" if self.weight_decay is None else f", weight_decay={self.weight_decay}"
        return f"Network(n_in={self.n_in}, layers=[{layers}], loss={self.loss.name!r}{decay})"
