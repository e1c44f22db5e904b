"""A network at a random seeded point, and batched NumPy evaluation of its IR.

Stage: teaching views (numbers for pictures, narratives and gradient norms).
Input: a `Derivation` (forward and backward IR nodes). Output: parameters
drawn by an initialisation rule, random inputs and targets, and the value of
every node, for one sample or for a batch.

Initialisations (weights ``W`` of shape (fan_out, fan_in), biases zero):

- ``he``:     N(0, 2 / fan_in)              (He et al. 2015, for ReLU)
- ``glorot``: N(0, 2 / (fan_in + fan_out))  (Glorot & Bengio 2010, for tanh)
- ``lecun``:  N(0, 1 / fan_in)
- ``normal``: N(0, 1)

`Batch` evaluates the IR for many samples at once: a vector node holds an
array of shape (n, batch), one column per sample (the lecture's column
convention), so a linear node is one matrix product, an elementwise node one
NumPy expression, and a weight's adjoint ``g h^T`` the sum over the batch of
the per-sample outer products. Each node is compiled once (``lambdify``) and
reused for every batch, initialisation and scale.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..numeric import _matrix
from ..ops import I

INITS = {
    "he": lambda fan_in, fan_out: math.sqrt(2 / fan_in),
    "glorot": lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out)),
    "lecun": lambda fan_in, fan_out: math.sqrt(1 / fan_in),
    "normal": lambda fan_in, fan_out: 1.0,
}
INIT_FORMULAS = {
    "he": "N(0, 2/fan_in)",
    "glorot": "N(0, 2/(fan_in + fan_out))",
    "lecun": "N(0, 1/fan_in)",
    "normal": "N(0, 1)",
}

_FUNCTIONS = {
    "Indicator": lambda c: np.asarray(c, dtype=float),
    "kronecker": lambda a, b: np.asarray(np.equal(a, b), dtype=float),
    "erf": np.vectorize(math.erf, otypes=[float]),
    "erfc": np.vectorize(math.erfc, otypes=[float]),
}
_MODULES = [_FUNCTIONS, "numpy"]
_KRONECKER = sp.Function("kronecker")  # lambdify would print KroneckerDelta as a Python `if`


def _int(size, where: str) -> int:
    if not isinstance(size, (int, np.integer)) and not getattr(size, "is_Integer", False):
        raise SymbackError(f"{where} has symbolic size {size}; give integer widths to evaluate the network")
    return int(size)


def init_params(graph, init: str = "glorot", scale: float = 1.0, rng=None, seed: int = 0) -> dict:
    """Weights by the `init` rule times `scale`, biases zero, in the graph's parameter order."""
    if init not in INITS:
        raise SymbackError(f"--init: unknown initialisation {init!r}; choose one of {', '.join(INITS)}")
    rng = np.random.default_rng(seed) if rng is None else rng
    params = {}
    for node in graph.leaves("param"):
        shape = tuple(_int(s, f"param {node.name}") for s in node.shape)
        if len(shape) == 2:
            fan_out, fan_in = shape
            params[node.name] = rng.normal(0.0, INITS[init](fan_in, fan_out) * scale, size=shape)
        else:
            params[node.name] = np.zeros(shape)
    return params


def random_data(graph, batch: int | None, rng) -> tuple[dict, np.ndarray]:
    """Inputs ~ N(0, 1); targets ~ N(0, 1), 0/1 for the cross-entropy losses, class labels uniform."""
    inputs = {}
    for node in graph.leaves("input"):
        n = _int(node.shape[0], f"input {node.name}")
        inputs[node.name] = rng.normal(size=(n,) if batch is None else (n, batch))
    target = graph["y"]
    loss = next(n for n in graph.forward() if n.op == "loss")
    if target.meta.kind == "label":
        classes = _int(loss.meta.size, "the loss")
        y = rng.integers(0, classes, size=() if batch is None else (batch,))
    else:
        n = _int(target.shape[0], "target y")
        size = (n,) if batch is None else (n, batch)
        y = rng.integers(0, 2, size=size).astype(float) if "bce" in (loss.meta.loss or "") else rng.normal(size=size)
    return inputs, y


def sample(derivation, seed: int = 0, init: str = "glorot") -> tuple[dict, dict, object]:
    """(params, inputs, target) of one random sample, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    params = init_params(derivation.graph, init, rng=rng)
    inputs, y = random_data(derivation.graph, None, rng)
    return params, inputs, y


def values_at(derivation, seed: int = 0, init: str = "glorot") -> dict:
    """Every node's value (NumPy) for one random sample; a one-line error where a value is not finite."""
    params, inputs, y = sample(derivation, seed, init)
    with np.errstate(all="ignore"):
        values = Batch(derivation.graph).run(
            params,
            {k: v[:, None] for k, v in inputs.items()},
            np.asarray(y)[..., None] if np.ndim(y) else np.asarray([y]),
        )
    out = {}
    for node in derivation.graph:
        v = values[node.name]
        if len(node.shape) == 1 and node.op != "param":
            v = np.asarray(v)[:, 0]
        elif node.shape == ():
            v = float(np.asarray(v).reshape(-1)[0])
        out[node.name] = v
        if not np.all(np.isfinite(v)):
            kind = "gradient " if node.role == "adjoint" else ""
            raise SymbackError(
                f"{kind}node {node.name} is undefined at this point (seed {seed}): "
                "not a finite number (e.g. log of a negative number or division by zero)"
            )
    return out


def size_of(value) -> tuple[float, bool]:
    """(number to show, whether it is a norm): a single entry as itself, else the 2-norm (Frobenius for a matrix)."""
    arr = np.asarray(value, dtype=float)
    if arr.size == 1:
        return float(arr.reshape(-1)[0]), False
    return float(np.linalg.norm(arr.ravel())), True


def size_of_value(value) -> float:
    return size_of(value)[0]


class Batch:
    """The IR of a derivation compiled once, evaluated for a batch of samples (columns)."""

    def __init__(self, graph):
        self.graph = graph
        self.steps = [(node, self._compile(node)) for node in graph if not node.is_leaf]

    def _compile(self, node):
        if node.op in ("linear", "concat"):
            expr = node.expr
            return lambda values: _matrix(expr, values)
        if node.op == "seed":
            return lambda values: np.ones(self._batch)
        if node.op in ("ew", "loss", "scalar") and len(node.shape) == 2:
            args = node.args  # a sum of per-path matrices (a shared weight)
            return lambda values: sum(np.asarray(values[a]) for a in args)
        if node.op in ("ew", "loss", "scalar"):
            return self._elementwise(node)
        raise SymbackError(f"node {node.name}: cannot evaluate op {node.op!r}")

    def _elementwise(self, node):
        """Components along axis 0, samples along axis 1; ``Sum`` over j reduces axis 0."""
        expr = node.expr.replace(sp.KroneckerDelta, _KRONECKER)
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
        size = node.shape[0] if len(node.shape) == 1 else None
        names = [s.name for s in syms]

        def run(values):
            args = []
            for s in names:
                args.append(
                    np.arange(_int(size, node.name))[:, None]
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
            shape = (_int(size, node.name), self._batch) if size is not None else (self._batch,)
            return np.broadcast_to(out, shape) if out.shape != shape else out

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
