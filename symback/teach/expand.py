"""A small network's scalar computation graph: one node per unit, for ``symback draw SPEC --expand``.

Stage: teaching views. Input: a network's `Derivation`. Output: a scalar
`Derivation` (one IR node per unit, differentiated by the same reverse pass)
whose nodes are the network's units, with display names in the course notation (``f₀[2]``,
``Ω₁[2,3]``) and a gate per unit (``Σ`` for a pre-activation, the
activation's name, ``×``/``+`` for elementwise modules, the loss's name).

Each forward IR node is written out entry by entry: a ``linear`` node's
matrix expression becomes explicit sums (``W h + b`` row by row), an
elementwise node is applied per component, a concatenation only renames
units, the loss is expanded over its components (a class label becomes a
one-hot target vector, so the loss stays a function of scalar leaves). The
scalar reverse pass then draws every wire with its value and gradient, as
in the circuit pictures.

Beyond `MAX_NODES` scalar nodes the picture is unreadable, so `expand`
refuses with a one-line error that says how many there would be and what
to draw instead (the layer view, or a smaller network).
"""

from __future__ import annotations

import itertools
import math
import re
from typing import NamedTuple

import numpy as np
import sympy as sp

from ..derivation import Derivation, Summary
from ..errors import SymbackError
from ..evaluate import evaluate
from ..ir import Graph, Node, sym
from .point import sample
from .symbols import Sym, Symbols

MAX_NODES = 120  # leaves + units + loss; udl_toy (1-3-3-3-1) has 56


def _entries(shape) -> int:
    try:
        return math.prod(int(s) for s in shape)
    except TypeError:
        raise SymbackError("--expand needs integer widths; this network has symbolic sizes") from None


def _unit(name: str, idx: tuple) -> str:
    return name + "".join(f"_{i + 1}" for i in idx)


def _units(node) -> list[tuple]:
    """Index tuples of a node's entries, row-major (one empty tuple for a scalar)."""
    return list(itertools.product(*(range(int(s)) for s in node.shape)))


def _explicit(node, graph) -> list[sp.Expr]:
    """A matrix expression as its entries, each matrix symbol replaced by its unit symbols."""
    subs = {}
    for m in node.expr.atoms(sp.MatrixSymbol):
        r, c = (int(s) for s in m.shape)
        vector = len(graph[m.name].shape) == 1
        subs[m] = sp.ImmutableMatrix(r, c, lambda i, j, m=m, v=vector: sym(_unit(m.name, (i,) if v else (i, j))))
    return list(node.expr.xreplace(subs).as_explicit())


class Expanded(NamedTuple):
    derivation: Derivation  # the scalar derivation over the units
    display: dict  # unit -> its name as text, e.g. "f₀[2]", "W₂,₁^[1]"
    markup: dict  # unit -> its name as a Graphviz HTML label (real sub/superscripts)
    gates: dict  # unit -> its gate symbol: Σ, relu, ×, +, mse
    units: dict  # IR node -> its units, in order


def unit_names(s: Sym, idx: tuple, first: int) -> tuple[str, str]:
    """(text, HTML) of one unit of a course symbol, its 0-based `idx` counted from the notation's `first`:
    the index as a subscript where the layer is a superscript (CS229's W^[1]_{ij} as W₂,₁^[1]), else in
    brackets after it (UDL's Ω₀[2,1])."""
    index = ",".join(str(i + first) for i in idx)
    if s.sup and not s.sub:
        unit = Sym(s.base, index, s.sup)
        return unit.text, unit.html
    return f"{s.text}[{index}]", f"{s.html}[{index}]"


def expand(derivation, notation="udl") -> Expanded:
    """The scalar graph of a small network, unit by unit, with course names and gates."""
    graph = derivation.declared  # the forward pass as declared, before any fusion
    count = sum(_entries(n.shape) for n in graph if n.op != "concat")  # a concatenation adds no node
    if count > MAX_NODES:
        raise SymbackError(
            f"--expand: this network has {count:,} scalar nodes (weights, units, loss), more than the {MAX_NODES} "
            "a unit-by-unit picture shows readably; drop --expand for the layer view (one box per layer), "
            "or expand a smaller network"
        )
    names = Symbols(derivation, notation)
    first = names.notation.first
    display, markup, gates, units = {}, {}, {}, {}
    alias: dict[str, sp.Expr] = {}  # concat units -> the units they copy
    steps: list[tuple[str, sp.Expr]] = []
    for node in graph:
        if node.op == "target" and node.meta.kind == "label":
            n = int(graph["l"].meta.size)
            units["y"] = [_unit("y", (i,)) for i in range(n)]  # the label as a one-hot target
            for i, u in enumerate(units["y"]):
                display[u], markup[u] = unit_names(names["y"], (i,), first)
            continue
        if node.op == "concat":  # no node of its own: its units are the units it stacks
            parts = [p.xreplace(alias) for p in _explicit(node, graph)]
            units[node.name] = [p.name for p in parts]
            alias.update({sym(_unit(node.name, idx)): p for idx, p in zip(_units(node), parts)})
            continue
        exprs: list[sp.Expr] = []  # a leaf's units are leaves of the scalar graph
        if node.op == "linear":
            exprs = [e.xreplace(alias) for e in _explicit(node, graph)]
            gate = "Σ"
        elif node.op == "ew":
            vectors = [a for a in node.args if len(graph[a].shape) == 1]  # a scalar argument stays itself
            unit = lambda a, i: alias.get(sym(_unit(a, (i,))), sym(_unit(a, (i,))))  # a concat's: the unit it copies
            exprs = [node.expr.xreplace({sym(a): unit(a, i) for a in vectors}) for (i,) in _units(node)]
            act = node.meta.activation
            gate = act if isinstance(act, str) and act.isidentifier() else _ew_gate(node.expr)
        elif node.op == "loss":
            exprs = [_loss(node, graph, alias)]
            gate = "loss" if (node.meta.loss or "custom") == "custom" else node.meta.loss
        elif not node.is_leaf:
            raise SymbackError(f"--expand: cannot expand node {node.name} (op {node.op!r})")
        s, us = names[node.name], [_unit(node.name, idx) for idx in _units(node)]
        for idx, u in zip(_units(node), us):
            display[u], markup[u] = (s.text, s.html) if _entries(node.shape) == 1 else unit_names(s, idx, first)
        units[node.name] = us
        steps += zip(us, exprs)
        gates.update({u: gate for u, _ in zip(us, exprs)})
    taken = [u for u, _ in steps] + [u for n in graph.leaves() for u in units.get(n.name, [])]
    if len(set(taken)) != len(taken):
        dup = next(u for u in taken if taken.count(u) > 1)
        raise SymbackError(f"--expand: unit name {dup!r} is ambiguous; rename the value it comes from")
    wrt = [u for p in derivation.params for u in units[p]]
    return Expanded(_scalar(steps, wrt), display, markup, gates, units)


def columns(x: Expanded, params) -> list[list[str]]:
    """Units drawn in one column, each column top to bottom, so the picture reads like a textbook's network.

    A layer's units stand in index order (``f₀[1]`` above ``f₀[2]``); the
    units of the parameters in `params` stand in the column before the units
    they feed, grouped by the first unit each feeds (``Ω₁[1,·]`` and ``β₁[1]``,
    then ``Ω₁[2,·]`` and ``β₁[2]``, ...). A column of one unit is left out.
    """
    g = x.derivation.graph
    owner: dict[str, str] = {}
    for name, us in x.units.items():  # a concatenation's units belong to the nodes they copy
        owner.update({u: name for u in us if u not in owner})
    cols: dict[str, list[tuple[int, int, str]]] = {}
    for node in g.forward():
        u = node.name
        first = next((c for c in g.consumers(u) if g[c].role == "forward"), u)
        key = owner[u] if owner[u] not in params else "params of " + owner[first]
        cols.setdefault(key, []).append((g.position(first) if owner[u] in params else 0, g.position(u), u))
    return [[u for *_, u in sorted(col)] for col in cols.values() if len(col) > 1]


def rows(x: Expanded) -> dict[str, str]:
    """Unit -> its row: the i-th unit of every computed vector stands in row i, so each elementwise
    chain ``f₀[i] -> h₁[i]`` is drawn straight and the layers line up across the picture. Leaves
    (inputs, targets, parameters) have no row: they stand beside the units they feed."""
    g, out = x.derivation.graph, {}
    for us in x.units.values():
        if len(us) > 1 and us[0] in g and not g[us[0]].is_leaf:
            out.update({u: f"row {i}" for i, u in enumerate(us, 1) if u not in out})  # a concat's: its owner's
    return out


def _natural(name: str) -> list:
    """Sort ``w2`` before ``w10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _scalar(steps: list[tuple[str, sp.Expr]], wrt: list[str]) -> Derivation:
    """The units as a scalar circuit: leaves in natural order, then one node per step, differentiated by `wrt`."""
    graph, defined = Graph(), {name for name, _ in steps}
    leaves = {s.name for _, e in steps for s in e.free_symbols} - defined
    for name in sorted(leaves, key=_natural):
        graph.add(Node(name, "input", shape=()))
    for name, e in steps:
        args = tuple(sorted({s.name for s in e.free_symbols}, key=graph.position))
        graph.add(Node(name, "scalar", args=args, expr=e))
    output = steps[-1][0]
    summary = Summary("expression", "; ".join(f"{n} = {e}" for n, e in steps), named_steps=True)
    return Derivation(graph, output, wrt, summary, simplify=False)


def _ew_gate(expr) -> str | None:
    """``a*b`` -> ``×``, ``a + b`` -> ``+`` for the DAG's mul and add modules; None otherwise."""
    if isinstance(expr, sp.Mul) and len(expr.args) == 2 and all(a.is_Symbol for a in expr.args):
        return "×"
    if isinstance(expr, sp.Add) and all(a.is_Symbol for a in expr.args):
        return "+"
    return None


def _loss(node, graph, alias) -> sp.Expr:
    """The loss written in unit symbols: the Sum over components expanded, f[y] as Σ y_k f_k."""
    pred = node.meta.prediction
    n = int(node.meta.size)
    comps = {sp.Indexed(sp.IndexedBase(pred, real=True), k): sym(_unit(pred, (k,))) for k in range(n)}
    targets = {sp.Indexed(sp.IndexedBase("y", real=True), k): sym(_unit("y", (k,))) for k in range(n)}
    expr = node.expr.doit()
    label = sym("y")
    picks = [e for e in expr.atoms(sp.Indexed) if e.indices == (label,)]
    for e in picks:  # f[y] with y a class label: sum_k onehot(y)_k f_k
        expr = expr.xreplace({e: sp.Add(*[sym(_unit("y", (k,))) * comps[sp.Indexed(e.base, k)] for k in range(n)])})
    expr = expr.xreplace({**comps, **targets})
    return expr.xreplace(alias)


def unit_values(derivation, x: Expanded, seed: int = 0, init: str = "glorot") -> dict:
    """Every unit's exact value at the seeded random sample of `point.sample` (a class label as one-hot targets)."""
    params, inputs, y = sample(derivation, seed, init)
    values, leaves = {**params, **inputs, "y": y}, {}
    for name, us in x.units.items():
        if name not in values:
            continue
        arr = np.asarray(values[name], dtype=float).reshape(-1)
        if name == "y" and len(us) > 1 and arr.size == 1:  # a class label: its one-hot target
            arr = np.eye(len(us))[int(arr[0])]
        leaves.update({u: sp.Float(float(v), 17) for u, v in zip(us, arr)})
    return evaluate(x.derivation.graph, leaves)
