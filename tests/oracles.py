"""Independent oracles for layered networks: plain sympy.diff on an explicit instance, and central differences.

Nothing here uses symback's IR or reverse pass: the network is rebuilt as one
explicit scalar SymPy expression in every weight, from the declared forward
formulas alone.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp

from symback import library
from symback.nonsmooth import take_conventions
from symback.ops import expand_ops


_LOSSES: dict = {}  # (network, x, y) -> explicit_loss: sympy_gradients and central_differences share one


def explicit_loss(net, x, y):
    """(loss expression, {param name: sympy Matrix of entry symbols}) for one sample, concrete sizes."""
    key = (id(net), np.asarray(x, dtype=float).tobytes(), np.asarray(y, dtype=float).tobytes())
    if key not in _LOSSES:
        _LOSSES[key] = (net, _explicit_loss(net, x, y))  # the network is kept so that its id stays its own
    return _LOSSES[key][1]


def _explicit_loss(net, x, y):
    sizes = [int(s) for s in net.sizes]
    params, h = {}, sp.Matrix([sp.Float(v, 30) for v in x])
    for k, layer in enumerate(net.layers, 1):
        W = sp.Matrix(sizes[k], sizes[k - 1], lambda i, j: sp.Symbol(f"W{k}_{i}_{j}", real=True))
        b = sp.Matrix(sizes[k], 1, lambda i, j: sp.Symbol(f"b{k}_{i}", real=True))
        params[f"W{k}"], params[f"b{k}"] = W, b
        h = (W * h + b).applyfunc(layer.fn)
    loss = net.loss
    if loss.kind == "separable":
        total = sum(loss.expr.xreplace({library.F: h[j], library.Y: sp.Float(y[j], 30)}) for j in range(len(h)))
    else:
        f = sp.IndexedBase("fv")
        body = loss.expr.xreplace({library.FV: f, library.N: len(h), library.LABEL: int(y)})
        body = body.doit()
        total = body.xreplace({f[j]: h[j] for j in range(len(h))})
    return expand_ops(total), params  # registered ops as their definitions: the oracle never uses their rules


def sympy_gradients(net, values: dict, x, y) -> dict:
    """dl/dP for every parameter P by sympy.diff of the explicit loss, at `values`, 30 digits."""
    loss, params = explicit_loss(net, x, y)
    point = {}
    for name, M in params.items():
        arr = np.atleast_2d(np.asarray(values[name], dtype=float))
        arr = arr.reshape(M.shape)
        for i in range(M.rows):
            for j in range(M.cols):
                point[M[i, j]] = sp.Float(arr[i, j], 30)
    out = {}
    for name, M in params.items():
        g = np.zeros(M.shape)
        for i in range(M.rows):
            for j in range(M.cols):
                g[i, j] = diff_at(loss, M[i, j], point)
        out[name] = g.ravel() if name.startswith("b") else g
    return out


def diff_at(loss: sp.Expr, s: sp.Symbol, point: dict) -> float:
    """d loss / d s at `point` by sympy.diff, the other variables fixed first (keeps Piecewise small)."""
    others = {k: v for k, v in point.items() if k != s}
    d = take_conventions(sp.diff(loss.xreplace(others), s))
    return float(sp.N(d.xreplace({s: point[s]}), 30))


def central_differences(net, values: dict, x, y, h: float = 1e-12) -> dict:
    """Central differences of the explicit loss in 40-digit arithmetic (truncation error ~h^2)."""
    loss, params = explicit_loss(net, x, y)
    symbols = [s for M in params.values() for s in M]
    f = sp.lambdify(symbols, loss, modules="mpmath")
    flat = []
    for name, M in params.items():
        flat += list(np.asarray(values[name], dtype=float).ravel())
    out, pos = {}, 0
    with mpmath.workdps(40):
        base = [mpmath.mpf(v) for v in flat]
        for name, M in params.items():
            g = np.zeros(len(M))
            for t in range(len(M)):
                plus, minus = list(base), list(base)
                plus[pos + t] += mpmath.mpf(h)
                minus[pos + t] -= mpmath.mpf(h)
                g[t] = float((f(*plus) - f(*minus)) / (2 * mpmath.mpf(h)))
            out[name] = g.reshape(M.shape) if name.startswith("W") else g
            pos += len(M)
    return out


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


def explicit_graph_loss(graph, values: dict, x, y, inputs: dict | None = None):
    """(loss, {param: Matrix of symbols}) from the *forward* IR alone, every value explicit.

    Linear nodes become explicit SymPy matrix products, elementwise nodes are
    applied entry by entry, the loss is expanded with `doit`; nothing of the
    backward pass is used, so this is an independent oracle for DAGs too.
    """
    from symback.ops import I

    env, params = {}, {}
    for node in graph.forward():
        if node.op == "param":
            rows, cols = (node.shape + (1,))[:2]
            M = sp.Matrix(int(rows), int(cols), lambda i, j: sp.Symbol(f"{node.name}_{i}_{j}", real=True))
            params[node.name] = M
            env[node.name] = M
        elif node.op == "input":
            v = (inputs or {}).get(node.name, x)
            env[node.name] = sp.Matrix([sp.Float(t, 30) for t in np.ravel(v)])
        elif node.op == "target":
            env["y"] = int(y) if np.ndim(y) == 0 else sp.Matrix([sp.Float(t, 30) for t in np.ravel(y)])
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
            if isinstance(env["y"], int):
                expr = expr.xreplace({sp.Symbol("y", real=True): env["y"]})
            expr = expr.doit()
            subs = {}
            for e in expr.atoms(sp.Indexed):
                idx = int(e.indices[0])
                subs[e] = pred[idx] if e.base.name == node.meta.prediction else env["y"][idx]
            env["l"] = expr.xreplace(subs)
    return env["l"], params


def graph_gradients(graph, values: dict, x, y, inputs=None, h: float = 1e-12) -> tuple[dict, dict]:
    """(sympy.diff gradients, 40-digit central differences) of the explicit forward graph."""
    loss, params = explicit_graph_loss(graph, values, x, y, inputs)
    point = {}
    for name, M in params.items():
        arr = np.asarray(values[name], dtype=float).reshape(M.shape)
        for i in range(M.rows):
            for j in range(M.cols):
                point[M[i, j]] = sp.Float(arr[i, j], 30)
    diff, fd = {}, {}
    symbols = list(point)
    f = sp.lambdify(symbols, loss, modules="mpmath")
    with mpmath.workdps(40):
        base = [mpmath.mpf(float(point[s])) for s in symbols]
        for name, M in params.items():
            g, c = np.zeros(M.shape), np.zeros(M.shape)
            for i in range(M.rows):
                for j in range(M.cols):
                    s = M[i, j]
                    g[i, j] = diff_at(loss, s, point)
                    k = symbols.index(s)
                    plus, minus = list(base), list(base)
                    plus[k] += mpmath.mpf(h)
                    minus[k] -= mpmath.mpf(h)
                    c[i, j] = float((f(*plus) - f(*minus)) / (2 * mpmath.mpf(h)))
            shape = np.asarray(values[name]).shape
            diff[name], fd[name] = g.reshape(shape), c.reshape(shape)
    return diff, fd
