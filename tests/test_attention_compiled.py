"""Compiled kernels of an attention block (attention + residual, layer norm, MLP; issue 11).

One module, one layout, compiled once for the file (tests/codegen_support.py `compiled`): forward, loss_and_grad,
sgd_step, step and train match the NumPy oracle and PyTorch autograd (float64; float32 to its precision); the
row-wise softmax is computed shifted by its row max, so large scores do not overflow.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_attention import block, torch_block, torch_forward

from tests.codegen_support import compiled, reference, rel

torch.set_default_dtype(torch.float64)


@pytest.fixture(scope="module")
def kernel():
    return compiled("attention_compiled", block(), layouts=("sample",))  # not the example's key: another net


def _data(plan, B, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, plan.n_in)) * scale, rng.standard_normal((B, plan.n_out))


def _params(mod, seed):
    """Random parameters, packed as init_params gives them: a plain dict's wrapper would compile the kernel's code
    once more, and tests/test_entry_points.py proves its results are a Params' bit for bit."""
    rng = np.random.default_rng(seed)
    params = mod.init_params(seed=seed)
    for v in params.values():
        v[...] = rng.standard_normal(v.shape) * 0.7
    return params


def _torch(params, X, Y):
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    loss = torch_block(t, torch.tensor(X), torch.tensor(Y))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}, t


def test_loss_and_grad_match_the_oracle_and_pytorch(kernel):
    mod, d, plan = kernel
    for B in (1, 5):
        X, Y = _data(plan, B, B)
        params = _params(mod, B)
        ref_loss, ref = reference(d, plan, params, X, Y)
        t_loss, t_grads, _ = _torch(params, X, Y)
        loss, grads = mod.loss_and_grad(params, X, Y)
        assert rel(loss, ref_loss) < 1e-12 and rel(loss, t_loss) < 1e-9, B
        for k in mod.PARAMS:
            assert rel(grads[k], ref[k]) < 1e-11, (B, k)
            assert rel(grads[k], t_grads[k]) < 1e-9, (B, k)


def test_forward_matches_pytorch_and_large_scores_do_not_overflow(kernel):
    mod, _, plan = kernel
    params = _params(mod, 0)
    for scale in (1.0, 300.0):  # exp(300^2 ...) overflows unless each row is shifted by its max
        X, _ = _data(plan, 4, 0, scale)
        ref = torch_forward({k: torch.tensor(v) for k, v in params.items()}, torch.tensor(X)).numpy()
        out = mod.forward(params, X)
        assert np.all(np.isfinite(out)) and rel(out, ref) < 1e-9, scale


def test_sgd_step_step_and_train_match_torch_sgd(kernel):
    mod, _, plan = kernel
    X, Y = _data(plan, 6, 1)
    params = _params(mod, 1)
    _, _, t = _torch(params, X, Y)
    torch.optim.SGD(list(t.values()), lr=0.1).step()
    mod.sgd_step(params, X, Y, 0.1)
    for k in mod.PARAMS:
        assert rel(params[k], t[k].detach().numpy()) < 1e-9, k
    state = mod.init_state(params, optimizer="sgd", lr=0.1)
    _, _, t = _torch(params, X, Y)
    torch.optim.SGD(list(t.values()), lr=0.1).step()
    mod.step(params, state, X, Y)
    for k in mod.PARAMS:
        assert rel(params[k], t[k].detach().numpy()) < 1e-9, k
    history = mod.train(params, np.tile(X, (8, 1)), np.tile(Y, (8, 1)), lr=0.05, epochs=5, batch_size=8)
    assert history[-1] < history[0]


def test_float32_kernels_agree_with_float64_to_single_precision(kernel):
    mod, _, plan = kernel
    X, Y = _data(plan, 5, 2)
    params = _params(mod, 2)
    loss64, grads64 = mod.loss_and_grad(params, X, Y)
    p32 = mod.init_params(seed=0, dtype=np.float32)
    for k in mod.PARAMS:
        p32[k][...] = params[k]
    loss32, grads32 = mod.loss_and_grad(p32, X.astype(np.float32), Y.astype(np.float32))
    assert grads32[mod.PARAMS[0]].dtype == np.float32
    assert rel(loss32, loss64) < 1e-5
    for k in mod.PARAMS:
        assert rel(grads32[k], grads64[k]) < 1e-4, k
