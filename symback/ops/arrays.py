"""NumPy values of SymPy expressions, for the ops' `numeric` rules (the oracle evaluator).

Matrix expressions are evaluated by their products (vectors as (n, 1)
columns), elementwise expressions through `lambdify`, reductions
``Sum(..., (j, 0, n-1))`` by summing and indexed picks ``f[y]`` by indexing.
No code generation is involved, so these values check the generated kernels.
"""

from __future__ import annotations

import math
from functools import lru_cache

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


@lru_cache(maxsize=1024)
def compiled(expr: sp.Expr):
    """`expr` compiled once (a network's nodes are evaluated for many batches): its reductions, picks and function."""
    sums, picks, dummies = [], [], []
    for s in sorted(expr.atoms(sp.Sum), key=sp.count_ops):  # reductions over components, per sample
        (j, lo, hi), body = s.limits[0], s.function
        found = {e: sp.Dummy(e.base.name) for e in body.atoms(sp.Indexed) if e.indices == (j,)}
        inner = body.xreplace(found)
        # a per-sample scalar in the body (tanh(h[j] mu)): an argument too, by its name
        extra = sorted(inner.free_symbols - set(found.values()) - {j}, key=str)
        f = sp.lambdify(list(found.values()) + extra, _scalarize(inner), MODULES)
        sums.append((f, [e.base.name for e in found] + [x.name for x in extra], int(hi - lo + 1)))
        dummies.append(sp.Dummy("sum"))
        expr = expr.xreplace({s: dummies[-1]})
    for e in expr.atoms(sp.Indexed):  # picks such as f[y], y one label per sample
        picks.append((e.base.name, e.indices[0]))
        dummies.append(sp.Dummy("pick"))
        expr = expr.xreplace({e: dummies[-1]})
    syms = [s for s in expr.free_symbols if s not in dummies]
    return sums, picks, syms, sp.lambdify(syms + dummies, _scalarize(expr), MODULES)


def symbol_values(syms: list, values: dict, expr: sp.Expr, components) -> list:
    """The values of an expression's symbols: the component index `I` as `components`, every other by its name."""
    args = []
    for s in syms:
        if s == I:
            args.append(components)
        elif s.name in values:
            args.append(np.asarray(values[s.name], dtype=float))
        else:
            raise SymbackError(f"no value for {s.name} in {expr}")
    return args


def elementwise_value(expr: sp.Expr, values: dict, size) -> np.ndarray | float:
    """Evaluate an elementwise expression (with reductions and indexed picks); `size` None for a scalar."""
    sums, picks, syms, f = compiled(expr)
    args = symbol_values(syms, values, expr, None if size is None else np.arange(int(size)))
    for g, bases, n in sums:  # reductions Sum(body(X[j]), (j, lo, hi)) -> a number
        args.append(float(np.sum(_real(g(*[np.asarray(values[b], dtype=float) for b in bases])) * np.ones(n))))
    for base, k in picks:  # indexed picks such as f[y]
        args.append(float(np.asarray(values[base])[int(values[str(k)]) if k.is_Symbol else int(k)]))
    out = _real(f(*args))
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
