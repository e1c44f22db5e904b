"""Teaching views of a derivation: the computation-graph picture and the narrative.

Both read the IR (`Graph` with forward and adjoint nodes) plus, when a point
is given, the value of every node; neither looks at the expression the graph
came from. Anything that offers ``.graph``, ``.output`` and ``.wrt`` and
whose adjoint nodes carry ``of`` and ``terms`` (as `derive.reverse` builds
them) can be drawn and explained: the scalar `Gradient`, and a network or
DAG `Derivation` (a SPEC on the command line), whose numbers come from one
random sample drawn from a seed (``--at seed=N``).
"""

from __future__ import annotations

import re

from ..errors import SymbackError

SPEC = re.compile(r".+\.py(:[A-Za-z_]\w*)?")


def is_spec(text) -> bool:
    """A command-line argument names a SPEC (``file.py`` or ``file.py:name``), not an expression."""
    return isinstance(text, str) and SPEC.fullmatch(text.strip()) is not None


def is_network(source) -> bool:
    """A network or DAG source: a SPEC, a declared object with ``derive()``, or its `Derivation`."""
    from ..derivation import Derivation
    from ..spec import declared

    if isinstance(source, Derivation):
        return source.summary.kind != "expression"
    return is_spec(source) or declared(source)


def network_seed(at=None, seed=None) -> int | None:
    """The seed of the random sample a network is shown at: ``--seed 3``, ``--at seed=3`` or ``at={"seed": 3}``."""
    if at is None or isinstance(at, int):
        at = {} if at is None else {"seed": at}
    if isinstance(at, str):
        pairs = [p.strip() for p in at.split(",") if p.strip()]
        at = {}
        for p in pairs:
            key, eq, val = p.partition("=")
            if not eq:
                raise SymbackError(f"--at: expected seed=N for a network, got {p!r}")
            at[key.strip()] = val.strip()
    unknown = [k for k in at if k != "seed"]
    if unknown:
        raise SymbackError(
            f"--at: {unknown[0]!r} is not known for a network; give seed=N "
            "(the network is shown at a random sample drawn from that seed)"
        )
    if "seed" in at:
        if seed is not None and int(seed) != _int_seed(at["seed"]):
            raise SymbackError("--seed and --at seed=... disagree; give one of them")
        seed = at["seed"]
    return None if seed is None else _int_seed(seed)


def _int_seed(value) -> int:
    try:
        seed = int(str(value))
    except ValueError:
        raise SymbackError(f"--at seed={value}: the seed must be a whole number") from None
    if seed < 0:
        raise SymbackError(f"--at seed={value}: the seed must be 0 or more")
    return seed


def network(source):
    """The `Derivation` of a SPEC, a declared `Network`/`DAG`, or a `Derivation` itself."""
    from ..derivation import Derivation
    from ..spec import load_spec

    if isinstance(source, Derivation):
        return source
    if is_spec(source):
        source = load_spec(source.strip())
    return source.derive()


def resolve(source, at=None, wrt=None, seed=None):
    """(derivation, values or None) from an expression, named steps, a Gradient, a Table or a network.

    `at` is a dict such as ``{"x": -2}`` or the CLI's text ``"x=-2,y=5"``; for
    a network (a SPEC, a `Network`, a `DAG` or its `Derivation`) it is
    ``seed=N`` (or pass `seed`), and the values are NumPy arrays for one random sample.
    """
    from ..gradient import Gradient, Table, grad
    from ..parse import parse_point

    if is_network(source):
        from .point import values_at

        if wrt is not None:
            raise SymbackError("--wrt applies to expressions; a network is differentiated by all its parameters")
        derivation = network(source)
        s = network_seed(at, seed)
        return derivation, (None if s is None else values_at(derivation, s))
    if seed is not None:
        raise SymbackError("--seed applies to a network SPEC; for an expression give a point with --at x=...")

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
