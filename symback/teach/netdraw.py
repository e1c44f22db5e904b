"""Pictures of layered networks and DAGs: `Derivation` (+ values at a seeded point) -> Graphviz DOT.

Stage: teaching views. Input: a network's `Derivation`, a notation, and
optionally the value of every node for one random sample (`point.values_at`).
Output: a `NetPicture` (nodes and wires, also as JSON) and its DOT source,
drawn by `draw.render` to SVG or PNG.

One box per module, however wide (a 784-wide layer is one box), labelled in
the course's symbols with its formula and shape (``f₀ = Ω₀ x + β₀``, ``3``).
Parameters are separate boxes feeding their modules; a parameter used by two
modules (shared or tied weights) and a value read by several modules split at
a dot, each branch carrying its own path's gradient and the trunk their sum,
as in the scalar circuit pictures. The loss comes last. With values, each
wire shows the size of the value it carries (green, above) and of the loss's
gradient with respect to it (red, below): the norm for a vector or matrix,
the number itself for a single entry.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from .draw import GRAD_COLOR, VALUE_COLOR
from .point import size_of
from .symbols import CourseText, Symbols

PARAM_FILL = "#fff3e0"  # parameters: light orange
INPUT_FILL = "#e3ecf7"  # inputs and targets: light blue
MODULE_FILL = "#fafafa"
LOSS_FILL = "#fde7e9"
SHARED_COLOR = "#e65100"  # the wires of a parameter used by several modules
MAX_FORMULA = 34  # longer module formulas are shortened with …


def shape_text(shape) -> str:
    """``(4, 3)`` -> ``4×3``; ``(3,)`` -> ``3``; ``()`` -> ``scalar``."""
    return "×".join(str(s) for s in shape) if shape else "scalar"


def fmt(x: float) -> str:
    return f"{x:.3g}" if x == 0 or 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


@dataclass
class Box:
    id: str
    kind: str  # input, target, param, module, loss, branch
    symbol: str = ""  # Unicode text, e.g. Ω₀
    symbol_html: str = ""  # Graphviz HTML, e.g. W<sup>[2]</sup>
    formula: str = ""  # e.g. "Ω₀ x + β₀"
    shape: str = ""
    formula_html: str = ""


@dataclass
class Wire:
    src: str
    dst: str
    value: float | None = None
    grad: float | None = None
    norm: bool = False  # the numbers are norms
    branch: bool = False  # from a branch point to one consumer
    shared: bool = False  # a parameter's wire to a module (several modules use it)
    note: str = ""  # e.g. "W_encᵀ" for a tied (transposed) use
    note_html: str = ""


@dataclass
class NetPicture:
    title: str
    loss: str
    numbers: bool = False
    boxes: list[Box] = field(default_factory=list)
    wires: list[Wire] = field(default_factory=list)

    def dot(self, dpi: int | None = None) -> str:
        return to_dot(self, dpi)

    def to_dict(self) -> dict:
        """JSON for ``symback draw SPEC --json``."""
        return {
            "title": self.title,
            "nodes": [
                {"id": b.id, "kind": b.kind, "label": b.symbol, "formula": b.formula, "shape": b.shape}
                for b in self.boxes
            ],
            "wires": [
                {
                    "from": w.src,
                    "to": w.dst,
                    "value": w.value,
                    "grad": w.grad,
                    "norm": w.norm,
                    "branch": w.branch,
                    "shared": w.shared,
                }
                for w in self.wires
            ],
        }


def _formula(node, names: Symbols, printer: CourseText, shorten: bool = True) -> tuple[str, str]:
    """The module's right-hand side as the course writes it (text, HTML): ``Ω₀ x + β₀``, ``relu(f₀)``."""
    args = [names[a] for a in node.args]
    call = None
    if node.op == "loss" and (node.meta.loss or "custom") != "custom":  # a user's expression: its formula
        call = node.meta.loss
    elif node.meta.kind == "softmax":
        call, args = "softmax", args[:1]
    elif (node.meta.activation or "").isidentifier():
        call, args = node.meta.activation, args[:1]
    if call is not None:
        text = f"{call}({', '.join(a.text for a in args)})"
        markup = f"{html.escape(call)}({', '.join(a.html for a in args)})"
    else:
        text, markup = printer.doprint(node.expr), printer.html(node.expr)
    if shorten and len(text) > MAX_FORMULA:
        text = text[: MAX_FORMULA - 1] + "…"
        markup = html.escape(text)
    return text, markup


def network_picture(
    derivation,
    notation="udl",
    seed: int | None = None,
    expand: bool = False,
    title: str | None = None,
    values: dict | None = None,
):
    """The picture of a network: one box per module, or with `expand` one node per unit.

    With a `seed` the wires carry the numbers of one random sample
    (`point.values_at`; the expanded picture evaluates the same sample exactly).
    """
    names = Symbols(derivation, notation)
    head = f"{title or derivation.summary.architecture}   ({names.notation.name} notation"
    head += f", random sample, seed {seed})" if seed is not None else ")"
    if not expand:
        if seed is not None and values is None:
            from .point import values_at

            values = values_at(derivation, seed)
        return net_picture(derivation, notation, values, head)
    from .draw import picture
    from .expand import expand as unit_graph
    from .expand import point

    x = unit_graph(derivation, notation)
    exact = x.gradient.at(point(derivation, x.units, seed)).values if seed is not None else None
    pic = picture(x.gradient, exact, x.display, x.gates, title=head.replace("   (", "   (scalar graph, ", 1))
    pic.markup = x.markup
    params = {u for p in derivation.params for u in x.units[p]}
    pic.nodes = [(i, "param" if i in params else k, label) for i, k, label in pic.nodes]
    return pic


def net_picture(derivation, notation="udl", values: dict | None = None, title: str | None = None) -> NetPicture:
    """The module-level picture of a network or DAG, with norms when `values` are given."""
    graph = derivation.graph
    names = Symbols(derivation, notation)
    printer = CourseText(names)
    whole = {n.of: n.name for n in graph.backward() if n.meta.path is None}
    via = {(n.of, n.meta.path): n.name for n in graph.backward() if n.meta.path is not None}
    pic = NetPicture(title or _title(derivation, names), names.loss.text, numbers=values is not None)
    forward = [n for n in graph.forward() if n.meta.kind != "softmax"]  # p is the loss's helper
    for node in forward:
        kind = {"input": "input", "target": "target", "param": "param", "loss": "loss"}.get(node.op, "module")
        sym = names[node.name]
        formula, markup = ("", "") if node.is_leaf else _formula(node, names, printer)
        shape = "class label" if node.meta.kind == "label" else shape_text(node.shape)
        pic.boxes.append(Box(node.name, kind, sym.text, sym.html, formula, shape, markup))

    def numbers(v, adjoint):
        if values is None:
            return None, None, False
        val, is_norm = size_of(values[v])
        grad = size_of(values[adjoint])[0] if adjoint else None
        return val, grad, is_norm

    for node in forward:
        v = node.name
        users = [c for c in graph.consumers(v) if graph[c].role == "forward" and graph[c].meta.kind != "softmax"]
        if node.op == "loss":
            users = ["(output)"]
        if not users:
            continue
        value, grad, is_norm = numbers(v, whole.get(v))
        if node.op == "loss" and values is not None:
            grad = 1.0
        is_param = node.op == "param"
        if len(users) == 1:
            tied = users[0] in graph and graph[users[0]].meta.tied == v
            pic.wires.append(Wire(v, users[0], value, grad, is_norm, **(_tied(names, v) if tied else {})))
            continue
        point = f"{v}(branch)"
        pic.boxes.append(Box(point, "branch"))
        pic.wires.append(Wire(v, point, value, grad, is_norm, shared=is_param))
        for c in users:
            part = via.get((v, c))
            g = size_of(values[part])[0] if (values is not None and part) else None
            tied = _tied(names, v) if graph[c].meta.tied == v else {}
            pic.wires.append(Wire(point, c, None, g, is_norm, branch=True, shared=is_param, **tied))
    return pic


def _tied(names: Symbols, v: str) -> dict:
    """A tied use of parameter v: the wire says it enters transposed."""
    return {"note": f"{names.text(v)}ᵀ", "note_html": f"{names[v].html}ᵀ"}


def _title(derivation, names: Symbols) -> str:
    return f"{derivation.summary.architecture}   ({names.notation.name} notation)"


def to_dot(pic: NetPicture, dpi: int | None = None) -> str:
    """DOT source: left to right, parameters as orange boxes, modules as rounded boxes, the loss last."""
    import graphviz

    if pic.numbers:
        legend = (
            f'<font color="{VALUE_COLOR}">value</font> above, '
            f'<font color="{GRAD_COLOR}">gradient of {html.escape(pic.loss)}</font> below each wire '
            f"(norms for vectors and matrices)"
        )
    else:
        legend = "one box per module; parameters in orange; shapes in grey"
    title = f'<{html.escape(pic.title)}<br/><font point-size="10" color="#546e7a">{legend}</font><br/> >'
    graph_attr = {
        "rankdir": "LR",
        "fontname": "Helvetica",
        "fontsize": "14",
        "label": title,
        "labelloc": "t",
        "nodesep": "0.35",
        "ranksep": "0.7",
        "pad": "0.3",
        "bgcolor": "white",
    }
    if dpi:
        graph_attr["dpi"] = str(dpi)
    dot = graphviz.Digraph(
        "symback",
        graph_attr=graph_attr,
        node_attr={"fontname": "Helvetica", "fontsize": "12", "color": "#37474f", "penwidth": "1.2"},
        edge_attr={"fontname": "Helvetica", "fontsize": "11", "color": "#37474f", "arrowsize": "0.7"},
    )
    grey = '<font point-size="10" color="#607d8b">{}</font>'
    for b in pic.boxes:
        if b.kind == "branch":
            dot.node(b.id, "", shape="point", width="0.09", color="#37474f")
            continue
        head = f'<font point-size="16">{b.symbol_html}</font>'
        if b.kind in ("input", "target", "param"):
            fill = PARAM_FILL if b.kind == "param" else INPUT_FILL
            dot.node(
                b.id,
                f"<{head}<br/>{grey.format(html.escape(b.shape))}>",
                shape="box",
                style="rounded,filled",
                fillcolor=fill,
                margin="0.12,0.05",
                **({} if b.kind == "param" else {"group": "main"}),
            )
            continue
        body = f"{head}<br/>= {b.formula_html}"
        if b.kind == "module":
            body += "<br/>" + grey.format(html.escape(b.shape))
        fill = LOSS_FILL if b.kind == "loss" else MODULE_FILL
        dot.node(
            b.id, f"<{body}>", shape="box", style="rounded,filled", fillcolor=fill, margin="0.15,0.07", group="main"
        )
    if any(w.dst == "(output)" for w in pic.wires):
        dot.node("(output)", "", shape="none", width="0.1", height="0.1")
    for w in pic.wires:
        lines = []
        if w.value is not None:
            lines.append(f'<font color="{VALUE_COLOR}">{_shown(w.value, w.norm)}</font>')
        if w.grad is not None:
            lines.append(f'<font color="{GRAD_COLOR}">{_shown(w.grad, w.norm)}</font>')
        elif w.branch and pic.numbers:
            lines.append(" ")
        if w.note:
            lines.insert(0, f"<b>{w.note_html}</b>")
        attrs = {}
        if w.dst.endswith("(branch)"):
            attrs["arrowhead"] = "none"
        if w.shared:
            attrs.update(color=SHARED_COLOR, penwidth="1.8")
        elif w.src in {b.id for b in pic.boxes if b.kind == "param"}:
            attrs.update(color="#ef9a59")
        dot.edge(w.src, w.dst, label=f"<{'<br/>'.join(lines)}>" if lines else "", **attrs)
    return dot.source


def _shown(x: float, is_norm: bool) -> str:
    return fmt(x)
