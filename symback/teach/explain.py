"""The step-by-step narrative: IR `Graph` (+ values at a point) -> text, Markdown or LaTeX.

The forward pass is told as the lecture's series of intermediate
calculations. The backward pass follows the UDL toy-network lecture in two
parts: (1) the gradient with respect to every intermediate quantity, in
reverse order; (2) the gradient with respect to every variable (parameters
in the order the user asked for: beta0, omega0, beta1, ...). Each step
multiplies in one chain-rule factor, ``upstream × local``; the upstream
factor was computed in an earlier step and is marked "already computed!",
the local factor is SymPy's derivative of one gate and often reads a value
the forward pass already holds. Where a value feeds several gates the step
says that the gradients add at this branch (CS 7643).

Text marks derivatives the way the lecture distinguishes them: ``df/dq`` is
the gradient of the output (through every path), ``∂f/∂q`` the local
derivative of one gate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from ..errors import SymbackError
from ..evaluate import numeric, show, to_python
from ..ir import sym
from ..nonsmooth import text_indicators
from . import adjoints, grad_name, resolve
from .draw import gate_label

FORMATS = ("text", "markdown", "latex")

#: The CS 7643 patterns in backward flow, keyed by gate symbol.
PATTERNS = {
    "+": "add gate: distributes the upstream gradient unchanged",
    "−": "subtract gate: distributes the upstream gradient, negated for the subtracted input",
    "×": "mul gate: the local gradient is the other input (switcher)",
    "max": "max gate: routes the upstream gradient to the larger input",
    "max(0, ·)": "ReLU: passes the upstream gradient where the input is positive, else 0",
}


@dataclass
class Factor:
    """One chain-rule product ``upstream × local`` for one consumer of the quantity."""

    consumer: str
    upstream: str  # adjoint node holding d output / d consumer
    upstream_step: str  # the backward step that computed it, e.g. "B2"
    local: sp.Expr  # d consumer / d quantity, in node symbols
    forward_uses: list[str]  # computed forward quantities the local factor reads
    upstream_value: sp.Expr | None = None
    local_value: sp.Expr | None = None
    value: sp.Expr | None = None


@dataclass
class Forward:
    step: str  # "F1", ...
    node: str
    expr: sp.Expr
    value: sp.Expr | None = None


@dataclass
class Backward:
    step: str  # "B1", ...
    node: str  # the adjoint node
    of: str  # the forward quantity it is the gradient for
    part: int  # 1: intermediate quantities, 2: variables
    factors: list[Factor]
    value: sp.Expr | None = None
    reused_by: list[str] = field(default_factory=list)

    @property
    def branch(self) -> bool:
        return len(self.factors) > 1


class Explanation:
    """The forward and backward passes of one derivation, as numbered steps."""

    def __init__(self, derivation, values: dict | None = None):
        self.derivation = derivation
        self.values = values
        graph, self.output = derivation.graph, derivation.output
        adj = adjoints(graph)
        self.inputs = [n.name for n in graph.forward() if n.is_leaf]
        self.forward = [Forward(f"F{i}", n.name, n.expr, values[n.name] if values else None)
                        for i, n in enumerate((n for n in graph.forward() if not n.is_leaf), 1)]
        forward_step = {f.node: f.step for f in self.forward}
        inner = [n for n in graph.backward() if not graph[n.of].is_leaf]  # reverse order, as derived
        wrt = list(getattr(derivation, "wrt", []))
        leaves = [graph[adj[v]] for v in wrt if v in adj]
        leaves += [graph[a] for v, a in adj.items() if graph[v].is_leaf and v not in wrt]
        leaves_set = {n.name for n in leaves}
        self.backward: list[Backward] = []
        step_of: dict[str, str] = {}  # adjoint node -> step
        for i, node in enumerate(inner + leaves, 1):
            step = f"B{i}"
            step_of[node.name] = step
            factors = []
            for t in node.terms:
                up = adj[t.consumer]
                uses = [s.name for s in t.local.free_symbols if s.name in forward_step]
                f = Factor(t.consumer, up, step_of[up], t.local, sorted(uses, key=graph.position))
                if values is not None:
                    f.upstream_value = values[up]
                    subs = {s: values[s.name] for s in t.local.free_symbols}
                    f.local_value = numeric(t.local.xreplace(subs), f"local gradient d{t.consumer}/d{node.of}")
                    f.value = f.upstream_value * f.local_value
                factors.append(f)
            part = 2 if node.name in leaves_set else 1
            self.backward.append(Backward(step, node.name, node.of, part, factors,
                                          values[node.name] if values else None))
        by_step = {b.step: b for b in self.backward}
        for b in self.backward:
            for f in b.factors:
                by_step[f.upstream_step].reused_by.append(b.step)
        self.forward_step = forward_step
        self.graph = graph

    # -- output --------------------------------------------------------------
    def render(self, format: str = "text") -> str:
        if format not in RENDERERS:
            raise SymbackError(f"--format: unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        return RENDERERS[format](self).render()

    def __str__(self) -> str:
        return self.render("text")

    def _repr_markdown_(self) -> str:
        return self.render("markdown")

    def to_dict(self) -> dict:
        """JSON for ``symback explain --json``."""
        num = (lambda v: to_python(v) if v is not None else None)  # noqa: E731
        data = {
            "expr": getattr(self.derivation, "source", self.output),
            "output": self.output,
            "forward": [{"step": f.step, "node": f.node, "expr": str(f.expr)} | ({"value": num(f.value)} if self.values else {})
                        for f in self.forward],
            "backward": [],
        }
        if self.values:
            data["at"] = {v: num(self.values[v]) for v in self.inputs}
        for b in self.backward:
            row = {"step": b.step, "gradient": grad_name(self.output, b.of), "node": b.node, "of": b.of,
                   "part": b.part, "branch": b.branch, "reused_by": b.reused_by, "factors": []}
            for f in b.factors:
                frow = {"consumer": f.consumer, "upstream": grad_name(self.output, f.consumer),
                        "already_computed": f.upstream_step, "local": str(f.local), "forward_uses": f.forward_uses}
                if self.values:
                    frow |= {"upstream_value": num(f.upstream_value), "local_value": num(f.local_value),
                             "value": num(f.value)}
                row["factors"].append(frow)
            if self.values:
                row["value"] = num(b.value)
            data["backward"].append(row)
        return data


def explain(source, at=None, wrt=None) -> Explanation:
    """The forward and backward passes of `source` told step by step; ``print()`` it or ``.render("latex")``.

    `source` is an expression (SymPy or text), named steps, a `Gradient` or a
    `Table`; with `at` (or a Table) every step carries its numbers.
    """
    derivation, values = resolve(source, at, wrt)
    return Explanation(derivation, values)


# -- renderers: one base walk, one subclass per format ----------------------


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

    times = " × "

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
        w(f"  ({self.total('v')} is the gradient of {self.out} through every path; "
          f"∂c/∂v the local derivative of one gate c)")
        part = 0
        for b in ex.backward:
            if b.part != part:
                part = b.part
                w("")
                w("  Part 1: the intermediate quantities, in reverse order" if part == 1 else
                  "  Part 2: the variables, each from the gradient of the gate it feeds")
            self.step(b)
        summary = self.reuse_summary()
        if summary:
            w("")
            w("Reuse: each gradient is computed once and multiplied into every later step that needs it")
            for b, users in summary:
                w(f"  {self.total(b.of)} ({b.step}) is reused by "
                  + ", ".join(f"{self.total(u.of)} ({u.step})" for u in users))
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
        w(lhs + " + ".join(f"{self.total(f.consumer)} × {self.partial(f.consumer, b.of)}" for f in b.factors)
          + "      upstream × local")
        w(pad + "= " + " + ".join(f"{self.total(f.consumer)} × {self._paren(self.expr(f.local), f.local)}"
                                   for f in b.factors))
        if ex.values:
            nums = " + ".join(f"{self.num(f.upstream_value)} × {self.num(f.local_value)}" for f in b.factors)
            w(pad + "= " + _unparen_first(nums) + f" = {show(b.value)}")
        for f in b.factors:
            w(pad + f"  ↳ {self.total(f.consumer)}: already computed! ({f.upstream_step})")
            if f.forward_uses:
                w(pad + f"  ↳ {self.partial(f.consumer, b.of)} = {self.expr(f.local)} reads "
                  f"{self.uses_note(f)}, already computed in the forward pass")
            gate = self.gate_note(f.consumer)
            if gate:
                w(pad + f"  ↳ {gate}")

    @staticmethod
    def _paren(text: str, e: sp.Expr) -> str:
        return f"({text})" if isinstance(e, sp.Add) else text


def _unparen_first(text: str) -> str:
    """``(-2) + 5`` -> ``-2 + 5``: a leading negative number needs no parentheses."""
    return re.sub(r"^\((-[^()]+)\)(?= [+-×]|$)", r"\1", text)


def latex_var(name: str) -> str:
    """``f0`` -> ``f_{0}``, ``beta1`` -> ``\\beta_{1}``, ``w_3`` -> ``w_{3}``."""
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if m:
        return f"{sp.latex(sp.Symbol(m.group(1)))}_{{{m.group(2)}}}"
    return sp.latex(sp.Symbol(name))


class _Latex(_Renderer):
    times = r" \times "

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
        parts = [" + ".join(f"{self.reused(f)} \\cdot {self.partial(f.consumer, b.of)}" for f in b.factors),
                 " + ".join(f"{self.total(f.consumer)} \\cdot {self.local(f)}" for f in b.factors)]
        if self.ex.values:
            parts.append(" + ".join(f"{self.num(f.upstream_value)} \\times {self.num(f.local_value)}"
                                    for f in b.factors))
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
            notes.append(f"${self.name(b.of)}$ feeds {len(b.factors)} gates ("
                         + ", ".join(f"${self.name(f.consumer)}$" for f in b.factors)
                         + "): gradients add at this branch.")
        for f in b.factors:
            if f.forward_uses:
                notes.append(f"${self.partial(f.consumer, b.of)}$ reads "
                             + ", ".join(f"${self.name(u)}$ ({self.ex.forward_step[u]})" for u in f.forward_uses)
                             + " from the forward pass.")
            gate = self.gate_note(f.consumer)
            if gate:
                notes.append(gate[0].upper() + gate[1:] + ".")
        return notes

    def render(self) -> str:
        ex, w = self.ex, self.lines.append
        head = self.heading()
        w(r"\paragraph{Forward pass} " + r"\texttt{" + _tex_escape(head) + "}"
          + (f" at ${self.point()}$" if ex.values else "") + ": the series of intermediate calculations.")
        w(r"\begin{align*}")
        w(" \\\\\n".join(f"  {self.forward_equation(f)} && \\text{{({f.step})}}".replace(" = ", " &= ", 1)
                         for f in ex.forward))
        w(r"\end{align*}")
        w(r"\paragraph{Backward pass} gradient $=$ upstream $\times$ local, from $"
          + latex_var(self.out) + "$ back to the inputs.")
        w(r"\begin{align*}")
        rows, part = [], 0
        for b in ex.backward:
            if b.part != part:
                part = b.part
                rows.append(r"  \intertext{" + ("Part 1: the intermediate quantities, in reverse order."
                                                  if part == 1 else "Part 2: the variables.") + "}")
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
                w(rf"  \item ${self.total(b.of)}$ ({b.step}) is reused by "
                  + ", ".join(f"${self.total(u.of)}$ ({u.step})" for u in users) + ".")
            w(r"\end{itemize}")
        return "\n".join(self.lines) + "\n"


def _join_align(rows: list[str]) -> str:
    """Rows of an align*: equations end in ``\\\\``, except before an \\intertext and at the end."""
    out = []
    for i, row in enumerate(rows):
        is_eq = not row.lstrip().startswith(r"\intertext")
        later_eq = any(not r.lstrip().startswith(r"\intertext") for r in rows[i + 1:])
        out.append(row + (r" \\" if is_eq and later_eq else ""))
    return "\n".join(out)


def _tex_escape(text: str) -> str:
    """Plain text for LaTeX: the ten special characters escaped."""
    special = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "&": r"\&", "%": r"\%", "#": r"\#",
               "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}"}
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
                w("*Part 1: the intermediate quantities, in reverse order.*" if part == 1 else
                  "*Part 2: the variables.*")
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
                w(f"- ${self.total(b.of)}$ ({b.step}) is reused by "
                  + ", ".join(f"${self.total(u.of)}$ ({u.step})" for u in users))
        return "\n".join(self.lines) + "\n"


RENDERERS = {"text": _Text, "markdown": _Markdown, "latex": _Latex}
