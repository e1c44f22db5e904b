"""Build the worked table of a scalar `Gradient` (and its `Table` at a point) as a format-free `Worksheet`.

Stage: render. Input: a `Gradient` (an expression's `Derivation`) and
optionally its `Table` of exact values. Output: a `document.Worksheet`,
printed by the same page printers as a network's derivation (`tables`).
Backward rows are written the lecture's way, ``upstream x local``, one
product per consumer, summed where a value branches. Adjoint nodes, named
``df_dq`` in the IR and in JSON, display as ``df/dq`` (the notation term
``Partial(Own(f), Own(q))``).
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from ..derivation import provides
from ..evaluate import show
from ..ir import sym
from ..notation.nodes import Own
from ..notation.unicode import sub, sup
from .document import Cat, Partial, Plain, Product, Value, Worksheet
from .pages import PAGES

FORMATS = tuple(PAGES)


def _names(gradient) -> dict:
    """IR symbol -> its term: inputs and steps by name, adjoints as d(output)/d(node)."""
    out = Own(gradient.output)
    return {n.symbol: Partial(out, Own(n.of)) if n.role == "adjoint" else Own(n.name) for n in gradient.graph}


def _number(value) -> str:
    s = show(value)
    return f"({s})" if s.startswith("-") else s


def _numbers(gradient, table, node) -> str:
    """upstream × local in numbers, one product per consumer."""
    ups = [table.values[gradient.adjoints_of(t.consumer)] for t in node.terms]
    local = [table.local(gradient.graph[t.consumer], node.of) for t in node.terms]
    return " + ".join(f"{_number(u)} × {_number(v)}" for u, v in zip(ups, local))


def worksheet(gradient, table=None, expand: bool = False) -> Worksheet:
    """The forward rows, backward rows and gradient of `gradient`, with `table`'s numbers if given."""
    names = term = _names(gradient)
    out, at = gradient.output, table is not None
    forward = []
    for node in gradient.graph.forward():
        g = table.adjoint_value(node.name) if at else None
        row = (Value(table.values[node.name]), show(g) if g is not None else "·") if at else (None, None)
        forward.append((term[node.symbol], None if node.is_leaf else Plain(node.expr, names), *row))
    backward = []
    for node in gradient.graph.backward():
        ups = [term[sym(gradient.adjoints_of(t.consumer))] for t in node.terms]
        formula = Product(tuple((u, Plain(t.local, names)) for u, t in zip(ups, node.terms)))
        row = (_numbers(gradient, table, node), Value(table.values[node.name])) if at else (None, None)
        backward.append((term[node.symbol], formula if node.terms else Plain(node.expr, names), *row))
    grads = gradient.node_expanded() if expand else gradient.node_gradient()
    return Worksheet(
        head=gradient.source if gradient.named_steps else f"{out} = {gradient.source}",
        formula=None if gradient.named_steps else Cat(Own(out), " = ", Plain(gradient.expr)),
        point=[(v, show(table.values[v])) for v in gradient.inputs] if at else None,
        forward=forward,
        backward=backward,
        gradient=[
            (Partial(Own(out), Own(v)), Plain(grads[v], names), show(table.grad[v]) if at else None)
            for v in gradient.wrt
        ],
        expand=expand,
        grad_heading=f"d{out}/d(node)",
    )


def render_gradient(gradient, table, format: str = "text", expand: bool = False) -> str:
    """The worked table in text, Markdown or LaTeX."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    return PAGES[format]().doprint(worksheet(gradient, table, expand))


class _UnicodeSums(StrPrinter):
    """One line of Unicode for index form: ``∑ⱼ₌₁ⁿ W[k, j]·x[j]``."""

    def _print_Sum(self, expr):
        out = self._print(expr.function)
        out = f"({out})" if expr.function.is_Add else out
        for v, lo, hi in expr.limits:
            low, high = f"{self._print(v)}={self._print(lo)}", self._print(hi)
            out = f"∑{sub(low) or '_{' + low + '}'}{sup(high) or '^{' + high + '}'} {out}"
        return out

    def _print_Mul(self, expr):
        return re.sub(r"(?<!\*)\*(?!\*)", "·", super()._print_Mul(expr))

    def _print_Pow(self, expr):
        power = sup(str(expr.exp)) if expr.exp.is_Integer and expr.exp > 1 else None
        return self.parenthesize(expr.base, PRECEDENCE["Pow"]) + power if power else super()._print_Pow(expr)


_INDEX_FORMS = {
    "text": (sp.sstr, "d{out}/d{w} = {e}"),
    "unicode": (_UnicodeSums().doprint, "∂{out}/∂{w} = {e}"),
    "latex": (sp.latex, r"\frac{{\partial {out}}}{{\partial {w}}} &= {e}"),
}


@provides("render_index_gradient")
def render_index_gradient(gradient, format: str = "text") -> str:
    """The gradient in index form, one line per array: ``dL/dW[k,l] = (Sum(W[k, j]*x[j], (j, 1, n)) - y[k])*x[l]``."""
    if format not in (*_INDEX_FORMS, "markdown"):
        raise ValueError(f"unknown format {format!r}; choose one of text, unicode, markdown, latex")
    write, line = _INDEX_FORMS["latex" if format == "markdown" else format]
    out = gradient.output
    names = {w: write(c) if format in ("latex", "markdown") else w for w, c in gradient.components.items()}
    rows = [line.format(out=out, w=names[w], e=write(e)) for w, e in gradient.gradient.items()]
    if format in ("text", "unicode"):
        return "\n".join([f"{out} = {write(gradient.expr)}", *rows]) + "\n"
    body = " \\\\\n".join([f"{out} &= {sp.latex(gradient.expr)}", *rows])
    block = f"\\begin{{aligned}}\n{body}\n\\end{{aligned}}"
    return f"$$\n{block}\n$$\n" if format == "markdown" else f"\\[\n{block}\n\\]\n"
