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
                            ``maximum`` splits it 1/2, 1/2; in a scalar
                            expression ties have measure zero). Max-pooling's
                            window, where padding and blank image regions tie
                            often, routes a tie to its first tap instead
                            (`ops.pool.WindowMax`, as PyTorch's max_pool)
``Heaviside(u, 1)``         ``Indicator(u >= 0)``: 1 at u = 0 too
``DiracDelta(u)``           ``0``: the derivative of a step is 0 almost
                            everywhere (``Heaviside``, ``sign``)
``Derivative(floor(u))``    ``0``, likewise for ``ceiling``; ``Mod(a, b)``
                            is ``a - b*floor(a/b)``, ``frac(u)`` is
                            ``u - floor(u)``
``sign(u)``                 kept: sign(0) = 0, as ``torch.abs`` gives at 0
``Piecewise``               kept: the first branch whose condition holds
==========================  ===================================================

`Indicator` prints as ``I[u > 0]`` (text) and ``\\mathbb{I}[u > 0]`` (LaTeX; \\mathbb{1} is no glyph in amssymb).
"""

from __future__ import annotations

import re

import sympy as sp


class Indicator(sp.Function):
    """``Indicator(cond)`` is 1 where the relation `cond` holds, else 0."""

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, cond):
        if cond is sp.true or cond is sp.false:
            return sp.Integer(1 if cond is sp.true else 0)

    def fdiff(self, argindex=1):
        return sp.Integer(0)

    def _eval_derivative(self, s):
        return sp.Integer(0)  # a step is flat almost everywhere; its argument is a relation, not a number

    def _sympystr(self, printer):
        return f"Indicator({printer._print(self.args[0])})"

    def _latex(self, printer):
        return r"\mathbb{I}\left[" + printer._print(self.args[0]) + r"\right]"

    def _pretty(self, printer):
        return printer._print_seq(self.args, "I[", "]")


def _flat_steps(d: sp.Derivative) -> sp.Expr:
    """A derivative SymPy left unevaluated, taken with floor and ceiling flat (derivative 0).

    ``Mod(a, b)`` is ``a - b*floor(a/b)`` and ``frac(u)`` is ``u - floor(u)``, as
    ``torch.remainder`` and ``torch.frac`` differentiate them.
    """
    if not d.expr.has(sp.floor, sp.ceiling, sp.frac, sp.Mod):
        return d
    e = d.expr.replace(sp.Mod, lambda a, b: a - b * sp.floor(a / b)).replace(sp.frac, lambda u: u - sp.floor(u))
    frozen = {f: sp.Dummy() for f in e.atoms(sp.floor, sp.ceiling)}
    return sp.diff(e.xreplace(frozen), *d.variable_count).xreplace({v: f for f, v in frozen.items()})


def take_conventions(expr: sp.Expr) -> sp.Expr:
    """Rewrite a derivative SymPy produced into the frameworks' conventions."""
    if expr.has(sp.Derivative):
        expr = expr.replace(lambda e: isinstance(e, sp.Derivative), _flat_steps)
        expr = expr.replace(lambda e: isinstance(e, sp.Subs) and not e.expr.has(sp.Derivative), lambda e: e.doit())
    step = lambda u, h0=None: Indicator((sp.GreaterThan if h0 == 1 else sp.StrictGreaterThan)(u, 0))
    return expr.replace(sp.Heaviside, step).replace(
        sp.DiracDelta, lambda *_: sp.Integer(0)
    )


def _sympy_indicator(cond) -> sp.Expr:
    """``Indicator(a > b)`` as ``Heaviside(a - b, 0)`` (``a >= b``: ``Heaviside(a - b, 1)``), else a Piecewise."""
    if isinstance(cond, (sp.StrictGreaterThan, sp.StrictLessThan, sp.GreaterThan, sp.LessThan)):
        return sp.Heaviside(cond.gts - cond.lts, int(cond.rel_op in (">=", "<=")))
    return sp.Piecewise((1, cond), (0, True))


def sympy_names(expr: sp.Expr) -> sp.Expr:
    """`expr` with `Indicator` written in SymPy's own functions, for text a reader gives to ``sympify``; a pooling
    window's max (a `Max` subclass keeping its taps' order for the tie rule) as SymPy's ``Max``, its value."""
    expr = expr.replace(Indicator, _sympy_indicator) if expr.has(Indicator) else expr
    kept = lambda e: isinstance(e, sp.Max) and type(e) is not sp.Max
    return expr.replace(kept, lambda e: sp.Max(*e.args, evaluate=False)) if expr.has(sp.Max) else expr


def text_indicators(text: str) -> str:
    """Turn ``Indicator(u > 0)`` into the lecture's ``I[u > 0]`` for display."""
    out, opened = [], []  # for each open parenthesis: is it an Indicator's?
    for part in re.split(r"(Indicator\(|[()])", text):
        if part in ("(", "Indicator("):
            opened.append(part != "(")
            part = "I[" if opened[-1] else part
        elif part == ")":
            part = "]" if opened and opened.pop() else part
        out.append(part)
    return "".join(out)


def plain_str(expr: sp.Expr) -> str:
    """``str(expr)``, without SymPy's term ordering where it changes nothing and costs O(terms x symbols).

    A sum of plain symbols with the same assumptions is already stored in the printed order.
    """
    if expr.is_Add and all(type(a) is sp.Symbol and a.assumptions0 == expr.args[0].assumptions0 for a in expr.args):
        return sp.sstr(expr, order="none")
    return str(expr)
