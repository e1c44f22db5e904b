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

from ..derivation import provides
from ..evaluate import show
from ..ir import sym
from ..notation.nodes import Own
from .document import Cat, Document, Equation, Partial, Plain, Product, Section, Value, Worksheet
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



class Summed(Plain):
    """A formula with Sums over components: as `Plain`, but Unicode writes each Sum ``∑ⱼ₌₁ⁿ`` with its bounds."""


@provides("render_index_gradient")
def render_index_gradient(gradient, format: str = "text") -> str:
    """The gradient in index form, one equation per array: ``dL/dW[k,l] = (Sum(W[k, j]*x[j], (j, 1, n)) - y[k])*x[l]``."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    out = Own(gradient.output)
    rows = [Equation(out, [Summed(gradient.expr)])]
    rows += [Equation(Partial(out, Plain(gradient.components[w])), [Summed(e)]) for w, e in gradient.gradient.items()]
    title = f"gradient in index form ({', '.join(gradient.sizes)} symbolic)"
    return PAGES[format]().doprint(Document([Section(title, rows)]))
