"""Printers for a network's narrative: `NetExplanation` -> text (80 columns), Markdown or LaTeX.

One walk over the numbered steps per format (the pattern of `narrate`):
`_Text` for a terminal, `_Latex` for a document (an ``align*`` per pass, the
reused gradient under an ``\\underbrace`` saying "already computed!"),
`_Markdown` for a notebook. Symbols come from the notation (`symbols`).
"""

from __future__ import annotations

import sympy as sp

from ..nonsmooth import Indicator
from .netdraw import fmt
from .netexplain import Backward, NetExplanation, Path
from .point import size_of

WIDTH = 80


BODY = 50  # the equation column; shapes and numbers follow it


def _right(line: str, note: str, shape: str = "") -> list[str]:
    """`shape` and `note` in columns after the equation, or on a line of their own when it is too long."""
    if not note and not shape:
        return [line]
    tail = shape.rjust(5) + ("  " + note if note else "")
    if len(line) <= BODY and BODY + len(tail) <= WIDTH:
        return [line.ljust(BODY) + tail]
    indent = len(line) - len(line.lstrip())
    return [line, " " * (indent + 4) + (shape + "  " if shape else "") + note]


def _wrap(text: str, indent: int, width: int = WIDTH, hang: int | None = None) -> list[str]:
    """Prose wrapped at spaces; continuation lines indented to `hang` (default: two more)."""
    words, lines, line = text.split(" "), [], " " * indent
    for w in words:
        if len(line) + len(w) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = " " * (indent + 2 if hang is None else hang)
        line += w + " "
    lines.append(line.rstrip())
    return lines


class _Renderer:
    def __init__(self, ex: NetExplanation):
        self.ex, self.s, self.g = ex, ex.symbols, ex.graph
        self.lines: list[str] = []

    def named(self, node) -> str:
        """``relu(f₀)``, ``mse(f₃, y)``: a module by the name of its function, else its formula."""
        from .netdraw import _formula

        return _formula(node, self.s, self.ex.text, shorten=False)[0]

    def number(self, name: str, value) -> str:
        if value is None:
            return ""
        x, is_norm = size_of(value)
        return f"‖{name}‖ = {fmt(x)}" if is_norm else f"{name} = {fmt(x)}"


class _Text(_Renderer):
    fmt = "text"

    def expr(self, e) -> str:
        return self.ex.text.doprint(e)

    def path_expr(self, p: Path) -> str:
        """``I[f₂ > 0] ⊙ ∂ℓ/∂h₃``: the local factor, then the gradient it multiplies."""
        if p.factor == "ew":
            up = self.s.grad(p.consumer)
            if p.local == 1:
                return up
            local = self.expr(p.local)
            return f"({local}) ⊙ {up}" if isinstance(p.local, sp.Add) else f"{local} ⊙ {up}"
        return self.expr(p.expr)

    def factor_note(self, p: Path, of: str) -> str:
        """What the step multiplies in, in words and symbols."""
        s, c, kind = self.s, p.consumer, p.factor
        local = s.local(c, of)
        if kind == "start":
            return f"start: the derivative of the loss {s.loss.text} = {self.named(self.g[c])}"
        if kind == "fused":
            loss = next(n for n in self.g.forward() if n.op == "loss")
            return (
                f"start: the derivative of the loss {s.loss.text} = {self.named(loss)} times the local factor "
                f"{local} = diag({self.expr(p.local)}), simplified together"
            )
        if kind == "ew" and p.local == 1:
            return f"local factor {local} = I: an add passes the gradient on unchanged"
        if kind == "ew":
            text = f"local factor {local} = diag({self.expr(p.local)})"
            if isinstance(p.local, Indicator):
                text += ": a ReLU passes the gradient where its input is positive, else 0"
            return text
        if kind == "identity":
            return f"local factor {local} = I: the gradient passes on unchanged"
        if kind == "jacobian":
            return f"local factor {local} = {self.expr(p.local)}"
        if kind == "outer":
            return f"local factor: the outer product with {self.expr(p.local)}, the input of {s.text(c)}"
        if kind == "outer_t":
            return f"local factor: the outer product, transposed ({s.text(of)} enters {s.text(c)} as {s.text(of)}ᵀ)"
        if kind == "slice":
            return f"local factor: the entries of {s.grad(c)} that belong to {s.text(of)} ({s.text(c)} stacks it)"
        return f"local factor from {s.text(c)} = {self.expr(self.g[c].expr)}"

    def reads(self, p: Path) -> str:
        done = [f"{self.s.text(r)} ({self.ex.forward_step[r]})" for r in p.reads if r in self.ex.forward_step]
        return f"reads {', '.join(done)}, already computed in the forward pass" if done else ""

    def render(self) -> str:
        ex, w = self.ex, self.lines.extend
        w([ex.title, f"notation: {ex.notation.title}"])
        if ex.values is not None:
            w([f"at a random sample (seed {ex.seed}); ‖v‖ is the 2-norm of a vector or matrix"])
        w(["", "Forward pass: the series of intermediate calculations"])
        for f in ex.forward:
            node = self.g[f.node]
            named, full = self.named(node), self.expr(node.expr)
            line = f"  {f.step}. {self.s.text(f.node)} = {named}"
            if named != full and len(line) + len(full) + 3 <= BODY:
                line, full = f"{line} = {full}", named
            w(_right(line, self.number(self.s.text(f.node), f.value), _shape(node.shape)))
            if full != named:  # the formula on a line of its own, under the =
                w([" " * (line.index(" = ") + 1) + f"= {full}"])
        loss = self.s.loss.text
        w(
            [
                "",
                f"Backward pass: the chain rule, from {loss} back to the parameters",
                f"  (∂{loss}/∂… is the gradient of the loss {loss} with respect to a quantity; each step",
                "  multiplies one local factor into a gradient computed in an earlier step)",
            ]
        )
        part = 0
        for b in ex.backward:
            if b.part != part:
                part = b.part
                w(
                    [
                        "",
                        "  Part 1: the intermediate quantities, in reverse order"
                        if part == 1
                        else "  Part 2: the parameters, each from the gradient of the module it feeds",
                    ]
                )
            self.step(b)
        w(["", "Reuse: each gradient is computed once and multiplied into every step needing it"])
        by_step = {b.step: b for b in ex.backward}
        for b in ex.backward:
            if b.reused_by:
                users = ", ".join(f"{self.s.grad(by_step[u].of)} ({u})" for u in b.reused_by)
                w(_wrap(f"{self.s.grad(b.of)} ({b.step}) is reused by {users}", 2))
        return "\n".join(self.lines) + "\n"

    def step(self, b: Backward) -> None:
        w, s = self.lines.extend, self.s
        head = f"  {b.step}. "
        pad = " " * len(head)
        number = self.number(s.grad(b.of), b.value)
        if not b.branch:
            (p,) = b.paths
            w(_right(f"{head}{self.error_name(b.of)}{s.grad(b.of)} = {self.path_expr(p)}", number))
            self.notes(p, b.of, pad + "  ")
            return
        users = ", ".join(s.text(p.consumer) for p in b.paths)
        what = "parameter" if b.part == 2 else "value"
        w(
            _wrap(
                f"{b.step}. the {what} {s.text(b.of)} feeds {len(b.paths)} modules ({users}): the gradients of "
                "the paths add",
                2,
                hang=len(head),
            )
        )
        total = " + ".join(s.adjoint(p.node) for p in b.paths)
        w(_right(f"{pad}{s.grad(b.of)} = {total}", number))
        for p in b.paths:
            w(_right(f"{pad}  {s.adjoint(p.node)} = {self.path_expr(p)}", self.number("·", p.value)))
            self.notes(p, b.of, pad + "    ")

    def error_name(self, of: str) -> str:
        """``δ^[2] = `` where the course names the error term of a layer (CS229), else nothing."""
        meta = self.g[of].meta
        if self.ex.notation.error is None or meta.kind != "pre" or meta.layer is None:
            return ""
        return f"{self.s._course('error', meta.layer).text} = "

    def notes(self, p: Path, of: str, pad: str) -> None:
        w = self.lines.extend
        w(_wrap(self.factor_note(p, of), len(pad)))
        if p.upstream:
            w([f"{pad}↳ {self.s.grad(p.consumer)}: already computed! ({p.upstream_step})"])
        reads = self.reads(p)
        if reads:
            w(_wrap(f"↳ {reads}", len(pad)))


def _shape(shape) -> str:
    return "×".join(str(s) for s in shape) if shape else ""


class _Latex(_Renderer):
    fmt = "latex"

    def expr(self, e, marks=None) -> str:
        self.ex.latex.marks = marks or {}
        try:
            return self.ex.latex.doprint(e)
        finally:
            self.ex.latex.marks = {}

    def reused(self, p: Path) -> str:
        return rf"\underbrace{{{self.s.grad_tex(p.consumer)}}}_{{\text{{already computed! ({p.upstream_step})}}}}"

    def path_expr(self, p: Path) -> str:
        if p.factor == "ew":
            if p.local == 1:
                return self.reused(p)
            local = self.expr(p.local)
            local = rf"\left({local}\right)" if isinstance(p.local, sp.Add) else local
            return rf"{local} \odot {self.reused(p)}"
        if p.upstream is None:
            return self.expr(p.expr)
        return self.expr(p.expr, {p.upstream: self.reused(p)})

    def number_tex(self, value) -> str:
        if value is None:
            return ""
        x, is_norm = size_of(value)
        return rf"\quad \|\cdot\| = {fmt(x)}" if is_norm else rf"\quad = {fmt(x)}"

    def step_rows(self, b: Backward) -> list[str]:
        s = self.s
        if not b.branch:
            (p,) = b.paths
            return [rf"  {s.grad_tex(b.of)} &= {self.path_expr(p)}{self.number_tex(b.value)} && \text{{({b.step})}}"]
        rows = [rf"  \intertext{{${s[b.of].tex}$ feeds {len(b.paths)} modules: the gradients of the paths add.}}"]
        total = " + ".join(s.adjoint(p.node, "latex") for p in b.paths)
        rows.append(rf"  {s.grad_tex(b.of)} &= {total}{self.number_tex(b.value)} && \text{{({b.step})}}")
        for p in b.paths:
            rows.append(rf"  {s.adjoint(p.node, 'latex')} &= {self.path_expr(p)}{self.number_tex(p.value)}")
        return rows

    def forward_rows(self) -> list[str]:
        return [
            rf"  {self.s[f.node].tex} &= {self.expr(self.g[f.node].expr)}{self.number_tex(f.value)} "
            rf"&& \text{{({f.step})}}"
            for f in self.ex.forward
        ]

    def render(self) -> str:
        from .narrate import _join_align, _tex_escape

        ex, w = self.ex, self.lines.append
        at = f" at a random sample (seed {ex.seed}; $\\|\\cdot\\|$ is the 2-norm)" if ex.values is not None else ""
        w(
            rf"\paragraph{{Forward pass}} \texttt{{{_tex_escape(ex.title)}}}{at}: the series of intermediate "
            "calculations."
        )
        w(r"\begin{align*}")
        w(_join_align(self.forward_rows()))
        w(r"\end{align*}")
        w(
            r"\paragraph{Backward pass} the chain rule, from the loss back to the parameters; each step multiplies "
            "one local factor into a gradient computed before."
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
                        else "Part 2: the parameters."
                    )
                    + "}"
                )
            rows.extend(self.step_rows(b))
        w(_join_align(rows))
        w(r"\end{align*}")
        return "\n".join(self.lines) + "\n"


class _Markdown(_Latex):
    def render(self) -> str:
        ex, w = self.ex, self.lines.append
        w(
            f"**`{ex.title}`** in {ex.notation.title}"
            + (f", at a random sample (seed {ex.seed}; $\\|\\cdot\\|$ is the 2-norm)" if ex.values is not None else "")
        )
        w("")
        w("#### Forward pass: the series of intermediate calculations")
        w("")
        for f, row in zip(ex.forward, self.forward_rows()):
            w(f"- **{f.step}.** ${_inline(row)}$")
        w("")
        w("#### Backward pass: the chain rule, from the loss back to the parameters")
        part = 0
        for b in ex.backward:
            if b.part != part:
                part = b.part
                w("")
                w(
                    "*Part 1: the intermediate quantities, in reverse order.*"
                    if part == 1
                    else "*Part 2: the parameters.*"
                )
                w("")
            rows = self.step_rows(b)
            if b.branch:
                w(f"- **{b.step}.** ${self.s[b.of].tex}$ feeds {len(b.paths)} modules: the gradients of the paths add")
                for row in rows[1:]:
                    w(f"  - ${_inline(row)}$")
            else:
                w(f"- **{b.step}.** ${_inline(rows[0])}$")
        return "\n".join(self.lines) + "\n"


def _inline(row: str) -> str:
    """An align* row as inline math: no alignment marks, no step tag."""
    return row.split(" && ")[0].replace(" &= ", " = ").strip()


RENDERERS = {"text": _Text, "markdown": _Markdown, "latex": _Latex}
