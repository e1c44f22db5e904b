"""NumPy values of SymPy expressions for a whole batch at once: the ops' `batched` rules.

The same expressions `arrays` evaluates one sample at a time, with one more,
trailing axis for the B samples: a per-sample scalar is ``(B,)``, a vector
``(n, B)``, a matrix ``(m, n, B)`` (a weight gradient per sample). Parameters
enter broadcast over the batch (a view, no copy): a parameter times the
batch's columns is one 2-D matrix product, ``W @ [h_1 ... h_B]``, any other
product one `einsum` over the batch; elementwise expressions broadcast
through `lambdify` as they are.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SymbackError
from .arrays import _real, compiled, symbol_values


def matrix_value(expr, values: dict) -> np.ndarray:
    """A matrix expression as a ``(rows, cols, B)`` array; vectors in `values` are ``(n, B)``."""
    if isinstance(expr, sp.MatrixSymbol):
        v = values[expr.name]
        return v[:, None, :] if v.ndim == 2 else v
    if isinstance(expr, sp.Transpose):
        return np.swapaxes(matrix_value(expr.arg, values), 0, 1)
    if isinstance(expr, sp.BlockMatrix):
        rows = [np.concatenate([matrix_value(b, values) for b in row], axis=1) for row in expr.blocks.tolist()]
        return np.concatenate(rows, axis=0)
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
                out = m if out is None else _product(out, m)
            else:
                scale *= float(a)
        return scale * out
    raise SymbackError(f"cannot evaluate matrix expression {expr}")


def _shared(a: np.ndarray) -> bool:
    """Whether `a` is one matrix for every sample (a parameter broadcast over the batch, or a batch of one)."""
    return a.strides[-1] == 0 or a.shape[-1] == 1


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` per sample; a shared matrix times the batch's columns (or its rows times one) is one 2-D product."""
    if _shared(a) and b.shape[1] == 1:  # W @ [h_1 ... h_B]
        return (a[..., 0] @ b[:, 0, :])[:, None, :]
    if _shared(b) and a.shape[0] == 1:  # [h_1 ... h_B]^T @ W
        return (a[0].T @ b[..., 0]).T[None]
    if _shared(a) and _shared(b):
        m = a[..., 0] @ b[..., 0]
        return np.broadcast_to(m[..., None], m.shape + (max(a.shape[-1], b.shape[-1]),))
    return np.einsum("ijb,jkb->ikb", a, b)


def elementwise_value(expr: sp.Expr, values: dict, size, batch: int) -> np.ndarray:
    """An elementwise expression for the batch: ``(size, B)``, or ``(B,)`` when `size` is None."""
    sums, picks, syms, f = compiled(expr)
    args = symbol_values(syms, values, expr, None if size is None else np.arange(int(size))[:, None])
    for g, bases, n in sums:
        out = _real(g(*[np.asarray(values[b], dtype=float) for b in bases]))
        args.append(np.broadcast_to(out, (n, batch)).sum(axis=0))
    for base, k in picks:
        idx = np.asarray(values[str(k)], dtype=int) if k.is_Symbol else np.full(batch, int(k))
        args.append(np.asarray(values[base], dtype=float)[idx, np.arange(batch)])
    out = _real(f(*args))
    shape = (batch,) if size is None else (int(size), batch)
    return np.broadcast_to(np.asarray(out, dtype=float), shape).copy()


def batch_of(values: dict) -> int:
    """B, read from the labels or targets ``y`` (every batched value has it as its last axis)."""
    return int(np.shape(values["y"])[-1])


def pointwise(node, values: dict) -> np.ndarray:
    """The batched rule of scalar, ew, loss and seed nodes."""
    if len(node.shape) == 2:  # a sum of matrix paths (shared weights)
        return sum(values[a] for a in node.args)
    size = node.shape[0] if len(node.shape) == 1 else None
    return elementwise_value(node.expr, values, size, batch_of(values))


def matrix(node, values: dict) -> np.ndarray:
    """The batched rule of linear and concat nodes."""
    m = matrix_value(node.expr, values)
    return m[:, 0, :] if len(node.shape) == 1 else m
