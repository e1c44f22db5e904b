"""The format-free document a derivation renders to, and the small math nodes inside it.

Stage: render. The section builders (`sections`, `steps`, `grad`) produce a
`Document` of `Section`s of `Equation`s and `Note`s, or a `Worksheet`; every piece of
mathematics in them is a SymPy expression (`Shown`), a notation term
(`symback.notation.nodes`) or one of the typed nodes below. Nothing here is
spelled in a format: each format is one printer (`pages`) that walks this
document with ``_print_<Class>`` methods, as SymPy's printers do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# -- the document ------------------------------------------------------------------------------


@dataclass
class Alt:
    """Prose (a list of note parts) whose wording differs between plain text and typeset formats."""

    plain: list
    typeset: list


@dataclass
class Note:
    parts: list  # str (prose), `Alt` (prose), any other part is math (a node or a notation term)


def note(text: str, **math) -> Note:
    """A note from prose with ``{name}`` fields, each filled with `math[name]`."""
    parts = re.split(r"\{(\w+)\}", text)
    return Note([math[p] if k % 2 else p for k, p in enumerate(parts) if p])


@dataclass
class Equation:
    lhs: object
    rhs: list
    shape: object = None
    where: Note | None = None
    op: object = "="
    stack: bool = False  # one right-hand side per line (the step-by-step chain)
    name: str | None = None  # the IR node, when the equation defines one


@dataclass
class Section:
    title: object  # str, or note parts (prose and math)
    items: list = field(default_factory=list)


@dataclass
class Document:
    """A derivation's sections, ready for any page printer."""

    sections: list


# -- math nodes: what a formula is made of, before any format --------------------------------------


@dataclass(frozen=True)
class Shown:
    """A SymPy expression over IR names, printed in a `Display` (names, layout, vectors)."""

    expr: object
    display: object


@dataclass(frozen=True)
class Word:
    """A token each format spells its own way: ``alpha`` / ``\\alpha``, ``<-`` / ``\\leftarrow``."""

    key: str


@dataclass(frozen=True)
class Cat:
    """Parts written one after another (strings are the same in every format)."""

    parts: tuple

    def __init__(self, *parts):
        object.__setattr__(self, "parts", parts)


@dataclass(frozen=True)
class Prose:
    """Words inside a formula: ``relu`` in text, ``\\text{relu}`` in LaTeX."""

    s: str


@dataclass(frozen=True)
class Partial:
    """The derivative of `top` by `bottom`: ``dh_3/df_2``, ``\\frac{\\partial h_3}{\\partial f_2}``."""

    top: object
    bottom: object


@dataclass(frozen=True)
class PartialOf:
    """The derivative operator applied to a formula: ``d/df [body]``."""

    bottom: object
    body: object


@dataclass(frozen=True)
class Transposed:
    body: object
    atomic: bool = False


@dataclass(frozen=True)
class Call:
    """A named function applied to one argument: softmax(f), diag(h (1 - h))."""

    fn: str
    arg: object


@dataclass(frozen=True)
class Hadamard:
    """Factors joined by the notation's elementwise product, after a number: ``2(f - y)``, ``-h ⊙ a'(f)``."""

    parts: tuple
    coeff: object = 1


@dataclass(frozen=True)
class Dims:
    """A shape, ``3×1``; () is a scalar."""

    dims: tuple


@dataclass(frozen=True)
class Layers:
    """``k = 0, 1, 2`` (or ``k = 0, ..., 5`` for a long run)."""

    ks: tuple


@dataclass(frozen=True)
class Paren:
    """Factors in parentheses, such as the upstream chain of a step (LaTeX breaks long ones in rows)."""

    factors: tuple


# -- a scalar expression's worked table (forward and backward pass, then the gradient) ---------------


@dataclass(frozen=True)
class Plain:
    """A SymPy expression printed by SymPy's own printer, its symbols renamed (`names`: symbol -> term)."""

    expr: object
    names: Mapping = field(default_factory=dict)

    def renamed(self, spell) -> dict:
        """symbol -> `spell(term)` for the symbols this expression uses (a large graph has many more)."""
        return {s: spell(self.names[s]) for s in self.expr.free_symbols if s in self.names}


@dataclass(frozen=True)
class Value:
    """An exact number: a fraction stays a fraction where the format typesets it."""

    v: object


@dataclass(frozen=True)
class Product:
    """upstream × local, one term per consumer, summed where a value branches."""

    terms: tuple  # (upstream term, local `Plain`)


@dataclass
class Worksheet:
    """The worked table of a scalar expression: head, forward rows, backward rows, the gradient."""

    head: str  # the expression as the user wrote it (with its output name)
    formula: object  # output = the whole expression, for typeset heads; None where the user named the steps
    point: list | None  # [(input, value text)] where the table is evaluated
    forward: list  # (node term, Plain or None for an input, Value or None, gradient text or None)
    backward: list  # (adjoint term, Plain or Product, numbers text or None, Value or None)
    gradient: list  # (Partial, Plain, value text or None)
    expand: bool
    grad_heading: str
