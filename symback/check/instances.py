"""Random small instances of a network: concrete sizes, parameters and a batch of samples.

Input: a `Derivation`. Output: `Instance`s holding every IR node's value for
each sample, computed by the NumPy reference evaluator
(`numeric.evaluate_sample`), the oracle the hand formulas are compared with.

Symbolic widths get small concrete sizes, all different from each other and
from the integer widths, and the batch size B differs from every width, so
a formula that only fits with a transpose has mismatched shapes. Parameters,
inputs and regression targets are standard normal; class labels uniform;
BCE targets uniform in (0, 1). A fixed seed makes every run the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import sympy as sp

from ..ir import Graph, Meta, Node
from ..numeric import evaluate_sample


def concrete_graph(graph: Graph, sub: dict) -> Graph:
    """The graph with its symbolic sizes replaced by numbers."""
    if not sub:
        return graph

    def fix(v):
        if isinstance(v, sp.Basic):
            return v.xreplace(sub)
        if isinstance(v, tuple):
            return tuple(fix(e) for e in v)
        if isinstance(v, dict):
            return {k: fix(e) for k, e in v.items()}
        if isinstance(v, Meta):
            return replace(v, size=fix(v.size), shapes=fix(v.shapes))
        return v

    return Graph(Node(n.name, n.op, n.args, fix(n.expr), fix(n.shape), n.role, n.of, n.terms, fix(n.meta))
                 for n in graph)


def choose_sizes(graph: Graph) -> tuple[dict, int]:
    """Concrete values for the symbolic widths, and a batch size differing from every width."""
    symbols, used = [], set()
    for node in graph:
        for s in node.shape:
            if isinstance(s, sp.Basic) and not s.is_Integer:
                symbols.extend(sorted(s.free_symbols - set(symbols), key=str))
            else:
                used.add(int(s))
    sub, candidate = {}, 2
    for s in dict.fromkeys(symbols):
        while candidate in used:
            candidate += 1
        sub[s] = candidate
        used.add(candidate)
    batch = 3  # never 2, which would confuse a missing 1/B with a factor 2
    while batch in used:
        batch += 1
    return sub, batch


@dataclass
class Instance:
    index: int
    sizes: dict  # symbol name -> value
    batch: int
    n_out: int
    params: dict
    samples: list  # per sample: {IR node name: value}
    _graphs: tuple = field(repr=False, default=())
    _extra: dict = field(repr=False, default_factory=dict)

    def value(self, s: int, name: str):
        if name in self.samples[s]:
            return self.samples[s][name]
        extra = self._extra.setdefault(s, None)
        if extra is None:  # a quantity the simplified graph fused away: the unsimplified one has it
            graph = self._graphs[1]()
            sample = self.samples[s]
            extra = evaluate_sample(graph, self.params, sample["x"], sample["y"])
            self._extra[s] = extra
        return extra[name]

    def adjoint(self, forward: str) -> str:
        """Name of the IR node holding dl/d`forward` (in whichever graph has it)."""
        for graph in (self._graphs[0], None):
            graph = graph or self._graphs[1]()
            # the total adjoint, not one path's share of it (meta "path")
            found = [n.name for n in graph.backward() if n.of == forward and n.meta.path is None]
            if found:
                return found[0]
        raise KeyError(forward)

    def finite(self) -> bool:
        return all(np.all(np.isfinite(np.asarray(v, dtype=float))) for s in self.samples for v in s.values())


_CACHE: dict = {}


def make_instances(derivation, count: int = 4, seed: int = 0) -> list[Instance]:
    """`count` random instances (each with a batch of samples) of a network derivation.

    The values depend only on the graph and the seed, so repeated checks of the
    same network (a test suite, an autograder loop) reuse them.
    """
    key = (tuple((n.name, n.op, str(n.expr), str(n.shape)) for n in derivation.graph), count, seed)
    if key not in _CACHE:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = _make(derivation, count, seed)
    return _CACHE[key]


def _make(derivation, count: int, seed: int) -> list[Instance]:
    rng = np.random.default_rng(seed)
    sub, batch = choose_sizes(derivation.graph)
    graph = concrete_graph(derivation.graph, sub)
    cache = {}

    def unsimplified():
        if "g" not in cache:
            cache["g"] = concrete_graph(derivation.raw, sub)
        return cache["g"]

    y_node = graph["y"]
    loss = graph[derivation.output].meta.loss or ""
    n_in = int(graph["x"].shape[0])
    n_out = int(graph[derivation.output].meta.size or (y_node.shape[0] if y_node.shape else 1))
    out = []
    for i in range(count):
        params = {n.name: rng.standard_normal(tuple(int(s) for s in n.shape)) for n in graph.leaves("param")}
        samples = []
        for _ in range(batch):
            x = rng.standard_normal(n_in)
            if y_node.meta.kind == "label":
                y = int(rng.integers(n_out))
            elif loss.startswith("bce"):
                y = rng.uniform(0, 1, n_out)
            else:
                y = rng.standard_normal(n_out)
            with np.errstate(all="ignore"):
                samples.append(evaluate_sample(graph, params, x, y))
        out.append(Instance(i + 1, {str(k): v for k, v in sub.items()}, batch, n_out, params, samples,
                            (graph, unsimplified)))
    return out
