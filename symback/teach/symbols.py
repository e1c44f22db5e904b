"""Course symbols for the nodes of a network IR, and printers that write IR expressions in them.

Stage: teaching views. Input: a `Derivation`'s graph and a `Notation`. Each
node's symbol comes from `symback.notation`, the one node -> course-symbol
map (`term` says which quantity a node holds, `notation.unicode` spells it):
a `Sym` that prints as Unicode text (``Ω₂``, ``h₃``, ``x⁽⁰⁾``; ``W^[2]``
where Unicode has no superscript bracket), as a Graphviz HTML label
(``W<sup>[2]</sup>``) or as LaTeX. Output: those symbols, and expression
printers that write IR expressions in them (``Ω₃ᵀ ∂ℓ/∂f₃``,
``I[f₂ > 0] ⊙ ∂ℓ/∂h₃``): teach's own printers, since teach writes ``onehot(y)``,
slices and spacing its own way.
"""

from __future__ import annotations

import html
import re
from typing import ClassVar

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from .. import notation as notations
from ..notation import term
from ..notation.nodes import Error, Loss
from ..notation.unicode import Sym, course, from_name, sub, sup, symbol

__all__ = ["CourseLatex", "CourseText", "Sym", "Symbols", "formula"]


MAX_FORMULA = 34  # longer module formulas are shortened with … in a picture's box


def formula(node, names: Symbols, printer: CourseText, shorten: bool = True) -> tuple[str, str]:
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


class Symbols:
    """IR node name -> `Sym` for one derivation in one notation, from `symback.notation`'s node map."""

    def __init__(self, derivation, notation="udl"):
        self.notation = notations.get(notation)
        self.graph = derivation.graph
        self.layered = derivation.summary.layered
        self.by_name = {n.name: symbol(self.notation, self.term(n.name)) for n in self.graph.forward()}
        self.loss = self.by_name.get("l") or symbol(self.notation, Loss())

    def error(self, k: int) -> Sym:
        """The course's name for the error term of layer k (CS229's δ^[k])."""
        return symbol(self.notation, Error(k))

    def printers(self) -> tuple[CourseText, CourseLatex]:
        """(Unicode, LaTeX) printers of IR expressions in these symbols, with the notation's product sign."""
        return CourseText(self, self.notation.hadamard), CourseLatex(self)

    def __getitem__(self, name: str) -> Sym:
        """A node's symbol; an adjoint's is ``∂ℓ/∂x₁``, or ``∂ℓ/∂x₁ (via m)`` for one path's share."""
        if name not in self.graph or self.graph[name].role != "adjoint":
            return self.by_name.get(name) or from_name(name)
        node, tex = self.graph[name], self.grad_tex(self.graph[name].of)
        if node.meta.path:
            tex = rf"\left.{tex}\right|_{{\text{{via }} {self[node.meta.path].tex}}}"
        return Sym(course(self.notation, self.term(name)), latex=tex)

    def term(self, name: str):
        """The course quantity node `name` holds (`symback.notation`'s one map), written as a derivative."""
        return term(self.graph, name, layered=self.layered, deltas=False)

    def text(self, name: str) -> str:
        return self[name].text

    def grad(self, of: str) -> str:
        """``∂ℓ/∂f₂``: the derivative of the loss with respect to a quantity, in Unicode."""
        return f"∂{self.loss.text}/∂{self[of].text}"

    def grad_tex(self, of: str) -> str:
        return rf"\frac{{\partial {self.loss.tex}}}{{\partial {self[of].tex}}}"

    def local(self, consumer: str, of: str) -> str:
        """``∂h₃/∂f₂``: a module's local derivative."""
        return f"∂{self[consumer].text}/∂{self[of].text}"


# -- printers: IR expressions in course symbols --------------------------------------------------


class _Course:
    """What both printers share: node names as course symbols, slices, matrix products, products of vectors.

    Each format gives its `words` (templates) and how a product with a denominator prints (`_fraction`).
    """

    printmethod = "_symback_course"  # not the classes' own _sympystr: I[f > 0], not Indicator(f > 0)
    words: ClassVar[dict]

    def _print_Symbol(self, e, *args, **kwargs):
        return "i" if e.name == "i" and e.name not in self.s.graph else self.name(e.name)

    def _print_MatrixSymbol(self, e):
        return self.name(e.name)

    def _print_IndexedBase(self, e):
        return self.name(str(e.label))

    def _print_Indexed(self, e):
        return f"{self._print(e.base)}[{', '.join(self._print(i) for i in e.indices)}]"

    def _print_MatMul(self, e):
        paren = self.words["paren"]
        return " ".join(paren.format(self._print(a)) if isinstance(a, sp.MatAdd) else self._print(a) for a in e.args)

    def _print_MatrixSlice(self, e):
        (r0, r1, _), _ = e.rowslice, e.colslice
        return f"{self._print(e.parent)}[{int(r0) + 1}..{int(r1)}]"

    def _print_Mul(self, e):
        num, den = sp.fraction(e)
        if den != 1:
            return self._fraction(num, den)
        coeff, factors = e.as_coeff_mul()
        if not factors:
            return self._print(coeff)
        body = f" {self.hadamard} ".join(self.parenthesize(f, 50) for f in factors)
        if coeff in (1, -1):
            return ("-" if coeff == -1 else "") + body
        return self._coefficient(self._print(coeff), body, factors)

    def _print_Indicator(self, e):
        return self.words["indicator"].format(self._print(e.args[0]))

    def _print_KroneckerDelta(self, e, *args):
        other = [a for a in e.args if not (a.is_Symbol and a.name == "i")]
        if len(other) == 1:
            return self.words["onehot"].format(self._print(other[0]))
        return super()._print_KroneckerDelta(e, *args)


class CourseText(_Course, StrPrinter):
    """Unicode text: node symbols, ``Ωᵀ``, juxtaposed matrix products, ``⊙`` between vectors."""

    words: ClassVar[dict] = {"paren": "({})", "indicator": "I[{}]", "onehot": "onehot({})"}

    def __init__(self, symbols: Symbols, hadamard: str = "⊙"):
        super().__init__()
        self.s = symbols
        self.hadamard = hadamard

    def name(self, name: str) -> str:
        if self._html is not None:
            self._html.append(self.s[name].html)
            return f"\x00{len(self._html) - 1}\x00"
        return self.s.text(name)

    _html: list | None = None

    def html(self, expr) -> str:
        """The expression as a Graphviz HTML label: escaped, with <sub>/<sup> symbols where Unicode has none."""
        self._html = []
        try:
            text = html.escape(self.doprint(expr))
            return re.sub("\x00(\\d+)\x00", lambda m: self._html[int(m.group(1))], text)
        finally:
            self._html = None

    _print_Dummy = _Course._print_Symbol

    def _print_Transpose(self, e):
        inner = self._print(e.arg)
        return (inner if _atomic(e.arg) and "/" not in inner else f"({inner})") + "ᵀ"  # (∂ℓ/∂f)ᵀ

    def _print_MatAdd(self, e):
        return " + ".join(self._print(a) for a in e.args)

    def _print_BlockMatrix(self, e):
        return "[" + "; ".join(self._print(b) for b in e.blocks) + "]"

    def _fraction(self, num, den) -> str:
        return f"{self.parenthesize(num, 50)} / {self.parenthesize(den, 50)}"

    def _coefficient(self, coeff: str, body: str, factors) -> str:
        return coeff + (body if len(factors) == 1 and isinstance(factors[0], sp.Add) else " " + body)

    def _print_Pow(self, e, rational=False):
        if e.exp.is_Integer and e.exp > 0:
            return self.parenthesize(e.base, 60) + (sup(str(e.exp)) or f"^{e.exp}")
        if e.exp == -1:
            return f"1/{self.parenthesize(e.base, 60)}"
        return super()._print_Pow(e, rational)

    def _print_Sum(self, e):
        (j, _, _), body = e.limits[0], e.function
        saved, self.hadamard = self.hadamard, "·"  # the summand is a product of numbers, not of vectors
        try:
            return f"Σ{sub(str(j)) or '_' + str(j)} {self.parenthesize(body, 50)}"
        finally:
            self.hadamard = saved

    def _print_Max(self, e):
        return "max(" + ", ".join(self._print(a) for a in e.args) + ")"

    def _print_Heaviside(self, e):
        return f"I[{self._print(e.args[0])} > 0]"


class CourseLatex(_Course, LatexPrinter):
    """LaTeX: the notation's own LaTeX symbols, ``\\odot`` between vectors, ``\\mathbb{I}[\\cdot]``."""

    words: ClassVar[dict] = {
        "paren": r"\left({}\right)",
        "indicator": r"\mathbb{{I}}[{}]",
        "onehot": r"\mathrm{{onehot}}({})",
    }
    hadamard = r"\odot"

    def __init__(self, symbols: Symbols):
        super().__init__({"mul_symbol": None})
        self.s = symbols
        self.marks: dict[str, str] = {}  # node name -> LaTeX to print instead (an \underbrace)

    def name(self, name: str) -> str:
        return self.marks.get(name) or self.s[name].tex

    def _print_Transpose(self, e):
        inner = self._print(e.arg)
        if not _atomic(e.arg) or r"\frac" in inner:
            inner = rf"\left({inner}\right)"
        elif "^" in inner:  # W^{[2]} transposed: {W^{[2]}}^T, not a double superscript
            inner = "{" + inner + "}"
        return inner + r"^{\mathsf{T}}"

    def _print_BlockMatrix(self, e):
        return r"\begin{bmatrix}" + r" \\ ".join(self._print(b) for b in e.blocks) + r"\end{bmatrix}"

    def _fraction(self, num, den) -> str:
        return rf"\frac{{{self._print(num)}}}{{{self._print(den)}}}"

    def _coefficient(self, coeff: str, body: str, factors) -> str:
        return f"{coeff} {body}"


def _atomic(e) -> bool:
    return isinstance(e, (sp.Symbol, sp.MatrixSymbol))
