"""Compiled kernels of networks with layer normalisation, softmax modules and means (issue 11).

One module per network, compiled once for the file (tests/codegen_support.py `compiled`): forward, loss_and_grad,
sgd_step, step and train match the NumPy oracle and PyTorch autograd (float64, 1e-9; float32 to its precision)
in every loop layout; per-sample scalars (mean, sigma) are written into the loops that read them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_layernorm import dag, layered, torch_dag, torch_layered

from tests.codegen_support import compiled, reference, rel, with_layout

torch.set_default_dtype(torch.float64)
CASES = {"network": (layered, torch_layered), "dag": (dag, torch_dag)}
LAYOUTS = {"network": ("sample", "blas"), "dag": ("small",)}  # each layout once (cold compiles are slow)


@pytest.fixture(scope="module", params=sorted(CASES))
def kernel(request):
    make, model = CASES[request.param]
    return compiled(f"layernorm_{request.param}", make(), layouts=LAYOUTS[request.param]) + (model,)


def _batch(plan, B, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, plan.n_in)), rng.uniform(size=(B, plan.n_out))


def _params(mod, seed):
    """Random parameters, packed as init_params gives them: a plain dict's wrapper would compile the kernel's code
    once more, and tests/test_entry_points.py proves its results are a Params' bit for bit."""
    rng = np.random.default_rng(seed)
    params = mod.init_params(seed=seed)
    for v in params.values():
        v[...] = rng.standard_normal(v.shape) * 0.7
    return params


def _torch(model, params, X, Y):
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    loss = model(t, torch.tensor(X), torch.tensor(Y))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}, t


def test_no_per_sample_scalar_is_stored(kernel):
    _, d, plan, _ = kernel
    scalars = {n.name for n in d.graph if n.shape == () and n.op != "loss" and not n.is_leaf}
    assert scalars and not scalars & set(plan.sizes)


def test_loss_and_grad_match_the_oracle_and_pytorch_in_every_layout(kernel):
    mod, d, plan, model = kernel
    for B in (1, 5):
        X, Y = _batch(plan, B, B)
        params = _params(mod, B)
        ref_loss, ref = reference(d, plan, params, X, Y)
        t_loss, t_grads, _ = _torch(model, params, X, Y)
        for layout in mod._LAYOUTS:
            with with_layout(mod, layout):
                loss, grads = mod.loss_and_grad(params, X, Y)
                assert rel(loss, ref_loss) < 1e-12 and rel(loss, t_loss) < 1e-9, (layout, B)
                for k in mod.PARAMS:
                    assert rel(grads[k], ref[k]) < 1e-12, (layout, B, k)
                    assert rel(grads[k], t_grads[k]) < 1e-9, (layout, B, k)


def test_forward_matches_pytorch(kernel):
    mod, _, plan, model = kernel
    X, _ = _batch(plan, 4, 0)
    params = _params(mod, 0)
    values = {k: torch.tensor(v) for k, v in params.items()}
    captured = {}

    def loss_of(p):  # the model's softmax output, caught before its loss
        original = torch.softmax
        torch.softmax = lambda z, dim: captured.setdefault("p", original(z, dim=dim))
        try:
            return model(p, torch.tensor(X), torch.zeros(4, plan.n_out))
        finally:
            torch.softmax = original

    loss_of(values)
    assert rel(mod.forward(params, X), captured["p"].numpy()) < 1e-12


def test_sgd_step_step_and_train_match_torch_sgd(kernel):
    mod, _, plan, model = kernel
    X, Y = _batch(plan, 6, 1)
    params = _params(mod, 1)
    _, _, t = _torch(model, params, X, Y)
    torch.optim.SGD(list(t.values()), lr=0.1).step()
    mod.sgd_step(params, X, Y, 0.1)
    for k in mod.PARAMS:
        assert rel(params[k], t[k].detach().numpy()) < 1e-9, k
    state = mod.init_state(params, optimizer="sgd", lr=0.1)
    _, _, t = _torch(model, params, X, Y)
    torch.optim.SGD(list(t.values()), lr=0.1).step()
    mod.step(params, state, X, Y)
    for k in mod.PARAMS:
        assert rel(params[k], t[k].detach().numpy()) < 1e-9, k
    history = mod.train(params, np.tile(X, (8, 1)), np.tile(Y, (8, 1)), lr=0.2, epochs=5, batch_size=8)
    assert history[-1] < history[0]


def test_float32_kernels_agree_with_float64_to_single_precision(kernel):
    mod, _, plan, _ = kernel
    X, Y = _batch(plan, 5, 2)
    params = _params(mod, 2)
    loss64, grads64 = mod.loss_and_grad(params, X, Y)
    p32 = mod.init_params(seed=0, dtype=np.float32)
    for k in mod.PARAMS:
        p32[k][...] = params[k]
    for layout in mod._LAYOUTS:
        with with_layout(mod, layout):
            loss32, grads32 = mod.loss_and_grad(p32, X.astype(np.float32), Y.astype(np.float32))
            assert grads32[mod.PARAMS[0]].dtype == np.float32
            assert rel(loss32, loss64) < 1e-5, layout
            for k in mod.PARAMS:
                assert rel(grads32[k], grads64[k]) < 1e-4, (layout, k)
