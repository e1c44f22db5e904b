"""NumPy values of SymPy expressions, for the ops' `numeric` rules (the oracle evaluator).

Matrix expressions are evaluated by their products (vectors as (n, 1)
columns), elementwise expressions through `lambdify`, reductions
``Sum(..., (j, 0, n-1))`` by summing and indexed picks ``f[y]`` by indexing.
No code generation is involved, so these values check the generated kernels.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..ir import sym
from ..nonsmooth import Indicator
from .base import I

#: functions NumPy lacks, for lambdify (evaluated elementwise with the math module)
_EXTRA = {"erf": np.vectorize(math.erf, otypes=[float]), "erfc": np.vectorize(math.erfc, otypes=[float])}
MODULES = [_EXTRA, "numpy"]


def matrix_value(expr, values: dict) -> np.ndarray:
    """Evaluate a matrix expression; vectors are (n, 1) columns here."""
    if isinstance(expr, sp.MatrixSymbol):
        v = np.asarray(values[expr.name], dtype=float)
        return v.reshape(-1, 1) if v.ndim == 1 else v
    if isinstance(expr, sp.Transpose):
        return matrix_value(expr.arg, values).T
    if isinstance(expr, sp.BlockMatrix):
        return np.vstack([matrix_value(b, values) for b in expr.blocks])
    if isinstance(expr, sp.MatrixSlice):
        (r0, r1, _), (c0, c1, _) = expr.rowslice, expr.colslice
        return matrix_value(expr.parent, values)[int(r0):int(r1), int(c0):int(c1)]
    if isinstance(expr, sp.MatAdd):
        return sum(matrix_value(a, values) for a in expr.args)
    if isinstance(expr, sp.MatMul):
        out, scale = None, 1.0
        for a in expr.args:
            if getattr(a, "is_Matrix", False):
                m = matrix_value(a, values)
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


def elementwise_value(expr: sp.Expr, values: dict, size) -> np.ndarray | float:
    """Evaluate an elementwise expression (with reductions and indexed picks); `size` None for a scalar."""
    env: dict[sp.Symbol, object] = {}
    # reductions first: Sum(body(X[j]), (j, lo, hi)) -> a number
    for s in sorted(expr.atoms(sp.Sum), key=sp.count_ops):
        (j, lo, hi), body = s.limits[0], s.function
        picks = {e: sp.Dummy(e.base.name) for e in body.atoms(sp.Indexed) if e.indices == (j,)}
        f = sp.lambdify(list(picks.values()), _scalarize(body.xreplace(picks)), MODULES)
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
    f = sp.lambdify(syms + list(env), _scalarize(expr), MODULES)
    out = _real(f(*args, *env.values()))
    if size is None:
        return float(out)
    return np.broadcast_to(np.asarray(out, dtype=float), (int(size),)).copy()


def pointwise(node, values: dict):
    """The NumPy value of a node whose expression is elementwise in its args (scalar, ew, loss, seed)."""
    if len(node.shape) == 2:  # a sum of matrix paths (shared weights)
        return sum(np.asarray(values[a]) for a in node.args)
    return elementwise_value(node.expr, values, node.shape[0] if len(node.shape) == 1 else None)


def matrix(node, values: dict):
    """The NumPy value of a node whose expression is a matrix expression (linear, concat)."""
    m = matrix_value(node.expr, values)
    return m.ravel() if len(node.shape) == 1 else m


def substitute(node, values: dict) -> sp.Expr:
    """The exact value of a node whose expression is in its args' symbols (scalar, ew of scalars, seed)."""
    return node.expr.xreplace({sym(a): values[a] for a in node.args})
