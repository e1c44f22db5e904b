"""Course symbols for the nodes of a network IR, and the printers that write IR expressions in them.

Stage: teaching views. Input: a `Derivation`'s graph and a `Notation`. Each
node's symbol comes from `symback.notation`, the one node -> course-symbol
map (`term` says which quantity a node holds, `notation.unicode` spells it):
a `Sym` that prints as Unicode text (``Ω₂``, ``h₃``, ``x⁽⁰⁾``; ``W^[2]``
where Unicode has no superscript bracket), as a Graphviz HTML label
(``W<sup>[2]</sup>``) or as LaTeX. Output: those symbols, and render's
printers (`symback.render.printers`) set to write IR expressions in them
(``Ω₃ᵀ ∂ℓ/∂f₃``, ``I[f₂ > 0] ⊙ ∂ℓ/∂h₃``, ``σ(f₀)``, ``e_y``), as ``symback derive`` does.
"""

from __future__ import annotations

import html
import re

from .. import notation as notations
from ..notation import term
from ..notation.nodes import Error, Loss
from ..notation.unicode import Sym, course, from_name, symbol
from ..render.printers import Display, LatexPrinter, UnicodePrinter

__all__ = ["HtmlPrinter", "Sym", "Symbols", "formula"]


MAX_FORMULA = 34  # longer module formulas are shortened with … in a picture's box


def call_of(node, names: Symbols) -> tuple[str | None, list[Sym]]:
    """(the function a module is named by, its arguments' symbols): ``relu`` of f₀; None for a formula."""
    args = [names[a] for a in node.args]
    if node.op == "loss" and (node.meta.loss or "custom") != "custom":  # a user's expression: its formula
        return node.meta.loss, args
    if node.meta.kind == "softmax":
        return "softmax", args[:1]
    if (node.meta.activation or "").isidentifier():
        return node.meta.activation, args[:1]
    return None, args


def formula(node, names: Symbols, shorten: bool = True) -> tuple[str, str]:
    """The module's right-hand side as the course writes it (text, HTML): ``Ω₀ x + β₀``, ``relu(f₀)``."""
    call, args = call_of(node, names)
    if call is not None:
        text = f"{call}({', '.join(a.text for a in args)})"
        markup = f"{html.escape(call)}({', '.join(a.html for a in args)})"
    else:
        text, markup = names.expr(node.expr), HtmlPrinter(names.settings).doprint(node.expr)
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
        self.display = Display(
            names={n.name: self[n.name] for n in self.graph},
            vectors={n.name for n in self.graph if len(n.shape) >= 1},
            adjoints={n.name for n in self.graph if n.role == "adjoint"},
        )
        self.settings = {"display": self.display, "notation": self.notation}

    def error(self, k: int) -> Sym:
        """The course's name for the error term of layer k (CS229's δ^[k])."""
        return symbol(self.notation, Error(k))

    def latex(self, expr, marks: dict[str, str] | None = None) -> str:
        """An IR expression in LaTeX; `marks` maps a node name to LaTeX printed instead (an \\underbrace)."""
        names = {**self.display.names, **{n: Sym("", latex=tex) for n, tex in (marks or {}).items()}}
        return LatexPrinter({**self.settings, "display": self.display.but(names=names)}).doprint(expr)

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
        return term(self.graph, name, layered=self.layered, deltas=False, letters=True)

    def text(self, name: str) -> str:
        return self[name].text

    def expr(self, expr) -> str:
        """An IR expression in Unicode."""
        return UnicodePrinter(self.settings).doprint(expr)

    def grad(self, of: str) -> str:
        """``∂ℓ/∂f₂``: the derivative of the loss with respect to a quantity, in Unicode."""
        return f"∂{self.loss.text}/∂{self[of].text}"

    def grad_tex(self, of: str) -> str:
        return rf"\frac{{\partial {self.loss.tex}}}{{\partial {self[of].tex}}}"

    def local(self, consumer: str, of: str) -> str:
        """``∂h₃/∂f₂``: a module's local derivative."""
        return f"∂{self[consumer].text}/∂{self[of].text}"


# -- printers: IR expressions in course symbols --------------------------------------------------


class HtmlPrinter(UnicodePrinter):
    """Unicode text as a Graphviz HTML label: escaped, with <sub>/<sup> symbols where Unicode has none."""

    def doprint(self, expr) -> str:
        self._labels: list[str] = []
        text = html.escape(super().doprint(expr))
        return re.sub("\x00(\\d+)\x00", lambda m: self._labels[int(m.group(1))], text)

    def _print_Sym(self, s) -> str:
        self._labels.append(s.html)
        return f"\x00{len(self._labels) - 1}\x00"
