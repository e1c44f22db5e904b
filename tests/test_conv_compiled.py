"""Compiled CNN kernels: the generated direct loops equal the NumPy oracle and PyTorch, in float64 and float32,
through the module contract (forward, loss_and_grad, sgd_step, train), in every loop layout."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from codegen_support import ALL, batch, compiled, perturbed, reference, rel, with_layout

import symback as sb

NET = sb.Network(n_in=(2, 7, 7), layers=[sb.Conv2D(3, 3, stride=2, padding=1, activation="tanh"), sb.MaxPool(2),
                                         sb.Flatten(), sb.Dense(4)], loss="softmax_cross_entropy", name="cnn_small")
NET1D = sb.Network(n_in=(1, 11), layers=[sb.Conv1D(3, 3, padding=1, dilation=2, activation="relu"), sb.AvgPool(3),
                                        sb.Flatten(), sb.Dense(2)], loss="mse", name="cnn_1d")


@pytest.fixture(scope="module")
def module():
    return compiled("cnn_small", NET, layouts=ALL)


def test_a_1d_cnn_with_dilation_and_average_pooling_equals_the_oracle():
    mod, d, plan = compiled("cnn_1d", NET1D)
    rng = np.random.default_rng(2)
    params = perturbed(mod, rng)
    X, Y = batch(plan, 5, rng)
    want_loss, want = reference(d, plan, params, X, Y)
    loss, grads = mod.loss_and_grad(params, X, Y)
    assert abs(loss - want_loss) < 1e-12 * max(1.0, abs(want_loss))
    for p in d.params:
        assert rel(grads[p], want[p]) < 1e-12, p


@pytest.mark.parametrize("layout", ALL)
def test_loss_and_gradients_equal_the_oracle_in_every_layout(module, layout):
    mod, d, plan = module
    rng = np.random.default_rng(3)
    params = perturbed(mod, rng)
    X, Y = batch(plan, 5, rng)
    want_loss, want = reference(d, plan, params, X, Y)
    with with_layout(mod, layout):
        loss, grads = mod.loss_and_grad(params, X, Y)
    assert abs(loss - want_loss) < 1e-12 * max(1.0, abs(want_loss))
    for p in d.params:
        assert rel(grads[p], want[p]) < 1e-12, (layout, p)


def test_float32_and_the_sgd_step(module):
    mod, d, plan = module
    rng = np.random.default_rng(4)
    params = perturbed(mod, rng)
    X, Y = batch(plan, 6, rng)
    _, want = reference(d, plan, params, X, Y)
    single = {k: v.astype(np.float32) for k, v in params.items()}
    _, grads = mod.loss_and_grad(single, X.astype(np.float32), Y if plan.labels else Y.astype(np.float32))
    for p in d.params:
        assert grads[p].dtype == np.float32 and rel(grads[p], want[p]) < 1e-4, p
    before = {k: v.copy() for k, v in params.items()}
    mod.sgd_step(params, X, Y, 0.1)
    for p in d.params:
        assert rel(params[p], before[p] - 0.1 * want[p]) < 1e-12, p


def test_the_compiled_cnn_matches_torch_autograd():
    mod, d, plan = compiled("cnn_small", NET, layouts=ALL)
    rng = np.random.default_rng(5)
    params = perturbed(mod, rng)
    X, Y = batch(plan, 4, rng)
    loss, grads = mod.loss_and_grad(params, X, Y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(X.reshape(4, 2, 7, 7))
    h = F.max_pool2d(torch.tanh(F.conv2d(x, t["W1"].reshape(3, 2, 3, 3), t["b1"], stride=2, padding=1)), 2)
    ref = F.cross_entropy(h.reshape(4, -1) @ t["W2"].T + t["b2"], torch.tensor(Y))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12
    for k, v in t.items():
        assert rel(grads[k], v.grad.numpy()) < 1e-12, k


def test_training_lowers_the_loss(module):
    mod, d, plan = module
    rng = np.random.default_rng(6)
    params = mod.init_params(seed=0)
    X, Y = batch(plan, 40, rng)
    losses = mod.train(params, X, Y, 0.05, epochs=15, batch_size=8, seed=0)
    assert losses[-1] < losses[0]
