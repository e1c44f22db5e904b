"""How each page printer writes a scalar expression's worked table (`document.Worksheet`).

Stage: render. Mixins of the page printers in `pages`: text lays the forward
and backward pass out as two aligned tables (rich), Markdown as two pipe
tables and a list, LaTeX as one ``aligned`` block of equations. The formulas
are SymPy's own printing of the IR (``v1*z``, ``\\left(x + y\\right) z``) with
the adjoints renamed ``df/dq``, the names given as data (SymPy's
``symbol_names``).
"""

from __future__ import annotations

import io

import sympy as sp
from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from ..evaluate import show
from ..nonsmooth import text_indicators


class TextTables:
    """The worked table as text: a head line, two tables, then the gradient."""

    def _print_Plain(self, p) -> str:
        rename = {}
        for s, t in p.names:
            name = self.math(t)
            if name != s.name:
                rename[s] = sp.Symbol(name)
        return text_indicators(str(p.expr.xreplace(rename)))

    def _print_Value(self, v) -> str:
        return show(v.v)

    def _print_Product(self, p) -> str:
        parts = []
        for up, local in p.terms:
            loc = self.math(local)
            if isinstance(local.expr, sp.Add):
                loc = f"({loc})"
            parts.append(f"{self.math(up)} × {loc}")
        return " + ".join(parts)

    def _print_Worksheet(self, ws) -> str:
        buf = io.StringIO()
        console = Console(file=buf, width=100, force_terminal=False, color_system=None, highlight=False)
        numbers = ws.point is not None
        head = ws.head
        if numbers:
            head += "   at " + ", ".join(f"{v} = {value}" for v, value in ws.point)
        console.print(Text(head))  # Text: ``I[x > 0]`` is the lecture's indicator, not rich markup

        fw = RichTable(title="forward pass", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
        fw.add_column("node")
        fw.add_column("expression")
        if numbers:
            fw.add_column("value", justify="right")
            fw.add_column(ws.grad_heading, justify="right")
        for node, expr, value, grad in ws.forward:
            row = [self.math(node), "input" if expr is None else self.math(expr)]
            if numbers:
                row += [self.math(value), grad]
            fw.add_row(*map(Text, row))
        console.print(fw)

        bw = RichTable(
            title="backward pass (upstream × local)", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False
        )
        bw.add_column("gradient")
        bw.add_column("= upstream × local")
        if numbers:
            bw.add_column("numbers", justify="right")
            bw.add_column("value", justify="right")
        for node, formula, nums, value in ws.backward:
            row = [self.math(node), self.math(formula)]
            if numbers:
                row += [nums, self.math(value)]
            bw.add_row(*map(Text, row))
        console.print(bw)

        console.print("gradient" + (" (in the inputs alone)" if ws.expand else ""))
        for lhs, rhs, value in ws.gradient:
            console.print(Text(f"  {self.math(lhs)} = {self.math(rhs)}" + (f" = {value}" if numbers else "")))
        return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


class LatexTables:
    """The worked table as one LaTeX ``aligned`` block: each step, each gradient, with its value."""

    def _print_Plain(self, p) -> str:
        return sp.latex(p.expr, symbol_names={s: self.math(t) for s, t in p.names})

    def _print_Value(self, v) -> str:
        return sp.latex(v.v) if v.v.is_Rational else show(v.v)

    def _print_Product(self, p) -> str:
        parts = []
        for up, local in p.terms:
            loc = self.math(local)
            if isinstance(local.expr, sp.Add):
                loc = rf"\left({loc}\right)"
            parts.append(f"{self.math(up)} \\cdot {loc}")
        return " + ".join(parts)

    def _value(self, value) -> str:
        return f" = {self.math(value)}" if value is not None else ""

    def _print_Worksheet(self, ws) -> str:
        lines = [f"{self.math(n)} &= {self.math(e)}{self._value(v)}" for n, e, v, _ in ws.forward if e is not None]
        lines += [f"{self.math(n)} &= {self.math(f)}{self._value(v)}" for n, f, _, v in ws.backward]
        for lhs, rhs, value in ws.gradient:
            lines.append(f"{self.math(lhs)} &= {self.math(rhs)}" + (f" = {value}" if value is not None else ""))
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


class MarkdownTables(LatexTables):
    """The worked table as Markdown: a bold head, two pipe tables with inline math, the gradient as a list."""

    def _print_Value(self, v) -> str:
        return show(v.v)

    def _print_Worksheet(self, ws) -> str:
        numbers = ws.point is not None
        if ws.named_steps:
            out = [f"**{ws.head}**", ""]
        else:
            out = [f"**${self.math(ws.output)} = {self.math(ws.expr)}$**", ""]
        out += [
            "| node | expression |" + (" value | gradient |" if numbers else ""),
            "|---|---|" + ("---:|---:|" if numbers else ""),
        ]
        for node, expr, value, grad in ws.forward:
            row = f"| ${self.math(node)}$ | " + ("input" if expr is None else f"${self.math(expr)}$") + " |"
            if numbers:
                row += f" {self.math(value)} | {grad} |"
            out.append(row)
        out += [
            "",
            "| gradient | upstream × local |" + (" value |" if numbers else ""),
            "|---|---|" + ("---:|" if numbers else ""),
        ]
        for node, formula, _, value in ws.backward:
            out.append(
                f"| ${self.math(node)}$ | ${self.math(formula)}$ |" + (f" {self.math(value)} |" if numbers else "")
            )
        out.append("")
        for lhs, rhs, value in ws.gradient:
            out.append(f"- ${self.math(lhs)} = {self.math(rhs)}$" + (f" $= {value}$" if numbers else ""))
        return "\n".join(out) + "\n"
