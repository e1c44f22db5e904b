"""The point a derivation is taught at: exact values for an expression, a seeded random sample for a network.

Stage: teaching views. Input: a `Derivation` and either the exact values of its
inputs (an expression, as on the blackboard) or a seed (a network or DAG).
Output: the value of every node: exact SymPy numbers for an expression
(`evaluate.evaluate`), NumPy arrays for one random sample of a network
(`values_at`), whose parameters are drawn by an initialisation rule.

Both go through the core's evaluators (`evaluate` exact, `numeric` batched
NumPy), each node by its op's rule; a sample is a batch of one, except where
batch statistics couple the samples (op ``batch``: a batch of one has mean f
and standardised value 0): there the point is sample 1 of a random batch of
`BATCH` samples, and the values shown are that sample's (a parameter's
gradient is its share of the batch's).

Initialisations (weights ``W`` of shape (fan_out, fan_in), biases and shifts zero, scales one):

- ``he``:     N(0, 2 / fan_in)              (He et al. 2015, for ReLU)
- ``glorot``: N(0, 2 / (fan_in + fan_out))  (Glorot & Bengio 2010, for tanh)
- ``lecun``:  N(0, 1 / fan_in)
- ``normal``: N(0, 1)
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SymbackError
from ..numeric import evaluate_batch

#: initialisation -> (its distribution, the standard deviation of a weight from (fan_in, fan_out))
INITS = {
    "he": ("N(0, 2/fan_in)", lambda fan_in, fan_out: math.sqrt(2 / fan_in)),
    "glorot": ("N(0, 2/(fan_in + fan_out))", lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out))),
    "lecun": ("N(0, 1/fan_in)", lambda fan_in, fan_out: math.sqrt(1 / fan_in)),
    "normal": ("N(0, 1)", lambda fan_in, fan_out: 1.0),
}


def whole(size, where: str) -> int:
    """A size as an int; a one-line error for a symbolic size."""
    if not isinstance(size, (int, np.integer)) and not getattr(size, "is_Integer", False):
        raise SymbackError(f"{where} has symbolic size {size}; give integer widths to evaluate the network")
    return int(size)


def init_params(graph, init: str, scale: float, rng) -> dict:
    """Weights by the `init` rule times `scale`, biases zero, in the graph's parameter order."""
    if init not in INITS:
        raise SymbackError(f"--init: unknown initialisation {init!r}; choose one of {', '.join(INITS)}")
    params = {}
    for node in graph.leaves("param"):
        shape = tuple(whole(s, f"param {node.name}") for s in node.shape)
        if len(shape) == 2:
            fan_out, fan_in = shape
            params[node.name] = rng.normal(0.0, INITS[init][1](fan_in, fan_out) * scale, size=shape)
        else:  # a normalisation's scale gamma starts at 1 (as in PyTorch): at 0 it zeroes every value after it
            params[node.name] = np.full(shape, 1.0 if node.meta.kind == "scale" else 0.0)
    return params


def random_data(graph, batch: int | None, rng) -> tuple[dict, np.ndarray]:
    """Inputs ~ N(0, 1); targets ~ N(0, 1), 0/1 for the cross-entropy losses, class labels uniform."""
    columns = () if batch is None else (batch,)
    inputs = {n.name: rng.normal(size=(whole(n.shape[0], f"input {n.name}"), *columns)) for n in graph.leaves("input")}
    target, loss = graph["y"], next(n for n in graph.forward() if n.op == "loss")
    if target.meta.kind == "label":
        return inputs, rng.integers(0, whole(loss.meta.size, "the loss"), size=columns)
    size = (whole(target.shape[0], "target y"), *columns)
    if "bce" in (loss.meta.loss or ""):  # 0/1 targets
        return inputs, rng.integers(0, 2, size=size).astype(float)
    return inputs, rng.normal(size=size)


#: the samples of the random batch a graph with batch statistics is taught at
BATCH = 4


def batch_size(graph) -> int | None:
    """`BATCH` where batch statistics couple the samples (op ``batch``), else None (one sample)."""
    return BATCH if any(n.op == "batch" for n in graph) else None


def where(graph, seed, note: str = "") -> str:
    """The point's words: ``a random sample (seed 0<note>)``, or sample 1 of a random batch where batch statistics
    need one."""
    size = batch_size(graph)
    if size is None:
        return f"a random sample (seed {seed}{note})"
    return f"sample 1 of a random batch of {size} (seed {seed}; batch statistics need a batch{note})"


def at_point(graph, seed) -> str:
    """A picture's short words for its point: ``random sample, seed 0``."""
    size = batch_size(graph)
    return f"random sample, seed {seed}" if size is None else f"sample 1 of a random batch of {size}, seed {seed}"


def sample(derivation, seed: int = 0, init: str = "glorot", batch: int | None = None) -> tuple[dict, dict, object]:
    """(params, inputs, target) of one random sample (or a batch of columns), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    params = init_params(derivation.graph, init, 1.0, rng)  # drawn first: the data follow in the same stream
    return params, *random_data(derivation.graph, batch, rng)


def batch_values(graph, params: dict, inputs: dict, y) -> dict:
    """Every node's value for a batch of columns: ``(n, B)`` inputs, ``(B,)`` labels or ``(n, B)`` targets.

    The core's evaluator takes one sample per row; its values carry the batch as their last axis.
    """
    return evaluate_batch(graph, params, {k: v.T for k, v in inputs.items()}, np.asarray(y).T)


def values_at(derivation, seed: int = 0, init: str = "glorot") -> dict:
    """Every node's value (NumPy) for one random sample (sample 1 of a random batch where batch statistics need one,
    `batch_size`); a one-line error where a value is not finite."""
    size = batch_size(derivation.graph)
    params, inputs, y = sample(derivation, seed, init, size)
    if size is None:
        inputs, y = {k: v[:, None] for k, v in inputs.items()}, np.asarray(y)[..., None]
    with np.errstate(all="ignore"):
        values = batch_values(derivation.graph, params, inputs, y)
    out = {}
    for node in derivation.graph:
        v = params[node.name] if node.op == "param" else np.asarray(values[node.name])[..., 0]
        out[node.name] = float(v) if node.shape == () else v
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
