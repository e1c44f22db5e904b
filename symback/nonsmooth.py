"""Derivatives of functions that are not smooth everywhere, as frameworks take them.

SymPy differentiates ``Max(0, z)`` to ``Heaviside(z)``, ``Abs(z)`` to
``sign(z)`` and ``Heaviside(z)`` to ``DiracDelta(z)``. Backpropagation needs
one number at every point, so symback fixes the conventions the ML
frameworks use:

==========================  ===================================================
derivative SymPy gives      symback takes
==========================  ===================================================
``Heaviside(u)``            ``Indicator(u > 0)``: 1 where u > 0, else 0, so
                            ReLU'(0) = 0 and at an exact tie ``Max(a, b)``
                            passes no gradient to either argument (PyTorch's
                            ``maximum`` splits it 1/2, 1/2; ties have measure
                            zero and gradient checks avoid them)
``DiracDelta(u)``           ``0``: the derivative of a step is 0 almost
                            everywhere (``Heaviside``, ``sign``, ``floor``)
``sign(u)``                 kept: sign(0) = 0, as ``torch.abs`` gives at 0
``Piecewise``               kept: the first branch whose condition holds
==========================  ===================================================

`Indicator` prints as ``I[u > 0]`` (text) and ``\\mathbb{I}[u > 0]`` (LaTeX; \\mathbb{1} is no glyph in amssymb).
"""

from __future__ import annotations

import sympy as sp


class Indicator(sp.Function):
    """``Indicator(cond)`` is 1 where the relation `cond` holds, else 0."""

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, cond):
        if cond is sp.true:
            return sp.Integer(1)
        if cond is sp.false:
            return sp.Integer(0)
        return None

    def fdiff(self, argindex=1):
        return sp.Integer(0)

    def _sympystr(self, printer):
        return f"Indicator({printer._print(self.args[0])})"

    def _latex(self, printer):
        return r"\mathbb{I}\left[" + printer._print(self.args[0]) + r"\right]"

    def _pretty(self, printer):
        return printer._print_seq(self.args, "I[", "]")


def take_conventions(expr: sp.Expr) -> sp.Expr:
    """Rewrite a derivative SymPy produced into the frameworks' conventions."""
    return expr.replace(sp.Heaviside, lambda u, *_: Indicator(sp.StrictGreaterThan(u, 0))).replace(
        sp.DiracDelta, lambda *_: sp.Integer(0)
    )


def text_indicators(text: str) -> str:
    """Turn ``Indicator(u > 0)`` into the lecture's ``I[u > 0]`` for display."""
    out, i = [], 0
    key = "Indicator("
    while True:
        j = text.find(key, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j] + "I[")
        depth, k = 1, j + len(key)
        while depth:
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            k += 1
        out.append(text_indicators(text[j + len(key) : k - 1]) + "]")
        i = k
