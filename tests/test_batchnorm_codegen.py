"""Compiled kernels of a batch-normalised network: the module contract against the NumPy oracle and PyTorch.

One module (the step-major layouts ``small`` and ``blas``), compiled once for the file; the sample-outer layout
refuses batch statistics with a one-line error.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import symback as sb
from symback.codegen.module import generate
from tests.codegen_support import compiled, with_layout
from tests.test_batchnorm import batch_gradients

LAYOUTS = ("small", "blas")
EPS = 1e-5


def network():
    return sb.Network(5, [sb.Dense(4), sb.BatchNorm(eps=EPS), sb.Activation("tanh"), sb.Dense(3)], loss="mse",
                      name="bn_codegen")


@pytest.fixture(scope="module")
def kernel():
    return compiled("batchnorm_codegen", network(), layouts=LAYOUTS)


def data(mod, B=7, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = mod.init_params(seed=seed, dtype=dtype)
    for k in mod.PARAMS:
        params[k][...] = (0.5 * rng.standard_normal(params[k].shape) + (k.startswith("gamma"))).astype(dtype)
    return params, rng.standard_normal((B, 5)).astype(dtype), rng.standard_normal((B, 3)).astype(dtype)


def torch_loss(params, X, Y):
    t = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in params.items()}
    f1 = torch.tensor(X, dtype=torch.float64) @ t["W1"].T + t["b1"]
    bn = torch.nn.functional.batch_norm(f1, None, None, t["gamma1"], t["beta1"], training=True, eps=EPS)
    out = torch.tanh(bn) @ t["W2"].T + t["b2"]
    loss = ((out - torch.tensor(Y, dtype=torch.float64)) ** 2).sum(dim=1).mean()
    loss.backward()
    return float(loss.detach()), {k: v.grad.numpy() for k, v in t.items()}, out.detach().numpy()


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=float) - b)) / max(np.max(np.abs(b)), 1e-12))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_loss_and_grad_match_the_oracle_and_pytorch(kernel, layout):
    mod, d, _ = kernel
    params, X, Y = data(mod)
    with with_layout(mod, layout):
        loss, grads = mod.loss_and_grad(params, X, Y)
        out = mod.forward(params, X)
    oracle, o_loss, _ = batch_gradients(d.graph, d.adjoints, {k: np.array(v) for k, v in params.items()}, X, Y)
    t_loss, t_grads, t_out = torch_loss(params, X, Y)
    assert loss == pytest.approx(o_loss, rel=1e-12) and loss == pytest.approx(t_loss, rel=1e-12)
    assert rel(out, t_out) < 1e-12  # forward() uses the batch's statistics (training mode)
    for p in (p for p in mod.PARAMS if p != "b1"):  # a bias before batch normalisation: gradient 0 up to rounding
        assert rel(grads[p], oracle[p]) < 1e-10, p
        assert rel(grads[p], t_grads[p]) < 1e-9, p
    assert np.max(np.abs(grads["b1"])) < 1e-12


@pytest.mark.parametrize("layout", LAYOUTS)
def test_float32(kernel, layout):
    mod, _, _ = kernel
    params, X, Y = data(mod, dtype=np.float32)
    with with_layout(mod, layout):
        loss, grads = mod.loss_and_grad(params, X, Y)
    t_loss, t_grads, _ = torch_loss(params, X, Y)
    assert grads["W1"].dtype == np.float32 and loss == pytest.approx(t_loss, rel=1e-5)
    for p in ("W1", "gamma1", "beta1", "W2", "b2"):
        assert rel(grads[p], t_grads[p]) < 1e-4, p


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sgd_step_and_adam_step(kernel, layout):
    mod, _, _ = kernel
    params, X, Y = data(mod, seed=2)
    with with_layout(mod, layout):
        loss, grads = mod.loss_and_grad(params, X, Y)
        before = {k: np.array(v) for k, v in params.items()}
        assert mod.sgd_step(params, X, Y, 0.1) == pytest.approx(loss, rel=1e-12)
        for p in mod.PARAMS:
            np.testing.assert_allclose(params[p], before[p] - 0.1 * grads[p], rtol=1e-12, atol=1e-14)
        state = mod.init_state(params, optimizer="adam", lr=1e-2)
        assert np.isfinite(mod.step(params, state, X, Y))


def test_train_lowers_the_loss(kernel):
    mod, _, _ = kernel
    rng = np.random.default_rng(5)
    X = rng.standard_normal((96, 5))
    Y = np.stack([X[:, 0] * X[:, 1], np.tanh(X[:, 2]), X[:, 3] - X[:, 4]], axis=1)
    params = mod.init_params(seed=0)
    assert np.all(params["gamma1"] == 1) and np.all(params["beta1"] == 0)  # as torch.nn.BatchNorm1d starts
    losses = mod.train(params, X, Y, lr=0.05, epochs=30, batch_size=16)
    assert losses[-1] < 0.6 * losses[0]


def test_the_sample_outer_layout_refuses_batch_statistics(kernel):
    _, d, _ = kernel
    with pytest.raises(sb.SymbackError, match="sums over the batch, which the sample-outer layout") as err:
        generate(d, "tests", layouts=("sample",))
    assert "\n" not in str(err.value)
