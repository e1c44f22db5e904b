"""Silent wrongness the red team found, now refused or right (issue 16: "nothing is silently wrong").

- NaN or infinity in the targets or the parameters of a generated module: a one-line ValueError from every
  entry point, as for X (before: NaN losses and gradients; input_grad did not check Y at all).
- Batch normalisation over a batch of one sample: refused by the NumPy evaluator and by the generated module
  (before: the output was beta and every earlier gradient 0; PyTorch refuses "Expected more than 1 value per
  channel when training").
- Layer normalisation of features far from zero: its variance is two-pass, so the loss and the gradients match
  PyTorch where the one-pass sum x^2/n - mu^2 cancelled (NaN at 1e8).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import symback as sb
from symback.numeric import evaluate_batch
from tests.codegen_support import compiled

NET = sb.Network(3, [sb.Dense(4), sb.BatchNorm(), sb.Activation("tanh"), sb.Dense(2)], loss="mse")


class _WithInputGrad:
    """NET derived also by its input, so the one compiled module has input_grad too."""

    def derive(self):
        return NET.derive(wrt=["x"])


@pytest.fixture(scope="module")
def mod():
    return compiled("silent_fixes", _WithInputGrad())[0]


def _batch(mod, B=4):
    rng = np.random.default_rng(0)
    return mod.init_params(), rng.standard_normal((B, 3)), rng.standard_normal((B, 2))


CALLS = {
    "loss_and_grad": lambda m, p, X, Y: m.loss_and_grad(p, X, Y),
    "sgd_step": lambda m, p, X, Y: m.sgd_step(p, X, Y, 0.1),
    "step": lambda m, p, X, Y: m.step(p, m.init_state(p, "adam"), X, Y),
    "train": lambda m, p, X, Y: m.train(p, X, Y, lr=0.1, batch_size=4),
    "input_grad": lambda m, p, X, Y: m.input_grad(p, X, Y),
    "forward": lambda m, p, X, Y: m.forward(p, X),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_parameter_is_refused(mod, call, bad):
    params, X, Y = _batch(mod)
    for p in (params, {k: v.copy() for k, v in params.items()}):  # a packed Params, a plain dict
        p["W2"][1, 0] = bad
        with pytest.raises(ValueError, match=r"^params: contain NaN or infinity") as exc:
            CALLS[call](mod, p, X, Y)
        assert "\n" not in str(exc.value)


@pytest.mark.parametrize("call", sorted(set(CALLS) - {"forward"}))
@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_a_non_finite_target_is_refused(mod, call, bad):
    params, X, Y = _batch(mod)
    Y[2, 1] = bad
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match=r"^Y: contains NaN or infinity$"):
        CALLS[call](mod, params, X, Y)
    assert all(np.array_equal(params[k], before[k]) for k in params)  # nothing was updated


def test_finite_calls_still_run(mod):
    params, X, Y = _batch(mod)
    loss, grads = mod.loss_and_grad(params, X, Y)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())
    assert np.isfinite(mod.input_grad(params, X, Y)).all()


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_batch_of_one_sample_is_refused_by_the_module(mod, call):
    params, X, Y = _batch(mod, B=1)
    with pytest.raises(ValueError, match=r"a batch of 1 sample; batch normalisation needs at least 2") as exc:
        CALLS[call](mod, params, X, Y)
    assert "\n" not in str(exc.value)


def test_train_whose_last_minibatch_has_one_sample_is_refused_before_any_update(mod):
    params, X, Y = _batch(mod, B=5)
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match=r"a batch of 1 sample"):
        mod.train(params, X, Y, lr=0.1, batch_size=4)
    assert all(np.array_equal(params[k], before[k]) for k in params)


def test_a_batch_of_one_sample_is_refused_by_the_numpy_evaluator():
    d = NET.derive()
    params = {p: np.ones(d.graph[p].shape) for p in d.params}
    with pytest.raises(sb.SymbackError, match="at least 2 samples, got a batch of 1"):
        evaluate_batch(d.graph, params, np.ones((1, 3)), np.ones((1, 2)))


@pytest.mark.parametrize("centre, tol", [(1e6, 1e-9), (1e8, 1e-6)])  # at 1e8 x's own rounding is ~1e-8 of 1
def test_layernorm_of_features_far_from_zero_matches_pytorch_loss_and_gradients(centre, tol):
    d = sb.Network(4, [sb.LayerNorm(), sb.Dense(1)]).derive()
    rng = np.random.default_rng(1)
    params = {p: rng.standard_normal(d.graph[p].shape) for p in d.params}
    X, Y = centre + rng.standard_normal((3, 4)), rng.standard_normal((3, 1))
    values = evaluate_batch(d.graph, params, X, Y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    out = torch.nn.functional.layer_norm(torch.tensor(X), (4,), t["gamma0"], t["beta0"], eps=1e-5) @ t["W1"].T + t["b1"]
    loss = ((out - torch.tensor(Y)) ** 2).sum()
    loss.backward()
    assert values["l"].sum() == pytest.approx(loss.item(), rel=tol)
    for p, a in d.adjoints.items():
        want = t[p].grad.numpy()
        assert np.max(np.abs(values[a].sum(axis=-1) - want)) <= tol * np.max(np.abs(want)), p


@pytest.mark.parametrize("offset, rtol", [(1e6, 1e-8), (1e8, 1e-6)])
def test_compiled_layernorm_of_features_far_from_zero_matches_pytorch(offset, rtol):
    """The kernels compute the variance in two passes (the mean's loop, then sum (x_j - mu)^2), as the definition
    says: the one-pass sum x^2/n - mu^2 they used to compile cancelled (6e-3 off at 1e6, garbage at 1e8). At 1e8 the
    inputs themselves hold only ~1e-8 of their spread, for PyTorch too, hence the looser tolerance there."""
    mod = compiled("silent_fixes_ln", sb.Network(4, [sb.LayerNorm(), sb.Dense(1)], loss="mse"), layouts=("sample",))[0]
    rng = np.random.default_rng(2)
    params = mod.init_params(seed=1)
    X = offset + rng.standard_normal((3, 4))
    Y = rng.standard_normal((3, 1))
    loss, grads = mod.loss_and_grad(params, X, Y)
    t = {k: torch.tensor(np.asarray(v, dtype=float), requires_grad=True) for k, v in params.items()}
    h = torch.nn.functional.layer_norm(torch.tensor(X, dtype=torch.float64), (4,), t["gamma0"], t["beta0"], 1e-5)
    ref = (((h @ t["W1"].T + t["b1"]) - torch.tensor(Y)) ** 2).sum(dim=1).mean()
    ref.backward()
    assert abs(loss - ref.item()) <= rtol * abs(ref.item())
    for k in ("gamma0", "beta0", "W1", "b1"):
        np.testing.assert_allclose(grads[k], t[k].grad.numpy(), rtol=rtol, atol=rtol * np.abs(t[k].grad.numpy()).max())
