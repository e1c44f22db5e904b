"""What codegen reads from the front end's declaration, and the initialisation schemes.

Stage: codegen. Input: a `Derivation`. Output: `Declared` (a description,
the layer widths, the batch reduction), read in `declared`, the one place
codegen looks at ``d.network``; and each parameter's initialisation.
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
    """The only reader of ``d.network`` in codegen."""
    net = d.network
    label = f"the Python API ({type(net).__name__} {getattr(net, 'name', None) or ''})".replace(" )", ")")
    reduction = getattr(net, "reduction", "mean")
    if hasattr(net, "layers"):
        layers = ", ".join(f"Dense({layer.n_out}, {layer.activation_name!r})" for layer in net.layers)
        text = f"Network(n_in={net.n_in}, layers=[{layers}], loss={net.loss.name!r}, reduction={net.reduction!r})"
        return Declared(text, tuple(int(s) for s in net.sizes), reduction, label)
    name = getattr(net, "name", None) or "DAG"
    return Declared(f"DAG {name!r} (loss {net.loss_spec.name!r}, reduction {net.reduction!r})", None, reduction,
                    label)


RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu", "swish")


def init_schemes(g, params) -> dict:
    """He for matrices followed by a ReLU-like activation, Glorot otherwise; biases zero."""
    out = {}
    for p in params:
        if len(g[p].shape) == 1:
            out[p] = ("zeros", "")
            continue
        act = ""
        for c in g.consumers(p):
            node = g[c]
            if node.op != "linear" or node.role != "forward":
                continue
            for u in g.consumers(c):
                if g[u].op == "ew" and g[u].role == "forward" and g[u].meta.activation is not None:
                    act = g[u].meta.activation
                    break
            break
        out[p] = ("he" if act in RELU_LIKE else "glorot", act or "identity")
    return out
