"""`Derivation`: one result object for every front end (expression, named steps, DAG, network).

Stage: derive. Input: a forward IR graph, its output, the leaves to differentiate by,
and a plain `Summary` of the declaration. Output: the same graph followed by its
adjoints (`raw`, exactly as the reverse sweep wrote them) and, beside it, the
simplified and pruned graph (`graph`) that renderers, checkers, teaching tools and
the code generator read. Consumers read `summary`, never the declaration, and never
re-derive: the unsimplified chain is `raw`.

`show(...)` on any result (a `Displayed`) returns a `View`: the result fixed in a
notation, layout and format for a notebook cell.

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
from .ir import Graph, no_gc
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


def differentiable(forward: Graph, output: str, wrt) -> list[str]:
    """`wrt` (names of inputs, intermediates or parameters of `forward`) checked: each one a value the output
    depends on; a one-line error names the first that is not."""
    if isinstance(wrt, str) or not wrt or not all(isinstance(w, str) for w in wrt):
        raise SymbackError(f"wrt={wrt!r:.60}: give a list of value names, e.g. wrt=['x']")
    reaches = {output}
    for node in reversed(list(forward)):
        if node.name in reaches:
            reaches.update(node.args)
    for w in wrt:
        if w not in forward.names or forward[w].op == "target" or w == output:
            known = ", ".join(n.name for n in forward if n.op != "target" and n.name != output)
            raise SymbackError(f"wrt: {w!r} is not a value of this network to differentiate by (known: {known})")
        if w not in reaches:
            raise SymbackError(f"wrt: the loss does not depend on {w!r}, so its gradient would be 0")
    return list(wrt)


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

    def show(self, *, format: str | None = None, **options) -> View:
        """This result for a notebook cell, rendered with `options` (``expand=True``, ...) and shown as `format`.

        `format` is markdown, latex, html or text (None: as the result itself shows);
        ``str()`` of what it returns is the text form.
        """
        return View(self, format, options)


def as_document(text: str, format: str, standalone: bool) -> str:
    """`text` as rendered, or with ``standalone=True`` a LaTeX document that pdflatex compiles as it is."""
    return _provided("standalone")(text, format) if standalone else text


#: the formats `show` displays a result as (Jupyter's text/markdown, text/latex, text/html, text/plain)
SHOWN = ("markdown", "latex", "html", "text")


class View(Displayed):
    """A result fixed in its render options (notation, layout, ...) and format, as a notebook cell displays it.

    The options are checked, and the text form written, when the view is made:
    an error inside Jupyter's display hook would be a warning, not a one-line error.
    """

    def __init__(self, result: Displayed, format: str | None, options: dict):
        if format is not None and format not in SHOWN:
            raise SymbackError(f"format={format!r}: choose one of {', '.join(SHOWN)}, or None for the result's own")
        self.result, self.format, self.options = result, format, options
        self._shown = {"text": result.render("text", **options)}
        if format is not None:
            self._as(format)

    def render(self, format: str = "text", **options) -> str:
        return self.result.render(format, **self.options, **options)

    def _as(self, format: str) -> str | None:
        """The result in `format` if this view shows that format (None otherwise: Jupyter skips it)."""
        shown = self.format == format if self.format else getattr(self.result, f"_repr_{format}_", None) is not None
        if shown and format not in self._shown:
            self._shown[format] = self.render(format)
        return self._shown.get(format) if shown else None

    def __str__(self) -> str:
        return self._shown["text"]

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython's text/plain: the text form
        printer.text(str(self))

    def _repr_latex_(self) -> str | None:
        return self._as("latex")

    def _repr_markdown_(self) -> str | None:
        return self._as("markdown")

    def _repr_html_(self) -> str | None:
        return self._as("html")

    def __repr__(self) -> str:
        return f"<View of {self.result!r} as {self.format or 'its own formats'}>"


class Derivation(Displayed):
    """Forward and backward quantities of any declaration, ready to render, check, teach or compile."""

    @no_gc()
    def __init__(self, forward: Graph, output: str, wrt: list[str], summary: Summary, simplify: bool = True,
                 notation="udl", layout: str | None = None):
        self.summary = summary
        #: what `render`, `check`, `compile`, `equations`, `show` and the Jupyter reprs use unless told otherwise
        self.notation, self.layout = notation, layout
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
    # notation=None and layout=None mean this derivation's own (`net.derive(notation=..., layout=...)`, udl by default)
    def render(self, format: str = "text", notation=None, layout: str | None = None, standalone: bool = False,
               **options) -> str:
        """The derivation in `format`; ``standalone=True`` makes LaTeX a document that pdflatex compiles as it is."""
        text = _provided("render")(self, format=format, notation=notation or self.notation,
                                   layout=layout or self.layout, **options)
        return as_document(text, format, standalone)

    def show(self, notation=None, layout: str | None = None, format: str | None = None, **options) -> View:
        """This derivation for a notebook cell in `notation` and `layout` (``steps=True``, ``batch=True``, ...).

        Jupyter shows it as `format` (markdown, latex, html, text; None: Markdown and
        LaTeX); ``str()`` of it is the text form. ``d.show(notation="cs229")``.
        """
        if notation or layout:
            if self.summary.kind == "expression":
                raise SymbackError("notation= and layout= apply to networks and DAGs; "
                                   "an expression is written in its own symbols")
            options.update(notation=notation, layout=layout)
        return View(self, format, options)

    def check(self, hand, notation=None, layout: str | None = None, **options):
        """Hand-derived formulas (text as a str, or a `pathlib.Path` to a file) against this derivation: a Report."""
        return _provided("check")(self, hand, notation=notation or self.notation, layout=layout or self.layout,
                                  **options)

    def compile(self, path, notation=None, dtype=None, force: bool = False, inference: bool = False,
                conv: str = "auto"):
        """Write the standalone Numba training module for this derivation to `path`, import it, return it;
        with ``inference=True`` the forward pass only (``forward``, and ``predict`` for a classifier). `conv`:
        convolutions by im2col + GEMM or by direct loops, "auto" choosing by their measured sizes."""
        return _provided("compile")(self, path, notation=notation or self.notation, dtype=dtype, force=force,
                                    inference=inference, conv=conv)

    def equations(self, notation=None) -> dict[str, str]:
        """{node: "lhs = rhs"}: each derived node's equation as `symback derive` prints it (text)."""
        return _provided("equations")(self, notation or self.notation)

    def evaluate(self, params: dict, x, y) -> dict:
        """Every node's value for one sample, by the NumPy reference evaluator."""
        return evaluate_sample(self.graph, params, x, y)

    def __repr__(self) -> str:
        return (f"<Derivation of {self.summary.source}: {len(self.forward)} forward, "
                f"{len(self.backward)} backward nodes>")
