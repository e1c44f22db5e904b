"""Dropout in the compiled kernels: masks drawn per training call from Numba's seeded generator, off in forward().

The mask a kernel drew is read back by replaying the generator (the module's ``seed_dropout``, then the same
number of ``np.random.random()`` draws in the layout's loop order); given that mask, the compiled gradient equals
the NumPy evaluation of the derivation and PyTorch autograd (float64 1e-9 relative; float32 1e-4). The kept
fraction of 10,000 draws is within 5 standard deviations (0.022) of 1 - p.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from test_dropout import torch_grads

import symback as sb
from symback.codegen.plan import build
from symback.ir import sym
from symback.numeric import evaluate_batch
from tests.codegen_support import ALL, compiled, with_layout

P = 0.25
NET = sb.Network(3, [sb.Dense(5, "tanh"), sb.Dropout(P), sb.Dense(2)], loss="mse")


@njit(cache=True)
def _uniforms(n):
    out = np.empty(n)
    for k in range(n):
        out[k] = np.random.random()
    return out


def module():
    return compiled("dropout_kernels", NET, layouts=ALL)


def instance(mod, B, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = mod.init_params(seed=seed, dtype=dtype)
    for k in mod.PARAMS:
        params[k][...] += (0.3 * rng.standard_normal(params[k].shape)).astype(dtype)
    return params, rng.standard_normal((B, 3)).astype(dtype), rng.standard_normal((B, 2)).astype(dtype)


def drawn_mask(mod, layout, seed, B):
    """The mask the kernel of `layout` drew after ``seed_dropout(seed)``: the same draws, in its loop order."""
    mod.seed_dropout(seed)
    kept = (_uniforms(B * 5) < 1 - P).astype(float)
    return kept.reshape(5, B).T if layout == "small" else kept.reshape(B, 5)


def oracle(params, X, Y, mask):
    d = NET.derive()
    values = evaluate_batch(d.graph, params, {"x": X, "m1": mask}, Y)
    return float(values["l"].mean()), {p: values[d.adjoints[p]].mean(axis=-1) for p in params}


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, float) - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("layout", ALL)
def test_the_compiled_gradient_equals_the_oracle_and_pytorch_given_the_drawn_mask(layout):
    mod, _, _ = module()
    params, X, Y = instance(mod, B=6)
    with with_layout(mod, layout):
        mod.seed_dropout(7)
        loss, grads = mod.loss_and_grad(params, X, Y)
    mask = drawn_mask(mod, layout, 7, 6)
    assert 0 < mask.sum() < mask.size
    P64 = {k: np.array(v) for k, v in params.items()}
    ref_loss, ref = oracle(P64, X, Y, mask)
    t_loss, t_grads = torch_grads(P64, {"x": X, "m1": mask}, Y, P)
    assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss) and abs(loss - t_loss) <= 1e-12 * abs(t_loss)
    for p in mod.PARAMS:
        assert rel(grads[p], ref[p]) < 1e-9 and rel(grads[p], t_grads[p]) < 1e-9, (layout, p)


def test_float32_kernels_draw_the_same_masks():
    mod, _, _ = module()
    params, X, Y = instance(mod, B=6, dtype=np.float32)
    with with_layout(mod, "sample"):
        mod.seed_dropout(3)
        loss, grads = mod.loss_and_grad(params, X, Y)
    ref_loss, ref = oracle({k: np.array(v, dtype=float) for k, v in params.items()}, X.astype(float),
                           Y.astype(float), drawn_mask(mod, "sample", 3, 6))
    assert grads["W1"].dtype == np.float32 and abs(loss - ref_loss) < 1e-5 * abs(ref_loss)
    for p in mod.PARAMS:
        assert rel(grads[p], ref[p]) < 1e-4, p


def test_the_kept_fraction_is_near_one_minus_p():
    mod, _, _ = module()
    params, X, Y = instance(mod, B=2000)
    with with_layout(mod, "small"):
        mod.seed_dropout(11)
        _, grads = mod.loss_and_grad(params, X, Y)
    mask = drawn_mask(mod, "small", 11, 2000)
    assert rel(grads["W1"], oracle(params, X, Y, mask)[1]["W1"]) < 1e-9  # this mask is the kernel's
    # 10,000 Bernoulli(3/4) draws: standard deviation sqrt(3/16 / 10^4) = 0.0043; 5 of them = 0.022
    assert abs(mask.mean() - (1 - P)) < 0.022


def test_each_call_draws_a_new_mask_and_the_seed_replays_it():
    mod, _, _ = module()
    params, X, Y = instance(mod, B=8)
    mod.seed_dropout(5)
    first = mod.loss_and_grad(params, X, Y)[1]["W2"].copy()
    second = mod.loss_and_grad(params, X, Y)[1]["W2"].copy()
    mod.seed_dropout(5)
    assert not np.array_equal(first, second)
    assert np.array_equal(mod.loss_and_grad(params, X, Y)[1]["W2"], first)


def test_forward_is_dropout_off_and_draws_nothing():
    mod, _, _ = module()
    params, X, Y = instance(mod, B=8)
    h = np.tanh(X @ params["W1"].T + params["b1"])
    expected = h @ params["W2"].T + params["b2"]  # the network without dropout (inference mode)
    for layout in ALL:
        with with_layout(mod, layout):
            assert rel(mod.forward(params, X), expected) < 1e-14, layout
    mod.seed_dropout(9)
    mod.forward(params, X)
    after_forward = mod.loss_and_grad(params, X, Y)[1]["W1"]
    mod.seed_dropout(9)
    assert np.array_equal(mod.loss_and_grad(params, X, Y)[1]["W1"], after_forward)
    assert "Dropout masks m1 (p = 0.25)" in mod.__doc__ and "seed_dropout(seed)" in mod.__doc__
    assert mod.INPUTS == (("x", 3),)  # the mask is drawn, not a column of X


def test_an_inference_plan_has_no_mask_and_the_identity_for_dropout():
    plan = build(NET.derive(), inference=True)
    assert plan.inputs == [("x", 0, 3)] and "m1" not in plan.sizes
    d1 = next(m for st in plan.steps for m in getattr(st, "members", ()) if m.name == "d1")
    assert d1.expr == sym("h1")


def test_training_with_dropout_reduces_the_loss_and_replays_under_a_seed():
    mod, _, _ = module()
    params, X, Y = instance(mod, B=64)
    start = {k: np.array(v) for k, v in params.items()}
    mod.seed_dropout(1)
    losses = mod.train(params, X, Y, lr=0.05, epochs=30, batch_size=16)
    assert losses[-1] < 0.7 * losses[0]
    again = mod.init_params(seed=0)
    for k in mod.PARAMS:
        again[k][...] = start[k]
    mod.seed_dropout(1)
    assert np.array_equal(mod.train(again, X, Y, lr=0.05, epochs=30, batch_size=16), losses)


def test_a_mask_another_module_reads_is_still_drawn_once_beside_its_value():
    g = sb.DAG("reuse")
    g.param("W", (2, 3))
    d = g.dropout("d", g.input("x", 3), 0.5)
    g.loss(g.linear("f", "W", g.add("z", d, g.mul("q", "m_d", "x"))), "mse")
    plan = build(g.derive())
    assert plan.dropout == {"m_d": 0.5} and plan.inputs == [("x", 0, 3)]
    draws = [m for st in plan.steps for m in getattr(st, "members", ()) if m.name == "m_d"]
    assert len(draws) == 1 and str(draws[0].expr) == "Keep(1/2, x)"
