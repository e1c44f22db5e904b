"""A `Picture` as Graphviz DOT, and DOT as an SVG or PNG file written atomically.

Stage: teaching views. Input: a `Picture` (`draw`). Output: DOT source, and
the bytes Graphviz's ``dot`` makes of it. A circuit's gates are circles
labelled with their operation above their name, its inputs boxes; a
network's modules are rounded boxes with symbol, formula and shape, its
parameters orange boxes, a shared parameter's wires orange. Values are
green above a wire, gradients red below it.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import graphviz

from ..errors import SymbackError
from ..files import output_path, write_atomic
from .draw import number
from .layout import fmt

VALUE_COLOR = "#1b7f3b"  # forward values: green
GRAD_COLOR = "#c62828"  # gradients: red
PARAM_FILL = "#fff3e0"  # parameters: light orange
INPUT_FILL = "#e3ecf7"  # inputs and targets: light blue
MODULE_FILL = "#fafafa"
LOSS_FILL = "#fde7e9"
SHARED_COLOR = "#e65100"  # the wires of a parameter used by several modules
PNG_DPI = 144  # sharp on a laptop screen and in slides; SVG is resolution-free
FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}
INSTALL_DOT = "the Graphviz program 'dot' is not installed; install it with: apt-get install graphviz (macOS: brew install graphviz)"

GREY = '<font point-size="10" color="#607d8b">{}</font>'


def _leaf(dot, b, label: str, margin: str, **attrs) -> None:
    """An input or target in a blue rounded box, a parameter (a network's, also unit by unit) in an orange one."""
    fill = PARAM_FILL if b.kind == "param" else INPUT_FILL
    dot.node(b.id, label, shape="box", style="rounded,filled", fillcolor=fill, margin=margin, **attrs)


def _row(pic, b) -> dict:
    """A unit graph's row as a Graphviz group: the nodes of one row stand level, the wires between them straight."""
    return {"group": pic.rows[b.id]} if b.id in pic.rows else {}


def _circuit_node(dot, pic, b) -> None:
    row = _row(pic, b)
    if b.kind in ("input", "param", "target"):
        return _leaf(dot, b, f"<<b>{pic.markup.get(b.id) or html.escape(b.label)}</b>>", "0.15,0.06", **row)
    size = "20" if b.kind == "gate" and len(b.label) <= 2 else "14"
    name = pic.markup.get(b.id) or html.escape(pic.display.get(b.id, b.id))
    inner = f'<font point-size="{size}">{html.escape(b.label)}</font><br/>{GREY.format(name)}'
    shape = "circle" if b.kind == "gate" and len(b.label) <= 4 else "ellipse"
    dot.node(b.id, f"<{inner}>", shape=shape, style="filled", fillcolor="#fafafa", margin="0.04", **row)


def _module_node(dot, pic, b) -> None:
    head = f'<font point-size="16">{b.label_html}</font>'
    if b.kind in ("input", "target", "param"):
        group = {} if b.kind == "param" else {"group": "main"}
        return _leaf(dot, b, f"<{head}<br/>{GREY.format(html.escape(b.shape))}>", "0.12,0.05", **group)
    body = f"{head}<br/>= {b.formula_html}"
    if b.kind == "module":
        body += "<br/>" + GREY.format(html.escape(b.shape))
    fill = LOSS_FILL if b.kind == "loss" else MODULE_FILL
    dot.node(b.id, f"<{body}>", shape="box", style="rounded,filled", fillcolor=fill, margin="0.15,0.07", group="main")


@dataclass(frozen=True)
class Look:
    """How one style of picture is drawn: spacing, boxes, numbers, legend."""

    nodesep: str
    ranksep: str
    pen: str  # the boxes' outline width
    edge_size: str  # the wires' font size
    node: Callable  # draws a box that is not a branch point
    number: Callable  # a wire's value as text
    legend: str  # the legend without numbers; {grad} is "gradient of <output>"
    norms: str = ""  # said after the legend with numbers
    # modules: a parameter's wires in orange, and a branch without a gradient keeps its value above an
    # empty line; else (a circuit) a wire without a value keeps its gradient below an empty line
    modules: bool = False


LOOKS = {
    "circuit": Look("0.45", "0.9", "1.3", "12", _circuit_node, number, "{grad} on each wire"),
    "module": Look(
        "0.35",
        "0.7",
        "1.2",
        "11",
        _module_node,
        fmt,
        "one box per module; parameters in orange; shapes in grey",
        " (norms for vectors and matrices)",
        modules=True,
    ),
}


def _legend(pic, look: Look) -> str:
    grad = f'<font color="{GRAD_COLOR}">gradient of {html.escape(pic.output)}</font>'
    if pic.numbers:
        return f'<font color="{VALUE_COLOR}">value</font> above, {grad} below each wire{look.norms}'
    return look.legend.format(grad=grad)


def _label(pic, look: Look, w) -> list[str]:
    """The lines on a wire: its value (green) above, its gradient (red) below; a blank keeps them apart."""
    value = w.value_text or (look.number(w.value) if w.value is not None else "")
    lines = [f'<font color="{VALUE_COLOR}">{html.escape(value)}</font>'] if value else []
    if not look.modules and w.value is None and not w.branch and w.text:
        lines.append(" ")
    if w.text:
        lines.append(f'<font color="{GRAD_COLOR}">{html.escape(w.text)}</font>')
    elif look.modules and w.branch and pic.numbers:
        lines.append(" ")
    return ([f"<b>{w.note_html}</b>"] if w.note else []) + lines


def to_dot(pic, dpi: int | None = None) -> str:
    """DOT source of a picture, left to right."""
    look = LOOKS[pic.style]
    title = f'<{html.escape(pic.title)}<br/><font point-size="10" color="#546e7a">{_legend(pic, look)}</font><br/> >'
    graph_attr = {
        "rankdir": "LR",
        "fontname": "Helvetica",
        "fontsize": "14",
        "label": title,
        "labelloc": "t",
        "nodesep": look.nodesep,
        "ranksep": look.ranksep,
        "pad": "0.3",
        "bgcolor": "white",
    }
    if dpi:
        graph_attr["dpi"] = str(dpi)
    dot = graphviz.Digraph(
        "symback",
        graph_attr=graph_attr,
        node_attr={"fontname": "Helvetica", "fontsize": "12", "color": "#37474f", "penwidth": look.pen},
        edge_attr={"fontname": "Helvetica", "fontsize": look.edge_size, "color": "#37474f", "arrowsize": "0.7"},
    )
    for b in pic.boxes:
        if b.kind == "branch":
            dot.node(b.id, "", shape="point", width="0.09", color="#37474f", **_row(pic, b))
        else:
            look.node(dot, pic, b)
    if any(w.dst == "(output)" for w in pic.wires):
        dot.node("(output)", "", shape="none", width="0.1", height="0.1")
    for column in pic.columns:  # one rank, its order fixed by invisible edges (top to bottom in LR)
        with dot.subgraph() as same:
            same.attr(rank="same")
            for a, b in itertools.pairwise(column):
                same.edge(a, b, style="invis")
    params = {b.id for b in pic.boxes if b.kind == "param"}
    for w in pic.wires:
        lines = _label(pic, look, w)
        attrs = {"arrowhead": "none"} if w.dst.endswith("(branch)") else {}
        if pic.columns and w.branch and w.src.removesuffix("(branch)") not in params:
            attrs["minlen"] = "2"  # a unit graph: the parameters' column stands between a branch and its units
        if w.shared:
            attrs.update(color=SHARED_COLOR, penwidth="1.8")
        elif look.modules and w.src in params:
            attrs.update(color="#ef9a59")
        dot.edge(w.src, w.dst, label=f"<{'<br/>'.join(lines)}>" if lines else "", **attrs)
    return dot.source


def render(dot_source: str, fmt: str) -> bytes:
    """Run Graphviz's `dot` on DOT source; `fmt` is "svg" or "png"."""
    try:
        return graphviz.Source(dot_source).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise SymbackError(INSTALL_DOT) from None
    except graphviz.CalledProcessError as exc:
        msg = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise SymbackError(f"Graphviz 'dot' failed: {msg[0] if msg else exc}") from None


def output_format(path) -> tuple[Path, str]:
    """Check the output path; its suffix picks the format (.svg, .png, or DOT source with .dot/.gv)."""
    path = output_path(path)  # an empty name, a folder, a missing folder: one line each
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SymbackError(f"-o {path}: unknown picture format {path.suffix or '(none)'!r}; use .svg or .png (or .dot)")
    return path, fmt


def save(pic, path) -> int:
    """Write a picture to `path` (.svg, .png, or .dot); return the number of bytes."""
    path, fmt = output_format(path)
    data = to_dot(pic).encode() if fmt == "dot" else render(to_dot(pic, dpi=PNG_DPI if fmt == "png" else None), fmt)
    write_atomic(path, data)
    return len(data)
