"""`Derivation`: a declared network's IR with its backward pass, simplified.

Built by `Network.derive()` (and, later, by the DAG front end): the forward
graph goes through the same reverse sweep as a scalar expression
(`derive.reverse`), then through `simplify`. Renderers, the hand-derivation
checker and the code generator read `graph` and never the declaration.
"""

from __future__ import annotations

import sympy as sp

from . import ops  # noqa: F401  (registers the vector VJP rules)
from .derive import reverse
from .render import Rendered
from .ir import Graph
from .simplify import apply_rewrites, fuse, prune


class Derivation(Rendered):
    """Forward and backward quantities of a network, ready to render, check or compile."""

    def __init__(self, network, simplify: bool = True):
        self.network = network
        self.simplified = simplify
        forward, self.output = network.graph()
        self.params = [n.name for n in forward.leaves("param")]
        graph, self.adjoints = reverse(forward, self.output, self.params)
        wanted = [self.output] + [self.adjoints[p] for p in self.params]
        if simplify:
            graph = fuse(apply_rewrites(graph), keep=set(wanted))
        self.graph: Graph = prune(graph, wanted)

    @property
    def forward(self):
        return self.graph.forward()

    @property
    def backward(self):
        return self.graph.backward()

    def gradient_of(self, param: str):
        """The IR node holding dl/d`param`."""
        return self.graph[self.adjoints[param]]

    def evaluate(self, params: dict, x, y) -> dict:
        """Every node's value for one sample, by the NumPy reference evaluator."""
        from .numeric import evaluate_sample

        return evaluate_sample(self.graph, params, x, y)

    def render(self, format: str = "text", notation: str = "udl", layout: str | None = None, **options) -> str:
        from .render.network import render_derivation

        return render_derivation(self, format=format, notation=notation, layout=layout, **options)

    def check(self, hand, notation: str = "udl", layout: str | None = None, **options):
        """Compare hand-derived formulas (a file path or its text) with this derivation: a `check.Report`."""
        from .check import check_derivation

        return check_derivation(self, hand, notation=notation, layout=layout, **options)

    def compile(self, path, notation: str = "udl", dtype=None, force: bool = False):
        """Write the standalone Numba training module for this derivation to `path`, import it, return it."""
        from .codegen import compile_derivation

        return compile_derivation(self, path, notation=notation, dtype=dtype, force=force)

    def __repr__(self) -> str:
        return f"<Derivation of {self.network!r}: {len(self.forward)} forward, {len(self.backward)} backward nodes>"
