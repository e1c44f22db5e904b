"""Vanishing and exploding gradients: the norms of the backward pass's factors, layer by layer.

Stage: teaching views. Input: a layered `Network` (its `Derivation`), an
initialisation (`point.INITS`), a scale for the weights and a batch of random
inputs. Output: a `NormReport` per run (text, JSON) and a matplotlib plot
across depth (PNG or SVG).

The UDL lecture's closing question: the chain rule multiplies the local
partial derivatives together,

    dl/df_{k-1} = dh_k/df_{k-1} · df_k/dh_k · dl/df_k = a'(f_{k-1}) ⊙ (Omega_kᵀ dl/df_k),

so "what happens when most of those values are > 2.0? < 0.5?" The report
measures, for every layer k, the two local factors and the error term
delta_k = dl/df_k (its norm, averaged over the batch):

- how much ``W_kᵀ`` stretches a vector on average, ``||W_k||_F / sqrt(fan_out)``
  (the root-mean-square singular value; the spectral norm ``||W_k||₂``, the
  worst case, is in the JSON),
- how much the activation's derivative passes, ``sqrt(mean a'(f_k)²)`` over
  the batch and the units (a ReLU passes about half the entries: 0.71),

and their product, which predicts the measured gain ``||delta_k|| /
||delta_{k+1}||``. Everything is evaluated with NumPy straight from the IR
(`numeric.evaluate_batch`, one matrix product per layer for the whole batch). With
He initialisation a ReLU network keeps the delta norms within a small factor
across 20 layers; scale the weights by 2 and they grow about 2x per layer
towards the input (exploding), by 0.5 and they shrink (vanishing).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..derivation import Derivation
from ..derive.simplify import prune
from ..errors import SymbackError
from ..files import output_path, write_atomic
from ..notation import at, totals
from ..numeric import evaluate_expr_batch
from .point import INITS, batch_values, init_params, random_data
from .symbols import Symbols

#: node kinds or ops of the layers whose local factor the table's product leaves out
BETWEEN = {"batchnorm": "batch norm", "layernorm": "layer norm", "dropout": "dropout", "pool": "pooling"}
STABLE = 10.0  # largest / smallest delta norm below this: stable
SIGNS = {"> 2": 2.0, "< 0.5": 0.5}  # the lecture's thresholds, drawn on the plot


LECTURE = (
    "  The lecture's question: when most local factors are > 2, their product over\n"
    "  D layers explodes like 2^D; when most are < 0.5 it vanishes like 0.5^D. An\n"
    "  initialisation that keeps the product near 1 (He for ReLU, Glorot for tanh)\n"
    "  keeps the gradients usable."
)


@dataclass
class Layer:
    k: int  # IR layer (1 = first)
    symbol: str  # the pre-activation in the course's notation, e.g. f₀
    weight: float  # ||W_k||_F / sqrt(fan_out): how much W_kᵀ stretches a vector, root mean square
    spectral: float  # ||W_k||₂: the most it stretches one
    act: float | None  # sqrt(mean a'(f_k)²) over batch and units; None where no activation follows
    delta: float  # mean over the batch of ||dl/df_k||
    gain: float | None = None  # delta_k / delta_{k+1}: how much one layer multiplies the gradient
    upper_weight: float = 1.0  # the weight factor of the layer above (its W multiplies delta_{k+1})

    @property
    def factor(self) -> float | None:
        """The product of the local factors the step from layer k+1 down to layer k multiplies in."""
        return None if self.act is None else self.act * self.upper_weight

    def to_dict(self) -> dict:
        keys = ("layer", "symbol", "weight_rms", "weight_spectral", "activation_derivative_rms", "factor", "delta")
        values = (self.k, self.symbol, self.weight, self.spectral, self.act, self.factor, self.delta, self.gain)
        return dict(zip(keys + ("gain",), values))


@dataclass
class NormReport:
    """Per-layer norms of one network, initialisation and scale, over one batch."""

    label: str
    init: str
    scale: float
    batch: int
    seed: int
    delta_name: str  # e.g. ∂ℓ/∂f_k
    layers: list[Layer] = field(default_factory=list)
    between: list[str] = field(default_factory=list)  # layers other than Dense, conv and activations: batch norm, ...

    @property
    def spread(self) -> float:
        """Largest over smallest delta norm across the layers."""
        d = [layer.delta for layer in self.layers]
        return max(d) / min(d) if min(d) > 0 else math.inf

    @property
    def per_layer(self) -> float:
        """Geometric mean of the gains: the factor one layer multiplies the gradient by, going back."""
        first, last = self.layers[0].delta, self.layers[-1].delta
        if first <= 0 or last <= 0 or len(self.layers) < 2:
            return math.nan
        return (first / last) ** (1 / (len(self.layers) - 1))

    @property
    def verdict(self) -> str:
        if self.spread < STABLE:
            return "stable"
        return "exploding" if self.per_layer > 1 else "vanishing"

    def summary(self) -> str:
        spread = f"{self.spread:.3g} across {len(self.layers)} layers"
        if self.verdict == "stable":
            return f"stable: the deltas stay within a factor of {spread}"
        how = "grow" if self.verdict == "exploding" else "shrink"
        return f"{self.verdict}: the deltas {how} ×{self.per_layer:.3g} per layer towards the input, ×{spread}"

    def to_dict(self) -> dict:
        keys = ("label", "init", "scale", "batch", "seed", "verdict", "spread", "per_layer")
        return {k: getattr(self, k) for k in keys} | {"layers": [layer.to_dict() for layer in self.layers]}

    def render(self) -> str:
        """The per-layer table and the verdict, in 80 columns."""
        run = f"init {self.init} {INITS[self.init][0]}, weights × {self.scale:g}, batch {self.batch}, seed {self.seed}"
        lines = [
            f"{self.label}: {run}",
            f"  δ_k = {self.delta_name} = a'(f_k) ⊙ (W_{{k+1}}ᵀ δ_{{k+1}}): one layer down multiplies in",
            "  |Wᵀ| = ‖W_{k+1}‖_F/√fan_out and |a′| = rms of a'(f_k), whose product predicts",
            "  the gain ‖δ_k‖/‖δ_{k+1}‖",
            "",
            f"  {'layer':>6} {'|Wᵀ| above':>11} {'|a′|':>7} {'product':>8} {'mean ‖δ‖':>11} {'gain':>7}",
        ]
        cell = lambda x, width: f"{x:{width}.3f}" if x is not None else "-".rjust(width)
        for layer in reversed(self.layers):
            above = None if layer.act is None else layer.upper_weight
            cells = f"{cell(above, 11)} {cell(layer.act, 7)} {cell(layer.factor, 8)}"
            lines.append(f"  {layer.symbol:>6} {cells} {layer.delta:11.3e} {cell(layer.gain, 7)}")
        if self.between:
            between = ", ".join(self.between)
            lines += ["", f"  ({between} between the layers: its factor is in the gain, not the product)"]
        lines += ["", "  " + self.summary(), "", LECTURE]
        return "\n".join(lines) + "\n"


def derivation_of(source) -> Derivation:
    """A `Derivation` itself, or the derivation of a declared `Network` (anything with ``derive()``)."""
    if isinstance(source, Derivation):
        return source
    if not callable(getattr(source, "derive", None)):
        raise SymbackError("gradient norms per layer need a layered network (sb.Network with Dense or conv layers)")
    return source.derive()


def _layers(derivation):
    """(k, pre node, adjoint of the pre node, weight name) for every layer of a layered network."""
    g = derivation.graph
    nodes, adjoint = at(g), totals(g)
    ks = sorted(k for kind, k in nodes if kind == "pre")
    if not ks:
        raise SymbackError("gradient norms per layer need a layered network (sb.Network with Dense or conv layers)")
    pres = [g[nodes[("pre", k)]] for k in ks]
    return [(k, n, g[adjoint[n.name]] if n.name in adjoint else None, nodes[("weight", k)]) for k, n in zip(ks, pres)]


def gradient_norms(
    source,
    init: str = "he",
    scale: float = 1.0,
    batch: int = 256,
    seed: int = 0,
    notation="udl",
    label: str | None = None,
) -> NormReport:
    """Per-layer norms of the local factors and of the deltas dl/df_k over a batch of random inputs."""
    if batch < 1:
        raise SymbackError(f"--batch must be at least 1, got {batch}")
    if not (scale > 0 and math.isfinite(scale)):
        raise SymbackError(f"--scale must be a positive number, got {scale}")
    derivation = derivation_of(source)
    layers = _layers(derivation)
    names = Symbols(derivation, notation)
    rng = np.random.default_rng(seed)
    params = init_params(derivation.graph, init, scale, rng)
    inputs, y = random_data(derivation.graph, batch, rng)
    # the deltas and what they need: no per-sample weight gradient (m × n × batch) is evaluated
    needed = prune(derivation.graph, [adj.name for _, _, adj, _ in layers if adj is not None])
    with np.errstate(all="ignore"):
        values = batch_values(needed, params, inputs, y)
    delta_name = f"∂{names.loss.text}/∂{_generic(names, layers[0][1].name)}"
    between = sorted({BETWEEN[k] for n in derivation.graph.forward() for k in (n.meta.kind, n.op) if k in BETWEEN})
    report = NormReport(label or "network", init, scale, batch, seed, delta_name, between=between)
    for k, pre, adj, weight in layers:
        if adj is None:
            raise SymbackError(f"layer {k}: no gradient reaches {pre.name}")
        delta = np.asarray(values[adj.name], dtype=float)
        act = None
        (term,) = adj.terms
        if term.consumer in derivation.graph and derivation.graph[term.consumer].meta.kind == "act":
            with np.errstate(all="ignore"):
                local = evaluate_expr_batch(term.local, values, pre.shape)
                act = float(np.sqrt(np.mean(np.square(local))))
        W = params[weight].reshape(params[weight].shape[0], -1)  # a kernel: one row per output channel
        rms, spectral = float(np.linalg.norm(W) / math.sqrt(W.shape[0])), float(np.linalg.norm(W, 2))
        mean_delta = float(np.mean(np.linalg.norm(delta.reshape(-1, delta.shape[-1]), axis=0)))  # batch: last axis
        report.layers.append(Layer(k, names.text(pre.name), rms, spectral, act, mean_delta))
    for lower, upper in zip(report.layers, report.layers[1:]):
        lower.gain = lower.delta / upper.delta if upper.delta > 0 else math.inf
        lower.upper_weight = upper.weight
    return report


def _generic(names: Symbols, pre: str) -> str:
    """The pre-activation's symbol with the layer index written k: f_k, z^[k], s^(k)."""
    sym = names[pre]
    return sym.base + ("_k" if sym.sub else "") + (f"^{sym.sup[0]}k{sym.sup[-1]}" if sym.sup else "")


def compare(
    sources: dict, inits=("he", "glorot"), scales=(1.0,), batch: int = 256, seed: int = 0, notation="udl"
) -> list[NormReport]:
    """Reports for every network × initialisation × scale, e.g. ``{"relu": net1, "tanh": net2}``."""
    reports = []
    for label, source in sources.items():
        derivation = derivation_of(source)
        for init in inits:
            for scale in scales:
                name = f"{label} · {init}" + (f" × {scale:g}" if scale != 1 else "")
                reports.append(gradient_norms(derivation, init, scale, batch, seed, notation, name))
    return reports


def plot_path(path) -> Path:
    """Check a plot's output path: .png or .svg in a folder that exists."""
    path = output_path(path)  # an empty name, a folder, a missing folder: one line each
    if path.suffix.lower() not in (".png", ".svg"):
        raise SymbackError(f"-o {path}: unknown plot format {path.suffix or '(none)'!r}; use .png or .svg")
    return path


def plot(reports: list[NormReport], path, title: str | None = None) -> Path:
    """Delta norms and local factors across depth, one line per report; PNG or SVG by the suffix."""
    import matplotlib  # here, not at the top: it takes a second to import, and only a plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter

    path = plot_path(path)
    plt.rcParams.update({"font.size": 10, "svg.hashsalt": "symback", "svg.fonttype": "none"})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100, constrained_layout=True)
    colors = plt.get_cmap("tab10")
    for i, r in enumerate(reports):
        ks = [layer.k for layer in r.layers]
        style = {"color": colors(i % 10), "marker": "o", "markersize": 3, "linewidth": 1.6}
        left.semilogy(ks, [layer.delta for layer in r.layers], label=f"{r.label}: {r.verdict}", **style)
        steps = [(layer.k, layer.factor) for layer in r.layers if layer.factor is not None]
        right.plot([k for k, _ in steps], [f for _, f in steps], label=r.label, **style)
    left.set(
        xlabel="layer k (1 = next to the input)",
        ylabel=r"mean $\Vert\delta_k\Vert$ over the batch (log)",
        title=r"the error term $\delta_k = \partial\ell/\partial f_k$ across depth",
    )
    left.grid(True, which="major", alpha=0.3)
    left.legend(fontsize=8)
    for name, y in SIGNS.items():
        right.axhline(y, color="0.5", linestyle="--", linewidth=0.9)
        right.annotate(
            f"most factors {name}: the product {'explodes' if y > 1 else 'vanishes'}",
            (0.01, y),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
            color="0.3",
            va="bottom",
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    right.set_yscale("log")
    low, high = right.get_ylim()
    right.set_ylim(min(low, 0.4), max(high, 2.6))
    right.yaxis.set_major_formatter(ScalarFormatter())
    right.yaxis.set_minor_formatter(NullFormatter())
    right.set_yticks([t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if min(low, 0.4) <= t <= max(high, 2.6)])
    right.set(
        xlabel="layer k",
        ylabel=r"$|W_{k+1}^T| \cdot |a'(f_k)|$  (root mean square)",
        title="the local factors one layer multiplies in",
    )
    right.grid(True, alpha=0.3)
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title or "vanishing and exploding gradients", fontsize=12)
    image = io.BytesIO()  # drawn in memory first: a failure never leaves a half-written file behind
    kind = path.suffix.lower().lstrip(".")
    fig.savefig(image, format=kind, metadata={"Software": None} if kind == "png" else {"Date": None})
    plt.close(fig)
    write_atomic(path, image.getvalue())
    return path
