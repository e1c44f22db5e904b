"""What codegen reads from the derivation's summary, and the initialisation schemes.

Stage: codegen. Input: a `Derivation`. Output: `Declared` (a description,
the layer widths, the batch reduction), read from ``d.summary`` in `declared`;
and each parameter's initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Declared:
    """What codegen needs from the front end's declaration: a one-line description, the layer widths
    (networks only), the batch reduction, and a label for the docstring when no source file is named."""

    description: str
    sizes: tuple | None
    reduction: str
    label: str


def declared(d) -> Declared:
    """What the module's docstring and defaults say about the declaration, from the derivation's summary."""
    s = d.summary
    kind = {"network": "Network", "dag": "DAG"}.get(s.kind, "expression")
    label = f"the Python API ({kind} {s.name or ''})".replace(" )", ")")
    if s.layered:
        layers = ", ".join(f"Dense({layer.n_out}, {layer.activation!r})" for layer in s.layers)
        text = f"Network(n_in={s.sizes[0]}, layers=[{layers}], loss={s.loss.name!r}, reduction={s.reduction!r})"
        return Declared(text, tuple(int(n) for n in s.sizes), s.reduction, label)
    text = f"DAG {s.name or 'DAG'!r} (loss {s.loss.name!r}, reduction {s.reduction!r})"
    if any(n.op == "batch" for n in d.graph):  # batch statistics: what forward() computes depends on the batch
        text += "; batch norm in training mode: forward() uses the batch's own mean and variance"
    return Declared(text, None, s.reduction, label)


RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu", "swish")


def init_schemes(g, params) -> dict[str, str]:
    """He for matrices followed by a ReLU-like activation, Glorot otherwise; biases zero; a normalisation's scale
    gamma (kind "scale") one, as PyTorch starts it (zero would make the layer's output constant)."""
    out = {}
    for p in params:
        act = None
        for c in g.consumers(p):
            if g[c].op == "linear" and g[c].role == "forward":
                act = next((g[u].meta.activation for u in g.consumers(c) if g[u].op == "ew" and g[u].role == "forward"
                            and g[u].meta.activation is not None), None)
                break
        out[p] = ("ones" if g[p].meta.kind == "scale" else "zeros" if len(g[p].shape) == 1
                  else "he" if act in RELU_LIKE else "glorot")
    return out
