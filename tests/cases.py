"""Every example declared once; tests import from here (STYLE: one corpus)."""

import sympy as sp

x, y = sp.symbols("x y")


def toy_chain(depth: int, activation=None, names=("b", "w"), evaluate: bool = True):
    """UDL's scalar toy network of `depth` hidden units, loss (f - y)^2.

    f = b_D + w_D a[b_{D-1} + ... a[b0 + w0 x]]; returns (loss, biases, weights).
    ``evaluate=False`` builds unevaluated ReLUs: SymPy's own Max constructor
    compares each new Max with its whole subtree, quadratic in depth.
    """
    if activation is None:
        activation = lambda u: sp.Max(0, u, evaluate=evaluate)  # noqa: E731
    b = sp.symbols(f"{names[0]}0:{depth + 1}")
    w = sp.symbols(f"{names[1]}0:{depth + 1}")
    h = b[0] + w[0] * x
    for k in range(1, depth + 1):
        h = b[k] + w[k] * activation(h)
    return (h - y) ** 2, b, w


def toy_chain_text(depth: int) -> str:
    """The same chain as text for the CLI."""
    h = "b0 + w0*x"
    for k in range(1, depth + 1):
        h = f"b{k} + w{k}*Max(0, {h})"
    return f"({h} - y)^2"


# -- layered networks: one row per case ---------------------------------------
import symback as sb  # noqa: E402

z = sp.Symbol("z")
f_, y_ = sp.symbols("f y")
#: the inverse square root unit, registered as an op (its derivative comes from SymPy, its LaTeX from here)
ISRU = sb.register_op("isru", z / sp.sqrt(1 + z**2), latex=r"\operatorname{ISRU}").__name__


def networks() -> dict:
    """Every layered test network, by name (small integer widths so oracles stay cheap)."""
    return {
        "udl_toy": sb.Network(1, [sb.Dense(3, "relu"), sb.Dense(3, "relu"), sb.Dense(3, "relu"), sb.Dense(1)],
                              loss="mse"),
        "cs229_two_layer": sb.Network(2, [sb.Dense(3, "relu"), sb.Dense(1)], loss=(f_ - y_) ** 2 / 2),
        "foml_sigmoid": sb.Network(2, [sb.Dense(3, "sigmoid"), sb.Dense(3, "sigmoid"), sb.Dense(2, "sigmoid")],
                                   loss="mse"),
        "softmax_classifier": sb.Network(3, [sb.Dense(4, "tanh"), sb.Dense(3)], loss="softmax_cross_entropy"),
        "sigmoid_bce": sb.Network(3, [sb.Dense(2, "sigmoid")], loss="bce"),
        "logits_bce": sb.Network(3, [sb.Dense(2, "softplus"), sb.Dense(2)], loss="bce_with_logits"),
        # piecewise everywhere: kept small, the explicit SymPy oracle grows fast with Piecewise
        "huber_elu": sb.Network(2, [sb.Dense(2, "elu"), sb.Dense(1, "leaky_relu")], loss="huber"),
        "gelu_swish": sb.Network(2, [sb.Dense(3, "gelu"), sb.Dense(2, "swish")], loss="mse"),
        # activations and a loss that no code in symback names
        "softsign": sb.Network(2, [sb.Dense(3, z / (1 + sp.Abs(z))), sb.Dense(2)], loss="mse"),
        "logcosh_mish": sb.Network(2, [sb.Dense(3, sp.log(sp.cosh(z))), sb.Dense(3, z * sp.tanh(sp.log(1 + sp.exp(z)))),
                                       sb.Dense(2)], loss="mse"),
        # an op registered by a user (one table entry): derived, rendered, checked and compiled like the built-ins
        "registered_isru": sb.Network(2, [sb.Dense(3, ISRU), sb.Dense(2)], loss="mse"),
        "hard_tanh_asymmetric": sb.Network(
            2, [sb.Dense(3, sp.Piecewise((-1, z < -1), (z, z < 1), (1, True))), sb.Dense(2)],
            loss=sp.Piecewise((3 * (f_ - y_) ** 2, f_ > y_), ((f_ - y_) ** 2 / 2, True)),
        ),
    }
