"""Seeded random data for every numeric check: one place that says what is drawn, and how.

Stage: check. Input: a NumPy generator (`generator(seed)`) and the sizes to fill.
Output: parameters, inputs and targets. `instances` (random networks and random
points of an expression for ``symback check``), `fd` (``gradcheck``'s default
batch) and the ``gradcheck`` command all draw here, so their distributions are
one decision:

- parameters, inputs and real-valued targets: standard normal;
- class labels: uniform integers in [0, classes);
- targets of the binary cross-entropy losses (`PROBABILITY_LOSSES`): uniform in [0, 1);
- far points (`FAR`): the same draws times 10, 100, 1000 and 10^6, either sign (labels and
  probabilities are not scaled).

A per-sample draw (``batch=None``) gives one vector, as the lecture's column
notation holds a sample; a batch draw gives one row per sample, as a compiled
module takes them. The same seed gives the same numbers on every machine.
"""

from __future__ import annotations

import numpy as np

LABEL, PROBABILITY, REAL = "label", "probability", "real"

#: losses whose target is a probability, so a random one must lie in [0, 1)
PROBABILITY_LOSSES = ("bce", "bce_with_logits")

#: samples in a batch drawn for a gradient check
BATCH = 4

#: the factors far points are drawn at (each a standard normal draw times the factor): a formula that agrees near
#: the origin but not far from it (a step at 10, a Max(f, 50)) is found there
FAR = (10.0, -10.0, 1e2, -1e2, 1e3, -1e3, 1e6, -1e6)


def generator(seed: int) -> np.random.Generator:
    """The one kind of random generator every check uses (NumPy's PCG64)."""
    return np.random.default_rng(seed)


def target_kind(loss: str | None, labels: bool) -> str:
    """How to draw targets: `LABEL` for class labels, `PROBABILITY` for BCE, `REAL` otherwise."""
    if labels:
        return LABEL
    return PROBABILITY if loss in PROBABILITY_LOSSES else REAL


def params(rng: np.random.Generator, shapes: dict) -> dict:
    """A standard normal array for each parameter, in the order of `shapes` (name -> shape)."""
    return {name: rng.standard_normal(tuple(int(s) for s in shape)) for name, shape in shapes.items()}


def inputs(rng: np.random.Generator, width: int, batch: int | None = None) -> np.ndarray:
    """Standard normal inputs: a vector of `width`, or `batch` rows of it."""
    return rng.standard_normal(width if batch is None else (batch, width))


def targets(rng: np.random.Generator, kind: str, n_out: int, batch: int | None = None):
    """Targets of `kind`: a label or a vector of `n_out` per sample, or `batch` of them (rows)."""
    if kind == LABEL:
        return int(rng.integers(n_out)) if batch is None else rng.integers(0, n_out, size=batch)
    if kind == PROBABILITY:
        return rng.uniform(0, 1, n_out) if batch is None else rng.uniform(size=(batch, n_out))
    return rng.standard_normal(n_out) if batch is None else rng.standard_normal((batch, n_out))


def batch(rng: np.random.Generator, width: int, n_out: int, kind: str, size: int = BATCH):
    """(X, Y): `size` samples as rows, inputs first, as ``loss_and_grad(params, X, Y)`` takes them."""
    return inputs(rng, width, size), targets(rng, kind, n_out, size)


def point(rng: np.random.Generator, names) -> dict:
    """A standard normal value for each scalar variable, in the order of `names`."""
    return {name: float(rng.standard_normal()) for name in names}
