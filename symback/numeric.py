"""NumPy reference evaluation of an IR graph, one sample at a time or a whole batch at once.

The oracle between the symbolic derivation and the generated kernels: each
node is evaluated by its op's `numeric` rule (`evaluate_sample`) or `batched`
rule (`evaluate_batch`, the same numbers for B samples in one pass; see
`ops`), which read the node's SymPy expression directly, with no code
generation involved. The teaching views' numbers (a network at a random
sample, gradient norms over a batch) come from `evaluate_batch` too.
"""

from __future__ import annotations

import numpy as np

from .errors import SymbackError
from .ir import Graph
from .ops import lookup
from .ops.batched import batch_of, elementwise_value


def _run(graph: Graph, values: dict, rule: str, what: str) -> dict:
    """`values` (the leaves') with every other node's value by its op's `rule` (``numeric`` or ``batched``)."""
    for node in graph:
        if node.is_leaf:
            if node.name not in values:
                raise SymbackError(f"no value given for {node.op} {node.name}")
            continue
        fn = getattr(lookup(node.op), rule)
        if fn is None:
            raise SymbackError(f"node {node.name}: cannot evaluate op {node.op!r}{what}")
        values[node.name] = fn(node, values)
    return values


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
    return _run(graph, values, "numeric", "")


def evaluate_batch(graph: Graph, params: dict, X, Y) -> dict:
    """Values of every node for a batch, each with a trailing batch axis: ``(B,)``, ``(n, B)``, ``(m, n, B)``.

    `X` is ``(B, n)`` (one sample per row, as the generated kernels take it) or
    a dict of such arrays by input name; `Y` holds ``(B,)`` class labels or
    ``(B, n)`` targets. Per-sample gradients of a parameter are ``(m, n, B)``.
    """
    inputs = X if isinstance(X, dict) else {"x": X}
    values: dict[str, np.ndarray] = {k: np.asarray(v, dtype=float).T for k, v in inputs.items()}
    Y = np.asarray(Y)
    values["y"] = Y if Y.ndim == 1 else np.asarray(Y, dtype=float).T
    B = values["y"].shape[-1]
    for k, v in params.items():  # the same parameters for every sample: a broadcast view, no copy
        v = np.asarray(v, dtype=float)
        values[k] = np.broadcast_to(v[..., None], v.shape + (B,))
    return _run(graph, values, "batched", " for a batch")


def evaluate_expr_batch(expr, values: dict, shape: tuple = ()) -> np.ndarray:
    """An elementwise expression over `evaluate_batch`'s values: ``(n, B)`` for shape ``(n,)``, else ``(B,)``."""
    return elementwise_value(expr, values, shape[0] if shape else None, batch_of(values))
