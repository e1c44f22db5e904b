"""A scalar circuit's pieces of the narrative (see `narrate`): exact numbers and the gates' patterns.

Stage: teaching views. Input: an `Explanation` of an expression or named
steps. Output: the lines `narrate` asks for. A backward step reads
``df/dq = df/df × ∂f/∂q = df/df × z = 1 × (-4) = -4``: the gradient of the
output (``df/dq``, through every path) and one gate's local derivative
(``∂f/∂q``), in symbols, then in numbers, then its value; each reused
gradient is "already computed!", and each gate's CS 7643 pattern is named.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from ..evaluate import show
from .gates import PATTERNS, gate_label
from .layout import Math, already, grad_name, latex_var, listed, note_text, plain, unparen_first


class _Numbers:
    """Printer mixin: every node symbol printed as its value, in the expression's own term order.

    Negative numbers get parentheses everywhere but at the front, fractions
    only inside a product or power (``(1/3)·2``, but ``1/2 + 1``).
    """

    def __init__(self, values, **settings):
        super().__init__(settings)
        self._values = values
        self._factor = 0

    @classmethod
    def factor(cls, v, inside: bool = False) -> str:
        """A value as a factor: in parentheses when negative, or a fraction `inside` a product or power."""
        text = cls.number(v)
        fraction = "/" in text or "frac" in text or "e" in text
        return f"{cls._open}{text}{cls._close}" if text.startswith("-") or (fraction and inside) else text

    def _print_Symbol(self, s, *args, **kwargs):
        if s.name not in self._values:
            return super()._print_Symbol(s, *args, **kwargs)
        return self.factor(self._values[s.name], self._factor)

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


class TextNumbers(_Numbers, StrPrinter):
    _open, _close = "(", ")"
    number = staticmethod(show)


class LatexNumbers(_Numbers, LatexPrinter):
    _open, _close = r"\left(", r"\right)"

    @staticmethod
    def number(v):
        return sp.latex(v) if v.is_Rational else show(v)


def _paren(text: str, e) -> str:
    return f"({text})" if isinstance(e, sp.Add) or text.startswith("-") else text


class CircuitVoice:
    """How a scalar circuit's narrative reads."""

    part_2 = "the variables, each from the gradient of the gate it feeds"
    always_reuse = False  # the reuse paragraph only where a gradient is reused more than once
    min_reuse = 2

    def __init__(self, ex):
        self.ex, self.out = ex, ex.output
        self.symbols = {n.symbol: latex_var(n.name) for n in ex.graph.forward()}

    # -- shared by every format ----------------------------------------------------------
    def title(self) -> str:
        s = self.ex.summary
        return s.source if s.named_steps else f"{self.out} = {s.source}"

    def point(self) -> str:
        return ", ".join(f"{v} = {show(self.ex.values[v])}" for v in self.ex.inputs)

    def var(self, name: str) -> Math:
        return Math(name, latex_var(name))

    # -- notes, one wording for every format (`layout.note_text`, `layout.note_tex`) -------------
    def backward_intro(self) -> tuple[tuple, tuple]:
        """What the backward pass does, and what its symbols mean."""
        rule = Math("gradient = upstream × local", r"\text{gradient} = \text{upstream} \times \text{local}")
        head = ("chain rule, ", rule, ", from ", self.var(self.out), " back to the inputs")
        total, local = Math(self.total("v"), self.total_tex("v")), Math("∂c/∂v", self.partial_tex("c", "v"))
        gloss = (total, " is the gradient of ", self.var(self.out), " through every path; ", local)
        return head, (*gloss, " the local derivative of one gate ", self.var("c"))

    def start_note(self, b) -> tuple:
        """The note of a step without terms: the output's own gradient (1), or a variable's on no path (0)."""
        return (("start: the gradient of ", self.var(self.out), " with respect to itself") if b.of == self.out else
                (self.var(b.of), " reaches ", self.var(self.out), " by no path (it cancels out): its gradient is 0"))

    def branch_note(self, b) -> tuple:
        users = listed([self.var(t.consumer)] for t in b.terms)
        return (self.var(b.of), f" feeds {len(b.terms)} gates (", *users, "): gradients add at this branch")

    def term_notes(self, b, t) -> list[tuple]:
        """What one path's local derivative reads from the forward pass, and its gate's pattern."""
        out = []
        if t.reads:
            partial = Math(self.partial(t.consumer, b.of), self.partial_tex(t.consumer, b.of))
            local = Math(f"{partial.text} = {plain(t.local)}", f"{partial.tex} = {self.expr_tex(t.local)}")
            reads = listed([self.var(u), f" ({self.ex.forward_step[u]})"] for u in t.reads)
            out.append((local, " reads ", *reads, ", already computed in the forward pass"))
        node = self.ex.graph[t.consumer]
        gate = PATTERNS.get(gate_label(node.expr) or "") if node.op == "scalar" else None
        if gate:
            out.append((gate,))
        return out

    # -- text --------------------------------------------------------------------------------
    def total(self, of: str) -> str:
        return grad_name(self.out, of)

    def partial(self, consumer: str, of: str) -> str:
        return f"∂{consumer}/∂{of}"

    def header(self) -> list[str]:
        return [self.title() + (f"   at {self.point()}" if self.ex.values else "")]

    def inputs(self) -> list[str]:
        return ["  inputs: " + self.point()] if self.ex.values else []

    def forward(self, f) -> list[str]:
        line = f"  {f.step}. {f.node} = {plain(f.expr)}"
        if self.ex.values:
            nums = unparen_first(plain(TextNumbers(self.ex.values).doprint(f.expr)))
            line += (f" = {nums}" if nums != show(f.value) else "") + f" = {show(f.value)}"
        return [line]

    def step(self, b) -> list[str]:
        out = []
        lhs = f"  {b.step}. {self.total(b.of)} = "
        if not b.terms:
            return [f"{lhs}{int(b.of == self.out)}   {note_text(self.start_note(b))}"]
        if b.branch:
            out.append(f"  {b.step}. {note_text(self.branch_note(b))}")
            lhs = f"      {self.total(b.of)} = "
        pad = " " * (len(lhs) - 2)
        partials = " + ".join(f"{self.total(t.consumer)} × {self.partial(t.consumer, b.of)}" for t in b.terms)
        locals_ = " + ".join(f"{self.total(t.consumer)} × {_paren(plain(t.local), t.local)}" for t in b.terms)
        out += [f"{lhs}{partials}      upstream × local", f"{pad}= {locals_}"]
        if self.ex.values:
            num = TextNumbers.factor
            nums = " + ".join(f"{num(t.upstream_value)} × {num(t.local_value)}" for t in b.terms)
            out.append(pad + "= " + unparen_first(nums) + f" = {show(b.value)}")
        for t in b.terms:
            out.append(pad + f"  ↳ {self.total(t.consumer)}: already computed! ({t.upstream_step})")
            out += [f"{pad}  ↳ {note_text(n)}" for n in self.term_notes(b, t)]
        return out

    def result(self) -> list[str]:
        grads = [b for b in self.ex.backward if b.part == 2]
        if not grads:
            return []
        node_gradient = getattr(self.ex.derivation, "node_gradient", None)  # a Gradient's, over named steps
        symbolic = {}
        if node_gradient is not None:
            names = {n.symbol: sp.Symbol(self.total(n.of)) for n in self.ex.graph.backward()}
            symbolic = {v: e.xreplace(names) for v, e in node_gradient().items()}
        out = ["", "Result"]
        for b in grads:
            line = f"  {self.total(b.of)}" + (f" = {plain(symbolic[b.of])}" if b.of in symbolic else "")
            out.append(line + (f" = {show(b.value)}" if self.ex.values else ""))
        return out

    # -- LaTeX and Markdown ---------------------------------------------------------------
    def expr_tex(self, e) -> str:
        return sp.latex(e, symbol_names=self.symbols)

    def total_tex(self, of: str) -> str:
        return rf"\frac{{d {latex_var(self.out)}}}{{d {latex_var(of)}}}"

    def partial_tex(self, consumer: str, of: str) -> str:
        return rf"\frac{{\partial {latex_var(consumer)}}}{{\partial {latex_var(of)}}}"

    def point_tex(self) -> str:
        return ", ".join(f"{latex_var(v)} = {LatexNumbers.number(self.ex.values[v])}" for v in self.ex.inputs)

    def at_tex(self) -> str:
        return f" at ${self.point_tex()}$" if self.ex.values else ""

    def markdown_header(self) -> str:
        return f"**`{self.title()}`**" + self.at_tex()

    def forward_row(self, f) -> str:
        text = f"{latex_var(f.node)} = {self.expr_tex(f.expr)}"
        if self.ex.values:
            nums = LatexNumbers(self.ex.values, mul_symbol="times").doprint(f.expr)
            nums = _unparen_first_tex(nums)
            value = LatexNumbers.number(f.value)
            text += (f" = {nums}" if nums != value else "") + f" = {value}"
        return f"  {text} && \\text{{({f.step})}}".replace(" = ", " &= ", 1)

    def equation(self, b) -> str:
        """``d f/d q = upstream · ∂f/∂q = upstream · z = 1 × (-4) = -4`` for one step."""
        if not b.terms:
            return f"{self.total_tex(b.of)} = {int(b.of == self.out)}"
        reused = lambda t: already(self.total_tex(t.consumer), t.upstream_step)
        local = lambda t: (r"\left({}\right)" if isinstance(t.local, sp.Add) else "{}").format(self.expr_tex(t.local))
        parts = [
            " + ".join(f"{reused(t)} \\cdot {self.partial_tex(t.consumer, b.of)}" for t in b.terms),
            " + ".join(f"{self.total_tex(t.consumer)} \\cdot {local(t)}" for t in b.terms),
        ]
        if self.ex.values:
            num = LatexNumbers.factor
            parts.append(" + ".join(f"{num(t.upstream_value)} \\times {num(t.local_value)}" for t in b.terms))
            parts.append(LatexNumbers.number(b.value))
        return f"{self.total_tex(b.of)} = " + " = ".join(parts)

    def tex_items(self, b) -> list[tuple]:
        """The step for LaTeX and Markdown as (depth, an align* row or a note), in the text's order."""
        row = f"{self.equation(b)} && \\text{{({b.step})}}".replace(" = ", " &= ", 1)
        notes = [n for t in b.terms for n in self.term_notes(b, t)] if b.terms else [self.start_note(b)]
        head = [(0, self.branch_note(b))] if b.branch else []
        return head + [(len(head), row)] + [(1, n) for n in notes]


def _unparen_first_tex(text: str) -> str:
    """``\\left(-2\\right) + 5`` -> ``-2 + 5`` at the front of a sum."""
    return re.sub(r"^\\left\((-[^()]+)\\right\)(?= [+-]|$)", r"\1", text)
