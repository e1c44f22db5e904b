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
import re

from .document import Alt, Document, Equation, Math, Note
from .fragments import tex_escape
from .printers import LatexPrinter, TextPrinter, UnicodePrinter
from .tables import LatexTables, MarkdownTables, TextTables

WIDTH = 80


class Page:
    """What every page printer shares: prose with its format's wording."""

    typeset = False  # LaTeX and Markdown take the typeset wording of an `Alt`

    def parts(self, parts: list) -> list:
        """Note parts with each `Alt` replaced by this format's wording."""
        out = []
        for p in parts:
            out += self.parts(p.typeset if self.typeset else p.plain) if isinstance(p, Alt) else [p]
        return out

    def title(self, t, prose=lambda s: s, math=None) -> str:
        """A section title (a string or note parts), its prose through `prose`, its math through `math`."""
        math = math or self.math
        parts = self.parts(t if isinstance(t, list) else [t])
        return "".join(math(p.s) if isinstance(p, Math) else prose(p) for p in parts)


def wrap(line: str, indent: int, width: int = WIDTH) -> list[str]:
    """Break a long line at spaces outside brackets (before an operator if possible), hanging `indent`."""
    out = []
    while len(line) > width:
        depth, best, good = 0, None, None
        for i, c in enumerate(line[: width + 1]):
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == " " and i > indent + 8 and depth == 0:
                best = i
                if i + 1 < len(line) and line[i + 1] in "⊙∘+-=<":
                    good = i
        cut = good if good is not None and good > width // 2 else best
        if cut is None:
            cut = line.rfind(" ", indent + 1, width)
            if cut <= indent:
                break
        out.append(line[:cut].rstrip())
        line = " " * indent + line[cut + 1 :]
    out.append(line)
    return out


class TextPage(TextTables, Page, TextPrinter):
    """The document as plain text, 80 columns, shapes flush right."""

    def note(self, note: Note) -> str:
        return "".join(self.math(p.s) if isinstance(p, Math) else p for p in self.parts(note.parts))

    def _print_Document(self, doc: Document) -> str:
        lines: list[str] = []
        for sec in doc.sections:
            title = self.title(sec.title)
            if title:
                lines += ["", title]
            lines += self._section(sec, bool(title))
        return "\n".join(line.rstrip() for line in lines).lstrip("\n") + "\n"

    def _section(self, sec, titled: bool) -> list[str]:
        lines: list[str] = []
        eqs = [it for it in sec.items if isinstance(it, Equation)]
        width = min(max((len(self.math(e.lhs)) for e in eqs), default=0), 16)
        for it in sec.items:
            if isinstance(it, Note):
                lines += wrap(("  " if titled else "") + self.note(it), 2 if titled else 0)
            else:
                lines += self._equation(it, width)
        return lines

    def _equation(self, it: Equation, width: int) -> list[str]:
        lhs, op = self.math(it.lhs).ljust(width), self.math(it.op)
        rhs = [self.math(r) for r in it.rhs]
        if it.stack:
            lines, pad = [], " " * (2 + len(lhs) + 1)
            for k, r in enumerate(rhs):
                head = f"  {lhs} {op} " if k == 0 else f"{pad}{op} "
                lines += wrap(head + r, len(pad) + 2)
            if it.where:
                lines += wrap(f"{pad}  {self.note(it.where)}", len(pad) + 4)
            return lines
        line = f"  {lhs} {op} " + f" {op} ".join(rhs)
        indent = 2 + len(lhs) + len(op) + 2
        if it.where:
            where = self.note(it.where)
            if len(line) + 3 + len(where) <= WIDTH:
                body = wrap(line + "   " + where, indent)
            else:
                body = wrap(line, indent) + wrap(" " * indent + where, indent)
        else:
            body = wrap(line, indent)
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

    def note(self, note: Note) -> str:
        out = []
        for p in self.parts(note.parts):
            if isinstance(p, Math):
                out.append(self.math(p.s))
            elif p:
                out.append(rf"\text{{{tex_escape(p)}}}")
        return " ".join(out)

    def rows(self, it: Equation, shapes: bool = True) -> list[str]:
        op, lhs = self.math(it.op), self.math(it.lhs)
        rhs = [self.math(r) for r in it.rhs]
        rows = []
        if it.stack:
            for k, r in enumerate(rhs):
                rows.append((f"{lhs} " if k == 0 else "") + f"&{op} {r}")
        else:
            rows.append(f"{lhs} &{op} " + f" {op} ".join(rhs))
        if it.where:
            if it.stack:
                rows.append(r"&\qquad " + self.note(it.where))
            else:
                rows[-1] += r" \qquad " + self.note(it.where)
        if shapes and it.shape is not None:
            rows[-1] += rf" && {self.math(it.shape)}"
        return rows

    def _print_Document(self, doc: Document) -> str:
        rows = []
        for sec in doc.sections:
            title = self.title(sec.title, tex_escape, lambda m: f"${self.math(m)}$")
            if title:
                rows.append(rf"&\textbf{{{title}}}")
            for it in sec.items:
                if isinstance(it, Note):
                    rows += ["&" + self.note(n) for n in sentences(self.parts(it.parts))]
                else:
                    rows += self.rows(it)
        return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"


def sentences(parts: list) -> list[Note]:
    """A note split after each sentence, so no LaTeX row runs far past the page."""
    out, current = [], []
    for p in parts:
        if isinstance(p, Math):
            current.append(p)
            continue
        for piece in re.split(r"(?<=\.) ", p):
            if not current:
                piece = piece.lstrip()
            if piece:
                current.append(piece)
            if piece.endswith("."):
                out.append(Note(current))
                current = []
    if current:
        out.append(Note(current))
    return [n for n in out if any(isinstance(p, Math) or p.strip() for p in n.parts)]


class MarkdownPage(MarkdownTables, LatexPage):
    """The document as Markdown: bold titles, prose with inline math, equations in ``aligned`` blocks."""

    def _aligned(self, block: list[str]) -> list[str]:
        if not block:
            return []
        return ["$$", "\\begin{aligned}", " \\\\\n".join(block), "\\end{aligned}", "$$", ""]

    def _print_Document(self, doc: Document) -> str:
        out = []
        for sec in doc.sections:
            title = self.title(sec.title, math=lambda m: f"${self.math(m)}$")
            if title:
                out += [f"**{title}**", ""]
            block: list[str] = []
            for it in sec.items:
                if isinstance(it, Note):
                    out += self._aligned(block)
                    block = []
                    out += [
                        "".join(f"${self.math(p.s)}$" if isinstance(p, Math) else p for p in self.parts(it.parts)),
                        "",
                    ]
                else:
                    block += self.rows(it)
            out += self._aligned(block)
        return "\n".join(out).rstrip("\n") + "\n"


class UnicodePage(TextPage, UnicodePrinter):
    """The text page in Unicode symbols (``∂ℓ/∂f₂ = I[f₂ > 0] ⊙ ∂ℓ/∂h₃``), as the teaching views write them."""


class HtmlPage(UnicodePage):
    """The document as an HTML fragment: titles, prose with Unicode math, one table row per equation."""

    def _math(self, x) -> str:
        return f'<span class="math">{html.escape(self.math(x))}</span>'

    def note(self, note: Note) -> str:
        return "".join(self._math(p.s) if isinstance(p, Math) else html.escape(p) for p in self.parts(note.parts))

    def _row(self, it: Equation) -> str:
        op = f" {html.escape(self.math(it.op))} "
        cells = [self._math(it.lhs), html.escape(self.math(it.op)), op.join(self._math(r) for r in it.rhs)]
        cells += [self.note(it.where) if it.where else "", self._math(it.shape) if it.shape is not None else ""]
        return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

    def _print_Document(self, doc: Document) -> str:
        out = ['<div class="symback-derivation">']
        for sec in doc.sections:
            title = self.title(sec.title, html.escape, self._math)
            if title:
                out.append(f"<h3>{title}</h3>")
            rows: list[str] = []
            for it in sec.items + [None]:
                if isinstance(it, Equation):
                    rows.append(self._row(it))
                    continue
                if rows:
                    out += ['<table class="equations">', *rows, "</table>"]
                    rows = []
                if it is not None:
                    out.append(f"<p>{self.note(it)}</p>")
        return "\n".join(out + ["</div>"]) + "\n"

    def _print_Worksheet(self, ws) -> str:
        return f'<pre class="symback-worksheet">{html.escape(super()._print_Worksheet(ws))}</pre>\n'


PAGES = {
    "text": TextPage,
    "unicode": UnicodePage,
    "latex": LatexPage,
    "markdown": MarkdownPage,
    "html": HtmlPage,
}
