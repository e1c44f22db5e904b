"""Unicode (and Graphviz HTML) spellings of course symbols: ``Ω₂``, ``h₃``, ``x⁽⁰⁾``, ``∂ℓ/∂f₂``.

Input: a notation term (`nodes`) or a LaTeX spelling from a notation
template. Output: a `Sym` (base, subscript, superscript) that prints as
Unicode text (``W^[2]`` where Unicode has no superscript bracket), as a
Graphviz HTML label (``W<sup>[2]</sup>``) or as LaTeX. The one table of Greek
letters lives here.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from .nodes import Applied, Error, Grad, Loss, Own, Prob, Quantity, Share, Template, spell

_SUB = dict(zip("0123456789+-=()aehijklmnoprstuvx,", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ,"))
_SUP = dict(zip("0123456789+-=()inT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿᵀ"))
_GREEK_NAMES = "alpha beta gamma delta epsilon theta lambda mu sigma phi psi omega Omega Delta Sigma Phi Theta ell"
GREEK = dict(zip(_GREEK_NAMES.split(), "αβγδεθλμσφψωΩΔΣΦΘℓ"))
_CALLIGRAPHIC = {"L": "ℒ", "J": "𝒥"}


def sub(text: str) -> str | None:
    """``"12"`` -> ``"₁₂"``; None where Unicode has no subscript for a character."""
    return "".join(_SUB[c] for c in text) if all(c in _SUB for c in text) else None


def sup(text: str) -> str | None:
    """``"(2)"`` -> ``"⁽²⁾"``; None where Unicode has no superscript for a character."""
    return "".join(_SUP[c] for c in text) if all(c in _SUP for c in text) else None


@dataclass(frozen=True)
class Sym:
    """A symbol with an optional subscript and superscript, e.g. Ω with sub 2, W with sup [2]."""

    base: str
    sub: str = ""
    sup: str = ""
    latex: str = ""  # the LaTeX spelling; built from the parts when empty

    @property
    def text(self) -> str:
        """Unicode where every character has a sub/superscript form, else ``_x`` / ``^[2]``."""
        return self._written(str, "_{}", "^{}")

    @property
    def html(self) -> str:
        """A Graphviz HTML label: Unicode where it exists, else real <sub>/<sup> tags."""
        return self._written(html.escape, "<sub>{}</sub>", "<sup>{}</sup>")

    def _written(self, escape, low: str, high: str) -> str:
        out = escape(self.base)
        for part, script, template in ((self.sub, sub, low), (self.sup, sup, high)):
            if part:
                s = script(part)
                out += escape(s) if s is not None else template.format(escape(part))
        return out

    @property
    def tex(self) -> str:
        if self.latex:
            return self.latex
        base = next((f"\\{k}" for k, v in GREEK.items() if v == self.base), self.base)
        if len(self.base) > 1 and base == self.base:
            base = rf"\mathrm{{{base}}}"
        out = base + (f"_{{{_tex_text(self.sub)}}}" if self.sub else "")
        return out + (f"^{{{self.sup}}}" if self.sup else "")


def _tex_text(s: str) -> str:
    return s if len(s) == 1 or s.isdigit() else rf"\mathrm{{{s}}}"


_LATEX = re.compile(
    r"(?:\\(hat|tilde|bar)\{)?(?:\\(mathbf|boldsymbol|mathcal|mathrm)\{)?(\\?[A-Za-z]+)\}?\}?(?:\{\})?"
    r"(?:_\{([^{}]*)\})?(?:\^\{([^{}]*)\})?"
)
#: a LaTeX accent -> its Unicode combining mark (f̂, h̃, h̄)
_ACCENT = {"hat": "\u0302", "tilde": "\u0303", "bar": "\u0304", None: ""}


def from_latex(latex: str, fallback: str) -> Sym:
    """A notation template's LaTeX (``\\boldsymbol{\\Omega}_{2}``, ``W^{[2]}``) as a `Sym`; else from text."""
    m = _LATEX.fullmatch(latex)
    if not m:
        return from_name(fallback)
    accent, style, base, lo, hi = m.groups()
    if base.startswith("\\"):
        base = GREEK.get(base[1:], base[1:])
    elif style == "mathcal":
        base = _CALLIGRAPHIC.get(base, base)
    return Sym(base + _ACCENT[accent], lo or "", hi or "", latex=latex)


def from_name(name: str) -> Sym:
    """A symbol from an IR name: ``x1`` -> x₁, ``beta2`` -> β₂, ``W_enc`` -> W_enc, ``dl`` -> dl."""
    m = re.fullmatch(r"([A-Za-z]+?)_?(\d+)", name) or re.fullmatch(r"([A-Za-z]+)_([A-Za-z0-9]+)", name)
    base, low = (m.group(1), m.group(2)) if m else (name, "")
    return Sym(GREEK.get(base, base), low)


def symbol(nt, t) -> Sym:
    """Term `t` as the one symbol that names the node holding it: ``Ω₂``, ``δ^[2]``, ``x₁``.

    A function's value is named by the function (``σ`` for sigmoid(f), ``p`` for softmax(f)), as a
    course writes ``σ = 1/(1 + exp(-z))``; a derivative or a path's share has no one symbol (`course`).
    """
    if isinstance(t, Own):
        return from_name(t.name)
    if isinstance(t, Applied):
        return Sym(GREEK.get(t.fn, t.fn))
    if isinstance(t, Prob):
        return Sym("P" if t.batch else "p")
    if isinstance(t, (Quantity, Error, Template, Loss)):
        return from_latex(spell(nt, t, "latex"), spell(nt, t, "text"))
    raise TypeError(f"not a one-symbol notation term: {t!r}")


def course(nt, t, fmt: str = "unicode") -> str:
    """Term `t` of notation `nt` in Unicode (``fmt="unicode"``) or as a Graphviz HTML label (``"html"``)."""
    if isinstance(t, Error) and nt.error is None and nt.batch.get("error") is None and not t.batch:
        t = Grad(Quantity("pre", t.layer), False)
    if isinstance(t, (Quantity, Error, Template, Loss, Own, Prob)):
        s = symbol(nt, t)
        return s.text if fmt == "unicode" else s.html
    if isinstance(t, Grad):
        return f"∂{course(nt, Loss(t.batch), fmt)}/∂{course(nt, t.of, fmt)}"
    if isinstance(t, Share):
        return f"{course(nt, t.whole, fmt)} (via {course(nt, t.via, fmt)})"
    if isinstance(t, Applied):
        return f"{GREEK.get(t.fn, t.fn)}({course(nt, t.arg, fmt)})"
    raise TypeError(f"not a notation term: {t!r}")
