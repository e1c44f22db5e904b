"""The JSON form of a derivation: its quantities with their symbols, and the document's sections.

Stage: render. Input: a `Derivation`, a notation and the document built for
it. Output: a dict (schema ``symback.derivation/1``) in which every symbol and
formula is given twice, in text and in LaTeX, printed by the same page
printers as `symback derive`.
"""

from __future__ import annotations

import json
from functools import lru_cache

from ..nonsmooth import sympy_names
from ..ops import decay_rate, expand_ops
from .document import Note
from .pages import LatexPage, TextPage
from .sections import Builder

SCHEMA = "symback.derivation/1"
_TEXT = json.encoder.encode_basestring_ascii


def dumps(data) -> str:
    """``json.dumps(data, indent=2, allow_nan=False)``, the same text, written about twice as fast: the standard
    library's indented encoder is pure Python, one generator per container, and a 10^5-term gradient holds 10^6
    values. Infinity and NaN are not JSON: ValueError, as json.dumps says it."""
    try:
        return _text(data, "\n")
    except _NotPlain:  # a key that is not a string: the standard library's rules for it
        return json.dumps(data, indent=2, allow_nan=False)


class _NotPlain(Exception):
    """A value `dumps` leaves to `json.dumps`."""


def _key(key) -> str:
    if not isinstance(key, str):
        raise _NotPlain
    return _TEXT(key)


def _text(value, newline: str) -> str:
    """`value` at the indentation of `newline` (acyclic data, as every ``to_dict`` gives)."""
    if isinstance(value, str):
        return _TEXT(value)
    if not isinstance(value, (list, tuple, dict)):  # numbers, true, false, null; anything else fails as json.dumps
        return json.dumps(value, allow_nan=False)
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    inner = newline + "  "
    if isinstance(value, dict):
        items = [f"{_key(k)}: {_TEXT(v) if type(v) is str else _text(v, inner)}" for k, v in value.items()]
        return f"{{{inner}{f',{inner}'.join(items)}{newline}}}"
    items = [_TEXT(v) if type(v) is str else _text(v, inner) for v in value]
    return f"[{inner}{f',{inner}'.join(items)}{newline}]"


def _shape_json(shape) -> list:
    return [int(s) if isinstance(s, int) or getattr(s, "is_Integer", False) else str(s) for s in shape]


def derivation_dict(d, nt, layout: str, sections: list, batch: bool = False) -> dict:
    """The JSON form: the quantities of the IR with their symbols, and the rendered sections."""
    text, tex = TextPage({"notation": nt}), LatexPage({"notation": nt})
    b = Builder(d, nt, layout)
    quantities = []
    for n in d.graph:
        of = d.graph[n.of] if n.role == "adjoint" else n
        symbol, expr = b.node_symbol(n.name), n.expr
        quantities.append(
            {
                "name": n.name,
                "symbol": text.math(symbol),
                "latex": tex.math(symbol),
                "kind": of.meta.kind,
                "layer": of.meta.layer,
                "shape": _shape_json(n.shape),
                "role": n.role,
                "of": n.of,
                "op": n.op,
                "expr": None if expr is None else sympy_text(expr),
                "expr_text": None if expr is None else text.math(b.rhs(n.name)),
                "expr_latex": None if expr is None else tex.math(b.rhs(n.name)),
            }
        )
    out = [{"title": text.title(sec.title), "items": [_item(it, text, tex) for it in sec.items]} for sec in sections]
    return {
        "schema": SCHEMA,
        "network": _network_json(d.summary) | _decay_json(d.graph),
        "notation": nt.name,
        "layout": layout,
        "form": "minibatch" if batch else "per-sample",
        "params": list(d.params),
        "gradients": dict(d.adjoints),
        "quantities": quantities,
        "sections": out,
    }


@lru_cache(maxsize=4096)
def sympy_text(expr) -> str:
    """SymPy's own text of a node's formula, which reads back with sympify; the same in every notation, layout and
    form, so printed once (SymPy's matrix printer is slow)."""
    return str(sympy_names(expand_ops(expr)))


def _item(it, text, tex) -> dict:
    """A note or an equation, in text and in LaTeX."""
    if isinstance(it, Note):
        return {"note": text.note(it), "note_latex": tex.note(it)}
    return {
        "name": it.name,
        "lhs": text.math(it.lhs),
        "op": text.math(it.op),
        "rhs": [text.math(r) for r in it.rhs],
        "shape": None if it.shape is None else text.math(it.shape),
        "where": text.note(it.where) if it.where else None,
        "lhs_latex": tex.math(it.lhs),
        "rhs_latex": [tex.math(r) for r in it.rhs],
    }


def _decay_json(graph) -> dict:
    """``{"weight_decay": "1/1000"}`` when the loss carries weight decay (its lambda, as SymPy prints it), else {}."""
    lam = decay_rate(graph)
    return {} if lam is None else {"weight_decay": str(lam)}


def _network_json(net) -> dict:
    if not net.layered:
        return {"dag": net.name, "reduction": net.reduction}
    return {
        "sizes": _shape_json(net.sizes),
        "activations": [layer.activation for layer in net.layers],
        "loss": net.loss.name,
        "reduction": net.reduction,
    }
