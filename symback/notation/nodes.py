"""The one map from an IR node to the course quantity it holds, and that quantity's spelling.

Input: a graph (forward and adjoint nodes with typed `Meta`) and a node name.
Output: a `Term`, a format-free description of the symbol (``Quantity("pre",
2)``, ``Error(2)``, ``Grad(Quantity("weight", 1))``, ``Own("x3")``). A
`Notation` spells a term in its two template formats, ``"text"`` and
``"latex"``: ``spell(nt, Error(2), "text")`` is ``delta^[2]`` in CS229 and
``dl/df_1`` in UDL. Render's printers, teach's symbols and check's names all
take their symbols from here, so a node is named the same way everywhere.

Layers are the IR's (CS229 indexing, ``h_0 = x``); a notation shifts them
(`Symbol.offset`). A layer may be symbolic: `Idx` is the general ``k`` (plus
a shift) of a recursion line such as ``delta_k = a'(f_k) ⊙ (W_{k+1}^T delta_{k+1})``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

#: kinds that have a minibatch matrix (one column per sample); parameters do not
BATCHED = ("pre", "act", "input", "target")


@dataclass(frozen=True)
class Idx:
    """A symbolic layer index ``k`` (plus a shift) that notation templates can format."""

    shift: int = 0

    def __add__(self, n: int) -> Idx:
        return Idx(self.shift + n)

    __radd__ = __add__

    def __sub__(self, n: int) -> Idx:
        return Idx(self.shift - n)

    def __format__(self, spec: str) -> str:
        return "k" if not self.shift else f"k{self.shift:+d}"


# -- terms: what a node's symbol is, before any format ----------------------------------------


class Term:
    """A course quantity, before any format: printers dispatch on this class (``_print_Term``)."""


@dataclass(frozen=True)
class Quantity(Term):
    """A quantity the notation names: kind pre/act/weight/bias/input/target at IR layer `layer`."""

    kind: str
    layer: int | Idx | None = None
    batch: bool = False  # the minibatch matrix (H_1, X), not the per-sample vector


@dataclass(frozen=True)
class Loss(Term):
    batch: bool = False  # the batch loss L (mean or sum of the per-sample losses)


@dataclass(frozen=True)
class Error(Term):
    """The error term dl/d(pre) of a layer: the course's delta if it names one."""

    layer: int | Idx
    batch: bool = False


@dataclass(frozen=True)
class Grad(Term):
    """The derivative of the loss by a quantity: dl/dq."""

    of: object
    batch: bool = False


@dataclass(frozen=True)
class Share(Term):
    """One consumer's share of a gradient that branches: dl/dx1 (via m)."""

    whole: object
    via: object


@dataclass(frozen=True)
class Own(Term):
    """A value the notation has no symbol for, written from its IR name (a DAG's x3, m)."""

    name: str


@dataclass(frozen=True)
class Applied(Term):
    """A function of a quantity, written as a call: sigma(f)."""

    fn: str
    arg: object


@dataclass(frozen=True)
class Template(Term):
    """The notation's own template for a kind at a layer, as written (h_0, not the input's x)."""

    kind: str
    layer: int | Idx | None = None


@dataclass(frozen=True)
class Prob(Term):
    """The softmax output p (P for a minibatch)."""

    batch: bool = False


# -- the map ---------------------------------------------------------------------------------------


def at(graph) -> dict[tuple[str, int], str]:
    """(kind, IR layer) -> forward node name, for every node of a layered network."""
    return {(n.meta.kind, n.meta.layer): n.name for n in graph.forward() if n.meta.layer is not None}


def depth(graph) -> int:
    """The number of layers (0 for a DAG or an expression)."""
    return max((k for (kind, k) in at(graph) if kind == "pre"), default=0)


def totals(graph) -> dict[str, str]:
    """Forward node -> its total adjoint (not one path's share)."""
    return {n.of: n.name for n in graph.backward() if n.meta.path is None}


def term(graph, name: str, batch: bool = False, layered: bool | None = None, deltas: bool = True,
         letters: bool = False) -> object:
    """The course quantity node `name` holds, as a `Term`.

    ``deltas=False`` writes an error term as the derivative it is (dJ/dz^[2], not delta^[2]). A normalisation's,
    dropout's or pooling's value has the course's letter or mark (`ROLES`) in a layered graph, or with `letters`
    in any graph with layers (a hand file for `check` names them by their IR names).
    """
    layered = bool(depth(graph)) if layered is None else layered
    node = graph[name]
    if node.role == "adjoint":
        of = graph[node.of]
        kind, k = of.meta.kind, of.meta.layer
        if node.meta.path is not None:
            whole, via = totals(graph)[of.name], node.meta.path
            return Share(*(term(graph, n, batch, layered, deltas, letters) for n in (whole, via)))
        if kind == "pre" and k is not None and deltas:
            return Error(k, batch)
        if kind == "input":  # named as the input even in a DAG, whose input keeps its own name
            return Grad(Quantity("input", k, batch), batch)
        return Grad(term(graph, of.name, batch, layered, letters=letters), batch)
    kind, k = node.meta.kind, node.meta.layer
    if kind == "input":  # a DAG may have several inputs: keep their names
        return Quantity("input", None, batch) if layered else Own(name)
    if kind in ("target", "label"):
        return Quantity("target", None, batch)
    if kind in ("weight", "bias", "pre", "act") and k is not None:
        return Quantity(kind, k, batch and kind in BATCHED)
    if kind in ("loss", "softmax"):
        return (Loss if kind == "loss" else Prob)(batch)
    if kind == "sigmoid":
        return Applied("sigma", term(graph, node.args[0], batch, layered))
    role = "bar" if node.op == "pool" else ROLES.get(kind)
    base = _base(graph, node) if (layered or letters and depth(graph)) and role else None
    if base is not None:  # UDL's m_k, CS229's mu^[k]: a letter or a mark on the quantity acted on, with its index
        return Quantity(f"{role}:{base.meta.kind}", base.meta.layer)
    return Own(name)


#: a node kind -> its role on the quantity it acts on (`Notation.symbol`'s "role:base")
ROLES = {"batch mean": "mean", "mean": "mean", "batch std": "std", "std": "std", "normalized": "hat",
         "batchnorm": "tilde", "layernorm": "tilde", "scale": "scale", "shift": "shift", "dropout": "kept",
         "const": "mask"}


#: the legend's words after each role's symbol (`legend`)
WORDS = {"mean": " the mean", "std": " the standard deviation", "hat": " the standardised value",
         "tilde": " the standardised value scaled and shifted", "scale": " the scale", "shift": " the shift",
         "mask": " the dropout mask (1 keeps a unit, 0 drops it)", "kept": " the kept value",
         "bar": " the pooled value"}


def legend(nt, graph) -> list:
    """The legend's parts for the letters and marks a layered graph's nodes carry: ``m_0 is the mean. ...``, one
    sentence each (a LaTeX document sets each sentence of a note on a line of its own, so a long legend still fits)."""
    first = {}
    for n in graph.forward() if depth(graph) else ():
        t = term(graph, n.name)
        if isinstance(t, Quantity) and ":" in t.kind:
            first.setdefault(t.kind.split(":")[0], t)
    parts = []
    for role in WORDS:
        if role in first:
            words = WORDS[role] + (f" ({nt.legend})" if role == "shift" and nt.legend else "")
            parts += [" ", first[role], " is" + words + "."]
    return parts


def _base(graph, node):
    """The pre-activation, activation or input that a normalisation, dropout or pooling node acts on, or None;
    for a parameter or a mask, the one its module acts on."""
    if node.op == "param" or node.meta.kind == "const":
        users = [n for n in graph.forward() if node.name in n.args and n.meta.kind in ROLES]
        return _base(graph, users[0]) if users else None
    if node.meta.kind in ("batchnorm", "layernorm"):  # gamma xhat + beta: what xhat standardises
        node = next((graph[a] for a in node.args if graph[a].meta.kind == "normalized"), node)
    return next((graph[a] for a in node.args if graph[a].meta.kind in ("pre", "act", "input")), None)


# -- spelling: a term in a notation's text or LaTeX templates ------------------------------------


def _capital(s: str) -> str:
    r"""A vector's symbol -> its minibatch matrix: h_1 -> H_1, \mathbf{h}_{1} -> \mathbf{H}_{1}, \delta -> \Delta."""
    return re.sub(r"^((?:\\mathbf\{|\\boldsymbol\{)?\\?)([A-Za-z])", lambda m: m.group(1) + m.group(2).upper(), s)


def _delta_text(s: str) -> str:
    return re.sub(r"^[A-Za-z]+", "Delta", s)


def _delta_latex(s: str) -> str:
    return re.sub(
        r"^(\\mathbf\{[A-Za-z]\}|\\boldsymbol\{\\?[A-Za-z]+\}|\\?[A-Za-z]+)",
        lambda m: r"\boldsymbol{\Delta}" if "bf" in m.group(1) or "bold" in m.group(1) else r"\Delta",
        s,
    )


def _brace_compound(s: str) -> str:
    """Text needs braces around a compound index: f_{k+1}, not f_k+1."""
    return re.sub(r"_(k[+-]\d+)", r"_{\1}", s)


@dataclass(frozen=True)
class Spelling:
    """How the parts of a term are joined in one template format."""

    frac: str  # the derivative of top by bottom
    share: str  # one path's share of a gradient
    call: dict  # fn -> template of fn(arg)
    prob: str
    own: Callable[[str], str]
    delta: Callable[[str], str]  # a symbol -> the batch error term's spelling (Delta)
    index: Callable[[str], str]  # fix-up of a symbol with a symbolic index


SPELLINGS = {
    "text": Spelling(
        frac="d{top}/d{bottom}",
        share="{whole} (via {via})",
        call={"sigma": "sigma({arg})"},
        prob="{p}",
        own=lambda name: name,
        delta=_delta_text,
        index=_brace_compound,
    ),
    "latex": Spelling(
        frac=r"\frac{{\partial {top}}}{{\partial {bottom}}}",
        share=r"{whole}\big|_{{{via}}}",
        call={"sigma": r"\sigma\left({arg}\right)"},
        prob=r"\mathbf{{{p}}}",
        own=lambda name: sp.latex(sp.Symbol(name)),
        delta=_delta_latex,
        index=lambda s: s,
    ),
}


_SPELT: dict = {}  # (id(notation), term, format) -> (notation, spelling); the notation is kept, so its id stays its own


def spell(nt, t, fmt: str = "text") -> str:
    """Term `t` in notation `nt`, in the notation's "text" or "latex" templates (a page spells each symbol many
    times: made once per notation, term and format)."""
    key = (id(nt), t, fmt)
    try:
        hit = _SPELT.get(key)
    except TypeError:  # a term holding something unhashable
        return _spell(nt, t, fmt)
    if hit is None:
        if len(_SPELT) > 100_000:
            _SPELT.clear()
        _SPELT[key] = hit = (nt, _spell(nt, t, fmt))
    return hit[1]


def _spell(nt, t, fmt: str) -> str:
    sp_ = SPELLINGS[fmt]
    if isinstance(t, Quantity):  # a minibatch matrix: the course's own name, else the vector's capitalised
        s, custom = nt.symbol(t.kind, t.layer, fmt), nt.batch.get(t.kind) if t.batch else None
        return sp_.index(custom.render(t.layer, fmt) if custom is not None else _capital(s) if t.batch else s)
    if isinstance(t, Loss):
        s = nt.symbol("loss", None, fmt)
        return "L" if t.batch and s in ("l", r"\ell") else s
    if isinstance(t, Error):
        if not t.batch and nt.error is None:  # the course names no error term: the derivative it is
            return spell(nt, Grad(Quantity("pre", t.layer)), fmt)
        custom = nt.batch.get("error") if t.batch else nt.error
        if custom is not None:
            return sp_.index(custom.render(t.layer, fmt))
        base = nt.error.render(t.layer, fmt) if nt.error else nt.symbol("pre", t.layer, fmt)
        return sp_.index(sp_.delta(base))
    if isinstance(t, Grad):
        return sp_.frac.format(top=spell(nt, Loss(t.batch), fmt), bottom=spell(nt, t.of, fmt))
    if isinstance(t, Share):
        return sp_.share.format(whole=spell(nt, t.whole, fmt), via=spell(nt, t.via, fmt))
    if isinstance(t, Own):
        return sp_.own(t.name)
    if isinstance(t, Applied):
        return sp_.call[t.fn].format(arg=spell(nt, t.arg, fmt))
    if isinstance(t, Template):
        return sp_.index(getattr(nt, t.kind).render(t.layer, fmt))
    if isinstance(t, Prob):
        return sp_.prob.format(p="P" if t.batch else "p")
    raise TypeError(f"not a notation term: {t!r}")


def symbols(nt, graph, fmt: str = "text", batch: bool = False) -> dict[str, str]:
    """IR node name -> its symbol in notation `nt`, for every node of `graph`."""
    return {n.name: spell(nt, term(graph, n.name, batch), fmt) for n in graph}
