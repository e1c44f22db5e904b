"""Notation presets: a course's symbols for the IR's quantities, as data.

The IR indexes layers the CS229 way (``f_k = W_k h_{k-1} + b_k``,
``h_k = a(f_k)``, ``h_0 = x``). A preset renames each kind of quantity and
shifts its index where the course counts differently: UDL writes
``f_{k-1} = beta_{k-1} + Omega_{k-1} h_{k-1}`` for the same layer, so its
pre-activation, weight and bias carry offset -1 while ``h_k`` keeps k.

Each preset also fixes a layout convention, which `layout=` overrides. All
three seed courses backpropagate column gradients (UDL: dl/dh is a column and
df/dh = Omega^T; CS229: delta^[k] = (W^[k+1]T delta^[k+1]) o g'(z^[k]); FoML:
[dl/dx] = J^T [dl/dx^(3)]), so all three presets are denominator layout;
numerator layout is there for courses (and students) who write rows:

- ``denominator``: a derivative has the shape of what it is taken with
  respect to (dl/dh is a column like h, dl/dW has the shape of W), so
  ``delta_k = a'(f_k) ⊙ (W_{k+1}^T delta_{k+1})`` and ``dl/dW_k = delta_k h_{k-1}^T``.
- ``numerator``: a derivative of a scalar with respect to a column vector is
  a row (the Jacobian's shape), so ``delta_k = (delta_{k+1} W_{k+1}) ⊙ a'(f_k)^T``
  and ``dl/dW_k`` is laid out as ``h_{k-1} delta_k`` (the transpose of W).

Components of a vector (a unit of a layer, an entry of a concatenation) are
counted from `Notation.first`: 1 in all three courses (UDL's h_{k,1}, CS229's
a^[1]_1, FoML's x^(l)_1). Every rendered output and message uses it: one
component prints as ``c[4]`` (LaTeX ``[c]_{4}``), a run of components as the
inclusive range ``c[4..6]`` (LaTeX ``[c]_{4..6}``), never a Python slice.

Adding a course is one `register_notation` call. `nodes` maps an IR node to the
quantity it holds (`term`) and spells it in a notation (`spell`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import SymbackError
from ..library import suggest
from ..textparse import abbreviate

LAYOUTS = ("denominator", "numerator")


@dataclass(frozen=True)
class Symbol:
    """How one kind of quantity is written: text and LaTeX templates with {k}, and its index offset.

    Templates go through str.format, so literal braces are doubled: ``r"\\mathbf{{h}}_{{{k}}}"``.
    """

    text: str
    latex: str
    offset: int = 0

    def render(self, k: int | None, fmt: str = "text") -> str:
        template = self.latex if fmt == "latex" else self.text
        return template.format(k=(k + self.offset) if k is not None else "")


@dataclass(frozen=True)
class Notation:
    """One course's names for the quantities of a layered network."""

    name: str
    title: str
    layout: str
    pre: Symbol  # pre-activation
    act: Symbol  # activation (h_0 is the input)
    weight: Symbol
    bias: Symbol
    loss: Symbol
    error: Symbol | None = None  # a name for dl/d(pre), e.g. delta^[k]; None writes the derivative
    input: Symbol = Symbol("x", r"\mathbf{{x}}")
    target: Symbol = Symbol("y", "y")
    activation_fn: str = "a"  # how the activation function is called in formulas
    hadamard: str = "⊙"
    batch: dict = field(default_factory=dict)  # batch-matrix names: kind -> Symbol
    first: int = 1  # the index of a vector's first component (all three courses count from 1)
    letters: dict = field(default_factory=dict)  # a normalisation's or dropout's letter: role -> (text, LaTeX)
    legend: str = ""  # what the letters are, for the derivation's legend

    def symbol(self, kind: str, k: int | None = None, fmt: str = "text") -> str:
        """The course's symbol for a quantity of `kind` in IR layer `k`; ``"role:base"`` (``"mean:pre"``) is the
        letter of `role`, or a mark (hat, tilde, bar) on the symbol, of the quantity `base` it acts on."""
        if ":" in kind:
            return derived(self, *kind.split(":"), k == 0).render(k, fmt)
        if kind == "act" and k == 0:
            kind = "input"
        sym = getattr(self, kind, None)
        if sym is None:
            raise KeyError(kind)
        return sym.render(k, fmt)


NOTATIONS: dict[str, Notation] = {}

#: the marks a derived symbol may carry: the standardised value (hat), the scaled and shifted one (tilde), the pooled
MARKS = ("hat", "tilde", "bar")
_HEAD = {"text": re.compile(r"^[A-Za-z]+"),
         "latex": re.compile(r"^(\\(?:mathbf|boldsymbol)\{\{\\?[A-Za-z]+\}\}|\\?[A-Za-z]+)")}


def derived(nt: Notation, role: str, base: str, at_input: bool = False) -> Symbol:
    """The symbol of `role` (a mark or a letter of `nt.letters`) on quantity `base`, with its index and offset:
    UDL's batch norm of f_k has mean m_k, hat f̂_k; CS229's z^[k] has mu^[k], zhat^[k]."""
    sym = getattr(nt, "input" if base == "input" or (base == "act" and at_input) else base)
    parts = {}
    for fmt, template in (("text", sym.text), ("latex", sym.latex)):
        head = _HEAD[fmt].match(template)
        word, tail = (head.group(0), template[head.end():]) if head else (template, "")
        if role in MARKS:
            # TeX takes {\hat{a}^{[1]}} for the accent atom itself, so a transpose's ^T would be a double superscript
            marked = rf"\{role}{{{{{word}}}}}" + "{{}}" * tail.startswith("^")
            parts[fmt] = (word + role if fmt == "text" else marked) + tail
        else:
            parts[fmt] = nt.letters[role][fmt == "latex"] + tail
    return Symbol(parts["text"], parts["latex"], sym.offset)


def register_notation(notation: Notation) -> Notation:
    if notation.layout not in LAYOUTS:
        raise SymbackError(f"notation {abbreviate(notation.name)}: layout must be one of {', '.join(LAYOUTS)}")
    NOTATIONS[notation.name] = notation
    return notation


def get(name: str | Notation) -> Notation:
    if isinstance(name, Notation):
        return name
    if name not in NOTATIONS:
        raise SymbackError(f"unknown notation {abbreviate(name)}{suggest(name, NOTATIONS)}")
    return NOTATIONS[name]


def layout_of(notation: Notation, layout: str | None) -> str:
    if layout is None:
        return notation.layout
    if layout not in LAYOUTS:
        raise SymbackError(f"unknown layout {abbreviate(layout)}; choose numerator or denominator")
    return layout


for preset in (
    Notation(
        name="udl",
        title="Prince, Understanding Deep Learning (f_k, h_k, Omega_k, beta_k)",
        layout="denominator",
        pre=Symbol("f_{k}", r"\mathbf{{f}}_{{{k}}}", offset=-1),
        act=Symbol("h_{k}", r"\mathbf{{h}}_{{{k}}}"),
        weight=Symbol("Omega_{k}", r"\boldsymbol{{\Omega}}_{{{k}}}", offset=-1),
        bias=Symbol("beta_{k}", r"\boldsymbol{{\beta}}_{{{k}}}", offset=-1),
        loss=Symbol("l", r"\ell"),
        # UDL 11.4 writes batch norm m_h, s_h, gamma, delta (beta is the bias); dropout's mask r as Srivastava et al.
        letters={"mean": ("m", "m"), "std": ("s", "s"), "scale": ("gamma", r"\boldsymbol{{\gamma}}"),
                 "shift": ("delta", r"\boldsymbol{{\delta}}"), "mask": ("r", r"\mathbf{{r}}"),
                 "kept": ("d", r"\mathbf{{d}}")},
        legend="UDL's letter for batch norm's shift; beta is the bias",
    ),
    Notation(
        name="cs229",
        title="CS229 notes (z^[k], a^[k], W^[k], b^[k], delta^[k], J)",
        layout="denominator",
        pre=Symbol("z^[{k}]", r"z^{{[{k}]}}"),
        act=Symbol("a^[{k}]", r"a^{{[{k}]}}"),
        weight=Symbol("W^[{k}]", r"W^{{[{k}]}}"),
        bias=Symbol("b^[{k}]", r"b^{{[{k}]}}"),
        loss=Symbol("J", "J"),
        error=Symbol("delta^[{k}]", r"\delta^{{[{k}]}}"),
        input=Symbol("x", "x"),
        letters={"mean": ("mu", r"\mu"), "std": ("sigma", r"\sigma"), "scale": ("gamma", r"\gamma"),
                 "shift": ("beta", r"\beta"), "mask": ("r", "r"), "kept": ("d", "d")},
        activation_fn="g",
        hadamard="∘",
    ),
    Notation(
        name="foml",
        title="FoML, Backpropagation (s^(l), x^(l), W^(l), b^(l))",
        # FoML defines Jacobians numerator-style but backpropagates columns,
        # [dl/dx^(2)] = J^T [dl/dx^(3)]: the gradients are in denominator layout
        layout="denominator",
        pre=Symbol("s^({k})", r"\mathbf{{s}}^{{({k})}}"),
        act=Symbol("x^({k})", r"\mathbf{{x}}^{{({k})}}"),
        weight=Symbol("W^({k})", r"W^{{({k})}}"),
        bias=Symbol("b^({k})", r"\mathbf{{b}}^{{({k})}}"),
        loss=Symbol("l", r"\mathcal{{L}}"),
        input=Symbol("x^(0)", r"\mathbf{{x}}^{{(0)}}"),
        letters={"mean": ("mu", r"\mu"), "std": ("sigma", r"\sigma"), "scale": ("gamma", r"\boldsymbol{{\gamma}}"),
                 "shift": ("beta", r"\boldsymbol{{\beta}}"), "mask": ("r", r"\mathbf{{r}}"),
                 "kept": ("d", r"\mathbf{{d}}")},
        activation_fn="theta",
    ),
):
    register_notation(preset)


# the one node -> course-symbol map, re-exported
from .nodes import at as at
from .nodes import spell as spell
from .nodes import term as term
from .nodes import totals as totals
