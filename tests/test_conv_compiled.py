"""Compiled CNN kernels: the generated direct loops equal the NumPy oracle and PyTorch, in float64 and float32,
through the module contract (forward, loss_and_grad, sgd_step, train).

Each loop layout reads and writes the index-form steps its own way (`read`: per-sample vectors, component-major,
sample-major), so each layout is compiled once, for a different network, and checked against the oracle: the
strided 2-D net with max-pooling in ``sample``, the dilated 1-D net with average pooling in ``small``, the digits
CNN of examples/digits_cnn.py in ``blas`` (the module tests/test_conv_digits.py trains: one compile for both)."""

import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from codegen_support import batch, compiled, perturbed, reference, rel

import symback as sb

NET = sb.Network(n_in=(2, 7, 7), layers=[sb.Conv2D(3, 3, stride=2, padding=1, activation="tanh"), sb.MaxPool(2),
                                         sb.Flatten(), sb.Dense(4)], loss="softmax_cross_entropy", name="cnn_small")
NET1D = sb.Network(n_in=(1, 11), layers=[sb.Conv1D(3, 3, padding=1, dilation=2, activation="relu"), sb.AvgPool(3),
                                        sb.Flatten(), sb.Dense(2)], loss="mse", name="cnn_1d")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_cnn.py"


def digits_module():
    """The digits CNN compiled in the blas layout, shared with tests/test_conv_digits.py (same key, same file)."""
    return compiled("digits_cnn", runpy.run_path(str(EXAMPLE), run_name="digits_cnn_example")["net"],
                    layouts=("blas",))


def equals_the_oracle(module, B, seed):
    mod, d, plan = module
    rng = np.random.default_rng(seed)
    params = perturbed(mod, rng)
    X, Y = batch(plan, B, rng)
    want_loss, want = reference(d, plan, params, X, Y)
    loss, grads = mod.loss_and_grad(params, X, Y)
    assert abs(loss - want_loss) < 1e-12 * max(1.0, abs(want_loss))
    for p in d.params:
        assert rel(grads[p], want[p]) < 1e-12, p


@pytest.mark.parametrize("key, net, layout", [("cnn_small", NET, "sample"), ("cnn_1d", NET1D, "small")])
def test_loss_and_gradients_equal_the_oracle(key, net, layout):
    equals_the_oracle(compiled(key, net, layouts=(layout,)), 5, 3)


def test_the_digits_cnn_in_the_blas_layout_equals_the_oracle():
    equals_the_oracle(digits_module(), 3, 4)


def test_float32_and_the_sgd_step():
    mod, d, plan = compiled("cnn_1d", NET1D, layouts=("small",))
    rng = np.random.default_rng(4)
    params = perturbed(mod, rng)
    X, Y = batch(plan, 6, rng)
    _, want = reference(d, plan, params, X, Y)
    single = mod.init_params(dtype=np.float32)  # packed, as init_params gives them: the kernel alone compiles
    for k in mod.PARAMS:
        single[k][...] = params[k]
    _, grads = mod.loss_and_grad(single, X.astype(np.float32), Y.astype(np.float32))
    for p in d.params:
        assert grads[p].dtype == np.float32 and rel(grads[p], want[p]) < 1e-4, p
    before = {k: v.copy() for k, v in params.items()}
    mod.sgd_step(params, X, Y, 0.1)
    for p in d.params:
        assert rel(params[p], before[p] - 0.1 * want[p]) < 1e-12, p


def test_the_compiled_cnn_matches_torch_autograd():
    mod, _, plan = compiled("cnn_small", NET, layouts=("sample",))
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


def test_the_compiled_max_gate_sends_a_tie_to_the_first_maximum():
    """Zero kernel and bias: every pooled window is a tie of tanh(b1) = 0, four copies of one function of b1, so the
    bias's gradient is what one copy gets; the first-maximum rule (PyTorch's) gives it, every gradient agrees."""
    mod, _, plan = compiled("cnn_small", NET, layouts=("sample",))
    rng = np.random.default_rng(7)
    params = perturbed(mod, rng)
    params["W1"][...], params["b1"][...] = 0.0, 0.0
    X, Y = batch(plan, 3, rng)
    _, grads = mod.loss_and_grad(params, X, Y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = F.max_pool2d(torch.tanh(F.conv2d(torch.tensor(X.reshape(3, 2, 7, 7)), t["W1"].reshape(3, 2, 3, 3), t["b1"],
                                         stride=2, padding=1)), 2)
    F.cross_entropy(h.reshape(3, -1) @ t["W2"].T + t["b2"], torch.tensor(Y)).backward()
    assert grads["b1"].any()
    for k in t:
        assert rel(grads[k], t[k].grad.numpy()) < 1e-12, k


def test_a_blank_background_ties_and_the_bias_gradient_is_the_central_difference():
    """The digits CNN on a blank image with one lit pixel and positive biases: a window of background holds four
    equal ReLU outputs relu(b1). Sending the tie's delta to none of them dropped that window from db1 (0.40 against
    the central difference's 0.74); to the first, every gradient is PyTorch's and db1 the central difference."""
    mod, _, _ = digits_module()
    params = mod.init_params(seed=0)
    params["b1"][...] = 0.5
    X, Y = np.zeros((1, 64)), np.array([3])
    X[0, 27] = 1.0
    loss, grads = mod.loss_and_grad(params, X, Y)
    t = {k: torch.tensor(np.array(v), requires_grad=True) for k, v in params.items()}
    h = F.max_pool2d(F.relu(F.conv2d(torch.tensor(X.reshape(1, 1, 8, 8)), t["W1"].reshape(8, 1, 3, 3), t["b1"],
                                     padding=1)), 2)
    ref = F.cross_entropy(h.reshape(1, -1) @ t["W2"].T + t["b2"], torch.tensor(Y))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12
    for k in t:
        assert rel(grads[k], t[k].grad.numpy()) < 1e-12, k
    for c in range(8):  # every channel's bias: all its background windows move together
        shifted = []
        for step in (1e-6, -1e-6):
            p = {k: np.array(v) for k, v in params.items()}
            p["b1"][c] += step
            shifted.append(mod.loss_and_grad(p, X, Y)[0])
        assert abs((shifted[0] - shifted[1]) / 2e-6 - grads["b1"][c]) < 1e-7, c
