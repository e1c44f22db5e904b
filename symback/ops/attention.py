"""``product``: products of computed values and the row-wise softmax, in index form (`ops.tensor.IndexForm`).

A T x d sequence is stored flat, row-major (T*d entries per sample), as the conv ops store an image; a parameter
matrix is read as itself. The forward definitions, per sample::

    matmul     out[i, j] = s * sum_c A[i, c] B[c, j]          (A or B read transposed: A[c, i], B[j, c])
    transpose  out[j, i] = A[i, j]
    outer      out[i, j] = a[i] b[j]
    softmax    P[i, j]   = exp(S[i, j]) / sum_u exp(S[i, u])  (row by row)

Every VJP is `tensor.vjp`: ``sympy.diff`` of ``sum_out G[out] * out`` with respect to one entry of the argument, the
Kronecker deltas collapsed. For the softmax, the quotient's derivative then reads ``exp(S[i, j]) / sum_u exp(S[i,
u])`` where P stands; `fold` writes P there, which gives the row-wise JVP ``P * (G - sum_u G P)`` (a test proves it
equal to the unfolded derivative at random points).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import SymbackError
from ..ir import Node
from . import tensor
from .base import Op, Term, register
from .tensor import IndexForm, index, nested


@dataclass(frozen=True)
class Layout:
    """One product node's shapes and what a course says of each argument's gradient (`tensor.vjp` reads
    `indices_of` and `notes`; the drawings read `shape_out`)."""

    kind: str
    shape_out: tuple
    grad_indices: tuple = ()  # (arg, its gradient's free indices)
    said: tuple = ()  # (arg, the textbook statement of its gradient)

    def indices_of(self, arg: str) -> tuple:
        return dict(self.grad_indices)[arg]

    @property
    def notes(self) -> dict:
        return dict(self.said)


_G = ", G the upstream delta"


def _t(name: str, transposed: bool) -> str:
    """`name`, or ``(name transposed)``: ASCII words, since a note is printed as LaTeX text too."""
    return f"({name} transposed)" if transposed else name


def _free(*names: str) -> tuple:
    return tuple(index(n, bound=False) for n in names)


def _array(name: str, shape: tuple) -> sp.IndexedBase:
    return sp.IndexedBase(name, shape=shape, real=True)


def matmul(name: str, a: str, sa: tuple, b: str, sb: tuple, ta=False, tb=False, scale=1):
    """``out = s A B`` (A^T, B^T when `ta`, `tb`), or a one-line error naming both shapes and the module."""
    (m, k1), (k2, n) = (sa[::-1] if ta else sa), (sb[::-1] if tb else sb)
    if sp.simplify(sp.sympify(k1) - k2) != 0:
        left, right = _t(a, ta), _t(b, tb)
        raise SymbackError(f"module {name}: cannot multiply {left} ({m} x {k1}) by {right} ({k2} x {n}): "
                           f"{k1} columns against {k2} rows")
    i, j, c = index("i"), index("j"), index("c")
    A, B = _array(a, sa), _array(b, sb)
    left, right = (A[c, i] if ta else A[i, c]), (B[j, c] if tb else B[c, j])
    body = nested(scale * left * right, [(c, 0, k1 - 1)])  # the scale inside: one term, as codegen sums it
    grads = [(a, _free(*(("c", "i") if ta else ("i", "c")))), (b, _free(*(("j", "c") if tb else ("c", "j"))))]
    at, bt = _t(a, ta), _t(b, tb)  # notes in words and ASCII: LaTeX prints them as text
    by = "" if scale == 1 else (f" / {1 / scale}" if sp.denom(1 / scale) == 1 else f" times {scale}")
    said = ((a, (f"{_t(b, not tb)} {_t('G', True)}" if ta else f"G {_t(b, not tb)}") + by + _G),
            (b, (f"{_t('G', True)} {_t(a, ta)}" if tb else f"{_t(a, not ta)} G") + by + _G))
    if a == b:  # tensor.vjp differentiates one read of an arg (a Gram matrix x xᵀ would need both)
        raise SymbackError(f"module {name}: {at} {bt} reads one value twice; multiply it by a copy (g.add(copy, v))")
    note = f"{at} {bt}" + by
    return IndexForm(body, [(i, m), (j, n)], note), Layout("matmul", (m, n), tuple(grads), said)


def transpose(name: str, a: str, sa: tuple):
    """``out[j, i] = A[i, j]``; a value that is not a matrix has no transpose to take."""
    if len(sa) != 2:
        raise SymbackError(f"module {name}: the transpose of {a} needs a matrix (rows, cols), {a} has shape {sa}")
    i, j = index("i"), index("j")
    form = IndexForm(_array(a, sa)[i, j], [(j, sa[1]), (i, sa[0])], _t(a, True))
    return form, Layout("transpose", (sa[1], sa[0]), ((a, _free("i", "j")),), ((a, _t("G", True) + _G),))


def outer(name: str, a: str, sa: tuple, b: str, sb: tuple):
    """``out[i, j] = a[i] b[j]`` of two vectors."""
    if len(sa) != 1 or len(sb) != 1:
        raise SymbackError(f"module {name}: an outer product needs two vectors, {a} has shape {sa} and {b} {sb}")
    if a == b:
        raise SymbackError(f"module {name}: {a} {_t(a, True)} reads one value twice; multiply it by a copy")
    i, j = index("i"), index("j")
    form = IndexForm(_array(a, sa)[i] * _array(b, sb)[j], [(i, sa[0]), (j, sb[0])], f"{a} {_t(b, True)}")
    said = ((a, f"G {b}" + _G), (b, f"{_t('G', True)} {a}" + _G))
    return form, Layout("outer", (sa[0], sb[0]), ((a, _free("i")), (b, _free("j"))), said)


def row_softmax(name: str, s: str, shape: tuple):
    """``P[i, j] = exp(S[i, j]) / sum_u exp(S[i, u])``: the softmax of each row of a matrix."""
    if len(shape) != 2:
        raise SymbackError(f"module {name}: a row-wise softmax needs a matrix, {s} has shape {shape}")
    t, u, v = index("i"), index("j"), index("u")  # row i, column j, the row sum's u (names the printers know)
    S = _array(s, shape)
    form = IndexForm(sp.exp(S[t, u]) / sp.Sum(sp.exp(S[t, v]), (v, 0, shape[1] - 1)), [(t, shape[0]), (u, shape[1])],
                     "the softmax of each row")
    said = ((s, "the softmax's Jacobian-vector product, row by row: P * (G - the sum of G * P over the row)" + _G),)
    return form, Layout("softmax", tuple(shape), ((s, _free("i", "c")),), said)


def fold(expr: sp.Expr, out: str, s: str) -> sp.Expr:
    """Each ``exp(S[a, b])`` over the row sum ``sum_v exp(S[a, v])`` written as the softmax's own entry ``P[a, b]``."""
    P = None

    def one(m: sp.Mul) -> sp.Expr:
        nonlocal P
        exps = [f for f in m.args if isinstance(f, sp.exp) and isinstance(f.args[0], sp.Indexed)
                and f.args[0].base.name == s]
        rows = {}
        for f in m.args:
            if f.is_Pow and f.exp.is_Integer and f.exp < 0 and isinstance(f.base, sp.Sum) \
                    and isinstance(f.base.function, sp.exp):
                rows[f.base.function.args[0].indices[0]] = (f, -int(f.exp))
        if not exps or not rows:
            return m
        rest = {f: f for f in m.args}
        for e in exps:
            row = e.args[0].indices[0]
            if rows.get(row, (None, 0))[1] > 0:
                P = P or sp.IndexedBase(out, shape=e.args[0].base.shape, real=True)
                pw, k = rows[row]
                rows[row] = (pw, k - 1)
                rest[e] = P[e.args[0].indices]
        for pw, k in rows.values():
            rest[pw] = pw.base ** -k
        return sp.Mul(*rest.values())

    return expr.replace(lambda e: e.is_Mul, one)


def vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    term = tensor.vjp(node, arg, upstream)
    if node.meta.geometry.kind != "softmax":
        return term
    form = term.value
    value = IndexForm(fold(form.body, node.name, arg), form.axes, form.note)
    return Term(node.name, value, value, op="index")


register(Op("product", "a product of computed values, a transpose or a row-wise softmax, in index form", vjp=vjp,
            numeric=tensor.value, batched=tensor.batched))
