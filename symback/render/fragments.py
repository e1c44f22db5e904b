"""How each format prints a document's math nodes and the notation's terms.

Stage: render. Mixins of the printer family (`printers.TextPrinter`,
`printers.LatexPrinter`): one ``_print_<Class>`` per math node of `document`
and per term of `symback.notation.nodes`, plus each format's table of words
(``alpha``/``\\alpha``, ``<-``/``\\leftarrow``). A format differs from another
only in these tables and a few methods, never in the builders.
"""

from __future__ import annotations

import re
from typing import ClassVar

from ..notation.nodes import spell
from ..notation.unicode import course

HADAMARD_LATEX = {"⊙": r"\odot", "∘": r"\circ"}


def top_level(s: str, ch: str) -> bool:
    """Whether `ch` occurs in `s` outside brackets."""
    depth = 0
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == ch and depth == 0:
            return True
    return False


def tex_escape(s: str) -> str:
    s = re.sub(r"([&%#$_{}])", r"\\\1", s)
    return s.replace("^", r"\^{}").replace("~", r"\~{}")


class Fragments:
    """What every format shares: walking the math nodes; the words and spellings come from the subclass."""

    spelling: ClassVar[str]  # the notation's template format: "text" or "latex"
    words: ClassVar[dict]

    def math(self, x) -> str:
        """A math node, a notation term or a literal string, printed."""
        return x if isinstance(x, str) else self._print(x)

    # -- notation terms (symback.notation.nodes) ---------------------------------
    def _print_Term(self, t) -> str:
        return spell(self._settings["notation"], t, self.spelling)

    def _print_Quantity(self, t) -> str:  # before SymPy's own _print_Quantity (physical units)
        return self._print_Term(t)

    # -- document math nodes ---------------------------------------------------------
    def _print_Shown(self, s) -> str:
        saved, self._settings["display"] = self._settings["display"], s.display
        try:
            return self._print(s.expr)
        finally:
            self._settings["display"] = saved

    def _print_Word(self, w) -> str:
        return self._hadamard() if w.key == "hadamard" else self.words[w.key]

    def _print_Cat(self, c) -> str:
        return "".join(self.math(p) for p in c.parts)

    def _print_Transposed(self, t) -> str:
        return self._transposed(self.math(t.body), t.atomic)

    def _print_Call(self, c) -> str:
        return self._call(c.fn, self.math(c.arg))

    def _print_Hadamard(self, h) -> str:
        body = f" {self._hadamard()} ".join(self.math(p) for p in h.parts)
        return self._with_coeff(h.coeff, body, body.startswith(("(", r"\left(")))

    def _print_Partial(self, p) -> str:
        return self.words["partial"].format(top=self.math(p.top), bottom=self.math(p.bottom))

    def _print_PartialOf(self, p) -> str:
        return self.words["partial_of"].format(bottom=self.math(p.bottom), body=self.math(p.body))

    def _print_Dims(self, d) -> str:
        return self.words["times"].join(str(s) for s in d.dims) if d.dims else self.words["scalar"]

    def _print_Layers(self, layers) -> str:
        ks = list(layers.ks)
        if len(ks) > 4 and ks == list(range(ks[0], ks[-1] + 1)):
            return f"k = {ks[0]}, {self.words['ldots']}, {ks[-1]}"
        return "k = " + ", ".join(str(k) for k in ks)


class TextFragments(Fragments):
    """Plain text, the notation's text templates."""

    spelling = "text"
    words: ClassVar[dict] = {
        "alpha": "alpha",
        "arrow": "<-",
        "one": "1",
        "scalar": "scalar",
        "times": "×",
        "ldots": "...",
        "to": " -> ",
        "space": " ",
        "juxtapose": " ",
        "onehot": "e_y",
        "Onehot": "E_y",
        "identity": "I",
        "indicator": "I[c]",
        "total": "sum_i",
        "per_batch": "(1/B) ",
        "partial": "d{top}/d{bottom}",
        "partial_of": "d/d{bottom} [{body}]",
        "paren": "({})",
        "sqrt": "sqrt({})",
        "slice": "{s}[{start}..{stop}]",  # components start to stop, both included
        "range": "v[i..j]",
        "indicator_of": "I[{}]",
        "max": "max({})",
        "min": "min({})",
        "sum": "sum_{j} {body}",
        "indexed": "{base}[{idx}]",
        "norm": "||",
        "squared": "^2",
        "sum_k": "sum_k ",
    }

    def _hadamard(self) -> str:
        """The notation's own sign for the elementwise product."""
        return self._settings["notation"].hadamard

    def _transposed(self, s: str, atomic: bool) -> str:
        """``s^T``, written the way the course does: ``W^[2]T``, ``Omega_2^T``, ``(dl/dh_1)^T``."""
        if atomic and "/" not in s:
            if re.search(r"\^[\[(][^\[\]()]*[\])]$", s):
                return s + "T"  # CS229 writes W^[2]T, FoML W^(2)T
            return s + "^T"
        return f"({s})^T"

    def _print_Prose(self, p) -> str:
        return p.s

    def _print_Sym(self, s) -> str:  # a symbol of `notation.unicode` (the teaching views name nodes by one)
        return s.text

    def _print_Paren(self, c) -> str:
        return "(" + " ".join(self.math(f) for f in c.factors) + ")"


class LatexFragments(Fragments):
    """LaTeX math mode, the notation's LaTeX templates."""

    spelling = "latex"
    words: ClassVar[dict] = {
        "alpha": r"\alpha",
        "arrow": r"\leftarrow",
        "one": r"\mathbf{1}",
        "scalar": r"\text{scalar}",
        "times": r" \times ",
        "ldots": r"\ldots",
        "to": r" \to ",
        "space": r"\ ",
        "juxtapose": r" \, ",
        "onehot": r"\mathbf{e}_{y}",
        "Onehot": r"\mathbf{E}_{y}",
        "identity": r"\mathbf{I}",
        "indicator": r"\mathbb{I}[c]",
        "total": r"\sum_{i=1}^{B}",
        "per_batch": r"\frac{1}{B} ",
        "partial": r"\frac{{\partial {top}}}{{\partial {bottom}}}",
        "partial_of": r"\frac{{\partial}}{{\partial {bottom}}} \left[{body}\right]",
        "paren": r"\left({}\right)",
        "sqrt": r"\sqrt{{{}}}",
        "slice": r"\left[{s}\right]_{{{start}..{stop}}}",
        "range": r"\left[v\right]_{i..j}",
        "indicator_of": r"\mathbb{{I}}\left[{}\right]",
        "max": r"\max\left({}\right)",
        "min": r"\min\left({}\right)",
        "sum": r"\sum_{{{j}}} {body}",
        "indexed": r"\left[{base}\right]_{{{idx}}}",
        "norm": r"\|",
        "squared": "^{2}",
        "sum_k": r"\sum_{k} ",
    }

    def _hadamard(self) -> str:
        h = self._settings["notation"].hadamard
        return HADAMARD_LATEX.get(h, h)

    def _transposed(self, s: str, atomic: bool) -> str:
        if atomic and "\\frac" not in s:
            return f"{{{s}}}^{{\\top}}" if top_level(s, "^") else f"{s}^{{\\top}}"
        return rf"\left({s}\right)^{{\top}}"

    def _print_Prose(self, p) -> str:
        return rf"\text{{{tex_escape(p.s)}}}"

    def _print_Sym(self, s) -> str:
        return s.tex

    def _print_Paren(self, c) -> str:
        """LaTeX rows do not wrap: four fractions a row, balanced."""
        f = [self.math(x) for x in c.factors]
        size = -(-len(f) // -(-len(f) // 4))
        rows = [" ".join(f[i : i + size]) for i in range(0, len(f), size)]
        return r"\left(" + r"\right. \\ &\qquad \left. ".join(rows) + r"\right)"


class UnicodeFragments(TextFragments):
    """Unicode text: ``Ω₂``, ``∂ℓ/∂f₂``, ``α``, ``←``, ``ᵀ`` (what the teaching views print)."""

    spelling = "unicode"
    words: ClassVar[dict] = {
        **TextFragments.words,
        "alpha": "α",
        "arrow": "←",
        "ldots": "…",
        "to": " → ",
        "total": "Σᵢ",
        "partial": "∂{top}/∂{bottom}",
        "partial_of": "∂/∂{bottom} [{body}]",
        "sqrt": "√({})",
        "norm": "‖",
        "squared": "²",
        "sum_k": "Σₖ ",
    }

    def _print_Term(self, t) -> str:
        return course(self._settings["notation"], t)

    def _transposed(self, s: str, atomic: bool) -> str:
        return s + "ᵀ" if atomic and "/" not in s else f"({s})ᵀ"
