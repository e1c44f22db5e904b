"""The step-by-step narrative of a network or DAG: `Derivation` (+ one random sample) -> numbered steps.

Stage: teaching views. Input: a network's `Derivation`, a notation and
optionally the values of one seeded random sample (`point.values_at`).
Output: a `NetExplanation` whose steps the printers in `netnarrate` write as
text (80 columns), Markdown or LaTeX, and `to_dict` as JSON.

It follows the UDL lecture "the backward pass": (1) write the forward pass as
a series of intermediate calculations; (2) take the derivatives of the loss
with respect to the intermediate quantities, in reverse order; (3) with
respect to the parameters (UDL's order beta_0, Omega_0, beta_1, ...; the other
courses' W, b). Each backward step multiplies one chain-rule factor into a
gradient computed in an earlier step, which is marked "already computed!":
the module's local derivative (``∂h₃/∂f₂ = diag(I[f₂ > 0])``, ``∂f₃/∂h₃ =
Ω₃ᵀ``, the outer product with the module's input for a weight). Where a value
or a parameter feeds several modules, the derivation holds one term per path
(``<adjoint>_via_<consumer>``), and the step says that the gradients add.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..errors import SymbackError
from .point import size_of_value
from .symbols import CourseLatex, CourseText, Symbols

#: In which order a course lists a layer's parameter derivatives: UDL does dl/dbeta_k before dl/dOmega_k.
PARAM_ORDER = {"udl": ("bias", "weight")}


@dataclass
class Forward:
    step: str  # "F1", ...
    node: str
    value: object = None


@dataclass
class Path:
    """One consumer's contribution ``upstream × local`` to a gradient."""

    consumer: str
    node: str  # the IR node holding the contribution (the adjoint itself, or its _via_ node)
    expr: sp.Expr  # what is computed, in IR symbols
    factor: str  # kind of local factor: start, fused, ew, identity, jacobian, outer, outer_t, slice, other
    local: sp.Expr | None  # the local derivative (ew) or the Jacobian factor (linear), in IR symbols
    upstream: str | None  # adjoint node of the consumer (None where the path starts at the loss)
    upstream_step: str | None = None
    reads: list[str] = field(default_factory=list)  # forward values and parameters the factor reads
    value: object = None


@dataclass
class Backward:
    step: str
    node: str  # the adjoint node
    of: str  # the forward quantity
    part: int  # 1 intermediate quantities, 2 parameters
    paths: list[Path]
    value: object = None
    reused_by: list[str] = field(default_factory=list)

    @property
    def branch(self) -> bool:
        return len(self.paths) > 1


class NetExplanation:
    """The forward and backward passes of a network, as numbered steps in a course's notation."""

    def __init__(
        self, derivation, notation="udl", values: dict | None = None, seed: int | None = None, title: str | None = None
    ):

        self.derivation, self.values, self.seed = derivation, values, seed
        self.symbols = Symbols(derivation, notation)
        self.notation = self.symbols.notation
        self.title = title or derivation.summary.architecture
        self.text = CourseText(self.symbols, self.notation.hadamard)
        self.latex = CourseLatex(self.symbols)
        g = self.graph = derivation.graph
        val = (lambda n: values[n]) if values is not None else (lambda n: None)
        self.forward = [
            Forward(f"F{i}", n.name, val(n.name)) for i, n in enumerate((n for n in g.forward() if not n.is_leaf), 1)
        ]
        self.forward_step = {f.node: f.step for f in self.forward}
        whole = [n for n in g.backward() if n.meta.path is None and n.op != "seed"]
        self.adjoint_of = {n.of: n.name for n in whole}
        inner = [n for n in whole if not g[n.of].is_leaf]
        params = [g[self.adjoint_of[p]] for p in self._param_order() if p in self.adjoint_of]
        self.backward: list[Backward] = []
        step_of: dict[str, str] = {}
        for i, node in enumerate(inner + params, 1):
            step = f"B{i}"
            step_of[node.name] = step
            paths = [self._path(node, t, step_of) for t in node.terms]
            self.backward.append(
                Backward(step, node.name, node.of, 2 if g[node.of].is_leaf else 1, paths, val(node.name))
            )
        by_step = {b.step: b for b in self.backward}
        for b in self.backward:
            for p in b.paths:
                if p.upstream_step:
                    by_step[p.upstream_step].reused_by.append(b.step)

    def _param_order(self) -> list[str]:
        params = list(self.derivation.params)
        order = PARAM_ORDER.get(self.notation.name, ("weight", "bias"))
        if not all(self.graph[p].meta.layer is not None for p in params):
            return params  # a DAG: as declared

        def key(p):
            meta = self.graph[p].meta
            kind = meta.kind
            return meta.layer, order.index(kind) if kind in order else len(order)

        return sorted(params, key=key)

    def _path(self, node, term, step_of) -> Path:
        g = self.graph
        via = next((n.name for n in g.backward() if n.of == node.of and n.meta.path == term.consumer), node.name)
        consumer = g[term.consumer]
        if consumer.op == "loss":  # the node's own expression: the simplified one (p - onehot(y), not softmax')
            p = Path(term.consumer, via, g[via].expr, "start", term.local, None)
        elif term.consumer not in self.adjoint_of:  # simplified together with the loss (sigmoid + bce -> h - y)
            p = Path(term.consumer, via, g[via].expr, "fused", term.local, None)
        else:
            upstream = self.adjoint_of[term.consumer]
            if term.op == "ew":
                p = Path(term.consumer, via, term.local * sp.Symbol(upstream), "ew", term.local, upstream)
            else:
                kind, factor = _linear_factor(term.value, upstream)
                p = Path(term.consumer, via, term.value, kind, factor, upstream)
            if upstream not in step_of:
                raise SymbackError(f"node {node.name}: the gradient {upstream} is used before it is computed")
            p.upstream_step = step_of[upstream]
        syms = p.expr.free_symbols | (p.expr.atoms(sp.MatrixSymbol) if isinstance(p.expr, sp.MatrixExpr) else set())
        p.reads = sorted(
            {
                s.name
                for s in syms
                if s.name in g and g[s.name].role == "forward" and s.name != node.of and g[s.name].op != "target"
            },
            key=g.position,
        )
        if self.values is not None:
            p.value = self.values[via]
        return p

    # -- output --------------------------------------------------------------
    def render(self, format: str = "text") -> str:
        from .netnarrate import RENDERERS

        if format not in RENDERERS:
            raise SymbackError(f"--format: unknown format {format!r}; choose one of {', '.join(RENDERERS)}")
        return RENDERERS[format](self).render()

    def __str__(self) -> str:
        return self.render("text")

    def _repr_markdown_(self) -> str:
        return self.render("markdown")

    def to_dict(self) -> dict:
        """JSON for ``symback explain SPEC --json``: steps with course symbols, IR names and norms."""
        s, t = self.symbols, self.text

        def num(v):
            return None if v is None else size_of_value(v)

        data = {"title": self.title, "notation": self.notation.name, "seed": self.seed, "forward": [], "backward": []}
        for f in self.forward:
            node = self.graph[f.node]
            row = {
                "step": f.step,
                "node": f.node,
                "symbol": s.text(f.node),
                "expr": t.doprint(node.expr),
                "shape": list(map(str, node.shape)),
            }
            data["forward"].append(row | ({"value": num(f.value)} if self.values else {}))
        for b in self.backward:
            row = {
                "step": b.step,
                "node": b.node,
                "of": b.of,
                "gradient": s.grad(b.of),
                "part": b.part,
                "branch": b.branch,
                "reused_by": b.reused_by,
                "paths": [],
            }
            for p in b.paths:
                prow = {
                    "consumer": p.consumer,
                    "expr": t.doprint(p.expr),
                    "factor": p.factor,
                    "local": t.doprint(p.local) if p.local is not None else None,
                    "upstream": s.grad(p.consumer) if p.upstream else None,
                    "already_computed": p.upstream_step,
                    "reads": p.reads,
                }
                row["paths"].append(prow | ({"value": num(p.value)} if self.values else {}))
            data["backward"].append(row | ({"value": num(b.value)} if self.values else {}))
        return data


def _linear_factor(value, upstream: str) -> tuple[str, sp.Expr | None]:
    """What a linear module multiplies in: the identity, a Jacobian, an outer product or a slice."""
    U = next((m for m in value.atoms(sp.MatrixSymbol) if m.name == upstream), None)
    if value == U:
        return "identity", None
    if isinstance(value, sp.MatrixSlice) and value.parent == U:
        return "slice", None
    if isinstance(value, sp.MatMul) and U is not None:
        args = [a for a in value.args if getattr(a, "is_Matrix", False)]
        if args[-1] == U:
            return "jacobian", sp.MatMul(*args[:-1]).doit() if len(args) > 2 else args[0]
        if args[0] == U and len(args) == 2 and isinstance(args[1], sp.Transpose):
            return "outer", args[1].arg
        if args[-1] == sp.Transpose(U) and len(args) == 2:
            return "outer_t", args[0]
    return "other", None


def explain_network(source, notation="udl", at=None, seed=None, title=None) -> NetExplanation:
    """The narrative of a network (a SPEC, `Network`, `DAG` or `Derivation`), at a seeded sample if given."""
    from . import network, network_seed
    from .point import values_at

    derivation = network(source)
    s = network_seed(at, seed)
    return NetExplanation(derivation, notation, None if s is None else values_at(derivation, s), s, title)
