"""Render a `Derivation` in a course's notation: the entry point of `symback derive` and `Derivation.render`.

Stage: render. Input: a `Derivation` of a network, a DAG or an expression, a
notation preset and a layout. Output: text (80 columns, or in Unicode), LaTeX (one
``align*`` block that compiles and shows in Jupyter), Markdown, HTML or JSON.

The derivation becomes one format-free `Document` (`sections`, plus `steps`
for ``steps=True``: the unsimplified chain rule, UDL's ``dl/df_2 = dh_3/df_2
(df_3/dh_3 dl/df_3)``); each format is one page printer of it (`pages`,
`jsonform`). ``batch=True`` writes the minibatch form (one column per
sample, ``dL/dW_k = (1/B) Delta_k H_{k-1}^T``). An expression's derivation
renders as its worked table (`grad`), through the same printers.
"""

from __future__ import annotations

import json

from .. import notation as notations
from ..errors import SymbackError
from . import sections
from .document import Document
from .grad import render_gradient
from .jsonform import SCHEMA, derivation_dict
from .pages import PAGES, TextPage
from .steps import Steps

FORMATS = (*PAGES, "json")
__all__ = ["FORMATS", "SCHEMA", "document", "equations", "render_derivation"]


def document(d, nt, layout: str, steps: bool = False, batch: bool = False) -> Document:
    """The derivation's sections in notation `nt` and `layout`, in no format yet."""
    parts = sections.Builder(d, nt, layout, batch=batch).document()
    if steps:
        parts.insert(3, Steps(d.unsimplified(), nt, layout).section())
    return Document(parts)


def render_derivation(
    d, format: str = "text", notation="udl", layout: str | None = None, steps: bool = False, batch: bool = False
) -> str:
    """The derivation as text, LaTeX, Markdown or JSON in a course's notation."""
    if format not in FORMATS:
        raise SymbackError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if d.summary.kind == "expression" and format != "json":
        return render_gradient(d, None, format)
    if batch and not d.summary.layered:
        raise SymbackError(
            f"batch=True: the minibatch form is written for layered networks; {d.summary.source} is not one"
        )
    nt = notations.get(notation)
    layout = notations.layout_of(nt, layout)
    doc = document(d, nt, layout, steps, batch)
    if format == "json":
        return json.dumps(derivation_dict(d, nt, layout, doc.sections, batch), indent=2, ensure_ascii=False) + "\n"
    return PAGES[format]({"notation": nt}).doprint(doc)


def equations(d, notation="udl") -> dict[str, str]:
    """{node name: "lhs = rhs"}: each derived node's equation as `symback derive` prints it (text)."""
    nt = notations.get(notation)
    b, text = sections.Builder(d, nt, notations.layout_of(nt, None)), TextPage({"notation": nt})
    return {
        n.name: f"{text.math(b.node_symbol(n.name))} = {text.math(b.rhs(n.name))}"
        for n in d.graph
        if not n.is_leaf and n.expr is not None
    }
