"""`Derivation`: one result object for every front end (expression, named steps, DAG, network).

Stage: derive. Input: a forward IR graph, its output, the leaves to differentiate by,
and a plain `Summary` of the declaration. Output: the same graph followed by its
adjoints (`raw`, exactly as the reverse sweep wrote them) and, beside it, the
simplified and pruned graph (`graph`) that renderers, checkers, teaching tools and
the code generator read. Consumers read `summary`, never the declaration, and never
re-derive: the unsimplified chain is `raw`.

This module imports no consumer. `render`, `check`, `teach` and `codegen` register
the methods they provide (``d.render(...)``, ``d.check(...)``, ``d.compile(...)``)
with `provides`; `symback/__init__.py` imports them, so the methods exist whenever
the package does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import sympy as sp

from . import ops  # noqa: F401  (registers the vector VJP rules)
from .derive.simplify import apply_rewrites, fuse, prune
from .derive.sweep import reverse
from .errors import SymbackError
from .ir import Graph
from .numeric import evaluate_sample


@dataclass(frozen=True)
class Layer:
    """One layer of a layered network, as consumers need it: width and activation."""

    n_out: object
    activation: str  # its name, or its formula as text
    fn: sp.Lambda  # the activation as a function of one symbol
    is_identity: bool


@dataclass(frozen=True)
class Summary:
    """What consumers may know of a declaration: plain data, no front-end object.

    ``kind`` is ``"expression"`` (a scalar circuit, possibly as named steps),
    ``"dag"`` or ``"network"``. Layered networks also give ``sizes`` and ``layers``.
    """

    kind: str
    text: str | Callable[[], str]  # the declaration as text, or the function that writes it when first read
    name: str | None = None
    sizes: tuple = ()
    layers: tuple[Layer, ...] = ()
    loss: object = None  # library.Loss (name, kind, expr) for DAGs and networks
    reduction: str = "mean"
    named_steps: bool = False
    user_symbols: dict = field(default_factory=dict)  # expression: IR name -> the user's own SymPy symbol

    @cached_property
    def source(self) -> str:
        """The declaration as text: the expression, or Network(...)/DAG 'name'."""
        return self.text() if callable(self.text) else self.text

    @property
    def layered(self) -> bool:
        return self.kind == "network"

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def architecture(self) -> str:
        """``1 → 3 relu → 3 relu → 1 → mse`` for a layered network; the name (or the source) otherwise."""
        if not self.layered:
            return self.name or ("DAG" if self.kind == "dag" else self.source)
        hidden = [f"{layer.n_out}" + ("" if layer.is_identity else f" {layer.activation}") for layer in self.layers]
        return " → ".join([str(self.sizes[0]), *hidden, self.loss.name])


#: method name -> the consumer's function, registered by the consumer (render, check, codegen, teach)
_PROVIDED: dict[str, Callable] = {}


def provides(name: str):
    """Register a consumer's function as ``Derivation.<name>`` (called as ``fn(derivation, ...)``)."""

    def register(fn: Callable) -> Callable:
        _PROVIDED[name] = fn
        return fn

    return register


def _provided(name: str) -> Callable:
    try:
        return _PROVIDED[name]
    except KeyError:
        raise SymbackError(f"Derivation.{name} needs symback's {name} stage; import symback first") from None


class Displayed:
    """Text for print(), LaTeX and Markdown for Jupyter, all from one `render(format)` method."""

    def render(self, format: str = "text") -> str:  # pragma: no cover - every subclass defines it
        raise TypeError(f"{type(self).__name__} must define render(format)")

    def __str__(self) -> str:
        return self.render("text")

    def _repr_latex_(self) -> str:
        return self.render("latex")

    def _repr_markdown_(self) -> str:
        return self.render("markdown")

    def save(self, path, format: str | None = None, standalone: bool = False, **options):
        """Write this to `path` in `format` or the extension's (.txt .md .tex .json .pdf); an old file stays as .bak."""
        return _provided("save")(self, path, format, standalone, **options)


class Derivation(Displayed):
    """Forward and backward quantities of any declaration, ready to render, check, teach or compile."""

    def __init__(self, forward: Graph, output: str, wrt: list[str], summary: Summary, simplify: bool = True):
        self.summary = summary
        self.output = output
        self.wrt = list(wrt)
        self.simplified = simplify
        #: the forward graph as the front end lowered it, before any rewrite or pruning
        self.declared: Graph = forward
        full, self.adjoints = reverse(forward, output, self.wrt)
        self.params = [w for w in self.wrt if forward[w].op == "param"]
        wanted = [output] + [self.adjoints[w] for w in self.wrt if w in self.adjoints]
        #: the reverse sweep's own graph: each adjoint as upstream x local, before any rewrite
        self.raw: Graph = prune(full, wanted)
        self.graph: Graph = self.raw
        if simplify:  # on copies: the rewrites edit nodes in place, and `raw` must stay as derived
            copies = Graph(replace(n) for n in full)
            self.graph = prune(fuse(apply_rewrites(copies), keep=set(wanted)), wanted)

    @property
    def forward(self):
        return self.graph.forward()

    @property
    def backward(self):
        return self.graph.backward()

    @property
    def inputs(self) -> list[str]:
        return [n.name for n in self.graph.leaves("input")]

    def gradient_of(self, leaf: str):
        """The IR node holding d output / d `leaf`."""
        return self.graph[self.adjoints[leaf]]

    def unsimplified(self) -> Derivation:
        """This derivation as the reverse sweep wrote it (the chain rule factor by factor); no re-derivation."""
        if not self.simplified:
            return self
        plain = copy.copy(self)
        plain.simplified, plain.graph = False, self.raw
        return plain

    # -- what the consumers provide (registered by them; see `provides`) ----------
    def render(self, format: str = "text", notation: str = "udl", layout: str | None = None, standalone: bool = False,
               **options) -> str:
        """The derivation in `format`; ``standalone=True`` makes LaTeX a document that pdflatex compiles as it is."""
        text = _provided("render")(self, format=format, notation=notation, layout=layout, **options)
        return _provided("standalone")(text, format) if standalone else text

    def check(self, hand, notation: str = "udl", layout: str | None = None, **options):
        """Compare hand-derived formulas (a file path or its text) with this derivation: a `check.Report`."""
        return _provided("check")(self, hand, notation=notation, layout=layout, **options)

    def compile(self, path, notation: str = "udl", dtype=None, force: bool = False):
        """Write the standalone Numba training module for this derivation to `path`, import it, return it."""
        return _provided("compile")(self, path, notation=notation, dtype=dtype, force=force)

    def equations(self, notation: str = "udl") -> dict[str, str]:
        """{node: "lhs = rhs"}: each derived node's equation as `symback derive` prints it (text)."""
        return _provided("equations")(self, notation)

    def evaluate(self, params: dict, x, y) -> dict:
        """Every node's value for one sample, by the NumPy reference evaluator."""
        return evaluate_sample(self.graph, params, x, y)

    def __repr__(self) -> str:
        return (f"<Derivation of {self.summary.source}: {len(self.forward)} forward, "
                f"{len(self.backward)} backward nodes>")
