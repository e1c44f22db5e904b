"""Reverse mode over the IR: append one adjoint node per forward quantity.

For the output ``f`` the adjoint of a node ``v`` is ``df/dv``; it is the
sum over the consumers ``c`` of ``v`` of upstream x local,
``df/dc * dc/dv`` (gradients add where a value branches). The local
derivative ``dc/dv`` is never looked up in a table: the VJP rule of the
consumer's op (its entry in `ops`) obtains it from SymPy, for ``scalar`` nodes by
``sympy.diff`` of the consumer's own, one-operation expression. Each local
derivative is shallow, so the backward pass costs a small constant times the
forward pass (the cheap-gradient theorem), unlike ``sympy.diff`` of the whole
nested expression.

The gate patterns of the lecture fall out: ``diff(a + b, a) = 1`` (add
distributes), ``diff(a*b, a) = b`` (mul swaps), ``diff(Max(a, b), a) =
I[a > b]`` (max routes).
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from ..errors import SymbackError
from ..ir import NO_META, Graph, Meta, Node, no_gc
from ..ops import Term, vjp_of


def relevant(graph: Graph, output: str, wrt: list[str]) -> set[str]:
    """Nodes on some path from a `wrt` leaf to `output`: the only ones needing adjoints."""
    downstream = set(wrt)
    for node in graph:
        if not downstream.isdisjoint(node.args):
            downstream.add(node.name)
    upstream = {output}
    for node in reversed(list(graph)):
        if node.name in upstream:
            upstream.update(node.args)
    return downstream & upstream


def _add_adjoint(out: Graph, name: str, node: Node, parts: list[Term], name_for) -> Node:
    """The adjoint node of `node` (returned): the sum of its consumers' contributions.

    Scalar contributions are summed in one expression (the worked table's
    row). A vector or matrix value with several consumers gets one node per
    path, named ``<adjoint>_via_<consumer>``, and the adjoint adds them, so
    every contribution stays visible in the rendered equations.
    """

    if len(parts) == 1 and parts[0].op == "scalar" and not parts[0].joins:  # most adjoints: one consumer
        expr = parts[0].value
        return out.add(Node(name, "scalar", out.uses(expr), expr, node.shape, "adjoint", node.name, tuple(parts)))

    def add(name: str, op: str, expr, terms: tuple, meta: Meta) -> Node:
        return out.add(Node(name, op, args=out.uses(expr), expr=expr, shape=node.shape, role="adjoint",
                            of=node.name, terms=terms, meta=meta))

    joined = [t.value for t in parts if t.joins]  # a regulariser's lam W joins the one product it adds to
    parts = [t for t in parts if not t.joins] or parts
    if joined and (len(parts) != 1 or parts[0].joins):
        raise SymbackError(f"{node.name}: a regularised weight must have exactly one consumer")
    if joined:
        parts = [replace(parts[0], value=sp.MatAdd(parts[0].value, *joined))]
    if all(t.op == "scalar" for t in parts):
        value = parts[0].value if len(parts) == 1 else sp.Add(*[t.value for t in parts])
        return add(name, "scalar", value, tuple(parts), NO_META)
    if len(parts) == 1:
        return add(name, parts[0].op, parts[0].value, tuple(parts), _linear_meta(out, parts[0]))
    paths = [add(name_for(f"{node.name}_via_{t.consumer}"), t.op, t.value, (t,),
                 _linear_meta(out, t, t.consumer)).symbol for t in parts]
    return add(name, "ew", sp.Add(*paths), tuple(parts), Meta(sum_of_paths=True))


def _linear_meta(graph: Graph, term: Term, path: str | None = None) -> Meta:
    if term.op != "linear":
        return Meta(path=path)
    names = {s.name for s in term.value.atoms(sp.MatrixSymbol)} & set(graph.names)
    return Meta(shapes={n: graph[n].shape for n in sorted(names, key=graph.position)}, path=path)


@no_gc()  # its nodes all stay alive: the collector would walk them again and again, and find no garbage
def reverse(graph: Graph, output: str, wrt: list[str]) -> tuple[Graph, dict[str, str]]:
    """The forward graph followed by its adjoint nodes; returns (graph, wrt -> adjoint name)."""
    forward = list(graph)
    out = graph.copy()
    needed = relevant(graph, output, wrt)

    def name_for(v: str) -> str:
        """d output / d v, e.g. ``df_dq``, with underscores appended while `out` has it: each name is added to `out`
        before the next is asked for (no set of all the names beside the graph's own)."""
        name = f"d{output}_d{v}"
        while name in out:
            name += "_"
        return name

    adjoint = {output: name_for(output)}
    terms: dict[str, list[Term]] = {}  # each list made by the first consumer met, dropped once its adjoint is made
    made = out.add(Node(adjoint[output], "seed", expr=sp.Integer(1), shape=graph[output].shape, role="adjoint",
                        of=output))
    for node in reversed(forward):
        v = node.name
        if v not in needed:
            continue
        if v != output:
            adjoint[v] = name_for(v)
            made = _add_adjoint(out, adjoint[v], node, terms.pop(v, []), name_for)
        if not node.is_leaf:
            rule, upstream = vjp_of(node), made.symbol
            for arg in node.args:
                if arg in needed:
                    terms.setdefault(arg, []).append(rule(node, arg, upstream))
    for w in wrt:  # a variable on no path to the output (cancelled: x + y - y): its gradient is 0, a node as any other
        if w not in adjoint and w in graph:
            adjoint[w] = name_for(w)
            out.add(Node(adjoint[w], "scalar", (), sp.Integer(0), graph[w].shape, "adjoint", w))
    return out, {w: adjoint[w] for w in wrt if w in adjoint}
