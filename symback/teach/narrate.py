"""Printers for the narrative: an `Explanation` -> text, Markdown or LaTeX.

One walk over the numbered steps, one subclass per format (the SymPy
printer pattern): `_Text` for a terminal, `_Latex` for a document (an
``align*`` per pass, reused factors under an ``\\underbrace``), `_Markdown`
for a notebook or a web page.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from ..evaluate import show
from ..nonsmooth import text_indicators
from . import grad_name
from .draw import gate_label
from .explain import Backward, Explanation, Factor, Forward

#: The CS 7643 patterns in backward flow, keyed by gate symbol.
PATTERNS = {
    "+": "add gate: distributes the upstream gradient unchanged",
    "−": "subtract gate: distributes the upstream gradient, negated for the subtracted input",
    "×": "mul gate: the local gradient is the other input (switcher)",
    "max": "max gate: routes the upstream gradient to the larger input",
    "max(0, ·)": "ReLU: passes the upstream gradient where the input is positive, else 0",
}


class _Numbers:
    """Printer mixin: every node symbol printed as its value, in the expression's own term order.

    Negative numbers get parentheses everywhere but at the front, fractions
    only inside a product or power (``(1/3)·2``, but ``1/2 + 1``).
    """

    def __init__(self, values, **settings):
        super().__init__(settings)
        self._values = values
        self._factor = 0

    def _print_Symbol(self, s, *args, **kwargs):
        if s.name not in self._values:
            return super()._print_Symbol(s, *args, **kwargs)
        text = self._number(self._values[s.name])
        fraction = "/" in text or "frac" in text or "e" in text
        return f"{self._open}{text}{self._close}" if text.startswith("-") or (fraction and self._factor) else text

    def _nested(self, method, e, inside, *args, **kwargs):
        saved, self._factor = self._factor, inside
        try:
            return method(e, *args, **kwargs)
        finally:
            self._factor = saved

    def _print_Mul(self, e, *args, **kwargs):
        return self._nested(super()._print_Mul, e, 1, *args, **kwargs)

    def _print_Pow(self, e, *args, **kwargs):
        return self._nested(super()._print_Pow, e, 1, *args, **kwargs)

    def _print_Add(self, e, *args, **kwargs):
        return self._nested(super()._print_Add, e, 0, *args, **kwargs)

    def _print_Function(self, e, *args, **kwargs):
        return self._nested(super()._print_Function, e, 0, *args, **kwargs)


class _TextNumbers(_Numbers, StrPrinter):
    _open, _close = "(", ")"

    @staticmethod
    def _number(v):
        return show(v)


class _LatexNumbers(_Numbers, LatexPrinter):
    _open, _close = r"\left(", r"\right)"

    @staticmethod
    def _number(v):
        return sp.latex(v) if v.is_Rational else show(v)


class _Renderer:
    """Walks an Explanation; subclasses say how each piece is written."""

    def __init__(self, ex: Explanation):
        self.ex = ex
        self.out = ex.output
        self.lines: list[str] = []

    # pieces each format defines
    def name(self, node: str) -> str: ...
    def expr(self, e: sp.Expr) -> str: ...
    def numbers(self, e: sp.Expr) -> str: ...
    def total(self, of: str) -> str: ...
    def partial(self, consumer: str, of: str) -> str: ...
    def num(self, v) -> str:
        text = show(v)
        return f"({text})" if text.startswith("-") else text

    def heading(self) -> str:
        source = getattr(self.ex.derivation, "source", self.out)
        return source if getattr(self.ex.derivation, "named_steps", False) else f"{self.out} = {source}"

    def point(self) -> str:
        return ", ".join(f"{v} = {show(self.ex.values[v])}" for v in self.ex.inputs)

    def gate_note(self, consumer: str) -> str | None:
        node = self.ex.graph[consumer]
        if node.op != "scalar":
            return None
        return PATTERNS.get(gate_label(node.expr) or "")

    def uses_note(self, f: Factor) -> str:
        return ", ".join(f"{u} ({self.ex.forward_step[u]})" for u in f.forward_uses)

    def symbolic_result(self) -> dict[str, sp.Expr]:
        """d output / d variable over named intermediates, adjoints shown by their display name."""
        node_gradient = getattr(self.ex.derivation, "node_gradient", None)
        if node_gradient is None:
            return {}
        names = {n.symbol: sp.Symbol(self.total(n.of)) for n in self.ex.graph.backward()}
        return {v: e.xreplace(names) for v, e in node_gradient().items()}

    def reuse_summary(self) -> list[tuple[Backward, list[Backward]]]:
        by_step = {b.step: b for b in self.ex.backward}
        return [(b, [by_step[s] for s in b.reused_by]) for b in self.ex.backward if len(b.reused_by) > 1 and b.factors]


class _Text(_Renderer):
    def name(self, node):
        return node

    def expr(self, e):
        return text_indicators(str(e)).replace("**", "^").replace("*", "·")

    def numbers(self, e):
        text = text_indicators(_TextNumbers(self.ex.values).doprint(e)).replace("**", "^").replace("*", "·")
        return _unparen_first(text)

    def total(self, of):
        return grad_name(self.out, of)

    def partial(self, consumer, of):
        return f"∂{consumer}/∂{of}"

    def render(self) -> str:
        ex, w = self.ex, self.lines.append
        w(self.heading() + (f"   at {self.point()}" if ex.values else ""))
        w("")
        w("Forward pass: the series of intermediate calculations")
        if ex.values:
            w("  inputs: " + self.point())
        for f in ex.forward:
            line = f"  {f.step}. {f.node} = {self.expr(f.expr)}"
            if ex.values:
                nums = self.numbers(f.expr)
                line += (f" = {nums}" if nums != show(f.value) else "") + f" = {show(f.value)}"
            w(line)
        w("")
        w(f"Backward pass: chain rule, gradient = upstream × local, from {self.out} back to the inputs")
        w(
            f"  ({self.total('v')} is the gradient of {self.out} through every path; "
            f"∂c/∂v the local derivative of one gate c)"
        )
        part = 0
        for b in ex.backward:
            if b.part != part:
                part = b.part
                w("")
                w(
                    "  Part 1: the intermediate quantities, in reverse order"
                    if part == 1
                    else "  Part 2: the variables, each from the gradient of the gate it feeds"
                )
            self.step(b)
        summary = self.reuse_summary()
        if summary:
            w("")
            w("Reuse: each gradient is computed once and multiplied into every later step that needs it")
            for b, users in summary:
                w(
                    f"  {self.total(b.of)} ({b.step}) is reused by "
                    + ", ".join(f"{self.total(u.of)} ({u.step})" for u in users)
                )
        grads = [b for b in ex.backward if b.part == 2]
        if grads:
            w("")
            w("Result")
            symbolic = self.symbolic_result()
            for b in grads:
                line = f"  {self.total(b.of)}"
                if b.of in symbolic:
                    line += f" = {self.expr(symbolic[b.of])}"
                w(line + (f" = {show(b.value)}" if ex.values else ""))
        return "\n".join(self.lines) + "\n"

    def step(self, b: Backward) -> None:
        ex, w = self.ex, self.lines.append
        lhs = f"  {b.step}. {self.total(b.of)} = "
        pad = " " * (len(lhs) - 2)
        if not b.factors:
            w(lhs + "1" + f"   start: the gradient of {self.out} with respect to itself")
            return
        if b.branch:
            users = ", ".join(f.consumer for f in b.factors)
            w(f"  {b.step}. {b.of} feeds {len(b.factors)} gates ({users}): gradients add at this branch")
            lhs = f"      {self.total(b.of)} = "
            pad = " " * (len(lhs) - 2)
        w(
            lhs
            + " + ".join(f"{self.total(f.consumer)} × {self.partial(f.consumer, b.of)}" for f in b.factors)
            + "      upstream × local"
        )
        w(
            pad
            + "= "
            + " + ".join(f"{self.total(f.consumer)} × {self._paren(self.expr(f.local), f.local)}" for f in b.factors)
        )
        if ex.values:
            nums = " + ".join(f"{self.num(f.upstream_value)} × {self.num(f.local_value)}" for f in b.factors)
            w(pad + "= " + _unparen_first(nums) + f" = {show(b.value)}")
        for f in b.factors:
            w(pad + f"  ↳ {self.total(f.consumer)}: already computed! ({f.upstream_step})")
            if f.forward_uses:
                w(
                    pad + f"  ↳ {self.partial(f.consumer, b.of)} = {self.expr(f.local)} reads "
                    f"{self.uses_note(f)}, already computed in the forward pass"
                )
            gate = self.gate_note(f.consumer)
            if gate:
                w(pad + f"  ↳ {gate}")

    @staticmethod
    def _paren(text: str, e: sp.Expr) -> str:
        return f"({text})" if isinstance(e, sp.Add) or text.startswith("-") else text


def _unparen_first(text: str) -> str:
    """``(-2) + 5`` -> ``-2 + 5``, ``exp((-1))`` -> ``exp(-1)``: no parentheses a reader does not need."""
    text = re.sub(r"\(\((-[^()]+)\)\)", r"(\1)", text)
    return re.sub(r"^\((-[^()]+)\)(?= [-+×]|$)", r"\1", text)


def latex_var(name: str) -> str:
    """``f0`` -> ``f_{0}``, ``beta1`` -> ``\\beta_{1}``, ``w_3`` -> ``w_{3}``."""
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if m:
        return f"{sp.latex(sp.Symbol(m.group(1)))}_{{{m.group(2)}}}"
    return sp.latex(sp.Symbol(name))


class _Latex(_Renderer):
    def __init__(self, ex):
        super().__init__(ex)
        self.symbols = {n.symbol: latex_var(n.name) for n in ex.graph.forward()}

    def name(self, node):
        return latex_var(node)

    def expr(self, e):
        return sp.latex(e, symbol_names=self.symbols)

    def numbers(self, e):
        text = _LatexNumbers(self.ex.values, mul_symbol="times").doprint(e)
        return re.sub(r"^\\left\((-[^()]+)\\right\)(?= [+-]|$)", r"\1", text)

    def num(self, v):
        text = sp.latex(v) if v.is_Rational else show(v)
        return f"\\left({text}\\right)" if text.startswith("-") else text

    def point(self):
        return ", ".join(f"{latex_var(v)} = {_LatexNumbers._number(self.ex.values[v])}" for v in self.ex.inputs)

    def total(self, of):
        return rf"\frac{{d {latex_var(self.out)}}}{{d {latex_var(of)}}}"

    def partial(self, consumer, of):
        return rf"\frac{{\partial {latex_var(consumer)}}}{{\partial {latex_var(of)}}}"

    def reused(self, f: Factor) -> str:
        return rf"\underbrace{{{self.total(f.consumer)}}}_{{\text{{already computed! ({f.upstream_step})}}}}"

    def local(self, f: Factor) -> str:
        text = self.expr(f.local)
        return rf"\left({text}\right)" if isinstance(f.local, sp.Add) else text

    def equation(self, b: Backward) -> str:
        """``d f/d q = upstream · ∂f/∂q = upstream · z = 1 × (-4) = -4`` for one step."""
        if not b.factors:
            return f"{self.total(b.of)} = 1"
        parts = [
            " + ".join(f"{self.reused(f)} \\cdot {self.partial(f.consumer, b.of)}" for f in b.factors),
            " + ".join(f"{self.total(f.consumer)} \\cdot {self.local(f)}" for f in b.factors),
        ]
        if self.ex.values:
            parts.append(
                " + ".join(f"{self.num(f.upstream_value)} \\times {self.num(f.local_value)}" for f in b.factors)
            )
            parts.append(_LatexNumbers._number(b.value))
        return f"{self.total(b.of)} = " + " = ".join(parts)

    def forward_equation(self, f: Forward) -> str:
        text = f"{self.name(f.node)} = {self.expr(f.expr)}"
        if self.ex.values:
            nums = self.numbers(f.expr)
            value = _LatexNumbers._number(f.value)
            text += (f" = {nums}" if nums != value else "") + f" = {value}"
        return text

    def notes(self, b: Backward) -> list[str]:
        notes = []
        if b.branch:
            notes.append(
                f"${self.name(b.of)}$ feeds {len(b.factors)} gates ("
                + ", ".join(f"${self.name(f.consumer)}$" for f in b.factors)
                + "): gradients add at this branch."
            )
        for f in b.factors:
            if f.forward_uses:
                notes.append(
                    f"${self.partial(f.consumer, b.of)}$ reads "
                    + ", ".join(f"${self.name(u)}$ ({self.ex.forward_step[u]})" for u in f.forward_uses)
                    + " from the forward pass."
                )
            gate = self.gate_note(f.consumer)
            if gate:
                notes.append(gate[0].upper() + gate[1:] + ".")
        return notes

    def render(self) -> str:
        ex, w = self.ex, self.lines.append
        head = self.heading()
        w(
            r"\paragraph{Forward pass} "
            + r"\texttt{"
            + _tex_escape(head)
            + "}"
            + (f" at ${self.point()}$" if ex.values else "")
            + ": the series of intermediate calculations."
        )
        w(r"\begin{align*}")
        w(
            " \\\\\n".join(
                f"  {self.forward_equation(f)} && \\text{{({f.step})}}".replace(" = ", " &= ", 1) for f in ex.forward
            )
        )
        w(r"\end{align*}")
        w(
            r"\paragraph{Backward pass} gradient $=$ upstream $\times$ local, from $"
            + latex_var(self.out)
            + "$ back to the inputs."
        )
        w(r"\begin{align*}")
        rows, part = [], 0
        for b in ex.backward:
            if b.part != part:
                part = b.part
                rows.append(
                    r"  \intertext{"
                    + (
                        "Part 1: the intermediate quantities, in reverse order."
                        if part == 1
                        else "Part 2: the variables."
                    )
                    + "}"
                )
            for note in self.notes(b):
                rows.append(r"  \intertext{" + note + "}")
            rows.append(f"  {self.equation(b)} && \\text{{({b.step})}}".replace(" = ", " &= ", 1))
        w(_join_align(rows))
        w(r"\end{align*}")
        summary = self.reuse_summary()
        if summary:
            w(r"\paragraph{Reuse} each gradient is computed once and multiplied into every later step that needs it:")
            w(r"\begin{itemize}")
            for b, users in summary:
                w(
                    rf"  \item ${self.total(b.of)}$ ({b.step}) is reused by "
                    + ", ".join(f"${self.total(u.of)}$ ({u.step})" for u in users)
                    + "."
                )
            w(r"\end{itemize}")
        return "\n".join(self.lines) + "\n"


def _join_align(rows: list[str]) -> str:
    """Rows of an align*: equations end in ``\\\\``, except before an \\intertext and at the end."""
    out = []
    for i, row in enumerate(rows):
        is_eq = not row.lstrip().startswith(r"\intertext")
        later_eq = any(not r.lstrip().startswith(r"\intertext") for r in rows[i + 1 :])
        out.append(row + (r" \\" if is_eq and later_eq else ""))
    return "\n".join(out)


def _tex_escape(text: str) -> str:
    """Plain text for LaTeX: the ten special characters escaped."""
    special = {
        "\\": r"\textbackslash{}",
        "_": r"\_",
        "^": r"\^{}",
        "&": r"\&",
        "%": r"\%",
        "#": r"\#",
        "$": r"\$",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
    }
    return "".join(special.get(c, c) for c in text)


class _Markdown(_Latex):
    """Markdown with $...$ math: what a notebook or a GitHub page shows."""

    def render(self) -> str:
        ex, w = self.ex, self.lines.append
        w(f"**`{self.heading()}`**" + (f" at ${self.point()}$" if ex.values else ""))
        w("")
        w("#### Forward pass: the series of intermediate calculations")
        w("")
        for f in ex.forward:
            w(f"- **{f.step}.** ${self.forward_equation(f)}$")
        w("")
        w(f"#### Backward pass: gradient = upstream × local, from ${latex_var(self.out)}$ back to the inputs")
        part = 0
        for b in ex.backward:
            if b.part != part:
                part = b.part
                w("")
                w(
                    "*Part 1: the intermediate quantities, in reverse order.*"
                    if part == 1
                    else "*Part 2: the variables.*"
                )
                w("")
            w(f"- **{b.step}.** ${self.equation(b)}$")
            for note in self.notes(b):
                w(f"  - {note}")
        summary = self.reuse_summary()
        if summary:
            w("")
            w("#### Reuse: each gradient is computed once")
            w("")
            for b, users in summary:
                w(
                    f"- ${self.total(b.of)}$ ({b.step}) is reused by "
                    + ", ".join(f"${self.total(u.of)}$ ({u.step})" for u in users)
                )
        return "\n".join(self.lines) + "\n"


RENDERERS = {"text": _Text, "markdown": _Markdown, "latex": _Latex}
