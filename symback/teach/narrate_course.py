"""A network's or DAG's pieces of the narrative (see `narrate`): course symbols, local factors, norms.

Stage: teaching views. Input: an `Explanation` of a network or DAG. Output:
the lines `narrate` asks for, in the notation's symbols and within 80
columns. A backward step multiplies one module's local factor into a
gradient computed earlier (``∂ℓ/∂f₂ = I[f₂ > 0] ⊙ ∂ℓ/∂h₃``, ``∂ℓ/∂h₃ =
Ω₃ᵀ ∂ℓ/∂f₃``, the outer product with the module's input for a weight);
where a value or a parameter feeds several modules, each path's
contribution is its own line and the gradients add. With a sample, each
quantity shows its size (the norm of a vector or matrix).
"""

from __future__ import annotations

from ..nonsmooth import Indicator
from . import conv_point
from .layout import WIDTH, Math, already, equal, fmt, listed, note_text, right, shape_text, tex_escape, wrap
from .point import size_of, where
from .symbols import call_of

IDENTITY = Math("I", r"\mathbf{I}")


class CourseVoice:
    """How a network's narrative reads."""

    part_2 = "the parameters, each from the gradient of the module it feeds"
    always_reuse = True
    min_reuse = 1

    def __init__(self, ex):
        self.ex, self.s, self.g = ex, ex.symbols, ex.graph

    # -- shared by every format ----------------------------------------------------------
    def title(self) -> str:
        return self.ex.title

    def total(self, of: str) -> str:
        return self.s.grad(of)

    def total_tex(self, of: str) -> str:
        return self.s.grad_tex(of)

    def named(self, node) -> Math:
        """``relu(f₀)``, ``mse(f₃, y)``: a module by the name of its function, else its formula."""
        call, args = call_of(node, self.s)
        if call is None:
            return self.math(node.expr)
        tex = rf"\operatorname{{{tex_escape(call)}}}\left({', '.join(a.tex for a in args)}\right)"
        return Math(f"{call}({', '.join(a.text for a in args)})", tex)

    def sym(self, name: str) -> Math:
        return Math(self.s.text(name), self.s[name].tex)

    def math(self, e) -> Math:
        return Math(self.expr(e), self.expr_tex(e))

    def diag(self, e) -> Math:
        x = self.math(e)
        return Math(f"diag({x.text})", rf"\operatorname{{diag}}\left({x.tex}\right)")

    # -- text --------------------------------------------------------------------------------
    def expr(self, e) -> str:
        return self.s.expr(e)

    def number(self, name: str, value) -> str:
        if value is None:
            return ""
        x, is_norm = size_of(value)
        return f"‖{name}‖ = {fmt(x)}" if is_norm else f"{name} = {fmt(x)}"

    def header(self) -> list[str]:
        ex = self.ex
        out = [ex.title, f"notation: {ex.notation.title}"]
        if ex.values is not None:
            out += wrap(f"at {where(ex.graph, ex.seed)}; ‖v‖ is the 2-norm of a vector or matrix", 0)
        return out

    def inputs(self) -> list[str]:
        return []

    def forward(self, f) -> list[str]:
        node = self.g[f.node]
        named, full = self.named(node).text, self.expr(node.expr)
        line = f"  {f.step}. {self.s.text(f.node)} = {named}"
        if named != full and len(line) + len(full) + 3 <= 50:
            line, full = f"{line} = {full}", named
        out = right(line, self.number(self.s.text(f.node), f.value), shape_text(node.shape, ""))
        if full != named:  # the formula on a line of its own, under the =
            out.append(" " * (line.index(" = ") + 1) + f"= {full}")
        return out + conv_point.forward(node, self.ex.values, self.s, self.ex.notation.first, "      ")

    def backward_intro(self) -> tuple[tuple, tuple]:
        """What the backward pass does, and what its symbols mean."""
        loss = Math(self.s.loss.text, self.s.loss.tex)
        grad = Math(f"∂{loss.text}/∂…", rf"\frac{{\partial {loss.tex}}}{{\partial \cdot}}")
        gloss = (grad, " is the gradient of the loss ", loss, " with respect to a quantity; each step multiplies")
        head = ("the chain rule, from ", loss, " back to the parameters")
        return head, (*gloss, " one local factor into a gradient computed in an earlier step")

    def path(self, p) -> Math:
        """``I[f₂ > 0] ⊙ ∂ℓ/∂h₃``: the local factor, then the gradient it multiplies (in LaTeX, marked reused)."""
        marks = {p.upstream: already(self.s.grad_tex(p.consumer), p.upstream_step)} if p.upstream else None
        return Math(self.expr(p.expr), self.expr_tex(p.expr, marks))

    # -- notes, one wording for every format (`layout.note_text`, `layout.note_tex`) -------------
    def factor_note(self, p, of: str) -> tuple:
        """What the step multiplies in, in words and symbols."""
        s, c, kind = self.s, p.consumer, p.factor
        local = Math(s.local(c, of), rf"\frac{{\partial {s[c].tex}}}{{\partial {s[of].tex}}}")
        loss = Math(s.loss.text, s.loss.tex)
        if kind == "start":
            return ("start: the derivative of the loss ", equal(loss, self.named(self.g[c])))
        if kind == "fused":
            node = next(n for n in self.g.forward() if n.op == "loss")
            start = ("start: the derivative of the loss ", equal(loss, self.named(node)), " times the local factor ")
            return (*start, equal(local, self.diag(p.local)), ", simplified together")
        if kind == "ew" and p.local == 1:
            return ("local factor ", equal(local, IDENTITY), ": an add passes the gradient on unchanged")
        if kind == "ew":
            relu = ": a ReLU passes the gradient where its input is positive, else 0"
            return ("local factor ", equal(local, self.diag(p.local)), relu if isinstance(p.local, Indicator) else "")
        if kind == "identity":
            return ("local factor ", equal(local, IDENTITY), ": the gradient passes on unchanged")
        if kind == "jacobian":
            return ("local factor ", equal(local, self.math(p.local)))
        if kind == "outer":
            return ("local factor: the outer product with ", self.math(p.local), ", the input of ", self.sym(c))
        if kind == "outer_t":
            t = Math(f"{s.text(of)}ᵀ", "{" + s[of].tex + r"}^{\top}")
            enters = (self.sym(of), " enters ", self.sym(c), " as ", t)
            return ("local factor: the outer product, transposed (", *enters, ")")
        if kind == "slice":
            grad = Math(s.grad(c), s.grad_tex(c))
            stacks = (" (", self.sym(c), " stacks it)")
            return ("local factor: the entries of ", grad, " that belong to ", self.sym(of), *stacks)
        return ("local factor from ", equal(self.sym(c), self.math(self.g[c].expr)))

    def reads_note(self, p) -> tuple | None:
        done = [(self.sym(r), f" ({self.ex.forward_step[r]})") for r in p.reads if r in self.ex.forward_step]
        return ("reads ", *listed(done), ", already computed in the forward pass") if done else None

    def branch_note(self, b) -> tuple:
        users = listed([self.sym(p.consumer)] for p in b.terms)
        what = "parameter" if b.part == 2 else "value"
        feeds = (f"the {what} ", self.sym(b.of), f" feeds {len(b.terms)} modules (", *users)
        return (*feeds, "): the gradients of the paths add")

    def step(self, b) -> list[str]:
        s = self.s
        head = f"  {b.step}. "
        pad = " " * len(head)
        number = self.number(s.grad(b.of), b.value)
        if not b.branch:
            (p,) = b.terms
            line = f"{head}{self.error_name(b.of)}{s.grad(b.of)} = {self.path(p).text}"
            if len(line) > WIDTH:  # a long formula (layer norm's), wrapped at its spaces
                out = wrap(line, 0, hang=len(pad) + 4) + ([f"{pad}    {number}"] if number else [])
            else:
                out = right(line, number)
            out += conv_point.kernel_gradient(self.g, b.node, p.consumer, self.ex.values, s, self.ex.notation.first,
                                              pad + "  ")
            return out + self.notes(p, b.of, pad + "  ")
        out = wrap(f"{b.step}. {note_text(self.branch_note(b))}", 2, hang=len(head))
        out += right(f"{pad}{s.grad(b.of)} = " + " + ".join(s[p.node].text for p in b.terms), number)
        for p in b.terms:
            out += right(f"{pad}  {s[p.node].text} = {self.path(p).text}", self.number("·", p.value))
            out += self.notes(p, b.of, pad + "    ")
        return out

    def error_name(self, of: str) -> str:
        """``δ^[2] = `` where the course names the error term of a layer (CS229), else nothing."""
        meta = self.g[of].meta
        if self.ex.notation.error is None or meta.kind != "pre" or meta.layer is None:
            return ""
        return f"{self.s.error(meta.layer).text} = "

    def notes(self, p, of: str, pad: str) -> list[str]:
        out = wrap(note_text(self.factor_note(p, of)), len(pad))
        if p.upstream:
            out.append(f"{pad}↳ {self.s.grad(p.consumer)}: already computed! ({p.upstream_step})")
        reads = self.reads_note(p)
        return out + (wrap("↳ " + note_text(reads), len(pad)) if reads else [])

    def result(self) -> list[str]:
        return []

    # -- LaTeX and Markdown ---------------------------------------------------------------
    def expr_tex(self, e, marks=None) -> str:
        return self.s.latex(e, marks)

    def number_tex(self, value) -> str:
        if value is None:
            return ""
        x, is_norm = size_of(value)
        return rf"\quad \|\cdot\| = {fmt(x)}" if is_norm else rf"\quad = {fmt(x)}"

    def at_tex(self) -> str:
        seed = " at " + where(self.ex.graph, self.ex.seed, "; $\\|\\cdot\\|$ is the 2-norm")
        return seed if self.ex.values is not None else ""

    def markdown_header(self) -> str:
        return f"**`{self.ex.title}`** in {self.ex.notation.title}" + ("," + self.at_tex() if self.at_tex() else "")

    def forward_row(self, f) -> str:
        expr = self.expr_tex(self.g[f.node].expr)
        return rf"  {self.s[f.node].tex} &= {expr}{self.number_tex(f.value)} && \text{{({f.step})}}"

    def tex_items(self, b) -> list[tuple]:
        """The step for LaTeX and Markdown as (depth, an align* row or a note), in the text's order."""
        s, tag = self.s, rf"{self.number_tex(b.value)} && \text{{({b.step})}}"
        if not b.branch:
            (p,) = b.terms
            return [(0, f"{s.grad_tex(b.of)} &= {self.path(p).tex}{tag}"), *self.tex_notes(p, b.of, 1)]
        total = " + ".join(s[p.node].tex for p in b.terms)
        out = [(0, self.branch_note(b)), (1, f"{s.grad_tex(b.of)} &= {total}{tag}")]
        for p in b.terms:
            out.append((1, f"{s[p.node].tex} &= {self.path(p).tex}{self.number_tex(p.value)}"))
            out += self.tex_notes(p, b.of, 2)
        return out

    def tex_notes(self, p, of: str, depth: int) -> list[tuple]:
        """One path's notes (its reused gradient is marked in the equation, under an \\underbrace)."""
        return [(depth, n) for n in (self.factor_note(p, of), self.reads_note(p)) if n]
