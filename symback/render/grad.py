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

from ..evaluate import show
from ..ir import sym
from ..notation.nodes import Own
from .document import Partial, Plain, Product, Value, Worksheet
from .pages import PAGES

FORMATS = tuple(PAGES)


def _names(gradient) -> tuple:
    """IR symbol -> its term: inputs and steps by name, adjoints as d(output)/d(node)."""
    out = Own(gradient.output)
    return tuple(
        (node.symbol, Partial(out, Own(node.of)) if node.role == "adjoint" else Own(node.name))
        for node in gradient.graph
    )


def _numbers(gradient, table, node) -> str:
    parts = []
    for t in node.terms:
        up = table.values[gradient.adjoints_of(t.consumer)]
        local = table.local(gradient.graph[t.consumer], node.of)
        parts.append(f"{_paren(show(up))} × {_paren(show(local))}")
    return " + ".join(parts)


def _paren(number: str) -> str:
    return f"({number})" if number.startswith("-") else number


def worksheet(gradient, table=None, expand: bool = False) -> Worksheet:
    """The forward rows, backward rows and gradient of `gradient`, with `table`'s numbers if given."""
    names = _names(gradient)
    term = dict(names)
    out = gradient.output
    point = [(v, show(table.values[v])) for v in gradient.inputs] if table is not None else None
    forward = []
    for node in gradient.graph.forward():
        row = [term[node.symbol], None if node.is_leaf else Plain(node.expr, names), None, None]
        if table is not None:
            g = table.adjoint_value(node.name)
            row[2:] = [Value(table.values[node.name]), show(g) if g is not None else "·"]
        forward.append(tuple(row))
    backward = []
    for node in gradient.graph.backward():
        if node.terms:
            ups = [term[sym(gradient.adjoints_of(t.consumer))] for t in node.terms]
            formula = Product(tuple((u, Plain(t.local, names)) for u, t in zip(ups, node.terms)))
        else:
            formula = Plain(node.expr, names)
        numbers = value = None
        if table is not None:
            numbers = _numbers(gradient, table, node) if node.terms else ""
            value = Value(table.values[node.name])
        backward.append((term[node.symbol], formula, numbers, value))
    grads = gradient.node_expanded() if expand else gradient.node_gradient()
    gradient_rows = [
        (Partial(Own(out), Own(v)), Plain(grads[v], names), show(table.grad[v]) if table is not None else None)
        for v in gradient.wrt
    ]
    return Worksheet(
        head=gradient.source if gradient.named_steps else f"{out} = {gradient.source}",
        expr=Plain(gradient.expr),
        output=Own(out),
        named_steps=gradient.named_steps,
        point=point,
        forward=forward,
        backward=backward,
        gradient=gradient_rows,
        expand=expand,
        grad_heading=f"d{out}/d(node)",
    )


def render_gradient(gradient, table, format: str = "text", expand: bool = False) -> str:
    """The worked table in text, Markdown or LaTeX."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    return PAGES[format]().doprint(worksheet(gradient, table, expand))
