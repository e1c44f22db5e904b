"""Small text helpers shared by the narrative and the picture: names of gradients, columns, LaTeX.

Stage: teaching views. Pure functions of strings, numbers and expressions; no IR, no state.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import sympy as sp

from ..nonsmooth import text_indicators

WIDTH = 80  # a terminal's columns: every line of a network's narrative fits
BODY = 50  # the equation column of a network's narrative; shapes and numbers follow it


def grad_name(output: str, of: str) -> str:
    """Display name of an adjoint, as the lecture writes it: ``df/dq``."""
    return f"d{output}/d{of}"


def plain(expr) -> str:
    """An expression as the lecture writes it in text: ``q·z``, ``x^2``, ``I[x > 0]``."""
    return text_indicators(str(expr)).replace("**", "^").replace("*", "·")


def shape_text(shape, scalar: str = "scalar") -> str:
    """``(4, 3)`` -> ``4×3``; ``(3,)`` -> ``3``; ``()`` -> `scalar`."""
    return "×".join(str(s) for s in shape) if shape else scalar


def fmt(x: float) -> str:
    """A norm or a sampled number: 3 significant digits, exponent form outside [1e-3, 1e4)."""
    return f"{x:.3g}" if x == 0 or 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def right(line: str, note: str, shape: str = "") -> list[str]:
    """`shape` and `note` in columns after the equation, or on a line of their own when it is too long; an
    equation wider than the page (a convolution's index form) wrapped at spaces first."""
    indent = len(line) - len(line.lstrip())
    *head, line = wrap(line.lstrip(), indent, hang=indent + 4) if len(line) > WIDTH else [line]
    if head:
        return head + right(line, note, shape)
    if not note and not shape:
        return [line]
    tail = shape.rjust(5) + ("  " + note if note else "")
    marks = sum(1 for c in line if unicodedata.combining(c))  # ẑ is one column, two characters
    if len(line) <= BODY + marks and BODY + marks + len(tail) <= WIDTH:  # columns aligned, no line over WIDTH chars
        return [line + " " * (BODY + marks - len(line)) + tail]
    return [line, " " * (indent + 4) + (shape + "  " if shape else "") + note]


def wrap(text: str, indent: int, width: int = WIDTH, hang: int | None = None) -> list[str]:
    """Prose wrapped at spaces; continuation lines indented to `hang` (default: two more)."""
    words, lines, line = text.split(" "), [], " " * indent
    for w in words:
        if len(line) + len(w) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = " " * (indent + 2 if hang is None else hang)
        line += w + " "
    lines.append(line.rstrip())
    return lines


def unparen_first(text: str) -> str:
    """``(-2) + 5`` -> ``-2 + 5``, ``exp((-1))`` -> ``exp(-1)``: no parentheses a reader does not need."""
    text = re.sub(r"\(\((-[^()]+)\)\)", r"(\1)", text)
    return re.sub(r"^\((-[^()]+)\)(?= [-+×]|$)", r"\1", text)


def latex_var(name: str) -> str:
    """``f0`` -> ``f_{0}``, ``beta1`` -> ``\\beta_{1}``, ``w_3`` -> ``w_{3}``."""
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if m:
        return f"{sp.latex(sp.Symbol(m.group(1)))}_{{{m.group(2)}}}"
    return sp.latex(sp.Symbol(name))


def join_align(rows: list[str]) -> str:
    """Rows of an align*: an equation ends in ``\\\\`` unless it is the last row (an \\intertext follows a ``\\\\``)."""
    ends = [i < len(rows) - 1 and not row.lstrip().startswith(r"\intertext") for i, row in enumerate(rows)]
    return "\n".join(row + r" \\" * end for row, end in zip(rows, ends, strict=True))


def already(tex: str, step: str) -> str:
    """A reused gradient in LaTeX, marked under an ``\\underbrace`` as computed in an earlier step."""
    return rf"\underbrace{{{tex}}}_{{\text{{already computed! ({step})}}}}"


def inline(row: str) -> str:
    """An align* row as inline math: no alignment marks, no step tag."""
    return row.split(" && ")[0].replace(" &= ", " = ").strip()


#: LaTeX's ten special characters: seven take a backslash, three a command
_TEX_SPECIAL = {c: "\\" + c for c in "_&%#${}"} | {"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\textasciitilde{}"}


def tex_escape(text: str) -> str:
    """Plain text for LaTeX: the ten special characters escaped."""
    return "".join(_TEX_SPECIAL.get(c, c) for c in text)


# -- notes: one wording, printed in each format --------------------------------------------------
# A note of the narrative is built once, as a tuple of prose (str) and formulas (`Math`); each format
# only prints it: Unicode in a terminal, $...$ in LaTeX text and Markdown.


@dataclass(frozen=True)
class Math:
    """A formula inside a note: its Unicode text and its LaTeX."""

    text: str
    tex: str


def listed(groups) -> list:
    """Parts of a note joined by commas: ``q (F1), z (F2)``."""
    out = []
    for group in groups:
        out += [", "] * bool(out) + list(group)
    return out


def note_text(parts) -> str:
    """A note in a terminal: formulas in Unicode."""
    return "".join(p if isinstance(p, str) else p.text for p in parts)


def note_tex(parts, escape: bool = True) -> str:
    """A note in LaTeX text (``escape``) or Markdown: formulas in ``$...$``."""
    return "".join((tex_escape(p) if escape else p) if isinstance(p, str) else f"${p.tex}$" for p in parts)


def equal(*sides: Math) -> Math:
    """``a = b``: one formula from its sides."""
    return Math(" = ".join(m.text for m in sides), " = ".join(m.tex for m in sides))
