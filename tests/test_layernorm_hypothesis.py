"""Hypothesis draws networks mixing Dense, LayerNorm and Softmax layers (depth 1-4, batch 2-8): every gradient of
the derivation, evaluated by the NumPy oracle, matches PyTorch autograd to 1e-9 relative in float64."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import symback as sb
from symback.numeric import evaluate_batch

torch.set_default_dtype(torch.float64)
ACTS = {"identity": lambda z: z, "tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}
EPS = 1e-3


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 4))
    blocks = [(draw(st.integers(2, 5)), draw(st.sampled_from(sorted(ACTS))), draw(st.booleans()))
              for _ in range(depth)]
    return draw(st.integers(2, 5)), blocks, draw(st.booleans()), draw(st.integers(2, 8))


def _layers(blocks, softmax):
    out = []
    for width, act, norm in blocks:
        out += [sb.Dense(width, act)] + ([sb.LayerNorm(eps=EPS)] if norm else [])
    return out + ([sb.Softmax()] if softmax else [])


def _torch_loss(P, blocks, softmax, X, Y):
    h = X
    for k, (width, act, norm) in enumerate(blocks, 1):
        h = ACTS[act](h @ P[f"W{k}"].T + P[f"b{k}"])
        if norm:
            h = torch.nn.functional.layer_norm(h, (width,), P[f"gamma{k}"], P[f"beta{k}"], EPS)
    if softmax:
        h = torch.softmax(h, dim=1)
    return ((h - Y) ** 2).sum(dim=1).mean()


@settings(max_examples=8, deadline=None, derandomize=True, database=None)
@given(networks())
def test_mixed_networks_match_pytorch(drawn):
    n_in, blocks, softmax, B = drawn
    d = sb.Network(n_in, _layers(blocks, softmax), loss="mse").derive()
    rng = np.random.default_rng(B)
    params = {p: rng.standard_normal(d.graph[p].shape) for p in d.params}
    X, Y = rng.standard_normal((B, n_in)), rng.uniform(size=(B, blocks[-1][0]))
    values = evaluate_batch(d.graph, params, X, Y)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    loss = _torch_loss(P, blocks, softmax, torch.tensor(X), torch.tensor(Y))
    loss.backward()
    assert abs(values["l"].mean() - loss.item()) <= 1e-9 * abs(loss.item())
    for p, a in d.adjoints.items():
        ours, theirs = values[a].mean(axis=-1), P[p].grad.numpy()
        assert np.max(np.abs(ours - theirs)) <= 1e-9 * max(np.max(np.abs(theirs)), 1e-12), p
