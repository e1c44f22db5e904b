"""Every example declared once; tests import from here (STYLE: one corpus)."""

import sympy as sp

x, y = sp.symbols("x y")


def toy_chain(depth: int, activation=lambda u: sp.Max(0, u), names=("b", "w")):
    """UDL's scalar toy network of `depth` hidden units, loss (f - y)^2.

    f = b_D + w_D a[b_{D-1} + ... a[b0 + w0 x]]; returns (loss, biases, weights).
    """
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
