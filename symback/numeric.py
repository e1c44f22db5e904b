"""NumPy reference evaluation of an IR graph, one sample at a time.

The oracle between the symbolic derivation and the generated kernels: each
node is evaluated by its op's `numeric` rule (see `ops`), which reads the
node's SymPy expression directly, with no code generation involved.
"""

from __future__ import annotations

import numpy as np

from .errors import SymbackError
from .ir import Graph, Node
from .ops import lookup
from .ops.arrays import matrix_value as _matrix  # noqa: F401  (teach/point.py evaluates matrix expressions with it)


def evaluate_node(node: Node, values: dict):
    """The NumPy value of one non-leaf node, from its args' values."""
    rule = lookup(node.op).numeric
    if rule is None:
        raise SymbackError(f"node {node.name}: cannot evaluate op {node.op!r}")
    return rule(node, values)


def evaluate_sample(graph: Graph, params: dict, x, y) -> dict:
    """Values of every node for one sample.

    `x` is the input vector, or a dict of input vectors by name; `y` a target vector or a class index.
    """
    values: dict[str, object] = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    if isinstance(x, dict):  # several named inputs (a DAG)
        values.update({k: np.asarray(v, dtype=float) for k, v in x.items()})
    else:
        values["x"] = np.asarray(x, dtype=float)
    values["y"] = y if np.ndim(y) == 0 else np.asarray(y, dtype=float)
    for node in graph:
        if node.is_leaf:
            if node.name not in values:
                raise SymbackError(f"no value given for {node.op} {node.name}")
            continue
        values[node.name] = evaluate_node(node, values)
    return values
