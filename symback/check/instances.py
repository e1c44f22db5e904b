"""The random points a hand file is checked at: instances of a network, points of an expression.

Input: a `Derivation`. Output, for a network, `Instance`s holding every IR
node's value for each sample, computed by the NumPy reference evaluator
(`numeric.evaluate_sample`); for a scalar expression, the exact value of every
node at random points (`evaluate.evaluate`, 30 digits). These are the oracles
the hand formulas are compared with. The numbers come from `randomdata`.

Symbolic widths get small concrete sizes, all different from each other and
from the integer widths, and the batch size B differs from every width, so
a formula that only fits with a transpose has mismatched shapes. A fixed seed
makes every run the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..evaluate import evaluate
from ..ir import Graph
from ..notation import totals
from ..numeric import evaluate_batch, evaluate_sample
from ..ops import lookup
from . import randomdata
from .trial import close, finite

#: significant digits of an expression's random point (the exact evaluator's precision)
DIGITS = 30
#: the largest value at a far point of an expression: exp of it still takes ~1000 digits, exp(10^6) would take 434,294
BOUND = sp.Float("1e1000", DIGITS)


def concrete_graph(graph: Graph, sub: dict) -> Graph:
    """The graph with its symbolic sizes replaced by numbers."""
    if not sub:
        return graph

    def fix(v):
        if isinstance(v, sp.Basic):
            return v.xreplace(sub)
        if isinstance(v, tuple):
            return tuple(fix(e) for e in v)
        return {k: fix(e) for k, e in v.items()} if isinstance(v, dict) else v

    return Graph(replace(n, expr=fix(n.expr), shape=fix(n.shape),
                         meta=replace(n.meta, size=fix(n.meta.size), shapes=fix(n.meta.shapes))) for n in graph)


def choose_sizes(graph: Graph) -> tuple[dict, int]:
    """Concrete values for the symbolic widths, and a batch size differing from every width."""
    symbols, used, sub = {}, set(), {}
    for node in graph:
        for s in node.shape:
            if isinstance(s, sp.Basic) and not s.is_Integer:
                symbols.update(dict.fromkeys(sorted(s.free_symbols, key=str)))
            else:
                used.add(int(s))
    for s in symbols:  # the smallest unused width from 2 up
        sub[s] = next(c for c in itertools.count(2) if c not in used)
        used.add(sub[s])
    return sub, next(b for b in itertools.count(3) if b not in used)  # B is never 2: a missing 1/B is no factor 2


@dataclass
class Instance:
    index: int
    sizes: dict  # symbol name -> value
    batch: int
    n_out: int
    params: dict
    samples: list  # per sample: {IR node name: value}
    graph: Graph = field(repr=False, default=None)
    raw: Callable[[], Graph] = field(repr=False, default=None)  # the unsimplified graph, made when first asked
    scale: float | None = None  # a far instance's factor (`randomdata.FAR`); None near the origin
    _extra: dict = field(repr=False, default_factory=dict)
    _trust: dict = field(repr=False, default_factory=dict)  # sample -> `consistent`

    def value(self, s: int, name: str):
        if name in self.samples[s]:
            return self.samples[s][name]
        return self.raw_values(s)[name]  # a quantity the simplified graph fused away: the unsimplified one has it

    def raw_values(self, s: int) -> dict:
        """Every node's value in the unsimplified graph for sample `s` (evaluated when first asked)."""
        if s not in self._extra:
            if any(n.op == "batch" for n in self.graph):  # batch statistics: every sample at once
                self._extra.update(enumerate(per_sample(self.raw(), self.params, self.samples)))
            else:
                inputs = {n.name: self.samples[s][n.name] for n in self.graph.leaves("input")}
                self._extra[s] = evaluate_sample(self.raw(), self.params, inputs, self.samples[s]["y"])
        return self._extra[s]

    def consistent(self, s: int) -> bool:
        """Whether float64 is trustworthy at sample `s`: every value both graphs hold (the simplified and the
        unsimplified, equal in exact arithmetic) is finite in both and agrees to `trial.RTOL`, or in neither.

        Far from the origin a saturated sigmoid loses 1 - h to cancellation; such a sample shows it here."""
        if s not in self._trust:
            with np.errstate(all="ignore"):
                raw = self.raw_values(s)
            same = True
            for name, v in self.samples[s].items():
                if name in raw and name not in self.params:
                    a, b = np.atleast_2d(np.asarray(v, dtype=float)), np.atleast_2d(np.asarray(raw[name], dtype=float))
                    fa, fb = finite(a), finite(b)
                    same = same and a.shape == b.shape and fa == fb and (not fa or close(a, b))
            self._trust[s] = same
        return self._trust[s]

    def jacobian(self, s: int, a: str, b: str) -> np.ndarray:
        """The local derivative d`a`/d`b` in the denominator layout, (da/db)^T: |b| x |a| (b a matrix: its shape
        x |a|). Exact: the reverse sweep's adjoint of `b` through `a`, given each unit vector as dl/d`a`."""
        graph = self.raw()
        values, up = dict(self.raw_values(s)), totals(graph)[a]
        node = next(n for n in graph.backward() if n.of == b and n.meta.path in (a, None)
                    and (n.meta.path == a or up in n.args))
        zeros = {n: np.zeros_like(values[n]) for n in node.args if graph[n].role == "adjoint"}
        cols = []
        for i in range(np.size(values[a])):
            values.update(zeros)
            values[up] = np.eye(np.size(values[a]))[i].reshape(np.shape(values[a]))
            cols.append(np.asarray(lookup(node.op).numeric(node, values), dtype=float))
        return np.stack(cols, axis=-1)

    def adjoint(self, forward: str) -> str:
        """Name of the IR node holding dl/d`forward` (the simplified graph's, else the unsimplified one's)."""
        return totals(self.graph).get(forward) or totals(self.raw())[forward]


_CACHE: dict = {}
_KEYS: dict = {}  # id(graph) -> (graph, its node count, its key): the key is text of every node, so made once


def _graph_key(graph: Graph) -> tuple:
    """What the instances depend on: every node's name, op, formula and shape (a graph only grows, so a known
    graph with as many nodes has this key still)."""
    known = _KEYS.get(id(graph))
    if known is None or known[0] is not graph or known[1] != len(graph):
        if len(_KEYS) > 32:
            _KEYS.clear()
        known = _KEYS[id(graph)] = (graph, len(graph), tuple((n.name, n.op, str(n.expr), str(n.shape))
                                                              for n in graph))
    return known[2]


def make_instances(derivation, count: int = 4, seed: int = 0, scales: tuple = ()) -> list[Instance]:
    """`count` random instances (each with a batch of samples) of a network derivation; with `scales`, one far
    instance per factor instead (numbered from count + 1): the same draws, parameters, inputs and real targets
    times the factor.

    The values depend only on the graph and the seed, so repeated checks of the
    same network (a test suite, an autograder loop) reuse them.
    """
    key = (_graph_key(derivation.graph), count, seed, scales)
    if key not in _CACHE:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = _make(derivation, count, seed, scales)
    return _CACHE[key]


def _make(derivation, count: int, seed: int, scales: tuple = ()) -> list[Instance]:
    rng = randomdata.generator(seed)
    sub, batch = choose_sizes(derivation.graph)
    graph = concrete_graph(derivation.graph, sub)
    unsimplified = cache(lambda: concrete_graph(derivation.raw, sub))
    y_node = graph["y"]
    kind = randomdata.target_kind(graph[derivation.output].meta.loss, y_node.meta.kind == "label")
    widths = {n.name: int(n.shape[0]) for n in graph.leaves("input")}  # one input x, or a DAG's named inputs
    n_out = int(graph[derivation.output].meta.size or (y_node.shape[0] if y_node.shape else 1))
    shapes = {n.name: n.shape for n in graph.leaves("param")}
    coupled = any(n.op == "batch" for n in graph)
    out = []
    for i, c in enumerate(scales or (1.0,) * count):
        params = {k: c * v for k, v in randomdata.params(rng, shapes).items()}
        samples = []
        for _ in range(batch):
            x = {name: c * randomdata.inputs(rng, n) for name, n in widths.items()}
            y = randomdata.targets(rng, kind, n_out)
            y = c * y if kind == randomdata.REAL else y
            with np.errstate(all="ignore"):
                samples.append(evaluate_sample(graph, params, x, y) if not coupled else {**x, "y": y})
        if coupled:  # batch statistics couple the samples: every node for the whole batch, then split
            samples = per_sample(graph, params, samples)
        out.append(Instance(i + 1 + (count if scales else 0), {str(k): v for k, v in sub.items()}, batch, n_out,
                            params, samples, graph, unsimplified, c if scales else None))
    return out


def per_sample(graph: Graph, params: dict, samples: list[dict]) -> list[dict]:
    """Every node's value for each sample (a dict per sample, as `evaluate_sample` gives), evaluated for the batch
    as a whole (`evaluate_batch`): a graph with batch statistics has no value for one sample alone."""
    inputs = {n.name: np.stack([np.asarray(s[n.name], dtype=float) for s in samples]) for n in graph.leaves("input")}
    with np.errstate(all="ignore"):
        values = evaluate_batch(graph, params, inputs, np.stack([np.asarray(s["y"]) for s in samples]))
    return [{k: (v[..., b] if k not in params else params[k]) for k, v in values.items()} for b in range(len(samples))]


class Far(dict):
    """A far point of an expression: every node's value (as `make_points` gives), and the factor it was drawn at."""

    scale: float


def make_points(derivation, count: int, seed: int, scales: tuple = ()) -> list[dict]:
    """Every node's value at `count` random points of a scalar expression where the whole gradient is defined;
    with `scales`, one `Far` point per factor instead (a standard normal draw times the factor, exact).

    Inputs are standard normal; a point where some node is undefined (a log of
    a negative number, a division by zero) is skipped, up to ten times `count`
    tries, so fewer points come back when the expression is rarely defined. A
    far point is also skipped where a value passes `BOUND`; ten misses in a row
    and its factor gives way to the next.
    """
    rng = randomdata.generator(seed)
    out, factors, misses = [], list(scales) or [1] * count, 0
    for _ in range(len(factors) * 10):
        point = {v: sp.Float(x * factors[0], DIGITS) for v, x in randomdata.point(rng, derivation.inputs).items()}
        try:
            values = evaluate(derivation.graph, point, BOUND if scales else None)
        except (SymbackError, TypeError, ZeroDivisionError):
            misses += 1
            if scales and misses == 10:  # no defined point of this size in ten draws: the next factor
                factors, misses = factors[1:], 0
            if not factors:
                break
            continue
        if scales:
            values = Far(values)
            values.scale = factors[0]
        out.append(values)
        factors, misses = factors[1:], 0
        if not factors:
            break
    return out
