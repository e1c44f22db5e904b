"""A per-sample scalar inside a reduction's body: u ⊙ mean(u) under a tanh.

The NumPy evaluators (one sample, a batch) compiled the body of Sum(tanh(u[j] mu), j) over its indexed values only and
failed on the scalar mu ("no callable tanh method"); the body now takes mu too, and the gradient equals PyTorch's.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

import symback as sb
from symback.numeric import evaluate_batch


def test_a_scalar_broadcast_inside_a_sum_is_evaluated_and_its_gradient_equals_pytorch():
    g = sb.DAG("scaled")
    g.input("h", 3)
    g.param("W", (3, 3))
    g.mean("mu", g.linear("u", "W", "h"))
    g.ew("z", sp.tanh(sp.Symbol("u") * sp.Symbol("mu")), {"u": "u", "mu": "mu"})
    g.loss("z", "mse")
    d = g.derive()
    rng = np.random.default_rng(0)
    W, X, Y = rng.standard_normal((3, 3)), rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    batch = evaluate_batch(d.graph, {"W": W}, {"h": X}, Y)[d.adjoints["W"]]
    t = torch.tensor(W, requires_grad=True)
    u = torch.tensor(X) @ t.T
    ((torch.tanh(u * u.mean(dim=1, keepdim=True)) - torch.tensor(Y)) ** 2).sum(dim=1).mean().backward()
    np.testing.assert_allclose(batch.mean(axis=-1), t.grad.numpy(), rtol=1e-12, atol=1e-14)
    one = d.evaluate({"W": W}, {"h": X[0]}, Y[0])[d.adjoints["W"]]
    np.testing.assert_allclose(one, batch[..., 0], rtol=1e-12, atol=1e-14)
