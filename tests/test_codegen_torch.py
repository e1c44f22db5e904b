"""Generated kernels against PyTorch autograd (micrograd's oracle): loss and every gradient to 1e-9 in float64,
on random networks drawn by hypothesis and on one network per loss that uses every named activation."""

from __future__ import annotations

import numpy as np
import pytest

import symback as sb
from tests.codegen_support import compiled, rel

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

F = torch.nn.functional
ACTS = {
    "identity": lambda h: h,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": lambda h: F.softplus(h, threshold=1000.0),  # exact: no linear cut-off at 20
    "leaky_relu": lambda h: F.leaky_relu(h, 0.01),
    "elu": F.elu,
    "gelu": F.gelu,
    "swish": F.silu,
}
LOSSES = {
    "mse": lambda f, y: ((f - y) ** 2).sum(1),
    "softmax_cross_entropy": lambda f, y: F.cross_entropy(f, y, reduction="none"),
    "bce": lambda f, y: F.binary_cross_entropy(f, y, reduction="none").sum(1),
    "bce_with_logits": lambda f, y: F.binary_cross_entropy_with_logits(f, y, reduction="none").sum(1),
    "huber": lambda f, y: F.huber_loss(f, y, reduction="none", delta=1.0).sum(1),
}


def network(widths, acts, loss):
    return sb.Network(widths[0], [sb.Dense(n, a) for n, a in zip(widths[1:], acts)], loss=loss)


def compare(widths, acts, loss, B, seed):
    net = network(widths, acts, loss)
    key = f"torch|{widths}|{acts}|{loss}"
    mod, d, plan = compiled(key, net)
    rng = np.random.default_rng(seed)
    params = mod.init_params(seed=seed)
    for k in mod.PARAMS:
        params[k][...] += 0.2 * rng.standard_normal(params[k].shape)
    X = rng.standard_normal((B, widths[0]))
    if loss == "softmax_cross_entropy":
        Y = rng.integers(0, widths[-1], B)
        Yt = torch.tensor(Y)
    else:
        Y = rng.uniform(0.05, 0.95, (B, widths[-1])) if loss.startswith("bce") else rng.standard_normal(
            (B, widths[-1]))
        Yt = torch.tensor(Y)
    loss_value, grads = mod.loss_and_grad(params, X, Y)

    tp = {k: torch.tensor(np.array(v), requires_grad=True) for k, v in params.items()}
    h = torch.tensor(X)
    for k, act in enumerate(acts, 1):
        h = ACTS[act](h @ tp[f"W{k}"].T + tp[f"b{k}"])
    want = LOSSES[loss](h, Yt).mean()
    want.backward()
    assert rel(loss_value, want.item()) < 1e-9, (loss_value, want.item())
    for k in mod.PARAMS:
        assert rel(grads[k], tp[k].grad.numpy()) < 1e-9, k


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_every_activation_against_torch(loss):
    """Each loss once, its hidden layers cycling through all the named activations."""
    names = sorted(ACTS)
    k = sorted(LOSSES).index(loss)
    acts = [names[(2 * k + j) % len(names)] for j in range(2)] + ["sigmoid" if loss == "bce" else "identity"]
    compare([3, 4, 5, 2], acts, loss, B=3, seed=k)


@st.composite
def architectures(draw):
    depth = draw(st.integers(1, 4))
    widths = [draw(st.integers(1, 16)) for _ in range(depth + 1)]
    acts = [draw(st.sampled_from(sorted(ACTS))) for _ in range(depth)]
    loss = draw(st.sampled_from(sorted(LOSSES)))
    if loss == "bce":
        acts[-1] = "sigmoid"  # probabilities
    return widths, acts, loss, draw(st.integers(1, 8)), draw(st.integers(0, 1000))


@settings(max_examples=10, deadline=None, derandomize=True, database=None)
@given(architectures())
def test_random_networks_against_torch(arch):
    """Every drawn architecture compiles once (Numba's cache keeps later runs fast)."""
    compare(*arch)
