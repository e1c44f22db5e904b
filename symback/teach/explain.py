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

from dataclasses import dataclass, field

import sympy as sp

from ..errors import SymbackError
from ..evaluate import numeric, to_python
from . import adjoints, grad_name, resolve

FORMATS = ("text", "markdown", "latex")


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
        self.forward = [
            Forward(f"F{i}", n.name, n.expr, values[n.name] if values else None)
            for i, n in enumerate((n for n in graph.forward() if not n.is_leaf), 1)
        ]
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
            self.backward.append(
                Backward(step, node.name, node.of, part, factors, values[node.name] if values else None)
            )
        by_step = {b.step: b for b in self.backward}
        for b in self.backward:
            for f in b.factors:
                by_step[f.upstream_step].reused_by.append(b.step)
        self.forward_step = forward_step
        self.graph = graph

    # -- output --------------------------------------------------------------
    def render(self, format: str = "text") -> str:
        from .narrate import RENDERERS

        if format not in RENDERERS:
            raise SymbackError(f"--format: unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        return RENDERERS[format](self).render()

    def __str__(self) -> str:
        return self.render("text")

    def _repr_markdown_(self) -> str:
        return self.render("markdown")

    def to_dict(self) -> dict:
        """JSON for ``symback explain --json``."""
        num = lambda v: to_python(v) if v is not None else None
        data = {
            "expr": getattr(self.derivation, "source", self.output),
            "output": self.output,
            "forward": [
                {"step": f.step, "node": f.node, "expr": str(f.expr)} | ({"value": num(f.value)} if self.values else {})
                for f in self.forward
            ],
            "backward": [],
        }
        if self.values:
            data["at"] = {v: num(self.values[v]) for v in self.inputs}
        for b in self.backward:
            row = {
                "step": b.step,
                "gradient": grad_name(self.output, b.of),
                "node": b.node,
                "of": b.of,
                "part": b.part,
                "branch": b.branch,
                "reused_by": b.reused_by,
                "factors": [],
            }
            for f in b.factors:
                frow = {
                    "consumer": f.consumer,
                    "upstream": grad_name(self.output, f.consumer),
                    "already_computed": f.upstream_step,
                    "local": str(f.local),
                    "forward_uses": f.forward_uses,
                }
                if self.values:
                    frow |= {
                        "upstream_value": num(f.upstream_value),
                        "local_value": num(f.local_value),
                        "value": num(f.value),
                    }
                row["factors"].append(frow)
            if self.values:
                row["value"] = num(b.value)
            data["backward"].append(row)
        return data


def explain(source, at=None, wrt=None, notation=None, seed=None, title=None):
    """The forward and backward passes of `source` told step by step; ``print()`` it or ``.render("latex")``.

    `source` is an expression (SymPy or text), named steps, a `Gradient` or a
    `Table`; with `at` (or a Table) every step carries its numbers. It may
    also be a network (a SPEC ``"file.py:name"``, a `Network`, a `DAG` or a
    `Derivation`), told in `notation` (udl, cs229, foml), with the norms of
    one random sample when `seed` (or ``at="seed=N"``) is given.
    """
    from . import is_network

    if is_network(source):
        from .netexplain import explain_network

        if wrt is not None:
            raise SymbackError("--wrt applies to expressions; a network is differentiated by all its parameters")
        return explain_network(source, notation or "udl", at, seed, title)
    if notation is not None:
        raise SymbackError("--notation applies to a network SPEC (file.py or file.py:name), not to an expression")
    derivation, values = resolve(source, at, wrt, seed)
    return Explanation(derivation, values)
