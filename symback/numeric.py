"""NumPy reference evaluation of a network IR, one sample at a time.

The oracle between the symbolic derivation and the generated kernels: it
reads the same IR nodes and evaluates each one directly (matrix expressions
by their products, elementwise expressions through `lambdify`, reductions
``Sum(..., (j, 0, n-1))`` by summing), with no code generation involved.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from .errors import SymbackError
from .ir import Graph, Node
from .nonsmooth import Indicator
from .ops import I

#: functions NumPy lacks, for lambdify (evaluated elementwise with the math module)
_EXTRA = {"erf": np.vectorize(math.erf, otypes=[float]), "erfc": np.vectorize(math.erfc, otypes=[float])}
_MODULES = [_EXTRA, "numpy"]


def _matrix(expr, values: dict) -> np.ndarray:
    """Evaluate a matrix expression; vectors are (n, 1) columns here."""
    if isinstance(expr, sp.MatrixSymbol):
        v = np.asarray(values[expr.name], dtype=float)
        return v.reshape(-1, 1) if v.ndim == 1 else v
    if isinstance(expr, sp.Transpose):
        return _matrix(expr.arg, values).T
    if isinstance(expr, sp.BlockMatrix):
        return np.vstack([_matrix(b, values) for b in expr.blocks])
    if isinstance(expr, sp.MatrixSlice):
        (r0, r1, _), (c0, c1, _) = expr.rowslice, expr.colslice
        return _matrix(expr.parent, values)[int(r0):int(r1), int(c0):int(c1)]
    if isinstance(expr, sp.MatAdd):
        return sum(_matrix(a, values) for a in expr.args)
    if isinstance(expr, sp.MatMul):
        out, scale = None, 1.0
        for a in expr.args:
            if getattr(a, "is_Matrix", False):
                m = _matrix(a, values)
                out = m if out is None else out @ m
            else:
                scale *= float(a)
        return scale * out
    raise SymbackError(f"cannot evaluate matrix expression {expr}")


def _scalarize(expr: sp.Expr) -> sp.Expr:
    """Indicator and Kronecker delta as Piecewise, which lambdify turns into numpy.select."""
    expr = expr.replace(Indicator, lambda c: sp.Piecewise((1, c), (0, True)))
    return expr.replace(sp.KroneckerDelta, lambda a, b: sp.Piecewise((1, sp.Eq(a, b)), (0, True)))


def _real(out):
    """NaN where a value came out complex (sqrt or log of a negative), instead of dropping the imaginary part."""
    out = np.asarray(out)
    if np.iscomplexobj(out):
        out = np.where(out.imag != 0, np.nan, out.real)
    return out


def _elementwise(expr: sp.Expr, values: dict, size) -> np.ndarray | float:
    """Evaluate an elementwise expression (with reductions and indexed picks)."""
    env: dict[sp.Symbol, object] = {}
    # reductions first: Sum(body(X[j]), (j, lo, hi)) -> a number
    for s in sorted(expr.atoms(sp.Sum), key=sp.count_ops):
        (j, lo, hi), body = s.limits[0], s.function
        picks = {e: sp.Dummy(e.base.name) for e in body.atoms(sp.Indexed) if e.indices == (j,)}
        f = sp.lambdify(list(picks.values()), _scalarize(body.xreplace(picks)), _MODULES)
        arrays = [np.asarray(values[e.base.name], dtype=float) for e in picks]
        d = sp.Dummy("sum")
        env[d] = float(np.sum(_real(f(*arrays)) * np.ones(int(hi - lo + 1))))
        expr = expr.xreplace({s: d})
    # indexed picks such as f[y]
    for e in expr.atoms(sp.Indexed):
        d = sp.Dummy("pick")
        idx = int(values[str(e.indices[0])]) if e.indices[0].is_Symbol else int(e.indices[0])
        env[d] = float(np.asarray(values[e.base.name])[idx])
        expr = expr.xreplace({e: d})
    syms = [s for s in expr.free_symbols if s not in env]
    args = []
    for s in syms:
        if s == I:
            args.append(np.arange(int(size)))
        elif s.name in values:
            args.append(np.asarray(values[s.name], dtype=float))
        else:
            raise SymbackError(f"no value for {s.name} in {expr}")
    f = sp.lambdify(syms + list(env), _scalarize(expr), _MODULES)
    out = _real(f(*args, *env.values()))
    if size is None:
        return float(out)
    return np.broadcast_to(np.asarray(out, dtype=float), (int(size),)).copy()


def evaluate_node(node: Node, values: dict):
    if node.op in ("linear", "concat"):
        m = _matrix(node.expr, values)
        return m.ravel() if len(node.shape) == 1 else m
    if node.op in ("ew", "loss", "scalar", "seed"):
        size = node.shape[0] if len(node.shape) == 1 else None
        if len(node.shape) == 2:  # a sum of matrix paths (shared weights)
            return sum(np.asarray(values[a]) for a in node.args)
        return _elementwise(node.expr, values, size)
    raise SymbackError(f"node {node.name}: cannot evaluate op {node.op!r}")


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
