"""Numbers for a hand formula: the AST of `formula` evaluated with NumPy on one instance.

Every value is a 2-D array (a scalar is 1x1, a vector a column n x 1 or a row
1 x n) with, for batch matrices, the axis that runs over samples. The rules:

- ``A B`` / ``A * B``: matrix product; a 1x1 factor scales instead;
- ``A ⊙ B``, ``A + B``, ``A - B``, comparisons: equal shapes, or one side 1x1;
- ``A / B``: by a 1x1, or elementwise for equal shapes; ``A^n``: elementwise power;
- functions act entrywise (``relu``, ``sigma``, ``exp``, the layer's own ``a``/``g``);
  ``softmax`` per sample, ``sum``/``mean`` over the samples of a batch matrix
  (over all entries otherwise), ``diag(v)`` the diagonal matrix of a vector.

Anything else is a `ShapeError`: the student's formula does not fit together,
itself a finding, reported with the sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from .. import library
from ..errors import SymbackError
from ..nonsmooth import Indicator, take_conventions
from .formula import Call, Name, Num, Op, show

Z = library.Z

SCALAR = {"exp": sp.exp(Z), "log": sp.log(Z), "sqrt": sp.sqrt(Z), "abs": sp.Abs(Z), "tanh": sp.tanh(Z),
          "sigmoid": 1 / (1 + sp.exp(-Z)), "relu": sp.Max(0, Z), "sign": sp.sign(Z)}


@dataclass
class Val:
    a: np.ndarray
    bax: int | None = None  # the axis that runs over the samples of a batch, if any
    ones: str | None = None  # a literal 1 that may stand for a vector of ones ("col") or its transpose ("row")
    batch: int = 0  # B, for that vector

    @property
    def shape(self) -> tuple:
        return self.a.shape

    @property
    def scalar(self) -> bool:
        return self.a.shape == (1, 1)


class ShapeError(Exception):
    """The formula's part `node` does not fit together; `message` names the part and the sizes."""

    def __init__(self, node, what: str):
        self.message = f"{show(node)}: {what}"
        super().__init__(self.message)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def dims(shape) -> str:
    return "x".join(str(s) for s in shape)


_erf = np.vectorize(math.erf, otypes=[float])  # NumPy has no erf; GELU needs it


@cache
def entrywise(body: sp.Expr, prime: bool):
    expr = take_conventions(sp.diff(body, Z)) if prime else body
    expr = expr.replace(Indicator, lambda c: sp.Piecewise((1, c), (0, True)))
    f = sp.lambdify(Z, expr, [{"erf": _erf}, "numpy"])
    return lambda a: np.broadcast_to(np.asarray(f(a), dtype=float), a.shape).copy()


@cache
def _applied(fn: sp.Lambda) -> sp.Expr:
    """A layer's activation as a formula in `Z` (applying the Lambda substitutes; a check asks once per point)."""
    return fn(Z)


class Env:
    """What names mean on one instance: the namespace's values for one sample, or for the whole batch."""

    def __init__(self, ns, inst, sample: int | None, sums: dict | None = None):
        self.ns, self.inst, self.sample = ns, inst, sample
        self.sums = {} if sums is None else sums  # each sum_b's value: the same at every sample, so nesting is linear

    def lookup(self, node: Name) -> Val:
        q = self.ns.get(node.text)  # a name is the namespace's (`spaces` checks each when reading) or e
        return Val(np.array([[np.e]])) if q is None else self.ns.value(q, self.inst, self.sample)

    def layer_activation(self, call: Call) -> sp.Expr:
        """The activation meant by a, g, theta, phi: the layer of its argument's pre-activation."""
        arg = call.args[0]
        while isinstance(arg, Op) and arg.op == "T":
            arg = arg.args[0]
        q = self.ns.get(arg.text) if isinstance(arg, Name) else None
        if q is not None and q.kind == "pre" and not q.deriv:
            return _applied(self.ns.summary.layers[q.layer - 1].fn)
        activated = self.ns.activated()
        mine = [body for pre, _, _, body in activated if q is not None and self.ns.get(pre).node == q.node]
        bodies = set(mine) or {body for *_, body in activated}
        if len(bodies) == 1:
            return bodies.pop()
        raise SymbackError(f"{show(call)}: the layers have different activations, so say which one: "
                           f"write its pre-activation as the argument, e.g. {call.shown}'({self.ns.notation.symbol('pre', 1)})")


def _same(node, op: str, x: Val, y: Val) -> None:
    if not (x.scalar or y.scalar or x.shape == y.shape):
        raise ShapeError(node, f"{op} of a {dims(x.shape)} and a {dims(y.shape)} matrix (the sizes must be equal)")


def _bax(x: Val, y: Val):
    return x.bax if x.bax is not None else y.bax


def _ones(v: Val, other: Val, left: bool) -> Val:
    """A literal 1 (or 1^T) multiplying a batch matrix is the vector of B ones.

    ``Delta 1`` and ``1^T Delta`` sum over the samples (columns, or rows in the
    numerator layout); ``b 1^T`` repeats a column for every sample.
    """
    scale = v.a[0, 0]
    if left:  # ones @ other
        if v.ones == "row" and other.bax == 0:
            return Val(scale * np.ones((1, other.shape[0])), 1)
        return v
    if v.ones == "col" and other.bax == 1:
        return Val(scale * np.ones((other.shape[1], 1)), 0)
    if v.ones == "row" and other.shape[1] == 1 and other.bax is None:
        return Val(scale * np.ones((1, v.batch)), 1)
    return v


def evaluate(node, env: Env) -> Val:
    """The value of a formula on `env`'s instance (raises ShapeError where the sizes do not fit)."""
    if isinstance(node, Num):
        if env.sample is None and node.text == "1":  # maybe the ones vector of a batch formula
            return Val(np.array([[1.0]]), ones="col", batch=env.inst.batch)
        return Val(np.array([[node.value]]))
    if isinstance(node, Name):
        return env.lookup(node)
    if isinstance(node, Call):
        return _call(node, env)
    args = [evaluate(a, env) for a in node.args]
    op = node.op
    if op == "T":
        x = args[0]
        ones = {"col": "row", "row": "col"}.get(x.ones)
        return Val(x.a.T, None if x.bax is None else 1 - x.bax, ones, x.batch)
    if op == "neg":
        return Val(-args[0].a, args[0].bax)
    if op == "d":  # d/dz [E], as the steps print a loss's derivative
        return gradient(node, env)
    if op == "eye":  # I, the identity of the left side's size
        return Val(np.eye(int(args[0].a[0, 0])))
    if op == "stack":  # [a; b]: one above the other
        if len({x.shape[1] for x in args}) > 1:
            raise ShapeError(node, "stacking matrices of " + ", ".join(_count(x.shape[1], "column") for x in args))
        return Val(np.vstack([x.a for x in args]), _bax(*args[:2]) if all(x.bax != 0 for x in args) else None)
    x, y = args
    if op in ("+", "-", "had", ">", ">=", "<", "<="):
        _same(node, {"+": "sum", "-": "difference", "had": "elementwise product"}.get(op, "comparison"), x, y)
        fn = {"+": np.add, "-": np.subtract, "had": np.multiply, ">": np.greater, ">=": np.greater_equal,
              "<": np.less, "<=": np.less_equal}[op]
        return Val(np.asarray(fn(x.a, y.a), dtype=float), _bax(x, y))
    if op == "matmul" and 3 in (x.a.ndim, y.a.ndim):  # dz/dW delta: a Jacobian by a matrix, contracted
        return Val(_contract(node, x.a, y.a))
    if op == "matmul":
        if x.ones and not y.scalar:
            x = _ones(x, y, left=True)
        if y.ones and not x.scalar:
            y = _ones(y, x, left=False)
        if x.scalar or y.scalar:
            both = x.scalar and y.scalar
            return Val(x.a * y.a, _bax(x, y), (x.ones or y.ones) if both else None, x.batch or y.batch)
        if x.shape[1] != y.shape[0]:
            raise ShapeError(node, f"the matrix product of a {dims(x.shape)} and a {dims(y.shape)} matrix does not fit "
                                   f"({_count(x.shape[1], 'column')} against {_count(y.shape[0], 'row')})")
        bax = 0 if x.bax == 0 else (1 if y.bax == 1 else None)
        return Val(x.a @ y.a, bax)
    if op == "/":
        if y.shape == (1, x.shape[1]) and x.bax == y.bax == 1:  # softmax: each sample by its own sum_j
            y = Val(np.broadcast_to(y.a, x.shape), 1)
        if not (y.scalar or x.scalar or x.shape == y.shape):
            raise ShapeError(node, f"division of a {dims(x.shape)} by a {dims(y.shape)} matrix "
                                   "(divide by a number, or entrywise by an equal-sized matrix)")
        return Val(x.a / y.a, _bax(x, y))
    if not y.scalar:  # pow, the last of the parser's operations
        raise ShapeError(node, f"the exponent must be a number, not a {dims(y.shape)} matrix")
    return Val(x.a ** y.a[0, 0], x.bax)


def _contract(node, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A local Jacobian by a matrix (3 axes, the last or first one over the value) times a vector."""
    if x.ndim == 3 and y.shape == (x.shape[2], 1):
        return np.tensordot(x, y[:, 0], axes=(2, 0))
    if y.ndim == 3 and x.shape == (1, y.shape[0]):
        return np.tensordot(x[0], y, axes=(0, 0))
    raise ShapeError(node, f"a Jacobian by a matrix ({dims(x.shape if x.ndim == 3 else y.shape)}) multiplies a "
                           "vector of its value's size (a column after it, a row before it)")


def _call(node: Call, env: Env) -> Val:
    fn = node.fn
    if node.prime and fn in ("softmax", "sum", "sum_j", "sum_b", "mean", "diag", "ind", "max", "min"):
        raise SymbackError(f"{show(node)}: {node.shown} has no derivative here; write the derivative out")
    if fn in ("max", "min"):
        if len(node.args) != 2:
            raise SymbackError(f"{show(node)}: {node.shown} takes two arguments, e.g. max(0, z)")
        x, y = (evaluate(a, env) for a in node.args)
        _same(node, fn, x, y)
        return Val((np.maximum if fn == "max" else np.minimum)(x.a, y.a), _bax(x, y))
    if len(node.args) != 1:
        raise SymbackError(f"{show(node)}: {node.shown} takes one argument")
    if fn == "sum_b" and env.sample is not None:  # sum_b v[b]: v at every sample of the batch, summed (batch norm)
        if id(node) not in env.sums:
            env.sums[id(node)] = Val(sum(evaluate(node.args[0], Env(env.ns, env.inst, s, env.sums)).a
                                         for s in range(env.inst.batch)))
        return env.sums[id(node)]
    x = evaluate(node.args[0], env)
    a = x.a
    if fn == "ind":
        return Val((a != 0).astype(float), x.bax)
    if fn == "softmax":
        axis = 1 if (x.bax == 0 or (x.bax is None and a.shape[0] == 1)) else 0
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        return Val(e / e.sum(axis=axis, keepdims=True), x.bax)
    if fn in ("sum", "mean", "sum_b"):  # over the samples of a batch matrix, else over every entry
        return Val((np.sum if fn == "sum" else np.mean)(a, axis=x.bax, keepdims=True))
    if fn == "sum_j":  # sum_j v[j]: over a vector's components, for each sample of a batch matrix
        return Val(np.sum(a, axis=None if x.bax is None else 1 - x.bax, keepdims=True), x.bax)
    if fn == "diag":
        if 1 not in a.shape or x.bax is not None:
            raise ShapeError(node, f"diag needs a vector, got a {dims(a.shape)} matrix")
        return Val(np.diag(a.ravel()))
    with np.errstate(all="ignore"):
        return Val(entrywise(_body(node, env), node.prime)(a), x.bax)


def _body(node: Call, env: Env) -> sp.Expr:
    """An entrywise function's formula in `Z`: the layer's own for a, g, theta; else the named one."""
    fn = node.fn
    return env.layer_activation(node) if fn == "act" else SCALAR[fn] if fn in SCALAR else library.ACTIVATIONS[fn](Z)


def gradient(node: Op, env: Env) -> Val:
    """``d/dz [E]``: the derivative of E (summed over its entries) by the vector z, in the layout's shape."""
    var, body = node.args
    q = env.ns.get(var.text) if isinstance(var, Name) else None
    if q is None or q.deriv or q.rows is not None:
        raise SymbackError(f"{show(node)}: d/dz [...] differentiates by a value of the network, such as z^[2]")
    z = evaluate(var, env).a
    out = np.zeros(z.shape)
    for k in np.ndindex(z.shape):
        direction = np.zeros(z.shape)
        direction[k] = 1.0
        out[k] = np.sum(tangent(body, env, q, direction))
    return Val(out.T if env.ns.layout == "numerator" else out)


def tangent(node, env: Env, var, direction: np.ndarray) -> np.ndarray:
    """How `node`'s value changes along `direction` of the quantity `var` (forward mode, exact; other names fixed)."""
    value = evaluate(node, env).a
    if isinstance(node, Name):
        q = env.ns.get(node.text)
        if q is None or q.deriv or q.node != var.node or q.rows is not None:
            return np.zeros(value.shape)
        return direction[[int(env.inst.samples[env.sample][env.ns.target])]] if q.at_label else direction
    if isinstance(node, Num) or (isinstance(node, Op) and node.op in (">", ">=", "<", "<=", "eye")):
        return np.zeros(value.shape)
    if isinstance(node, Op) and node.op == "d" or isinstance(node, Call) and node.prime:
        raise SymbackError(f"{show(node)}: d/dz [...] differentiates values and functions, not derivatives")
    vals = [evaluate(a, env).a for a in node.args]
    ts = [tangent(a, env, var, direction) for a in node.args]
    if isinstance(node, Call):
        return _call_tangent(node, env, vals, ts, value)
    rule = {"+": lambda: ts[0] + ts[1], "-": lambda: ts[0] - ts[1], "neg": lambda: -ts[0], "T": lambda: ts[0].T,
            "had": lambda: vals[0] * ts[1] + ts[0] * vals[1], "stack": lambda: np.vstack(ts),
            "/": lambda: (ts[0] * vals[1] - vals[0] * ts[1]) / vals[1] ** 2,
            "pow": lambda: vals[1] * vals[0] ** (vals[1] - 1) * ts[0],
            "matmul": lambda: (vals[0] * ts[1] + ts[0] * vals[1]) if 1 in (vals[0].size, vals[1].size)
            else vals[0] @ ts[1] + ts[0] @ vals[1]}
    with np.errstate(all="ignore"):
        return np.broadcast_to(rule[node.op](), value.shape)


def _call_tangent(node: Call, env: Env, vals: list, ts: list, value: np.ndarray) -> np.ndarray:
    fn, (a, t) = node.fn, (vals[0], ts[0])
    if fn in ("sum", "mean", "sum_j"):
        return np.broadcast_to(np.sum(t) / (t.size if fn == "mean" else 1), value.shape)
    if fn == "softmax":
        return value * (t - np.sum(value * t, axis=0, keepdims=True))
    if fn in ("max", "min"):
        first = (vals[0] >= vals[1]) if fn == "max" else (vals[0] <= vals[1])
        return np.broadcast_to(np.where(first, ts[0], ts[1]), value.shape)
    if fn == "diag":
        return np.diag(t.ravel())
    if fn == "ind":
        return np.zeros(value.shape)
    with np.errstate(all="ignore"):
        return entrywise(_body(node, env), True)(a) * t
