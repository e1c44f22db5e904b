"""Teaching views of a derivation: the computation-graph picture and the narrative.

Both read the IR (`Graph` with forward and adjoint nodes) plus, when a point
is given, the value of every node; neither looks at the expression the graph
came from. Anything that offers ``.graph``, ``.output`` and ``.wrt`` and
whose adjoint nodes carry ``of`` and ``terms`` (as `derive.reverse` builds
them) can be drawn and explained: today the scalar `Gradient`, later a
network or DAG derivation.
"""

from __future__ import annotations

from ..errors import SymbackError


def resolve(source, at=None, wrt=None):
    """(derivation, values or None) from an expression, named steps, a Gradient or a Table.

    `at` is a dict such as ``{"x": -2}`` or the CLI's text ``"x=-2,y=5"``.
    """
    from ..gradient import Gradient, Table, grad
    from ..parse import parse_point

    if isinstance(source, Table):
        if at is not None:
            raise SymbackError("at=: the Table already fixes the point; pass the Gradient to choose another")
        return source.gradient, source.values
    if isinstance(source, Gradient):
        if wrt is not None:
            raise SymbackError("wrt=: the Gradient already fixes the variables; pass the expression instead")
        derivation = source
    elif hasattr(source, "graph") and hasattr(source, "output") and not isinstance(source, type):
        derivation = source  # another front end's derivation over the same IR
    else:
        derivation = grad(source, wrt=wrt)
    if at is None:
        return derivation, None
    if isinstance(at, str):
        at = parse_point(at)
    if not hasattr(derivation, "at"):
        raise SymbackError(f"at=: {type(derivation).__name__} cannot be evaluated at a point")
    return derivation, derivation.at(at).values


def adjoints(graph) -> dict[str, str]:
    """Forward node name -> the name of its adjoint node."""
    return {n.of: n.name for n in graph.backward()}


def seed(graph, output: str):
    """The adjoint node of the output itself (d output / d output = 1)."""
    return graph[adjoints(graph)[output]]


def grad_name(output: str, of: str) -> str:
    """Display name of an adjoint, as the lecture writes it: ``df/dq``."""
    return f"d{output}/d{of}"
