"""Render a scalar `Gradient` (and its worked `Table`) as text, Markdown or LaTeX.

Backward rows are written the lecture's way, ``upstream x local``, one
product per consumer, summed where a value branches. Adjoint nodes, named
``df_dq`` in the IR and in JSON, display as ``df/dq``.
"""

from __future__ import annotations

import io
import re

import sympy as sp
from rich import box
from rich.console import Console
from rich.table import Table as RichTable

from ..evaluate import show
from ..ir import sym
from ..nonsmooth import text_indicators

FORMATS = ("text", "markdown", "latex")


def _display_names(gradient) -> dict[sp.Symbol, sp.Symbol]:
    out = gradient.output
    names = {}
    for node in gradient.graph.backward():
        names[node.symbol] = sp.Symbol(f"d{out}/d{node.of}")
    return names


def _latex_names(gradient) -> dict[sp.Symbol, str]:
    out = gradient.output
    names = {}
    for node in gradient.graph:
        base = _latex_var(node.of if node.role == "adjoint" else node.name)
        if node.role == "adjoint":
            names[node.symbol] = rf"\frac{{\partial {_latex_var(out)}}}{{\partial {base}}}"
        else:
            names[node.symbol] = base
    return names


def _latex_var(name: str) -> str:
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if m:
        head = sp.latex(sp.Symbol(m.group(1)))
        return f"{head}_{{{m.group(2)}}}"
    return sp.latex(sp.Symbol(name))


def _text(expr, names) -> str:
    return text_indicators(str(expr.xreplace(names)))


def _product(up: str, local: sp.Expr, fmt) -> str:
    loc = fmt(local)
    if isinstance(local, sp.Add):
        loc = f"({loc})"
    return f"{up} × {loc}"


def _backward_formula(gradient, node, fmt, names) -> str:
    if not node.terms:
        return fmt(node.expr)
    parts = []
    for t in node.terms:
        up = names[sym(gradient.adjoints_of(t.consumer))]
        parts.append(_product(str(up), t.local, fmt))
    return " + ".join(parts)


def _backward_numbers(gradient, table, node) -> str:
    parts = []
    for t in node.terms:
        consumer = gradient.graph[t.consumer]
        up = table.values[gradient.adjoints_of(t.consumer)]
        arg = node.of
        local = table.local(consumer, arg)
        parts.append(f"{_paren(show(up))} × {_paren(show(local))}")
    return " + ".join(parts)


def _paren(number: str) -> str:
    return f"({number})" if number.startswith("-") else number


def render_gradient(gradient, table, format: str = "text", expand: bool = False) -> str:
    if format == "text":
        return _render_text(gradient, table, expand)
    if format == "markdown":
        return _render_markdown(gradient, table, expand)
    if format == "latex":
        return _render_latex(gradient, table, expand)
    raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")


def _gradients(gradient, expand):
    return gradient.node_expanded() if expand else gradient.node_gradient()


def _render_text(gradient, table, expand) -> str:
    names = _display_names(gradient)
    fmt = lambda e: _text(e, names)  # noqa: E731
    buf = io.StringIO()
    console = Console(file=buf, width=100, force_terminal=False, color_system=None, highlight=False)
    head = gradient.source if gradient.named_steps else f"{gradient.output} = {gradient.source}"
    if table is not None:
        point = ", ".join(f"{v} = {show(table.values[v])}" for v in gradient.inputs)
        head += f"   at {point}"
    console.print(head)

    fw = RichTable(title="forward pass", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    fw.add_column("node")
    fw.add_column("expression")
    if table is not None:
        fw.add_column("value", justify="right")
        fw.add_column(f"d{gradient.output}/d(node)", justify="right")
    for node in gradient.graph.forward():
        row = [node.name, "input" if node.is_leaf else fmt(node.expr)]
        if table is not None:
            g = table.adjoint_value(node.name)
            row += [show(table.values[node.name]), show(g) if g is not None else "·"]
        fw.add_row(*row)
    console.print(fw)

    bw = RichTable(title="backward pass (upstream × local)", box=box.SIMPLE_HEAD,
                   title_justify="left", pad_edge=False)
    bw.add_column("gradient")
    bw.add_column("= upstream × local")
    if table is not None:
        bw.add_column("numbers", justify="right")
        bw.add_column("value", justify="right")
    for node in gradient.graph.backward():
        row = [str(names[node.symbol]), _backward_formula(gradient, node, fmt, names)]
        if table is not None:
            row += [_backward_numbers(gradient, table, node) if node.terms else "", show(table.values[node.name])]
        bw.add_row(*row)
    console.print(bw)

    console.print("gradient" + (" (in the inputs alone)" if expand else ""))
    grads = _gradients(gradient, expand)
    for v in gradient.wrt:
        line = f"  d{gradient.output}/d{v} = {fmt(grads[v])}"
        if table is not None:
            line += f" = {show(table.grad[v])}"
        console.print(line)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


def _render_markdown(gradient, table, expand) -> str:
    latex_names = _latex_names(gradient)
    tex = lambda e: sp.latex(e, symbol_names=latex_names)  # noqa: E731
    out = [f"**${latex_names[sym(gradient.output)]} = {sp.latex(gradient.expr)}$**" if not gradient.named_steps
           else f"**{gradient.source}**", ""]
    out += ["| node | expression |" + (" value | gradient |" if table else ""),
            "|---|---|" + ("---:|---:|" if table else "")]
    for node in gradient.graph.forward():
        row = f"| ${latex_names[node.symbol]}$ | " + ("input" if node.is_leaf else f"${tex(node.expr)}$") + " |"
        if table is not None:
            g = table.adjoint_value(node.name)
            row += f" {show(table.values[node.name])} | {show(g) if g is not None else '·'} |"
        out.append(row)
    out += ["", "| gradient | upstream × local |" + (" value |" if table else ""), "|---|---|" + ("---:|" if table else "")]
    for node in gradient.graph.backward():
        formula = _latex_backward(gradient, node, tex, latex_names)
        row = f"| ${latex_names[node.symbol]}$ | ${formula}$ |"
        if table is not None:
            row += f" {show(table.values[node.name])} |"
        out.append(row)
    grads = _gradients(gradient, expand)
    out.append("")
    for v in gradient.wrt:
        line = f"- $\\frac{{\\partial {_latex_var(gradient.output)}}}{{\\partial {_latex_var(v)}}} = {tex(grads[v])}$"
        if table is not None:
            line += f" $= {show(table.grad[v])}$"
        out.append(line)
    return "\n".join(out) + "\n"


def _latex_backward(gradient, node, tex, latex_names) -> str:
    if not node.terms:
        return tex(node.expr)
    parts = []
    for t in node.terms:
        up = latex_names[sym(gradient.adjoints_of(t.consumer))]
        loc = tex(t.local)
        if isinstance(t.local, sp.Add):
            loc = rf"\left({loc}\right)"
        parts.append(f"{up} \\cdot {loc}")
    return " + ".join(parts)


def _render_latex(gradient, table, expand) -> str:
    latex_names = _latex_names(gradient)
    tex = lambda e: sp.latex(e, symbol_names=latex_names)  # noqa: E731
    val = (lambda n: f" = {sp.latex(table.values[n]) if table.values[n].is_Rational else show(table.values[n])}") if table else (lambda n: "")
    lines = []
    for node in gradient.graph.forward():
        if not node.is_leaf:
            lines.append(f"{latex_names[node.symbol]} &= {tex(node.expr)}{val(node.name)}")
    for node in gradient.graph.backward():
        lines.append(f"{latex_names[node.symbol]} &= {_latex_backward(gradient, node, tex, latex_names)}{val(node.name)}")
    grads = _gradients(gradient, expand)
    for v in gradient.wrt:
        lhs = rf"\frac{{\partial {_latex_var(gradient.output)}}}{{\partial {_latex_var(v)}}}"
        rhs = tex(grads[v]) + (f" = {show(table.grad[v])}" if table else "")
        lines.append(f"{lhs} &= {rhs}")
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"
