"""Batched NumPy evaluation of a derivation's IR: every node for many samples at once.

Stage: teaching views (numbers for pictures, narratives and gradient norms).
Input: a `Graph` (forward and adjoint nodes). Output: the value of every node
for a batch. A vector node holds an array of shape (n, batch), one column per
sample (the lecture's column convention), so a linear node is one matrix
product, an elementwise node one NumPy expression, and a weight's adjoint
``g h^T`` the sum over the batch of the per-sample outer products. Each node
is compiled once (``lambdify``) and reused for every batch, initialisation
and scale.

Teach evaluates through `evaluator` only, so that moving to the core op
table's evaluator later changes this module and nothing else.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..ops import I

_FUNCTIONS = {
    "Indicator": lambda c: np.asarray(c, dtype=float),
    "kronecker": lambda a, b: np.asarray(np.equal(a, b), dtype=float),
    "erf": np.vectorize(math.erf, otypes=[float]),
    "erfc": np.vectorize(math.erfc, otypes=[float]),
}
_MODULES = [_FUNCTIONS, "numpy"]
_KRONECKER = sp.Function("kronecker")  # lambdify would print KroneckerDelta as a Python `if`


def whole(size, where: str) -> int:
    """A size as an int; a one-line error for a symbolic size."""
    if not isinstance(size, (int, np.integer)) and not getattr(size, "is_Integer", False):
        raise SymbackError(f"{where} has symbolic size {size}; give integer widths to evaluate the network")
    return int(size)


def evaluator(graph) -> Batch:
    """The batched evaluator of `graph`, compiled once (the one way teach evaluates with NumPy)."""
    return Batch(graph)


def matrix(expr, values: dict) -> np.ndarray:
    """A matrix expression over node values; vectors are columns, (n, batch)."""
    if isinstance(expr, sp.MatrixSymbol):
        v = np.asarray(values[expr.name], dtype=float)
        return v.reshape(-1, 1) if v.ndim == 1 else v
    if isinstance(expr, sp.Transpose):
        return matrix(expr.arg, values).T
    if isinstance(expr, sp.BlockMatrix):
        return np.vstack([matrix(b, values) for b in expr.blocks])
    if isinstance(expr, sp.MatrixSlice):
        (r0, r1, _), (c0, c1, _) = expr.rowslice, expr.colslice
        return matrix(expr.parent, values)[int(r0) : int(r1), int(c0) : int(c1)]
    if isinstance(expr, sp.MatAdd):
        return sum(matrix(a, values) for a in expr.args)
    if isinstance(expr, sp.MatMul):
        out, scale = None, 1.0
        for a in expr.args:
            if getattr(a, "is_Matrix", False):
                m = matrix(a, values)
                out = m if out is None else out @ m
            else:
                scale *= float(a)
        return scale * out
    raise SymbackError(f"cannot evaluate matrix expression {expr}")


class Batch:
    """The IR of a derivation compiled once, evaluated for a batch of samples (columns)."""

    def __init__(self, graph):
        self.graph = graph
        self._batch = 1
        self.steps = [(node, self._compile(node)) for node in graph if not node.is_leaf]

    def _compile(self, node):
        if node.op in ("linear", "concat"):
            expr = node.expr
            return lambda values: matrix(expr, values)
        if node.op == "seed":
            return lambda values: np.ones(self._batch)
        if node.op in ("ew", "loss", "scalar") and len(node.shape) == 2:
            args = node.args  # a sum of per-path matrices (a shared weight)
            return lambda values: sum(np.asarray(values[a]) for a in args)
        if node.op in ("ew", "loss", "scalar"):
            return self.elementwise(node.expr, node.shape, node.name)
        raise SymbackError(f"node {node.name}: cannot evaluate op {node.op!r}")

    def elementwise(self, expr, shape, name: str = "expression"):
        """A function of the node values: `expr` per component (axis 0) and sample (axis 1); Sum over j reduces axis 0."""
        expr = expr.replace(sp.KroneckerDelta, _KRONECKER)
        bound = []  # (dummy, kind, payload) filled in at run time, in order
        for s in sorted(expr.atoms(sp.Sum), key=sp.count_ops):
            (j, _, _), body = s.limits[0], s.function
            picks = {e: sp.Dummy(e.base.name) for e in body.atoms(sp.Indexed) if e.indices == (j,)}
            body = body.xreplace(picks)
            inner = sorted(body.free_symbols - {j} - set(picks.values()), key=str)
            f = sp.lambdify(list(picks.values()) + inner, body, _MODULES)
            d = sp.Dummy("sum")
            bound.append((d, "sum", (f, [e.base.name for e in picks], [s.name for s in inner])))
            expr = expr.xreplace({s: d})
        for e in expr.atoms(sp.Indexed):  # a pick such as f[y]: one component per sample
            d = sp.Dummy("pick")
            bound.append((d, "pick", (e.base.name, e.indices[0])))
            expr = expr.xreplace({e: d})
        dummies = {d for d, _, _ in bound}
        syms = sorted((s for s in expr.free_symbols if s not in dummies), key=str)
        f = sp.lambdify(syms + [d for d, _, _ in bound], expr, _MODULES)
        size = shape[0] if len(shape) == 1 else None
        names = [s.name for s in syms]

        def run(values):
            args = []
            for s in names:
                args.append(
                    np.arange(whole(size, name))[:, None]
                    if s == I.name and s not in values
                    else np.asarray(values[s], dtype=float if s != "y" else None)
                )
            for d, kind, payload in bound:
                if kind == "sum":
                    g, bases, inner = payload
                    out = g(*[np.asarray(values[b], dtype=float) for b in bases], *[values[s] for s in inner])
                    args.append(np.sum(np.broadcast_to(out, np.broadcast(*[values[b] for b in bases]).shape), axis=0))
                else:
                    base, idx = payload
                    arr = np.asarray(values[base], dtype=float)
                    if isinstance(idx, sp.Symbol):
                        labels = np.asarray(values[idx.name]).astype(int).reshape(1, -1)
                        args.append(np.take_along_axis(arr, labels, axis=0)[0])
                    else:
                        args.append(arr[int(idx)])
            out = np.asarray(f(*args), dtype=float)
            want = (whole(size, name), self._batch) if size is not None else (self._batch,)
            return np.broadcast_to(out, want) if out.shape != want else out

        return run

    def run(self, params: dict, inputs: dict, y) -> dict:
        """Values of every node: vectors (n, batch), per-sample scalars (batch,), weight adjoints summed over the batch."""
        self._batch = next(iter(inputs.values())).shape[1]
        values = {k: np.asarray(v, dtype=float) for k, v in params.items()}
        values.update(inputs)
        values["y"] = np.asarray(y)
        for node, step in self.steps:
            values[node.name] = step(values)
        return values
