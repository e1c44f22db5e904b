"""The one narrative of a derivation: an `Explanation` -> text, Markdown or LaTeX.

Stage: teaching views. Input: an `Explanation` (numbered steps). Output: the
told forward and backward passes. Each format is one walk, written once for
every derivation: a heading, the forward pass, the backward pass in two
parts (the intermediate quantities in reverse order, then the variables or
parameters), the reuse of each gradient, and for a circuit the result.

What a step says depends on what is derived, so the walk asks a voice for
its pieces: `narrate_circuit.CircuitVoice` tells a scalar circuit (exact numbers,
``upstream × local`` in symbols then in numbers, the CS 7643 gate patterns),
`narrate_course.CourseVoice` a network or DAG (course symbols, a module's local
factor per path, norms, 80 columns). A voice builds each note of a step (the
local factor, what it reads from the forward pass, where gradients add, a
gate's pattern) once, as prose and formulas (`layout.Math`), and hands LaTeX
and Markdown the step as `tex_items`: the formats differ only in markup.
"""

from __future__ import annotations

from ..errors import SymbackError
from .layout import Math, inline, join_align, listed, note_tex, note_text, tex_escape, wrap
from .narrate_circuit import CircuitVoice
from .narrate_course import CourseVoice

FORMATS = ("text", "markdown", "latex")
PART_1 = "the intermediate quantities, in reverse order"
REUSE = "each gradient is computed once and used by every later step that needs it"


def render(ex, format: str = "text") -> str:
    """The narrative of an `Explanation` in `format` (text, markdown or latex)."""
    if format not in FORMATS:
        raise SymbackError(f"--format: unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    v = CircuitVoice(ex) if ex.kind.name == "circuit" else CourseVoice(ex)
    lines = {"text": text, "markdown": markdown, "latex": latex}[format](ex, v)
    return "\n".join(lines) + "\n"


def _reuse(ex, v) -> list[tuple]:
    """A note per gradient reused by at least `v.min_reuse` later steps: ``df/dq (B2) is reused by ...``."""
    of = {b.step: b.of for b in ex.backward}
    grad = lambda name: Math(v.total(name), v.total_tex(name))
    reused = [b for b in ex.backward if len(b.reused_by) >= v.min_reuse and b.terms]
    users = {b.step: listed([grad(of[s]), f" ({s})"] for s in b.reused_by) for b in reused}
    return [(grad(b.of), f" ({b.step}) is reused by ", *users[b.step]) for b in reused]


def _parts(ex, v):
    """(the heading of a new part or None, step) for each backward step."""
    part = 0
    for b in ex.backward:
        new = b.part != part
        part = b.part
        yield ((f"Part 1: {PART_1}" if part == 1 else f"Part 2: {v.part_2}") if new else None), b


def text(ex, v) -> list[str]:
    """A terminal's narrative."""
    out = v.header()
    out += ["", "Forward pass: the series of intermediate calculations", *v.inputs()]
    for f in ex.forward:
        out += v.forward(f)
    head, gloss = v.backward_intro()
    out += ["", f"Backward pass: {note_text(head)}", *wrap(f"({note_text(gloss)})", 2, hang=2)]
    for head, b in _parts(ex, v):
        out += ["", f"  {head}"] if head else []
        out += v.step(b)
    reuse = _reuse(ex, v)
    if reuse or v.always_reuse:
        out += ["", f"Reuse: {REUSE}"]
        for note in reuse:
            out += wrap(note_text(note), 2)
    return out + v.result()


def _tex_parts(ex, v) -> list[str]:
    rows = []
    for head, b in _parts(ex, v):
        rows += [r"  \intertext{" + head + ".}"] if head else []
        rows += [r"  \intertext{" + note_tex(x) + "}" if isinstance(x, tuple) else f"  {x}" for _, x in v.tex_items(b)]
    return rows


def latex(ex, v) -> list[str]:
    """A document's narrative: an ``align*`` per pass, each reused gradient under an ``\\underbrace``."""
    title = rf"\texttt{{{tex_escape(v.title())}}}{v.at_tex()}"
    head, gloss = v.backward_intro()
    out = [
        rf"\paragraph{{Forward pass}} {title}: the series of intermediate calculations.",
        r"\begin{align*}",
        join_align([v.forward_row(f) for f in ex.forward]),
        r"\end{align*}",
        rf"\paragraph{{Backward pass}} {note_tex(head)} ({note_tex(gloss)}).",
        r"\begin{align*}",
        join_align(_tex_parts(ex, v)),
        r"\end{align*}",
    ]
    reuse = _reuse(ex, v)
    if reuse:
        out += [rf"\paragraph{{Reuse}} {REUSE}:", r"\begin{itemize}"]
        out += [rf"  \item {note_tex(note)}" for note in reuse]
        out.append(r"\end{itemize}")
    return out


def markdown(ex, v) -> list[str]:
    """A notebook's narrative: Markdown with $...$ math."""
    out = [v.markdown_header(), "", "#### Forward pass: the series of intermediate calculations", ""]
    out += [f"- **{f.step}.** ${inline(v.forward_row(f))}$" for f in ex.forward]
    head, gloss = v.backward_intro()
    out += ["", f"#### Backward pass: {note_tex(head, escape=False)}", "", f"({note_tex(gloss, escape=False)})"]
    for head, b in _parts(ex, v):
        out += ["", f"*{head}.*", ""] if head else []
        for i, (depth, x) in enumerate(v.tex_items(b)):
            body = note_tex(x, escape=False) if isinstance(x, tuple) else f"${inline(x)}$"
            out.append(f"- **{b.step}.** {body}" if i == 0 else "  " * depth + f"- {body}")
    reuse = _reuse(ex, v)
    if reuse:
        out += ["", f"#### Reuse: {REUSE}", ""]
        out += [f"- {note_tex(note, escape=False)}" for note in reuse]
    return out
