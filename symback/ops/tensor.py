"""Arrays written in index form, ``out[o, i] = sum_c sum_u W[o, c, u] x[c, s*i + d*u - P] + b[o]``: the rules of
convolution and pooling nodes and of their derived gradients.

A node's value is one `IndexForm`: its body (a SymPy expression in `Indexed` entries of the args, each an
`IndexedBase` with its shape, e.g. ``x`` of shape (C, H, W)) and its free indices with their ranges. The IR stores
the value flattened, row-major (an image C x H x W is a vector of C*H*W, a kernel C_out x C_in x k x k a matrix
C_out x C_in*k*k), so every other op (elementwise, linear, the losses) reads it as it reads any vector.

Two reading rules give padding its meaning: an entry whose index is outside its axis, or fractional, is 0
(zero padding; the gaps of a strided gradient), except as an argument of ``Max``, where it is -inf (max-pooling's
padding).

`vjp` is one rule for every index-form op: ``sympy.diff`` of ``sum_out G[out] * body`` with respect to one entry
of the arg, then `collapse` removes each Kronecker delta by solving it for a summation index (an index shift),
so the derivative of a convolution comes out as the textbook's correlation and flipped-kernel convolution.
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from functools import lru_cache, reduce
from itertools import product

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..ir import Node
from ..nonsmooth import Indicator, take_conventions
from .base import Op, Term, register


def index(name: str, bound: bool = True) -> sp.Symbol:
    """An index symbol; summation (bound) and free indices of one name are distinct objects that print alike, so a
    collapsed sum can hand its index over to the gradient's free one."""
    return sp.Symbol(name, integer=True, nonnegative=True) if bound else sp.Symbol(name, integer=True)


class IndexForm(sp.Expr):
    """``out[i1, ..., ik] = body`` for every ``i_r < n_r``: an array written in index form (one node's value), with
    the sentence a course says of it (`note`: "the correlation of the input with the upstream delta, stride 2")."""

    def __new__(cls, body, axes, note=None):
        note = [sp.Symbol(note if isinstance(note, str) else note.name)] if note else []
        return sp.Expr.__new__(cls, sp.sympify(body), sp.Tuple(*[sp.Tuple(i, n) for i, n in axes]), *note)

    @property
    def body(self) -> sp.Expr:
        return self.args[0]

    @property
    def axes(self) -> tuple:
        return tuple((i, n) for i, n in self.args[1])

    @property
    def note(self) -> str:
        return self.args[2].name if len(self.args) > 2 else ""

    @property
    def indices(self) -> tuple:
        return tuple(i for i, _ in self.axes)

    @property
    def shape(self) -> tuple:
        return tuple(n for _, n in self.axes)

    @property
    def free_symbols(self) -> set:
        sizes = set().union(*[sp.sympify(n).free_symbols for n in self.shape])
        return (self.body.free_symbols - set(self.indices)) | sizes

    def _sympystr(self, printer):
        return printer._print(self.body)

    def _show(self, printer, maps: str, note: str, lines: str | None = None) -> str:
        """``(o, i, j) ↦ body  (note)``: the entries are numbers, so products are written side by side. With
        `lines` (LaTeX), each term of the body and the note on a line of their own, so a page holds them."""
        display = printer._settings["display"]
        printer._settings["display"] = replace(display, vectors=frozenset())
        printer._print_Sum = lambda e: printer._sum(", ".join(printer._print(v) for v, *_ in reversed(e.limits)),
                                                    printer._wrap(e.function, sp.Add))
        try:
            body = _exact_body(self.body)
            terms = [_split(printer, t) for t in sp.Add.make_args(body)] if lines else [printer._print(body)]
        finally:
            printer._settings["display"] = display
            del printer._print_Sum
        idx = ", ".join(printer._print(i) for i in self.indices)
        if lines:
            rows = [maps.format(idx=idx, body=terms[0])] + [rf"\quad + {t}" for t in terms[1:]]
            rows += [note.format(part) for part in textwrap.wrap(f"({self.note})", 48)]  # a page holds each
            return lines.format(r" \\ ".join(rows))
        return maps.format(idx=idx, body=terms[0]) + (note.format(self.note) if self.note else "")

    def _symback_text(self, printer):
        return self._show(printer, "({idx}) ↦ {body}", "   ({})")

    def _symback_latex(self, printer):
        return self._show(printer, r"\left({idx}\right) \mapsto {body}", r"\text{{{}}}",
                          r"\begin{{array}}{{l}} {} \end{{array}}")

    _symback_unicode = _symback_text


def _split(printer, term: sp.Expr) -> str:
    """A long product (the max gate's delta times its indicators) on lines of a LaTeX array: the first factor, then
    each other one on a line of its own (a tie's two indicators do not fit one)."""
    text = printer._print(term)
    if len(text) < 160 or not term.is_Mul:
        return text
    return r" \\ \qquad ".join(printer._print(factor) for factor in term.args)


@lru_cache(maxsize=4096)
def _exact_body(body: sp.Expr) -> sp.Expr:
    """`body` with `_exact_indices` (a page prints each tensor in many forms: the rewrite is made once)."""
    return body.replace(sp.Indexed, _exact_indices)


def _exact_indices(base, *indices) -> sp.Indexed:
    """``x[c, (m - p + 1)/2]`` rather than SymPy's distributed ``m/2 - p/2 + 1/2``."""
    return sp.Indexed(base, *[sp.Mul(1 / q, sp.expand(i * q), evaluate=False) if (q := sp.denom(sp.together(i))) != 1
                              else i for i in indices])


def nested(body: sp.Expr, limits: list) -> sp.Expr:
    """``Sum(Sum(body, (q, ...)), (p, ...))``: one sum per index, as the lectures write ``sum_p sum_q``."""
    for lim in reversed(limits):
        body = sp.Sum(body, lim)
    return body


def bases(expr: sp.Expr) -> dict[str, sp.IndexedBase]:
    """The arrays an index-form expression reads, by name."""
    return {b.name: b for b in expr.atoms(sp.IndexedBase)}


# -- the derivation: diff, then collapse the Kronecker deltas ---------------------------------------------------
def _flat(expr: sp.Expr) -> list[tuple[sp.Expr, list]]:
    """`expr` as a sum of (product without sums, its summation limits), nested sums pulled out."""
    if isinstance(expr, sp.Sum):
        return [(t, list(reversed(expr.limits)) + lims) for t, lims in _flat(expr.function)]  # outer first
    if expr.is_Add:
        return [part for a in expr.args for part in _flat(a)]
    if expr.is_Mul:
        out = [(sp.Integer(1), [])]
        for factor in expr.args:
            out = [(t * u, l1 + l2) for (t, l1), (u, l2) in product(out, _flat(factor))]
        return out
    return [(expr, [])]


def _solve(delta: sp.KroneckerDelta, variables: list) -> tuple | None:
    """(v, value) making the delta's two sides equal, for the first summation index `v` it is linear in."""
    diff = delta.args[0] - delta.args[1]
    for v in variables:
        c = diff.coeff(v)
        if c != 0 and c.is_number and not diff.diff(v).has(v):
            return v, sp.expand(-(diff - c * v) / c)
    return None


def collapse(expr: sp.Expr) -> sp.Expr:
    """``sum_v g(v) [v' = a v + e]`` -> ``g((v' - e) / a)``: every Kronecker delta solved for a summation index
    (outer indices first: an output position before a kernel tap, so the input gradient keeps the kernel's index,
    a convolution). The dropped index's range is kept by the array it indexed: outside it, or fractional, the
    entry reads 0."""
    terms = []
    for term, limits in _flat(sp.expand(expr)):
        while True:
            found = next(((d, s) for d in term.atoms(sp.KroneckerDelta)
                          if (s := _solve(d, [lim[0] for lim in limits])) is not None), None)
            if found is None:
                break
            delta, (v, value) = found
            term = term.xreplace({delta: sp.Integer(1)}).xreplace({v: value})
            limits = [lim for lim in limits if lim[0] != v]
        if term != 0:
            terms.append(nested(term, limits))
    return sp.Add(*terms)


def vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    """The contribution to `arg`'s adjoint: d/d arg[free] of ``sum_out G[out] * out[out]``, deltas collapsed."""
    form, geometry = node.expr, node.meta.geometry
    base = bases(form.body).get(arg)
    if base is None:
        raise SymbackError(f"node {node.name}: {arg} is not read by {form.body}")
    G = sp.IndexedBase(upstream.name, shape=form.shape, real=True)
    total = nested(G[form.indices] * form.body, [(i, 0, n - 1) for i, n in form.axes])
    free = geometry.indices_of(arg)
    d = collapse(take_conventions(sp.diff(total, base[free])))
    value = IndexForm(d, list(zip(free, base.shape)), geometry.notes.get(arg))
    return Term(node.name, value, value, op="index")


# -- NumPy values: one broadcast grid over every index, a trailing batch axis -----------------------------------
class _Grid:
    """The values of one index-form expression: each index is an axis of one grid, the batch the last axis."""

    def __init__(self, form: IndexForm, values: dict, batch: int | None):
        self.values, self.batch = values, batch
        sums = [lim for s in form.body.atoms(sp.Sum) for lim in s.limits]
        self.axes = {i: (0, _int(n) - 1) for i, n in form.axes}
        self.axes.update({v: (_int(lo), _int(hi)) for v, lo, hi in sums})
        self.rank = len(self.axes) + 1
        self.pos = {v: k for k, v in enumerate(self.axes)}

    def arange(self, v: sp.Symbol) -> np.ndarray:
        lo, hi = self.axes[v]
        shape = [1] * self.rank
        shape[self.pos[v]] = hi - lo + 1
        return np.arange(lo, hi + 1, dtype=float).reshape(shape)

    def array(self, base: sp.IndexedBase) -> np.ndarray:
        v = np.asarray(self.values[base.name], dtype=float)
        if self.batch is None:
            v = v[..., None]
        return v.reshape(tuple(_int(n) for n in base.shape) + (v.shape[-1],))

    def value(self, e: sp.Expr, pad: float = 0.0) -> np.ndarray:
        if e.is_Number:
            return np.array(float(e))
        if e in self.pos:
            return self.arange(e)
        if isinstance(e, sp.Indexed):
            return self.gather(e, pad)
        if isinstance(e, sp.Sum):
            body = self.value(e.function, pad)
            axes = tuple(self.pos[v] for v, _, _ in e.limits)
            shape = list(np.broadcast_shapes(body.shape, (1,) * self.rank))
            for v, lo, hi in e.limits:
                shape[self.pos[v]] = _int(hi) - _int(lo) + 1
            return np.broadcast_to(body, shape).sum(axis=axes, keepdims=True)
        if isinstance(e, (sp.Max, sp.Min)):
            fn = np.maximum if isinstance(e, sp.Max) else np.minimum
            return reduce(fn, [self.value(a, -np.inf if isinstance(e, sp.Max) else np.inf) for a in e.args])
        rule = _RULES.get(type(e)) or next((r for t, r in _RULES.items() if isinstance(e, t)), None)
        if rule is None:
            raise SymbackError(f"cannot evaluate {e} in index form")
        return rule(*[self.value(a, pad) for a in e.args])

    def gather(self, e: sp.Indexed, pad: float) -> np.ndarray:
        """Entries of an array at index expressions; outside the array or at a fractional index: `pad`."""
        arr = self.array(e.base)
        parts = [sp.fraction(sp.together(i)) for i in e.indices]  # exact: (m - p)/3, not m/3 - p/3 in floats
        nums = np.broadcast_arrays(*[self.value(num).reshape((1,) * self.rank) if num.is_Number else self.value(num) for num, _ in parts])
        dens = [int(den) for _, den in parts]
        idx = [num // den for num, den in zip(nums, dens)]
        ok = reduce(np.logical_and, [(num % den == 0) & (i >= 0) & (i < n)
                                     for num, den, i, n in zip(nums, dens, idx, arr.shape)])
        safe = [np.where(ok, i, 0).astype(np.intp) for i in idx]
        lanes = np.arange(arr.shape[-1]).reshape((1,) * (self.rank - 1) + (-1,))
        return np.where(ok, arr[(*safe, lanes)], pad)


def _int(n) -> int:
    if not sp.sympify(n).is_Integer:
        raise SymbackError(f"size {n} is a symbol: give numbers to evaluate an index-form array")
    return int(n)


def _relation(op):
    return lambda a, b: op(a, b).astype(float)


_RULES = {sp.Add: lambda *a: reduce(np.add, a), sp.Mul: lambda *a: reduce(np.multiply, a), sp.Pow: np.power,
          sp.StrictGreaterThan: _relation(np.greater), sp.GreaterThan: _relation(np.greater_equal),
          sp.StrictLessThan: _relation(np.less), sp.LessThan: _relation(np.less_equal),
          sp.KroneckerDelta: _relation(np.equal), Indicator: lambda c: c,
          sp.Heaviside: lambda u, *_: (u > 0).astype(float), sp.exp: np.exp}


def value(node: Node, values: dict, batch: int | None = None) -> np.ndarray:
    """The node's flattened value: ``node.shape`` for one sample, ``node.shape + (B,)`` for a batch."""
    form = node.expr
    grid = _Grid(form, values, batch)
    out = grid.value(form.body)
    full = [hi - lo + 1 if k < len(form.axes) else 1 for k, (lo, hi) in enumerate(grid.axes.values())]
    lanes = batch or 1
    out = np.broadcast_to(out, full + [out.shape[-1] if out.ndim == grid.rank else 1])
    out = np.broadcast_to(out.reshape(out.shape[:len(form.axes)] + (-1,)), out.shape[:len(form.axes)] + (lanes,))
    out = out.reshape(tuple(_int(n) for n in node.shape) + (lanes,))
    return out.copy() if batch else out[..., 0].copy()


def batched(node: Node, values: dict) -> np.ndarray:
    return value(node, values, int(np.shape(values["y"])[-1]))


register(Op("index", "an array in index form: a derived gradient of a convolution or pooling", numeric=value,
            batched=batched))
