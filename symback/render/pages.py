"""Each output format as one printer of the format-free document.

Stage: render. Input: a `document.Document` (sections of equations, notes and
worksheets). Output: text (80 columns, wrapped at spaces outside brackets), LaTeX
(one ``align*`` block that compiles and shows in Jupyter) or Markdown (bold
section titles, ``aligned`` display blocks, prose with inline math). Each
page printer is a subclass of the expression printer of its format, so a
formula, a notation term and the document around them go through one
``_print_<Class>`` dispatch.
"""

from __future__ import annotations

import html
import itertools
import re

from .document import Alt, Document, Equation, Note
from .fragments import tex_escape
from .printers import LatexPrinter, TextPrinter, UnicodePrinter
from .tables import LatexTables, MarkdownTables, TextTables

WIDTH = 80


class Page:
    """What every page printer shares: the walk through the document; each format says how a part looks."""

    typeset = False  # LaTeX and Markdown take the typeset wording of an `Alt`
    heading: tuple = ("", "{}")  # the lines of a section title

    def parts(self, parts: list) -> list:
        """Note parts with each `Alt` replaced by this format's wording."""
        out = []
        for p in parts:
            out += self.parts(p.typeset if self.typeset else p.plain) if isinstance(p, Alt) else [p]
        return out

    prose = staticmethod(str)

    def inline(self, m) -> str:
        """Math inside prose."""
        return self.math(m)

    def title(self, t) -> str:
        """A title or a note's parts (a string, or prose and math), as prose with inline math."""
        parts = self.parts(t if isinstance(t, list) else [t])
        return "".join(self.prose(p) if isinstance(p, str) else self.inline(p) for p in parts)

    def _print_Document(self, doc: Document) -> str:
        out: list[str] = []
        for sec in doc.sections:
            title = self.title(sec.title)
            out += [line.format(title) for line in self.heading] if title else []
            for equations, run in itertools.groupby(sec.items, lambda it: isinstance(it, Equation)):
                if equations:
                    out += self.equations(list(run), sec)
                else:
                    out += [line for it in run for line in self.paragraph(it, bool(title))]
        return self.page(out)


def wrap(line: str, indent: int, width: int = WIDTH) -> list[str]:
    """Break a long line at spaces outside brackets (before an operator if possible), else at a space inside the
    fewest brackets (``max(h[c, m], h[c, n])`` between its arguments, not inside one), hanging `indent`; a piece
    that starts inside a bracket counts its depth from the line's start."""
    out, carry = [], 0  # carry: the bracket depth where the remaining text starts
    while len(line) > width:
        depth, best, good, outer = carry, None, None, (carry + 99, None)
        for i, c in enumerate(line[: width + 1]):
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == " " and i > indent + 8 and depth == 0:
                best = i
                if i + 1 < len(line) and line[i + 1] in "⊙∘+-=<":
                    good = i
            elif c == " " and i > indent + 8 and depth <= outer[0]:
                outer = (depth, i)
        cut = good if good is not None and good > width // 2 else best if best is not None else outer[1]
        if cut is None:
            cut = line.rfind(" ", indent + 1, width)
            if cut <= indent:
                break
        carry += sum((c in "([{") - (c in ")]}") for c in line[:cut])
        out.append(line[:cut].rstrip())
        line = " " * indent + line[cut + 1 :]
    out.append(line)
    return out


class TextPage(TextTables, Page, TextPrinter):
    """The document as plain text, 80 columns, shapes flush right."""

    def note(self, note: Note) -> str:
        return self.title(note.parts)

    def paragraph(self, note: Note, titled: bool) -> list[str]:
        return wrap(("  " if titled else "") + self.note(note), 2 if titled else 0)

    def page(self, lines: list[str]) -> str:
        return "\n".join(line.rstrip() for line in lines).lstrip("\n") + "\n"

    def equations(self, run: list[Equation], sec) -> list[str]:
        """Each equation, its = aligned with the section's others and its shape flush right."""
        width = min(max(len(self.math(e.lhs)) for e in sec.items if isinstance(e, Equation)), 16)
        return [line for it in run for line in self._equation(it, width)]

    def _equation(self, it: Equation, width: int) -> list[str]:
        lhs, op = self.math(it.lhs).ljust(width), self.math(it.op)
        rhs, where = [self.math(r) for r in it.rhs], self.note(it.where) if it.where else ""
        if it.stack:  # one right-hand side per line, each under the first; the where clause below them
            pad = " " * (2 + len(lhs) + 1)
            heads = [f"  {lhs} {op} "] + [f"{pad}{op} "] * (len(rhs) - 1)
            lines = [line for head, r in zip(heads, rhs) for line in wrap(head + r, len(pad) + 2)]
            return lines + (wrap(f"{pad}  {where}", len(pad) + 4) if where else [])
        line = f"  {lhs} {op} " + f" {op} ".join(rhs)
        indent = 2 + len(lhs) + len(op) + 2
        if not where or len(line) + 3 + len(where) <= WIDTH:  # the where clause on the same line, else on its own
            body = wrap(line + "   " * bool(where) + where, indent)
        else:
            body = wrap(line, indent) + wrap(" " * indent + where, indent)
        if it.shape is not None:
            shape, last = self.math(it.shape), body[-1]
            if len(last) + 2 + len(shape) <= WIDTH:
                body[-1] = last + " " * (WIDTH - len(last) - len(shape)) + shape
            else:
                body.append(shape.rjust(WIDTH))
        return body


class LatexPage(LatexTables, Page, LatexPrinter):
    """The document as one ``align*`` block: titles and notes as text rows, equations aligned at =."""

    typeset = True

    prose = staticmethod(tex_escape)
    heading = (r"&\textbf{{{}}}",)

    def inline(self, m) -> str:
        return f"${self.math(m)}$"

    def note(self, note: Note) -> str:
        parts = [p for p in self.parts(note.parts) if p != ""]
        return " ".join(rf"\text{{{tex_escape(p)}}}" if isinstance(p, str) else self.math(p) for p in parts)

    def paragraph(self, note: Note, titled: bool) -> list[str]:
        return ["&" + self.note(n) for n in sentences(self.parts(note.parts))]

    def page(self, rows: list[str]) -> str:
        return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"

    def equations(self, run: list[Equation], sec) -> list[str]:
        return [row for it in run for row in self.rows(it)]

    def rows(self, it: Equation) -> list[str]:
        op, lhs = self.math(it.op), self.math(it.lhs)
        rhs = [self.math(r) for r in it.rhs]
        if it.stack:
            rows = [(f"{lhs} " if k == 0 else "") + f"&{op} {r}" for k, r in enumerate(rhs)]
        else:
            rows = [f"{lhs} &{op} " + f" {op} ".join(rhs)]
        if it.where and it.stack:
            rows.append(r"&\qquad " + self.note(it.where))
        elif it.where:
            rows[-1] += r" \qquad " + self.note(it.where)
        if it.shape is not None:
            rows[-1] += rf" && {self.math(it.shape)}"
        return rows


def sentences(parts: list) -> list[Note]:
    """A note split after each sentence, so no LaTeX row runs far past the page."""
    out: list[list] = [[]]
    for p in parts:
        for piece in re.split(r"(?<=\.) ", p) if isinstance(p, str) else [p]:
            prose = isinstance(piece, str)
            piece = piece.lstrip() if prose and not out[-1] else piece
            if piece != "":
                out[-1].append(piece)
            if prose and piece.endswith("."):
                out.append([])
    return [Note(n) for n in out if any(not isinstance(p, str) or p.strip() for p in n)]


class MarkdownPage(MarkdownTables, LatexPage):
    """The document as Markdown: bold titles, prose with inline math, equations in ``aligned`` blocks."""

    prose = staticmethod(str)
    heading = ("**{}**", "")

    def paragraph(self, note: Note, titled: bool) -> list[str]:
        return [self.title(note.parts), ""]

    def equations(self, run: list[Equation], sec) -> list[str]:
        return ["$$", "\\begin{aligned}", " \\\\\n".join(super().equations(run, sec)), "\\end{aligned}", "$$", ""]

    def page(self, lines: list[str]) -> str:
        return "\n".join(lines).rstrip("\n") + "\n"


class UnicodePage(TextPage, UnicodePrinter):
    """The text page in Unicode symbols (``∂ℓ/∂f₂ = I[f₂ > 0] ⊙ ∂ℓ/∂h₃``), as the teaching views write them."""


class HtmlPage(UnicodePage):
    """The document as an HTML fragment: titles, prose with Unicode math, one table row per equation."""

    prose = staticmethod(html.escape)
    heading = ("<h3>{}</h3>",)

    def inline(self, m) -> str:
        return f'<span class="math">{html.escape(self.math(m))}</span>'

    def paragraph(self, note: Note, titled: bool) -> list[str]:
        return [f"<p>{self.note(note)}</p>"]

    def equations(self, run: list[Equation], sec) -> list[str]:
        return ['<table class="equations">', *map(self._row, run), "</table>"]

    def page(self, lines: list[str]) -> str:
        return "\n".join(['<div class="symback-derivation">', *lines, "</div>"]) + "\n"

    def _row(self, it: Equation) -> str:
        op = f" {html.escape(self.math(it.op))} "
        cells = [self.inline(it.lhs), html.escape(self.math(it.op)), op.join(self.inline(r) for r in it.rhs)]
        cells += [self.note(it.where) if it.where else "", self.inline(it.shape) if it.shape is not None else ""]
        return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

    def _print_Worksheet(self, ws) -> str:
        return f'<pre class="symback-worksheet">{html.escape(super()._print_Worksheet(ws))}</pre>\n'


PAGES = {
    "text": TextPage,
    "unicode": UnicodePage,
    "latex": LatexPage,
    "markdown": MarkdownPage,
    "html": HtmlPage,
}
