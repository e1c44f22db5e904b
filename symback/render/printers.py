"""SymPy printers that write IR expressions in a course's notation.

Stage: render. Input: a SymPy expression over IR names (``W2.T*dl_df2``,
``dl_dh1*Indicator(f1 > 0)``) and a `Display` saying how each name is
written. Output: text, Unicode or LaTeX such as ``Omega_2^T dl/df_2``,
``Ω₂ᵀ ∂ℓ/∂f₂`` or ``I[f_1 > 0] ⊙ dl/dh_1``.

One subclass per format (`TextPrinter`, `UnicodePrinter`, `LatexPrinter`; settings
``display`` and ``notation`` in ``_default_settings``; `pages` adds the
document's formats on top), one ``_print_<Class>`` method per node type, as
SymPy's printers do; the math nodes of a document and the notation's terms
print through the same dispatch (`fragments`). Elementwise (``ew``)
expressions are componentwise formulas: a product of vectors prints with
the notation's Hadamard symbol, `KroneckerDelta(i, y)` as the one-hot ``e_y``,
``1/(1 + exp(-f))`` as ``sigma(f)``. Linear expressions are matrix products
printed by juxtaposition with ``^T``.

In numerator layout an adjoint (``dl/dh``) denotes a row, the transpose of
the IR's column: a ``Transpose`` of an adjoint prints as the bare symbol and
a bare adjoint prints transposed.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import sympy as sp
from sympy.printing.latex import LatexPrinter as _SympyLatex
from sympy.printing.str import StrPrinter

from ..notation.nodes import Own
from ..ops.batchnorm import INDEX_B, INDEX_C
from ..notation.unicode import sub, sup
from .fragments import LatexFragments, TextFragments, UnicodeFragments, top_level


SAMPLE_INDICES = ((INDEX_B,), (INDEX_C,))  # v[b]: sample b's value of v, inside a sum over the batch


@dataclass
class Display:
    """How IR names print in one notation and layout (any format)."""

    layout: str = "denominator"
    names: dict[str, object] = field(default_factory=dict)  # IR name -> its symbol (a term or math node)
    vectors: set[str] = field(default_factory=set)  # names of vector (or batch-matrix) quantities
    adjoints: set[str] = field(default_factory=set)  # names of backward quantities
    inline: set[str] = field(default_factory=set)  # names whose display is a whole expression (parenthesize)
    broadcast: set[str] = field(default_factory=set)  # biases written b 1^T (minibatch form)
    onehot: str = "onehot"  # the word for the one-hot vector of the class y (`fragments` words)
    sigma: bool = True  # print 1/(1 + exp(-f)) as sigma(f)

    def but(self, **changes) -> Display:
        """A copy with some fields changed."""
        return Display(**{**self.__dict__, **changes})

    def row(self, ir_name: str) -> bool:
        """In numerator layout an adjoint's symbol stands for a row (the IR holds the column)."""
        return self.layout == "numerator" and ir_name in self.adjoints


def is_atomic(expr) -> bool:
    """Prints without top-level operators (a symbol, a function call, an indicator)."""
    return isinstance(expr, (sp.Symbol, sp.MatrixSymbol, sp.Indexed, sp.KroneckerDelta)) or (
        isinstance(expr, (sp.Function, sp.Max, sp.Min)) and not isinstance(expr, sp.Piecewise)
    )


def _sigmoid_arg(expr):
    """u if expr is 1/(1 + exp(-u)), else None."""
    if isinstance(expr, sp.Pow) and expr.exp == -1 and isinstance(expr.base, sp.Add):
        rest = expr.base - 1
        if isinstance(rest, sp.exp):
            return -rest.args[0]
    return None


@lru_cache(maxsize=8192)
def _ordered_terms(expr: sp.Add, order) -> tuple:
    """SymPy's print order of an Add's terms. Sorting them is the slowest step of printing, and a page prints each
    formula in several notations and formats: sorted once per (expression, order)."""
    return tuple(StrPrinter({"order": order})._as_ordered_terms(expr))


class _Common:
    """What both printers share: names, layout and the elementwise product."""

    @property
    def display(self) -> Display:
        return self._settings["display"]

    def _as_ordered_terms(self, expr, order=None):
        return list(_ordered_terms(expr, order or self.order))

    def _wrap(self, expr, types) -> str:
        """`expr` printed, in parentheses if it is one of `types`."""
        s = self._print(expr)
        return self._paren(s) if isinstance(expr, types) else s

    # -- names ---------------------------------------------------------------
    def _named(self, name: str) -> str:
        s = self._print(self.display.names.get(name, Own(name)))
        if name in self.display.inline and top_level(s.replace(r"\left(", "(").replace(r"\right)", ")"), " "):
            s = self._paren(s)
        return s

    def _print_Symbol(self, expr):
        return self._named(expr.name)

    _print_Dummy = _print_Symbol

    def _matrix(self, name: str) -> str:
        """A matrix symbol: a row's symbol transposed, as the IR holds its column."""
        s = self._named(name)
        return self._transposed(s, name not in self.display.inline) if self.display.row(name) else s

    def _print_MatrixSymbol(self, expr):
        s = self._matrix(expr.name)
        return s + " " + self._transposed(self.words["one"], True) if expr.name in self.display.broadcast else s

    def _print_Transpose(self, expr):
        arg = expr.arg
        parent = arg.parent if isinstance(arg, sp.MatrixSlice) else arg
        if isinstance(parent, sp.MatrixSymbol) and self.display.row(parent.name):  # a row (or its slice), as named
            s = self._named(parent.name)
            return s if parent is arg else self._slice(s, arg.rowslice[0], arg.rowslice[1])
        atomic = isinstance(arg, sp.MatrixSymbol) and arg.name not in self.display.inline
        return self._transposed(self._print(arg), atomic)

    # -- products ------------------------------------------------------------
    def _is_vector(self, expr) -> bool:
        if expr.has(sp.Indexed):  # a component p[k] is a number; a sample's value v[b] (batch norm's sums) is not
            expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.indices not in SAMPLE_INDICES,
                                lambda e: sp.Integer(1))
        return bool({s.name for s in expr.free_symbols} & self.display.vectors) or expr.has(sp.KroneckerDelta)

    def _product(self, factors) -> str:
        parts = [(self._wrap(f, (sp.Add, sp.Mul, sp.Piecewise)), self._is_vector(f)) for f in factors]
        return parts[0][0] + "".join(self._times(pv and v) + s for (_, pv), (s, v) in itertools.pairwise(parts))

    def _times(self, hadamard: bool) -> str:
        return f" {self._hadamard()} " if hadamard else self.words["juxtapose"]

    def _with_coeff(self, coeff, body: str, body_is_paren: bool) -> str:
        if coeff == 1:
            return body
        if coeff == -1:
            return "-" + body
        return self._print(coeff) + ("" if body_is_paren else " ") + body

    def _print_Mul(self, expr):
        """Coefficient, numerator and denominator factors; adjoints last (upstream last)."""
        if _sigmoid_arg(expr) is not None:
            return self._print_Pow(expr)
        coeff, rest = expr.as_coeff_Mul()
        num, den = [], []
        for f in sp.Mul.make_args(rest):
            if isinstance(f, sp.Pow) and f.exp.is_negative and f.exp.is_number and _sigmoid_arg(f) is None:
                den.append(f.base ** (-f.exp))
            else:
                num.append(f)
        if coeff.is_Rational and coeff.q != 1:
            den.insert(0, sp.Integer(coeff.q))
            coeff = sp.Integer(coeff.p)
        num = sorted(num, key=lambda f: isinstance(f, sp.Symbol) and f.name in self.display.adjoints) or [sp.Integer(1)]
        if den:
            return self._with_coeff(coeff, self._divide(num, den), False)
        top = self._product(num)
        return self._with_coeff(coeff, top, top.startswith(("(", r"\left(")))

    def _print_Pow(self, expr):
        u = _sigmoid_arg(expr)
        if u is not None and self.display.sigma:
            return self._call("sigma", self._print(u))
        base, e = expr.base, expr.exp
        if e == sp.Rational(1, 2):
            return self.words["sqrt"].format(self._print(base))
        if e.is_number and e.is_negative:
            return self._divide([sp.Integer(1)], [base ** (-e)])
        b, adjoint = self._print(base), isinstance(base, sp.Symbol) and base.name in self.display.adjoints
        return self._power(self._paren(b) if adjoint or not is_atomic(base) or top_level(b, "^") else b, self._print(e))

    # -- matrices ------------------------------------------------------------
    def _print_MatMul(self, expr):
        coeff, mats = expr.as_coeff_matrices()
        body = self._times(False).join(self._wrap(m, sp.MatAdd) for m in mats)
        if coeff == 1:
            return body
        return ("-" + body) if coeff == -1 else self._wrap(coeff, sp.Add) + self._times(False) + body

    def _print_MatAdd(self, expr):
        out = self._print(expr.args[0])
        for term in expr.args[1:]:
            s = self._print(term)
            out += " - " + s[1:] if s.startswith("-") else " + " + s
        return out

    def _print_Add(self, expr, order=None):
        terms = self._as_ordered_terms(expr, order=order)
        if terms[0].could_extract_minus_sign():  # lead with a positive term: y - h, not -h + y
            pos = next((t for t in terms if not t.could_extract_minus_sign()), None)
            if pos is not None:
                terms = [pos] + [t for t in terms if t is not pos]
        out = self._wrap(terms[0], sp.Add)
        for term in terms[1:]:
            minus = term.could_extract_minus_sign()
            out += (" - " if minus else " + ") + self._wrap(-term if minus else term, sp.Add)
        return out

    def _print_BlockMatrix(self, expr):
        return self._stack([[self._print(b) for b in expr.blocks.row(i)] for i in range(expr.blocks.rows)])

    def _print_MatrixSlice(self, expr):
        parent = expr.parent
        s = self._matrix(parent.name) if isinstance(parent, sp.MatrixSymbol) else self._paren(self._print(parent))
        return self._slice(s, expr.rowslice[0], expr.rowslice[1])

    def _print_KroneckerDelta(self, expr):
        return self.words[self.display.onehot]

    # -- written from each format's templates (`fragments` words) ---------------
    def _paren(self, s: str) -> str:
        return self.words["paren"].format(s)

    def _slice(self, s: str, start, stop) -> str:
        """Rows start..stop-1 of the IR (SymPy's 0-based slice) as the notation counts them: ``c[4..6]``, ``c[4]``."""
        first = self._settings["notation"].first
        lo, hi = start + first, stop - 1 + first
        if lo == hi:
            return self.words["indexed"].format(base=s, idx=lo)
        return self.words["slice"].format(s=s, start=lo, stop=hi)

    def _print_Indicator(self, expr):
        return self.words["indicator_of"].format(self._print(expr.args[0]))

    def _print_Max(self, expr):  # and Min: max(a, b), \max\left(a, b\right); one tap max(a): padding reads -inf
        return self.words["max" if isinstance(expr, sp.Max) else "min"].format(", ".join(map(self._print, expr.args)))

    _print_Min = _print_Max

    def _sum(self, j: str, body: str) -> str:
        return self.words["sum"].format(j=j, body=body)

    def _print_Sum(self, expr):
        (j, _, _), body = expr.limits[0], expr.function
        return self._sum(self._print(j), self._wrap(body, sp.Add))

    def _print_Indexed(self, expr):
        """``f[j]``, ``f[y]``; a number index (SymPy's, 0-based) counted as the notation does."""
        first = self._settings["notation"].first
        idx = ", ".join(self._print(i + first if i.is_Integer else i) for i in expr.indices)
        return self.words["indexed"].format(base=self._print(expr.base.label), idx=idx)

    def _print_IndexedBase(self, expr):
        return self._print(expr.label)

    def _print_Identity(self, expr):
        return self.words["identity"]


class TextPrinter(TextFragments, _Common, StrPrinter):
    """IR expression -> one line of text in a notation."""

    printmethod = "_symback_text"
    _default_settings: ClassVar[dict] = {**StrPrinter._default_settings, "display": Display(), "notation": None}

    def _call(self, fn: str, arg: str) -> str:
        return f"{fn}({arg})"

    def _power(self, b: str, e: str) -> str:
        return f"{b}^{e}" if re.fullmatch(r"-?\w+", e) else f"{b}^({e})"

    def _divide(self, num, den) -> str:
        top, bottom = self._product(num), self._product(den)
        if len(num) > 1:
            top = f"({top})"
        if len(den) > 1 or not (is_atomic(den[0]) or den[0].is_Number or bottom.startswith("(")):
            bottom = f"({bottom})"
        return f"{top}/{bottom}"

    def _stack(self, rows) -> str:
        return "[" + "; ".join(", ".join(r) for r in rows) + "]"

    def _print_Piecewise(self, expr):
        parts = [self._print(v) + (" otherwise" if c is sp.true else f" if {self._print(c)}") for v, c in expr.args]
        return "{" + "; ".join(parts) + "}"

    def _print_Relational(self, expr):
        return f"{self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)}"

    def _print_Rational(self, expr):
        return f"{expr.p}/{expr.q}" if expr.q != 1 else str(expr.p)


class LatexPrinter(LatexFragments, _Common, _SympyLatex):
    """IR expression -> LaTeX (math mode) in a notation."""

    printmethod = "_symback_latex"
    _default_settings: ClassVar[dict] = {**_SympyLatex._default_settings, "display": Display(), "notation": None}

    def _call(self, fn: str, arg: str) -> str:
        name = {"sigma": r"\sigma"}.get(fn, rf"\operatorname{{{fn}}}")
        return rf"{name}\left({arg}\right)"

    def _power(self, b: str, e: str) -> str:
        return f"{b}^{{{e}}}"

    def _divide(self, num, den) -> str:
        top = self._print(num[0]) if len(num) == 1 else self._product(num)
        bottom = self._print(den[0]) if len(den) == 1 else self._product(den)
        return rf"\frac{{{top}}}{{{bottom}}}"

    def _stack(self, rows) -> str:
        return r"\begin{bmatrix} " + r" \\ ".join(" & ".join(r) for r in rows) + r" \end{bmatrix}"

    def _print_Piecewise(self, expr):
        rows = [
            f"{self._print(v)} & " + (r"\text{otherwise}" if c is sp.true else rf"\text{{if }} {self._print(c)}")
            for v, c in expr.args
        ]
        return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"

    def _print_Relational(self, expr):
        op = {"<=": r"\le", ">=": r"\ge", "!=": r"\ne", "==": "="}.get(expr.rel_op, expr.rel_op)
        return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"


class _SumsPrinter(StrPrinter):
    """SymPy's text with each Sum as ``∑ⱼ₌₁ⁿ body``, its bounds written (`grad`'s index form)."""

    def _print_Sum(self, expr):
        out = self._print(expr.function)
        out = f"({out})" if expr.function.is_Add else out
        for v, lo, hi in expr.limits:
            low, high = f"{self._print(v)}={self._print(lo)}", self._print(hi)
            out = f"∑{sub(low) or '_(' + low + ')'}{sup(high) or '^' + high} {out}"
        return out


class UnicodePrinter(UnicodeFragments, TextPrinter):
    """IR expression -> one line of Unicode text: ``Ω₃ᵀ ∂ℓ/∂f₃``, ``h₁²``, ``Σⱼ``, ``σ(f)``."""

    printmethod = "_symback_unicode"

    def _call(self, fn: str, arg: str) -> str:
        name = {"sigma": "σ"}.get(fn, fn)
        return f"{name}({arg})"

    def _power(self, b: str, e: str) -> str:
        return b + (sup(e) or (f"^{e}" if re.fullmatch(r"-?\w+", e) else f"^({e})"))

    def _sum(self, j: str, body: str) -> str:
        return f"Σ{sub(j) or '_' + j} {body}"

    def _print_Summed(self, p) -> str:
        return _SumsPrinter().doprint(p.expr)
