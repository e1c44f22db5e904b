"""A one-block transformer-style model, derived and compiled by symback, learns the max of a short sequence.

    symback derive examples/attention_block.py --notation udl   # dV = Pᵀ δ, dS = P ⊙ (δ - Σ δ ⊙ P) row by row, ...
    .venv/bin/python examples/attention_block.py                 # train the compiled kernel, print the error

Each sample is T = 4 numbers v_t in [0, 1); token t is (v_t, e_t), e_t the one-hot position, so d = 5 and the
sequence is a 4 x 5 value (20 entries per sample, row-major). The block, per sample::

    a = x + softmax(Q Kᵀ / sqrt(d)) V      Q, K, V = x Wqᵀ, x Wkᵀ, x Wvᵀ   (one head, its residual)
    n = layernorm(a)                       (gamma, beta over the 20 entries)
    r = n + W2 relu(W1 n + b1) + b2        (the MLP and its residual)
    f = Wo r + bo                          (the predicted max), scored by the squared error

The kernel is the module `symback compile` writes for `block`; each epoch is one compiled call of its `train`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import symback as sb

T, D = 4, 5


def declare() -> sb.DAG:
    g = sb.DAG("attention_block")
    a = g.attention("a", g.sequence("x", T, D))
    n = g.layernorm("n", a, g.param("gamma", T * D, kind="scale"), g.param("beta", T * D, kind="shift"))
    z = g.linear("z", g.param("W1", (16, T * D), layer=1), n, g.param("b1", 16, layer=1), kind="pre", layer=1)
    h = g.map("h", z, "relu", kind="act", layer=1)
    m = g.linear("m", g.param("W2", (T * D, 16), layer=2), h, g.param("b2", T * D, layer=2), kind="pre", layer=2)
    r = g.add("r", n, m)
    f = g.linear("f", g.param("Wo", (1, T * D), layer=3), r, g.param("bo", 1, layer=3), kind="pre", layer=3)
    g.loss(f, "mse")
    return g


block = declare()


def data(n: int, seed: int):
    """Sequences of T numbers as (v_t, one-hot t) tokens, flattened; the target is each sequence's max."""
    v = np.random.default_rng(seed).uniform(size=(n, T))
    tokens = np.concatenate([v[:, :, None], np.broadcast_to(np.eye(T), (n, T, T))], axis=2)
    return tokens.reshape(n, T * D), v.max(axis=1, keepdims=True)


def main(epochs: int = 30) -> int:
    X, Y = data(2048, 0)
    X_test, Y_test = data(512, 1)
    path = Path.home() / ".cache" / "symback" / "attention_block.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    module = block.derive().compile(path, force=True)
    params = module.init_params(seed=0)
    state = module.init_state(params, optimizer="adam", lr=3e-3)
    for epoch in range(epochs):
        loss = module.train(params, X, Y, epochs=1, batch_size=32, seed=epoch, optimizer=state)[-1]
        if epoch % 5 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch + 1:2d}: training loss {loss:.5f}")
    error = np.abs(module.forward(params, X_test) - Y_test).mean()
    baseline = np.abs(Y.mean() - Y_test).mean()
    print(f"test mean absolute error {error:.3f} (predicting the mean max: {baseline:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
