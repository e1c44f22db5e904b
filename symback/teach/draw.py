"""The one picture of a derivation: `Derivation` (+ values at a point) -> boxes and wires, ready for DOT.

Stage: teaching views. Input: any `Derivation` and optionally the value of
every node (exact numbers for an expression, one seeded sample for a
network; see `point`). Output: a `Picture` (also as JSON) that `dot` turns
into Graphviz source, SVG or PNG.

Read left to right. Each forward node is a box; each wire carries the value
above (green) and the gradient of the output with respect to that wire
below (red). A value used by several consumers splits at a dot: each branch
carries its own path's gradient and the trunk their sum (CS 7643:
"gradients add at branches").

One builder draws every derivation; a style says how: `CircuitStyle` (the
CS231n circuit: inputs as boxes, gates labelled ``+``, ``×``, ``max`` above
their names, exact numbers or, without a point, the symbolic gradients) or
`ModuleStyle` (one box per module however wide, labelled in the course's
symbols with its formula and shape; parameters as orange boxes; tied
weights marked ᵀ; norms for vectors and matrices; the loss last). A small
network's unit-by-unit picture (`expand`) is a circuit over its units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..evaluate import show, to_python, value_at
from ..ir import sym
from ..notation import totals
from .expand import columns, expand, rows, unit_values
from .gates import gate_label
from .layout import fmt, grad_name, plain, shape_text
from .point import at_point, size_of
from .symbols import Symbols, formula

TITLE_WIDTH = 60  # a longer source is left to the picture itself


@dataclass
class Box:
    """One node of the picture: a leaf, a gate or module, the loss, or a branch point."""

    id: str
    kind: str  # input, target, param, gate, step (a circuit); module, loss (a network); branch
    label: str = ""  # a circuit: the gate symbol or the leaf's name; a network: the course symbol, e.g. Ω₀
    label_html: str = ""  # the symbol as Graphviz HTML, e.g. W<sup>[2]</sup>
    formula: str = ""  # a module's right-hand side, e.g. "Ω₀ x + β₀"
    formula_html: str = ""
    shape: str = ""


@dataclass
class Wire:
    """One edge: the value of `src` flowing to `dst` (a consumer, a branch point or the output)."""

    src: str
    dst: str
    value: object = None  # the value carried (a number; a norm for a vector), or None without a point
    grad: object = None  # d output / d wire: the whole gradient on a trunk, one path's on a branch
    text: str = ""  # what the red line says
    value_text: str = ""  # what the green line says instead of the bare number, e.g. "y = 1 (class)"
    branch: bool = False  # from a branch point to one consumer
    norm: bool = False  # the numbers are norms
    shared: bool = False  # a parameter's wire when several modules use it
    note: str = ""  # e.g. "W_encᵀ" for a tied (transposed) use
    note_html: str = ""


@dataclass
class Picture:
    """Boxes and wires of a derivation's picture; `style` is "circuit" or "module"."""

    title: str
    output: str  # the quantity whose gradient the wires carry: f, ℓ
    style: str
    numbers: bool = False  # wires carry numbers (a point was given)
    boxes: list[Box] = field(default_factory=list)
    wires: list[Wire] = field(default_factory=list)
    display: dict[str, str] = field(default_factory=dict)  # node id -> the name written under a gate
    markup: dict[str, str] = field(default_factory=dict)  # node id -> that name as Graphviz HTML
    # a unit graph: node ids drawn in one column, top to bottom (its branch wires then skip a column, so the
    # parameters stand beside the unit they feed), and node id -> its row, kept straight across the picture
    columns: list[list[str]] = field(default_factory=list)
    rows: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON for ``symback draw --json``: each wire with its value and gradient."""
        boxes, wires = JSON_KEYS[self.style]
        return {
            "title": self.title,
            "nodes": [{k: getattr(b, k) for k in boxes} for b in self.boxes],
            "wires": [{"from": w.src, "to": w.dst} | {k: _json(getattr(w, k)) for k in wires} for w in self.wires],
        }


#: style -> (the keys of a box, the keys of a wire) in ``symback draw --json``
JSON_KEYS = {
    "circuit": (("id", "kind", "label"), ("value", "grad", "branch")),
    "module": (("id", "kind", "label", "formula", "shape"), ("value", "grad", "norm", "branch", "shared")),
}


def _json(v):
    """A wire's number for JSON: a SymPy number as int or float, a symbolic gradient as text."""
    if isinstance(v, sp.Expr):
        return to_python(v) if v.is_Number else str(v)
    return v


def number(value) -> str:
    """A circuit's value: exact when exact, else 4 significant digits."""
    if isinstance(value, sp.Expr) and value.is_Number:
        return show(value) if value.is_Rational else f"{float(value):.4g}"
    return str(value)


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


class CircuitStyle:
    """A scalar circuit: gates by their operation, exact numbers, or symbolic gradients without a point."""

    name = "circuit"

    def __init__(self, derivation, values, display=None, gates=None):
        self.g, self.output, self.values = derivation.graph, derivation.output, values
        self.adj = totals(self.g)
        self.seed = self.adj.get(self.output)
        self.display, self.gates = display or {}, gates or {}

    def title(self, derivation) -> str:
        s = derivation.summary
        title = s.source if s.named_steps else f"{self.output} = {s.source}"
        if len(title) > TITLE_WIDTH:
            title = f"computation graph of {self.output}"
        if self.values is not None:
            leaves = (n.name for n in self.g.forward() if n.is_leaf)
            title += "   at " + ", ".join(f"{v} = {number(self.values[v])}" for v in leaves)
        return title

    def shown(self) -> list:
        return list(self.g.forward())

    def box(self, node) -> Box:
        if node.is_leaf:
            return Box(node.name, node.op, self.display.get(node.name, node.name))
        label = self.gates.get(node.name, gate_label(node.expr) if node.op == "scalar" else node.op)
        return Box(node.name, "gate" if label is not None else "step", label if label is not None else plain(node.expr))

    def users(self, node) -> list[str]:
        users = [c for c in self.g.consumers(node.name) if self.g[c].role == "forward"]
        return users + ["(output)"] if node.name == self.output else users

    def value(self, v):
        return (None if self.values is None else self.values[v]), False

    def total(self, v):
        if v == self.output:
            return self.values[self.seed] if self.values is not None else sp.Integer(1)
        return self.values[self.adj[v]] if (self.values is not None and v in self.adj) else None

    def share(self, v, consumer):
        """One consumer's contribution upstream × local, as a number or as symbols."""
        terms = self.g[self.adj[v]].terms if v in self.adj else ()
        term = next((t for t in terms if t.consumer == consumer), None)
        if term is None:
            return None
        if self.values is not None:
            return value_at(term.value, self.values, f"gradient on the wire into {term.consumer}")
        return term.value.xreplace({sym(self.seed): sp.Integer(1)}) if self.seed else term.value

    def text(self, g) -> str:
        if g is None:
            return ""
        if self.values is not None:
            return number(g)
        out = self.display.get(self.output, self.output)
        names = {sym(a): sp.Symbol(grad_name(out, self.display.get(n, n))) for n, a in self.adj.items()}
        names.update({sym(n): sp.Symbol(d) for n, d in self.display.items()})
        return plain(g.xreplace(names))

    def trunk_text(self, v, parts, total) -> str:
        if self.values is not None and all(p is not None for p in parts):
            return " + ".join(_paren(number(p)) for p in parts) + f" = {number(total)}"
        if self.values is None and v in self.adj:
            return " + ".join(self.text(p) for p in parts if p is not None)
        return self.text(total)

    def tied(self, v, consumer) -> dict:
        return {}

    def value_text(self, node, value, norm) -> str:
        return ""


#: a Network's normalisation layers, drawn as one box each; the kinds of the values inside that box
NORMS = {"batchnorm": "batch norm", "layernorm": "layer norm"}
INSIDE = ("batch mean", "batch std", "mean", "std", "normalized")


class ModuleStyle:
    """A network or DAG: one box per module in course symbols, norms, shared and tied parameters."""

    name = "module"

    def __init__(self, derivation, values, notation):
        self.g, self.values = derivation.graph, values
        self.names = Symbols(derivation, notation)
        self.whole = totals(self.g)
        self.via = {(n.of, n.meta.path): n.name for n in self.g.backward() if n.meta.path is not None}

    def shown(self) -> list:  # p is the loss's helper; a normalisation's statistics are inside its one box
        return [n for n in self.g.forward() if n.meta.kind != "softmax" and self.fold(n.name) == n.name]

    def fold(self, name: str) -> str:
        """The box a node is drawn in: a normalisation's mean, deviation and standardised value in its output's."""
        node = self.g[name]
        if node.meta.kind not in INSIDE or node.meta.layer is None:
            return name
        return self.fold(next(c for c in self.g.consumers(name) if self.g[c].role == "forward"))

    def box(self, node) -> Box:
        kind = {"input": "input", "target": "target", "param": "param", "loss": "loss"}.get(node.op, "module")
        s = self.names[node.name]
        text, markup = ("", "") if node.is_leaf else formula(node, self.names)
        if node.meta.kind in NORMS:  # one box per layer: "batch norm(f₀)", its gamma and beta wired in
            hat = next(self.g[a] for a in node.args if self.g[a].meta.kind == "normalized")
            of = self.names[hat.args[0]]
            text, markup = f"{NORMS[node.meta.kind]}({of.text})", f"{NORMS[node.meta.kind]}({of.html})"
        image = node.meta.geometry.shape_out if node.meta.geometry else None  # a conv, pool or image: C×H×W
        shape = "class label" if node.meta.kind == "label" else shape_text(image or node.shape)
        return Box(node.name, kind, s.text, s.html, text, markup, shape)

    def users(self, node) -> list[str]:
        if node.op == "loss":
            return ["(output)"]
        users = [self.fold(c) for c in self.g.consumers(node.name) if self.g[c].role == "forward"]
        users = [c for c in users if self.g[c].meta.kind != "softmax"]  # p is the loss's helper, not a module
        return list(dict.fromkeys(users))  # f₀ feeds a batch norm's mean, deviation and hat: one wire

    def value(self, v):
        return (None, False) if self.values is None else size_of(self.values[v])

    def total(self, v):
        if self.values is None:
            return None
        if self.g[v].op == "loss":
            return 1.0
        return size_of(self.values[self.whole[v]])[0] if v in self.whole else None

    def share(self, v, consumer):
        part = self.via.get((v, consumer))
        return size_of(self.values[part])[0] if (self.values is not None and part) else None

    def text(self, g) -> str:
        return "" if g is None else fmt(g)

    def trunk_text(self, v, parts, total) -> str:
        return self.text(total)

    def value_text(self, node, value, norm) -> str:
        return class_text(self.g, node, self.names.text(node.name), value, norm)

    def tied(self, v, consumer) -> dict:
        """A tied use of parameter v: the wire says it enters transposed."""
        if consumer not in self.g or self.g[consumer].meta.tied != v:
            return {}
        return {"note": f"{self.names.text(v)}ᵀ", "note_html": f"{self.names[v].html}ᵀ"}


def class_text(graph, node, name: str, value, norm: bool = False) -> str:
    """What a class's wire says instead of its bare number: ``y = 1 (class)``, or "" for any other value.

    A label of K classes counts from 1, like the units ``y[1]``, ... ``y[K]``
    of its one-hot target in the unit picture (the sample's class 0 is
    ``y = 1``); a binary cross-entropy's 0/1 target is its class as it is.
    """
    if value is None:
        return ""
    losses = [graph[c].meta.loss or "" for c in graph.consumers(node.name) if graph[c].op == "loss"]
    binary = node.op == "target" and any("bce" in loss for loss in losses) and not norm and float(value) in (0, 1)
    if not (node.meta.kind == "label" or binary):
        return ""
    return f"{name} = {int(value) + (node.meta.kind == 'label')} (class)"


def build(style, title: str, output: str) -> Picture:
    """The boxes and wires of a derivation, drawn in `style`."""
    pic = Picture(title, output, style.name, numbers=style.values is not None)
    shown = style.shown()
    pic.boxes = [style.box(node) for node in shown]
    for node in shown:
        v = node.name
        users = style.users(node)
        if not users:
            continue
        value, norm = style.value(v)
        said = style.value_text(node, value, norm)
        shared = node.op == "param" and style.name == "module"  # a parameter used by several modules
        if len(users) == 1:  # one path: its share is the whole gradient (the output's own start, 1)
            g = style.share(v, users[0])
            g = style.total(v) if g is None else g
            pic.wires.append(Wire(v, users[0], value, g, style.text(g), said, norm=norm, **style.tied(v, users[0])))
            continue
        point = f"{v}(branch)"
        pic.boxes.append(Box(point, "branch"))
        parts = [style.share(v, c) for c in users]
        total = style.total(v)
        trunk = style.trunk_text(v, parts, total)
        pic.wires.append(Wire(v, point, value, total, trunk, said, norm=norm, shared=shared))
        for c, p in zip(users, parts):
            tied = style.tied(v, c)
            pic.wires.append(Wire(point, c, None, p, style.text(p), branch=True, norm=norm, shared=shared, **tied))
    return pic


def picture(derivation, values=None, notation=None, seed=None, expand_units=False, title=None) -> Picture:
    """The picture of any derivation: a circuit gate by gate, a network one box per module (or unit by unit).

    `values` are every node's values at the point shown; for a network `seed`
    names the random sample they come from (`point.values_at`), and with
    `expand_units` the network is drawn as its scalar graph, one node per unit,
    at the same sample evaluated exactly.
    """
    if derivation.summary.kind == "expression":
        style = CircuitStyle(derivation, values)
        return build(style, title or style.title(derivation), derivation.output)
    notation = notation or "udl"
    names = Symbols(derivation, notation)
    head = f"{title or derivation.summary.architecture}   ({names.notation.name} notation"
    head += f", {at_point(derivation.graph, seed)})" if seed is not None else ")"
    if not expand_units:
        style = ModuleStyle(derivation, values, notation)
        return build(style, head, names.loss.text)
    x = expand(derivation, notation)
    exact = unit_values(derivation, x, seed) if seed is not None else None
    style = CircuitStyle(x.derivation, exact, x.display, x.gates)
    output = x.derivation.output
    pic = build(style, head.replace("   (", "   (scalar graph, ", 1), x.display.get(output, output))
    pic.display, pic.markup = x.display, x.markup
    params = {u for p in derivation.params for u in x.units[p]}
    for b in pic.boxes:
        b.kind = "param" if b.id in params else b.kind
    y = derivation.graph["y"]
    for w in pic.wires:  # a binary target's unit says its class (a label's units are its one-hot target)
        if w.src in x.units["y"] and y.meta.kind != "label":
            w.value_text = class_text(derivation.graph, y, x.display[w.src], w.value)
    points = {b.id for b in pic.boxes if b.kind == "branch"}
    cols = columns(x, derivation.params)
    branches = [[f"{u}(branch)" for u in col if f"{u}(branch)" in points] for col in cols]  # in their units' order
    pic.columns, pic.rows = [c for c in cols + branches if len(c) > 1], rows(x)
    pic.rows.update({f"{u}(branch)": r for u, r in pic.rows.items() if f"{u}(branch)" in points})
    return pic
