"""Independent oracles for layered networks and DAGs: plain sympy.diff of an explicit loss, and central differences.

Nothing here uses symback's IR or reverse pass: the network is rebuilt as one
explicit scalar SymPy expression in every weight, input and target entry, from
the declared forward formulas alone (for a DAG, from its forward nodes).

The expression, its sympy.diff in each weight and both as mpmath functions are
made once per network (and class label) and evaluated at 40 digits for every
instance: the derivative SymPy gives, without redoing SymPy's algebra for each
instance and each weight.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp

from symback import library
from symback.nonsmooth import take_conventions
from symback.ops import expand_ops

#: lambdify's namespace: mpmath, and the indicator `take_conventions` writes for a step's derivative
MPMATH = [{"Indicator": lambda holds: 1 if holds else 0}, "mpmath"]
_EXPLICIT: dict = {}  # (id of a network or graph, class label) -> (the object, so its id stays its own; Explicit)


class Explicit:
    """An explicit loss in `params` (name -> Matrix of weight symbols) and `data` (input and target symbols)."""

    def __init__(self, loss: sp.Expr, params: dict, data: list):
        self.params = params
        weights = [s for M in params.values() for s in M]
        self.symbols = weights + data
        self.loss = sp.lambdify(self.symbols, loss, modules=MPMATH)
        derivatives = [take_conventions(sp.diff(loss, s)) for s in weights]
        self.derivatives = sp.lambdify(self.symbols, derivatives, modules=MPMATH, cse=True)

    def _split(self, flat, values: dict) -> dict:
        out, pos = {}, 0
        for name, M in self.params.items():
            out[name] = np.array([float(v) for v in flat[pos:pos + len(M)]]).reshape(np.shape(values[name]))
            pos += len(M)
        return out

    def _point(self, values: dict, data) -> list:
        flat = [v for name in self.params for v in np.ravel(np.asarray(values[name], dtype=float))]
        return [mpmath.mpf(float(v)) for v in flat + list(data)]

    def gradients(self, values: dict, data) -> dict:
        """sympy.diff of the loss in each weight, at the instance, in 40-digit arithmetic."""
        with mpmath.workdps(40):
            return self._split(self.derivatives(*self._point(values, data)), values)

    def central(self, values: dict, data, h: float) -> dict:
        """(l(w + h) - l(w - h)) / 2h in each weight, 40 digits (truncation error ~h^2)."""
        out = []
        with mpmath.workdps(40):
            base, step = self._point(values, data), mpmath.mpf(h)
            for k in range(len(self.symbols) - len(data)):
                plus, minus = list(base), list(base)
                plus[k] += step
                minus[k] -= step
                out.append((self.loss(*plus) - self.loss(*minus)) / (2 * step))
        return self._split(out, values)


def _label(y) -> int | None:
    return int(y) if np.ndim(y) == 0 else None


def _explicit(owner, label: int | None, build) -> Explicit:
    key = (id(owner), label)
    if key not in _EXPLICIT:
        _EXPLICIT[key] = (owner, Explicit(*build(owner, label)))
    return _EXPLICIT[key][1]


def _entries(name: str, n: int) -> sp.Matrix:
    return sp.Matrix([sp.Symbol(f"{name}_{i}", real=True) for i in range(n)])


def _network_loss(net, label: int | None):
    """(loss, {param name: Matrix of entry symbols}, [input and target symbols]) for one sample, concrete sizes."""
    sizes = [int(s) for s in net.sizes]
    x = _entries("x", sizes[0])
    params, h = {}, x
    for k, layer in enumerate(net.layers, 1):
        W = sp.Matrix(sizes[k], sizes[k - 1], lambda i, j: sp.Symbol(f"W{k}_{i}_{j}", real=True))
        b = sp.Matrix(sizes[k], 1, lambda i, j: sp.Symbol(f"b{k}_{i}", real=True))
        params[f"W{k}"], params[f"b{k}"] = W, b
        h = (W * h + b).applyfunc(layer.fn)
    loss, y = net.loss, []
    if loss.kind == "separable":
        y = list(_entries("y", len(h)))
        total = sum(loss.expr.xreplace({library.F: h[j], library.Y: y[j]}) for j in range(len(h)))
    else:
        f = sp.IndexedBase("fv")
        body = loss.expr.xreplace({library.FV: f, library.N: len(h), library.LABEL: label})
        body = body.doit()
        total = body.xreplace({f[j]: h[j] for j in range(len(h))})
    return expand_ops(total), params, list(x) + y  # registered ops as their definitions: never their rules


def _data(x, y) -> list:
    return list(np.ravel(x)) + ([] if np.ndim(y) == 0 else list(np.ravel(y)))


def sympy_gradients(net, values: dict, x, y) -> dict:
    """dl/dP for every parameter P by sympy.diff of the explicit loss, at `values`, 40 digits."""
    return _explicit(net, _label(y), _network_loss).gradients(values, _data(x, y))


def central_differences(net, values: dict, x, y, h: float = 1e-12) -> dict:
    """Central differences of the explicit loss in 40-digit arithmetic (truncation error ~h^2)."""
    return _explicit(net, _label(y), _network_loss).central(values, _data(x, y), h)


def random_instance(net, seed: int):
    """Random parameters, input and target for a network with integer widths."""
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in net.sizes]
    values = {}
    for k in range(1, len(sizes)):
        values[f"W{k}"] = rng.normal(size=(sizes[k], sizes[k - 1]))
        values[f"b{k}"] = rng.normal(size=sizes[k])
    x = rng.normal(size=sizes[0])
    if net.loss.kind == "class":
        y = int(rng.integers(sizes[-1]))
    elif net.loss.name in ("bce", "bce_with_logits"):
        y = rng.uniform(size=sizes[-1])
    else:
        y = rng.normal(size=sizes[-1])
    return values, x, y


def _graph_loss(graph, label: int | None):
    """(loss, {param: Matrix of symbols}, [input and target symbols]) from the *forward* IR alone.

    Linear nodes become explicit SymPy matrix products, elementwise nodes are
    applied entry by entry, the loss is expanded with `doit`; nothing of the
    backward pass is used, so this is an independent oracle for DAGs too.
    """
    env, params, data = {}, {}, []
    for node in graph.forward():
        if node.op == "param":
            rows, cols = (node.shape + (1,))[:2]
            M = sp.Matrix(int(rows), int(cols), lambda i, j: sp.Symbol(f"{node.name}_{i}_{j}", real=True))
            params[node.name] = env[node.name] = M
        elif node.op in ("input", "target"):
            name = "y" if node.op == "target" else node.name
            env[name] = label if label is not None and node.op == "target" else _entries(name, int(node.shape[0]))
            data.append(name)
        elif node.op in ("linear", "concat"):
            subs = {s: env[s.name] for s in node.expr.atoms(sp.MatrixSymbol)}
            env[node.name] = sp.Matrix(node.expr.xreplace(subs).as_explicit())
        elif node.op == "ew":
            if node.expr.has(sp.Sum):
                continue  # hoisted helper quantities (softmax p) are not part of the forward model
            n = int(node.shape[0])
            env[node.name] = sp.Matrix([node.expr.xreplace({sp.Symbol(a, real=True): env[a][i] for a in node.args})
                                        for i in range(n)])
        elif node.op == "loss":
            pred = env[node.meta.prediction]
            expr = node.expr
            if label is not None:
                expr = expr.xreplace({sp.Symbol("y", real=True): label})
            expr = expr.doit()
            subs = {}
            for e in expr.atoms(sp.Indexed):
                idx = int(e.indices[0])
                subs[e] = pred[idx] if e.base.name == node.meta.prediction else env["y"][idx]
            env["l"] = expr.xreplace(subs)
    symbols = [s for name in data if not isinstance(env[name], int) for s in env[name]]
    return env["l"], params, symbols


def graph_gradients(graph, values: dict, x, y, inputs=None, h: float = 1e-12) -> tuple[dict, dict]:
    """(sympy.diff gradients, 40-digit central differences) of the explicit forward graph."""
    label = _label(y) if graph["y"].shape == () else None
    explicit = _explicit(graph, label, _graph_loss)
    data = []
    for node in graph.forward():
        if node.op == "input":
            data += list(np.ravel((inputs or {}).get(node.name, x)))
        elif node.op == "target" and label is None:
            data += list(np.ravel(y))
    return explicit.gradients(values, data), explicit.central(values, data, h)
