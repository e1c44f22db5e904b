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
from ..nonsmooth import plain_str, text_indicators
from ..notation.nodes import Own


class Tables:
    """What every format shares: the products of the backward rows and the cells of both tables."""

    times = " × "

    def _print_Value(self, v) -> str:
        return show(v.v)

    def _print_Product(self, p) -> str:
        terms = [(self.math(up), self.math(local), isinstance(local.expr, sp.Add)) for up, local in p.terms]
        return " + ".join(up + self.times + (self._paren(loc) if add else loc) for up, loc, add in terms)

    def cells(self, ws, cell) -> tuple[list, list]:
        """The forward rows and the backward rows, each formula through `cell`; numbers when at a point."""
        numbers = ws.point is not None
        fw = [[cell(n), "input" if e is None else cell(e)] + [self.math(v), g] * numbers for n, e, v, g in ws.forward]
        bw = [[cell(n), cell(f)] + [nums, self.math(v)] * numbers for n, f, nums, v in ws.backward]
        return fw, bw


class TextTables(Tables):
    """The worked table as text: a head line, two tables, then the gradient."""

    def _print_Plain(self, p) -> str:
        names = p.renamed(self.math)
        return text_indicators(plain_str(p.expr.xreplace({s: sp.Symbol(n) for s, n in names.items() if n != s.name})))

    def _print_Worksheet(self, ws) -> str:
        buf = io.StringIO()
        console = Console(file=buf, width=100, force_terminal=False, color_system=None, highlight=False)
        numbers = ws.point is not None
        at = "   at " + ", ".join(f"{v} = {value}" for v, value in ws.point) if numbers else ""
        console.print(Text(ws.head + at))  # Text: ``I[x > 0]`` is the lecture's indicator, not rich markup
        fw, bw = self.cells(ws, self.math)
        for title, columns, rows in (
            ("forward pass", ["node", "expression", "value", ws.grad_heading], fw),
            ("backward pass (upstream × local)", ["gradient", "= upstream × local", "numbers", "value"], bw),
        ):
            table = RichTable(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
            for k, column in enumerate(columns[: 4 if numbers else 2]):
                table.add_column(column, justify="right" if k >= 2 else "left")
            for row in rows:
                table.add_row(*map(Text, row))
            console.print(table)
        console.print("gradient" + (" (in the inputs alone)" if ws.expand else ""))
        for lhs, rhs, value in ws.gradient:
            console.print(Text(f"  {self.math(lhs)} = {self.math(rhs)}" + (f" = {value}" if numbers else "")))
        return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


class LatexTables(Tables):
    """The worked table as one LaTeX ``aligned`` block: each step, each gradient, with its value."""

    times = r" \cdot "

    def _print_Plain(self, p) -> str:
        return sp.latex(p.expr, symbol_names=p.renamed(self.math))

    def _print_Value(self, v) -> str:
        return sp.latex(v.v) if v.v.is_Rational else show(v.v)

    def _print_Worksheet(self, ws) -> str:
        def line(n, e, v) -> str:
            rhs = self.math(e)
            return f"{self.math(n)} &= {rhs}" + (f" = {v}" if v is not None and v != rhs else "")

        head = [self.math(ws.formula)] if ws.formula is not None else []
        if ws.point:
            head.append(r"\text{at } " + r",\ ".join(f"{self.math(Own(v))} = {value}" for v, value in ws.point))
        sections = (
            ("forward pass", [(n, e, v and self.math(v)) for n, e, v, _ in ws.forward if e is not None]),
            (r"backward pass (upstream $\times$ local)", [(n, f, v and self.math(v)) for n, f, _, v in ws.backward]),
            ("gradient" + " (in the inputs alone)" * ws.expand, ws.gradient),
        )
        lines = [f"&{h}" for h in head]
        for title, rows in sections:
            lines += [rf"&\textbf{{{title}}}"] + [line(*r) for r in rows]
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


class MarkdownTables(LatexTables):
    """The worked table as Markdown: a bold head, two pipe tables with inline math, the gradient as a list."""

    _print_Value = Tables._print_Value

    def _print_Worksheet(self, ws) -> str:
        numbers = ws.point is not None
        fw, bw = self.cells(ws, lambda x: f"${self.math(x)}$")
        bw = [row[:2] + row[3:] for row in bw]  # no numbers column
        head = ws.head if ws.formula is None else f"${self.math(ws.formula)}$"
        out = [f"**{head}**", ""]
        for columns, rows in (
            (["node", "expression", "value", "gradient"], fw),
            (["gradient", "upstream × local", "value"], bw),
        ):
            columns = columns if numbers else columns[:2]
            out += [
                "| " + " | ".join(columns) + " |",
                "|" + "|".join(["---", "---", "---:", "---:"][: len(columns)]) + "|",
            ]
            out += ["| " + " | ".join(row) + " |" for row in rows] + [""]
        for lhs, rhs, value in ws.gradient:
            out.append(f"- ${self.math(lhs)} = {self.math(rhs)}$" + (f" $= {value}$" if numbers else ""))
        return "\n".join(out) + "\n"
