"""The numbered steps of any derivation's forward and backward passes: `Derivation` (+ values) -> `Explanation`.

Stage: teaching views. Input: a `Derivation` (an expression's, a DAG's or a
network's) and optionally the value of every node at one point (exact
numbers for an expression, one seeded random sample for a network; see
`point`). Output: an `Explanation` whose steps `narrate` writes as text,
Markdown or LaTeX, and `to_dict` as JSON.

It follows the lectures' backward pass: (1) the forward pass as a series of
intermediate calculations; (2) the gradient with respect to every
intermediate quantity, in reverse order; (3) with respect to every variable
or parameter (in the order asked for, or the course's: UDL's beta_0,
Omega_0, beta_1, ...). Each backward step multiplies one chain-rule factor,
``upstream × local``, into a gradient computed in an earlier step, marked
"already computed!"; where a value feeds several consumers, the gradients
of the paths add.

One builder walks every derivation. What differs between a scalar circuit
and a network is a small strategy object (`CircuitSteps`, `CourseSteps`): which steps
it shows, how one consumer's term is described (an exact local derivative
of one gate, or a module's local factor: a Jacobian, an outer product, a
slice), in which order the variables come, and its JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..derivation import Displayed, as_document
from ..evaluate import to_python, value_at
from ..nonsmooth import sympy_names
from ..ops import expand_ops
from . import narrate
from .page import Page
from .layout import grad_name
from .point import size_of
from .symbols import Symbols

#: In which order a course lists a layer's parameter derivatives: UDL does dl/dbeta_k before dl/dOmega_k.
PARAM_ORDER = {"udl": ("bias", "weight")}


@dataclass
class Forward:
    step: str  # "F1", ...
    node: str
    expr: sp.Expr
    value: object = None


@dataclass
class Term:
    """One consumer's contribution ``upstream × local`` to a gradient."""

    consumer: str
    node: str  # the IR node holding it: the adjoint itself, or its per-path ``_via_`` node
    expr: sp.Expr  # what is computed, in IR symbols
    factor: str  # gate (a circuit), or start, fused, ew, identity, jacobian, outer, outer_t, slice, other
    local: sp.Expr | None  # the local derivative, or a module's Jacobian factor, in IR symbols
    upstream: str | None  # adjoint node of the consumer (None where the path starts at the loss)
    upstream_step: str | None = None
    reads: list[str] = field(default_factory=list)  # computed forward values the local factor reads
    upstream_value: object = None
    local_value: object = None
    value: object = None


@dataclass
class Backward:
    step: str  # "B1", ...
    node: str  # the adjoint node
    of: str  # the forward quantity it is the gradient for
    part: int  # 1: intermediate quantities, 2: variables or parameters
    terms: list[Term]
    value: object = None
    reused_by: list[str] = field(default_factory=list)

    @property
    def branch(self) -> bool:
        return len(self.terms) > 1


class Steps:
    """What one kind of derivation shows as steps; the subclasses say how."""

    def __init__(self, ex: Explanation):
        self.ex = ex

    def numbers(self, **values) -> dict:
        """Values for JSON at a point (`number` of each), nothing without one."""
        return {} if self.ex.values is None else {k: self.number(v) for k, v in values.items()}


class CircuitSteps(Steps):
    """A scalar circuit: exact numbers, node names as written, the output's own start step ``df/df = 1``."""

    name = "circuit"
    start = True  # the output's own gradient is a step (a network's starts at the loss's derivative)

    def variables(self, adjoint_of: dict) -> list[str]:
        """The variables in the order asked for (`wrt`), then any other leaf."""
        g, wrt = self.ex.graph, self.ex.derivation.wrt
        rest = [v for v in adjoint_of if g[v].is_leaf and v not in wrt]
        return [v for v in wrt if v in adjoint_of] + rest

    def term(self, node, t, step_of: dict) -> Term:
        ex, values = self.ex, self.ex.values
        up = ex.adjoint_of[t.consumer]
        uses = sorted((s.name for s in t.local.free_symbols if s.name in ex.forward_step), key=ex.graph.position)
        term = Term(t.consumer, node.name, t.value, "gate", t.local, up, step_of[up], uses)
        if values is not None:
            term.upstream_value = values[up]
            term.local_value = value_at(t.local, values, f"local gradient d{t.consumer}/d{node.of}")
            term.value = term.upstream_value * term.local_value
        return term

    def to_dict(self) -> dict:
        """JSON for ``symback explain EXPR --json``."""
        ex, num = self.ex, self.numbers
        forward = [{"step": f.step, "node": f.node, "expr": _machine(f.expr)} | num(value=f.value) for f in ex.forward]
        data = {"expr": ex.summary.source, "output": ex.output, "forward": forward, "backward": []}
        if ex.values is not None:
            data["at"] = {v: to_python(ex.values[v]) for v in ex.inputs}
        for b in ex.backward:
            factors = [
                {
                    "consumer": t.consumer,
                    "upstream": grad_name(ex.output, t.consumer),
                    "already_computed": t.upstream_step,
                    "local": _machine(t.local),
                    "reads": t.reads,
                }
                | num(upstream_value=t.upstream_value, local_value=t.local_value, value=t.value)
                for t in b.terms
            ]
            row = {"step": b.step, "gradient": grad_name(ex.output, b.of)} | _fields(b, *STEP_FIELDS)
            data["backward"].append(row | {"factors": factors} | num(value=b.value))
        data["variables"] = list(ex.inputs)  # sympify(text, locals=...) reads every expression back
        return data

    number = staticmethod(to_python)  # an exact value as int or float


class CourseSteps(Steps):
    """A network or DAG: vectors shown by their norms, course symbols, a module's local factor per path."""

    name = "course"
    start = False

    def variables(self, adjoint_of: dict) -> list[str]:
        """The parameters: per layer in the course's order (UDL: beta before Omega), a DAG's as declared."""
        g, params = self.ex.graph, list(self.ex.derivation.params)
        order = PARAM_ORDER.get(self.ex.notation.name, ("weight", "bias"))
        if all(g[p].meta.layer is not None for p in params):
            params.sort(key=lambda p: (g[p].meta.layer, order.index(g[p].meta.kind) if g[p].meta.kind in order else 2))
        return [p for p in params if p in adjoint_of]

    def term(self, node, t, step_of: dict) -> Term:
        ex, g = self.ex, self.ex.graph
        via = next((n.name for n in g.backward() if n.of == node.of and n.meta.path == t.consumer), node.name)
        # the loss's own derivative, or a module simplified together with it (sigmoid + bce -> h - y): the
        # node's own expression, the simplified one (p - onehot(y), not softmax')
        if g[t.consumer].op == "loss" or t.consumer not in ex.adjoint_of:
            kind = "start" if g[t.consumer].op == "loss" else "fused"
            term = Term(t.consumer, via, g[via].expr, kind, t.local, None)
        else:
            upstream = ex.adjoint_of[t.consumer]
            if t.op == "ew" and t.upstream is None:  # a module coupling the components (softmax): its whole VJP
                term = Term(t.consumer, via, t.value, "other", None, upstream)
            elif t.op == "ew":
                term = Term(t.consumer, via, t.local * sp.Symbol(upstream), "ew", t.local, upstream)
            else:
                kind, factor = linear_factor(t.value, upstream)
                term = Term(t.consumer, via, t.value, kind, factor, upstream)
            term.upstream_step = step_of[upstream]
        expr = term.expr
        syms = expr.free_symbols | (expr.atoms(sp.MatrixSymbol) if isinstance(expr, sp.MatrixExpr) else set())
        reads = {s.name for s in syms if s.name in g and g[s.name].role == "forward"}
        term.reads = sorted((r for r in reads if r != node.of and g[r].op != "target"), key=g.position)
        if ex.values is not None:
            term.value = ex.values[via]
        return term

    def to_dict(self) -> dict:
        """JSON for ``symback explain SPEC --json``: steps with course symbols, IR names and norms."""
        ex, s, num = self.ex, self.ex.symbols, self.numbers
        data = {"title": ex.title, "notation": ex.notation.name, "seed": ex.seed, "forward": [], "backward": []}
        for f in ex.forward:
            node = ex.graph[f.node]
            row = {"step": f.step, "node": f.node, "symbol": s.text(f.node), "expr": s.expr(node.expr)}
            data["forward"].append(row | {"shape": list(map(str, node.shape))} | num(value=f.value))
        for b in ex.backward:
            factors = [
                {
                    "consumer": p.consumer,
                    "expr": s.expr(p.expr),
                    "factor": p.factor,
                    "local": s.expr(p.local) if p.local is not None else None,
                    "upstream": s.grad(p.consumer) if p.upstream else None,
                    "already_computed": p.upstream_step,
                    "reads": p.reads,
                }
                | num(value=p.value)
                for p in b.terms
            ]
            row = {"step": b.step, "gradient": s.grad(b.of)} | _fields(b, *STEP_FIELDS)
            data["backward"].append(row | {"factors": factors} | num(value=b.value))
        return data

    @staticmethod
    def number(value) -> float:
        return size_of(value)[0]  # a norm for a vector or matrix


#: the fields of a backward step that its JSON shows as they are
STEP_FIELDS = ("node", "of", "part", "branch", "reused_by")


def _fields(obj, *names) -> dict:
    return {n: getattr(obj, n) for n in names}


def linear_factor(value, upstream: str) -> tuple[str, sp.Expr | None]:
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


class Explanation(Displayed):
    """The forward and backward passes of one derivation, as numbered steps; ``print()`` it or ``.render("latex")``.

    `values` holds every node's value at the point shown (or None); `seed`
    names a network's random sample; a network's symbols come from `notation`.
    """

    def __init__(self, derivation, values=None, notation=None, seed=None, title=None):
        self.derivation, self.values, self.seed = derivation, values, seed
        self.summary = derivation.summary
        self.graph, self.output = derivation.graph, derivation.output
        self.kind = CircuitSteps(self) if self.summary.kind == "expression" else CourseSteps(self)
        self.symbols = Symbols(derivation, notation or "udl")
        self.notation = self.symbols.notation
        self.title = title or self.summary.architecture
        g = self.graph
        self.inputs = [n.name for n in g.forward() if n.is_leaf]
        self.forward = [
            Forward(f"F{i}", n.name, n.expr, self.value(n.name))
            for i, n in enumerate((n for n in g.forward() if not n.is_leaf), 1)
        ]
        self.forward_step = {f.node: f.step for f in self.forward}
        whole = [n for n in g.backward() if n.meta.path is None and (self.kind.start or n.op != "seed")]
        self.adjoint_of = {n.of: n.name for n in whole}
        inner = [n for n in whole if not g[n.of].is_leaf]  # reverse order, as derived
        leaves = [g[self.adjoint_of[v]] for v in self.kind.variables(self.adjoint_of)]
        step_of, by_step = {}, {}  # adjoint node -> step; step -> Backward
        for i, node in enumerate(inner + leaves, 1):
            step_of[node.name] = f"B{i}"
            terms = [self.kind.term(node, t, step_of) for t in node.terms]
            part = 2 if g[node.of].is_leaf else 1
            by_step[f"B{i}"] = Backward(f"B{i}", node.name, node.of, part, terms, self.value(node.name))
            for t in terms:
                if t.upstream_step:  # a gradient computed in an earlier step, reused here
                    by_step[t.upstream_step].reused_by.append(f"B{i}")
        self.backward: list[Backward] = list(by_step.values())

    def value(self, node: str):
        return None if self.values is None else self.values[node]

    _repr_latex_ = None  # Jupyter shows the Markdown; the LaTeX is a document's section, not one formula

    def render(self, format: str = "text", standalone: bool = False) -> str:
        """The narrative in `format`; ``standalone=True`` makes LaTeX a whole document."""
        return as_document(narrate.render(self, format), format, standalone)

    def page(self, height: int = 760) -> Page:
        """The interactive page (``--format html``); a notebook cell shows it in an iframe `height` pixels high."""
        return Page(self, height)

    def to_dict(self) -> dict:
        """JSON for ``symback explain --json``."""
        return self.kind.to_dict()


def _machine(expr) -> str:
    """An expression for JSON: SymPy's own function names (Heaviside for I[...]), registered ops expanded."""
    return str(sympy_names(expand_ops(sp.sympify(expr))))
