"""Computation-graph pictures: IR `Graph` (+ values at a point) -> Graphviz DOT -> SVG or PNG.

The CS231n circuit style: inputs are boxes, every other node is a gate
labelled with its operation (``+``, ``×``, ``max``, ``sin``) above its name,
read left to right. Each wire carries the forward value above (green) and,
after the backward pass, the gradient of the output with respect to that
wire below (red). A value used by several gates splits at a dot; every
branch carries its own ``upstream × local`` and the trunk shows their sum
(CS 7643: "gradients add at branches").

``symback.draw((x + y)*z, at=dict(x=-2, y=5, z=-4), path="circuit.svg")``
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from ..errors import SymbackError
from ..evaluate import numeric, show, to_python
from ..ir import sym
from ..nonsmooth import text_indicators
from . import adjoints, grad_name, resolve

VALUE_COLOR = "#1b7f3b"  # forward values: green
GRAD_COLOR = "#c62828"  # gradients: red
TITLE_WIDTH = 60  # a longer source is left to the picture itself
PNG_DPI = 144  # sharp on a laptop screen and in slides; SVG is resolution-free
FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}
INSTALL_DOT = "the Graphviz program 'dot' is not installed; install it with: apt-get install graphviz (macOS: brew install graphviz)"

#: SymPy head -> gate symbol, for a node that is one operation of its arguments.
GATES = {sp.Add: "+", sp.Mul: "×", sp.Max: "max", sp.Min: "min", sp.Abs: "|·|", sp.exp: "exp", sp.log: "log"}


def gate_label(expr: sp.Expr) -> str | None:
    """The gate symbol of a one-operation expression (``+``, ``×``, ``max(0, ·)``), else None."""
    if expr.is_Symbol:
        return "="
    parts = expr.args
    if isinstance(expr, sp.Add) and len(parts) == 2 and sum(p.could_extract_minus_sign() for p in parts) == 1:
        neg = next(p for p in parts if p.could_extract_minus_sign())
        if (-neg).is_Symbol and all(p.is_Symbol for p in parts if p is not neg):
            return "−"
    if isinstance(expr, sp.Pow) and expr.base.is_Symbol and expr.exp.is_Number:
        if expr.exp == -1:
            return "1/·"
        if expr.exp == sp.Rational(1, 2):
            return "√"
        return f"^{expr.exp}"
    if not all(p.is_Symbol or p.is_Number for p in parts) or not any(p.is_Symbol for p in parts):
        return None
    head = GATES.get(expr.func) or (expr.func.__name__.lower() if isinstance(expr, sp.Function) else None)
    if head is None:
        return None
    consts = [p for p in parts if p.is_Number]  # a constant operand stays visible: + 1, × 2, max(0, ·)
    if not consts:
        return head
    if isinstance(expr, sp.Add):
        c = sp.Add(*consts)
        return f"+ {show(c)}" if c >= 0 else f"− {show(-c)}"
    if isinstance(expr, sp.Mul):
        return f"× {show(sp.Mul(*consts))}"
    return f"{head}(" + ", ".join(show(p) if p.is_Number else "·" for p in parts) + ")"


def _text(expr: sp.Expr) -> str:
    return text_indicators(str(expr)).replace("**", "^").replace("*", "·")


def _num(value) -> str:
    """A value for the picture: exact when exact, else 4 significant digits."""
    if isinstance(value, sp.Expr) and value.is_Number:
        return show(value) if value.is_Rational else f"{float(value):.4g}"
    return str(value)


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


@dataclass
class Wire:
    """One edge of the picture: the value of `node` flowing to `to` (a gate, a branch point or the output)."""

    node: str
    to: str
    value: object = None  # forward value of `node`, or None without a point
    grad: object = None  # d output / d wire: the whole adjoint on a trunk, one term on a branch
    grad_text: str = ""  # what the red line says
    branch: bool = False  # from a branch point to one consumer


@dataclass
class Picture:
    """Nodes and wires of a computation graph, ready to become DOT."""

    title: str
    output: str = "f"
    numbers: bool = False  # wires carry numbers (a point was given)
    nodes: list[tuple[str, str, str]] = field(default_factory=list)  # (id, kind, label)
    wires: list[Wire] = field(default_factory=list)
    display: dict[str, str] = field(default_factory=dict)  # node id -> the name written under a gate
    markup: dict[str, str] = field(default_factory=dict)  # node id -> that name as Graphviz HTML (sub/sup)

    def to_dict(self) -> dict:
        """JSON for ``symback draw --json``: each wire with its value and gradient."""

        def num(v):
            return to_python(v) if isinstance(v, sp.Expr) and v.is_Number else (None if v is None else str(v))

        return {
            "title": self.title,
            "nodes": [{"id": i, "kind": k, "label": lab} for i, k, lab in self.nodes],
            "wires": [
                {"from": w.node, "to": w.to, "value": num(w.value), "grad": num(w.grad), "branch": w.branch}
                for w in self.wires
            ],
        }


def picture(
    derivation,
    values: dict | None = None,
    display: dict | None = None,
    gates: dict | None = None,
    title: str | None = None,
) -> Picture:
    """The picture of a derivation's forward graph, with numbers when `values` are given.

    `display` renames nodes for the reader (``{"f1_2": "f₀[2]"}``), `gates`
    sets a gate's symbol (``{"f1_2": "Σ"}``); both are used by the expanded
    network picture (`expand`).
    """
    graph, output = derivation.graph, derivation.output
    adj = adjoints(graph)
    seed = adj.get(output)
    display, gates = display or {}, gates or {}
    if title is None:
        source = getattr(derivation, "source", output)
        title = source if getattr(derivation, "named_steps", False) else f"{output} = {source}"
        if len(title) > TITLE_WIDTH:
            title = f"computation graph of {output}"
        if values is not None:
            title += "   at " + ", ".join(f"{n.name} = {_num(values[n.name])}" for n in graph.forward() if n.is_leaf)
    pic = Picture(title=title, output=display.get(output, output), numbers=values is not None, display=display)

    def term_grad(term):
        """One consumer's contribution upstream × local, as a number or as symbols."""
        if values is not None:
            subs = {s: values[s.name] for s in term.value.free_symbols}
            return numeric(term.value.xreplace(subs), f"gradient on the wire into {term.consumer}")
        return term.value.xreplace({sym(seed): sp.Integer(1)}) if seed else term.value

    def grad_text(g) -> str:
        if g is None:
            return ""
        if values is not None:
            return _num(g)
        names = {sym(a): sp.Symbol(grad_name(pic.output, display.get(n, n))) for n, a in adj.items()}
        names.update({sym(n): sp.Symbol(d) for n, d in display.items()})
        return _text(g.xreplace(names))

    for node in graph.forward():
        if node.is_leaf:
            pic.nodes.append((node.name, node.op, display.get(node.name, node.name)))
            continue
        if node.name in gates:
            label = gates[node.name]
        else:
            label = gate_label(node.expr) if node.op == "scalar" else node.op
        kind = "gate" if label is not None else "step"
        pic.nodes.append((node.name, kind, label if label is not None else _text(node.expr)))

    for node in graph.forward():
        v = node.name
        value = values[v] if values is not None else None
        users = [c for c in graph.consumers(v) if graph[c].role == "forward"]
        if v == output:
            users = users + ["(output)"]
        adjoint = graph[adj[v]] if v in adj else None
        terms = {t.consumer: t for t in adjoint.terms} if adjoint is not None else {}
        if v == output:
            total = values[seed] if values is not None else sp.Integer(1)
        else:
            total = values[adj[v]] if (values is not None and v in adj) else None
        if len(users) == 1:
            g = term_grad(terms[users[0]]) if users[0] in terms else total
            pic.wires.append(Wire(v, users[0], value, g, grad_text(g)))
            continue
        if not users:
            continue
        # a branch: the trunk carries the sum, each branch its own upstream × local
        point_id = f"{v}(branch)"
        pic.nodes.append((point_id, "branch", ""))
        parts = [term_grad(terms[c]) if c in terms else None for c in users]
        if values is not None and all(p is not None for p in parts):
            trunk_text = " + ".join(_paren(_num(p)) for p in parts) + f" = {_num(total)}"
        elif values is None and adjoint is not None:
            trunk_text = " + ".join(grad_text(p) for p in parts if p is not None)
        else:
            trunk_text = grad_text(total)
        pic.wires.append(Wire(v, point_id, value, total, trunk_text))
        for c, p in zip(users, parts):
            pic.wires.append(Wire(point_id, c, None, p, grad_text(p), branch=True))
    return pic


def to_dot(pic: Picture, dpi: int | None = None) -> str:
    """DOT source of a picture: left to right, gates as circles, inputs as boxes."""
    import graphviz

    legend = (
        f'<font color="{VALUE_COLOR}">value</font> above, '
        f'<font color="{GRAD_COLOR}">gradient of {html.escape(pic.output)}</font> below each wire'
    )
    if not pic.numbers:
        legend = f'<font color="{GRAD_COLOR}">gradient of {html.escape(pic.output)}</font> on each wire'
    title = f'<{html.escape(pic.title)}<br/><font point-size="10" color="#546e7a">{legend}</font><br/> >'
    graph_attr = {
        "rankdir": "LR",
        "fontname": "Helvetica",
        "fontsize": "14",
        "label": title,
        "labelloc": "t",
        "nodesep": "0.45",
        "ranksep": "0.9",
        "pad": "0.3",
        "bgcolor": "white",
    }
    if dpi:
        graph_attr["dpi"] = str(dpi)
    dot = graphviz.Digraph(
        "symback",
        graph_attr=graph_attr,
        node_attr={"fontname": "Helvetica", "fontsize": "12", "color": "#37474f", "penwidth": "1.3"},
        edge_attr={"fontname": "Helvetica", "fontsize": "12", "color": "#37474f", "arrowsize": "0.7"},
    )
    for node_id, kind, label in pic.nodes:
        if kind == "branch":
            dot.node(node_id, "", shape="point", width="0.09", color="#37474f")
        elif kind in ("input", "param", "target"):
            dot.node(
                node_id,
                f"<<b>{pic.markup.get(node_id) or html.escape(label)}</b>>",
                shape="box",
                style="rounded,filled",
                fillcolor="#fff3e0" if kind == "param" else "#e3ecf7",  # a network's parameters: orange
                margin="0.15,0.06",
            )
        else:
            size = "20" if kind == "gate" and len(label) <= 2 else "14"
            inner = (
                f'<font point-size="{size}">{html.escape(label)}</font><br/>'
                f'<font point-size="10" color="#607d8b">'
                f"{pic.markup.get(node_id) or html.escape(pic.display.get(node_id, node_id))}</font>"
            )
            shape = "circle" if kind == "gate" and len(label) <= 4 else "ellipse"
            dot.node(node_id, f"<{inner}>", shape=shape, style="filled", fillcolor="#fafafa", margin="0.04")
    if any(w.to == "(output)" for w in pic.wires):
        dot.node("(output)", "", shape="none", width="0.1", height="0.1")
    for w in pic.wires:
        lines = []
        if w.value is not None:
            lines.append(f'<font color="{VALUE_COLOR}">{html.escape(_num(w.value))}</font>')
        elif not w.branch and w.grad_text:
            lines.append(" ")
        if w.grad_text:
            lines.append(f'<font color="{GRAD_COLOR}">{html.escape(w.grad_text)}</font>')
        attrs = {"arrowhead": "none"} if w.to.endswith("(branch)") else {}
        dot.edge(w.node, w.to, label=f"<{'<br/>'.join(lines)}>" if lines else "", **attrs)
    return dot.source


def render(dot_source: str, fmt: str) -> bytes:
    """Run Graphviz's `dot` on DOT source; `fmt` is "svg" or "png"."""
    import graphviz

    if shutil.which("dot") is None:
        raise SymbackError(INSTALL_DOT)
    try:
        return graphviz.Source(dot_source).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise SymbackError(INSTALL_DOT) from None
    except graphviz.CalledProcessError as exc:
        msg = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise SymbackError(f"Graphviz 'dot' failed: {msg[0] if msg else exc}") from None


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def output_format(path) -> tuple[Path, str]:
    """Check the output path; its suffix picks the format (.svg, .png, or DOT source with .dot/.gv)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SymbackError(f"-o {path}: unknown picture format {path.suffix or '(none)'!r}; use .svg or .png (or .dot)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SymbackError(f"-o {path}: folder {str(parent)!r} does not exist")
    if path.is_dir():
        raise SymbackError(f"-o {path}: is a folder; give a file name such as graph.svg")
    return path, fmt


def save(pic, path) -> int:
    """Write a picture (a circuit `Picture` or a network's `NetPicture`) to `path`; return the number of bytes."""
    path, fmt = output_format(path)
    dot = pic.dot if hasattr(pic, "dot") else lambda dpi=None: to_dot(pic, dpi)
    data = dot().encode() if fmt == "dot" else render(dot(dpi=PNG_DPI if fmt == "png" else None), fmt)
    write_atomic(path, data)
    return len(data)


def draw(source, at=None, path="graph.svg", wrt=None, notation=None, expand=False, seed=None) -> Path:
    """Draw the computation graph of `source` to `path` (.svg, .png, or .dot); return the path.

    `source` is an expression (SymPy or text), named steps, a `Gradient` or a
    `Table`; with `at` (or a Table) every wire shows its value and gradient.
    It may also be a network: a SPEC ``"file.py:name"``, a `Network`, a `DAG`
    or a `Derivation`, drawn one box per module in `notation` (or one node
    per unit with `expand`), with norms at a random sample when `seed` (or
    ``at="seed=N"``) is given.
    """
    path, _ = output_format(path)  # a bad path fails before any work
    save(make_picture(source, at, wrt, notation, expand, seed), path)
    return path


def make_picture(source, at=None, wrt=None, notation=None, expand=False, seed=None, title=None):
    """The picture `draw` writes: a circuit `Picture` for an expression, a network picture for a network."""
    from . import is_network, network, network_seed

    if is_network(source):
        from .netdraw import network_picture

        if wrt is not None:
            raise SymbackError("--wrt applies to expressions; a network is differentiated by all its parameters")
        return network_picture(network(source), notation or "udl", network_seed(at, seed), expand, title)
    if notation is not None:
        raise SymbackError("--notation applies to a network SPEC (file.py or file.py:name), not to an expression")
    if expand:
        raise SymbackError("--expand draws a network SPEC unit by unit; an expression is drawn gate by gate already")
    derivation, values = resolve(source, at, wrt, seed)
    return picture(derivation, values)
