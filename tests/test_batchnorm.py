"""Batch normalisation (training mode): declaration, derivation, the compact form, NumPy values against PyTorch.

The oracle is the derivation's own `batched` evaluation (numeric.evaluate_batch); PyTorch autograd
(torch.nn.functional.batch_norm, training=True, float64) and central differences check it.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symback as sb
from symback.numeric import evaluate_batch
from symback.ops.batchnorm import batch_value

EPS = 1e-5


def batch_gradients(graph, adjoints, params, X, Y, reduction="mean"):
    """Every parameter's gradient of the batch loss (mean or sum of the samples'), and the loss."""
    values = evaluate_batch(graph, params, X, Y)
    scale = 1 / len(X) if reduction == "mean" else 1.0
    grads = {p: values[a].sum(axis=-1) * scale for p, a in adjoints.items() if p in params}
    return grads, float(values["l"].sum() * scale), values


def cs231n_error(a, b) -> float:
    """CS231n's relative error: max |a - b| / max(1e-8, |a| + |b|), entrywise."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.fixture(scope="module")
def bn_net():
    """CS231n's affine - batchnorm - relu - affine, and its derivation."""
    net = sb.Network(5, [sb.Dense(4), sb.BatchNorm(), sb.Activation("relu"), sb.Dense(3)], loss="mse")
    return net, net.derive()


def instance(d, B=6, seed=0):
    rng = np.random.default_rng(seed)
    params = {p: rng.standard_normal(d.graph[p].shape) for p in d.params}
    params["gamma1"] = 1 + 0.3 * rng.standard_normal(d.graph["gamma1"].shape)
    return params, rng.standard_normal((B, 5)), rng.standard_normal((B, 3))


def torch_network(params, X, Y):
    """The same network in PyTorch autograd, float64: loss and gradients."""
    t = {k: torch.tensor(np.asarray(v), dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    f1 = torch.tensor(X) @ t["W1"].T + t["b1"]
    bn = torch.nn.functional.batch_norm(f1, None, None, t["gamma1"], t["beta1"], training=True, eps=EPS)
    out = torch.relu(bn) @ t["W2"].T + t["b2"]
    loss = ((out - torch.tensor(Y)) ** 2).sum(dim=1).mean()
    loss.backward()
    return float(loss.detach()), {k: v.grad.numpy() for k, v in t.items()}


def test_network_matches_pytorch(bn_net):
    _, d = bn_net
    params, X, Y = instance(d)
    grads, loss, _ = batch_gradients(d.graph, d.adjoints, params, X, Y)
    t_loss, t_grads = torch_network(params, X, Y)
    assert loss == pytest.approx(t_loss, rel=1e-12)
    for p in d.params:
        if p == "b1":  # a bias before batch normalisation has gradient 0 (sum_b dx_b = 0): compare absolutely
            assert np.max(np.abs(grads[p] - t_grads[p])) < 1e-12
            continue
        assert rel(grads[p], t_grads[p]) < 1e-9, p


def test_compact_form_is_derived_and_equal_to_the_unsimplified(bn_net):
    _, d = bn_net
    dx = d.graph["dl_df1"]
    b, B = sp.Symbol("b", integer=True, nonnegative=True), sp.Symbol("B", integer=True, positive=True)
    g, xh = sp.IndexedBase(sp.Symbol("dl_dbn1")), sp.IndexedBase(sp.Symbol("xhat1"))
    gs, xs, gamma, sigma = (sb.ir.sym(n) for n in ("dl_dbn1", "xhat1", "gamma1", "sigma1"))
    textbook = gamma / (B * sigma) * (B * gs - sp.Sum(g[b], (b, 0, B - 1)) - xs * sp.Sum(g[b] * xh[b], (b, 0, B - 1)))
    assert sp.simplify(dx.expr - textbook) == 0
    raw = d.raw[dx.name].expr
    assert len(sp.Add.make_args(raw)) == 6 and not raw.has(sb.ir.sym("xhat1"))  # six terms, in sums of f1
    assert d.graph["dl_dgamma1"].expr == sb.ir.sym("dl_dbn1") * xs and d.graph["dl_dgamma1"].op == "ew"
    # numerically: the simplified graph's every gradient equals the reverse sweep's own
    params, X, Y = instance(d, B=7, seed=3)
    simple, _, v1 = batch_gradients(d.graph, d.adjoints, params, X, Y)
    plain, _, v2 = batch_gradients(d.raw, d.adjoints, params, X, Y)
    assert np.max(np.abs(v1[dx.name] - v2[dx.name])) < 1e-12
    for p in d.params:
        assert np.max(np.abs(simple[p] - plain[p])) < 1e-12


def test_cs231n_case_dx_dgamma_dbeta():
    """CS231n assignment 2: N=4 samples, D=5 features; dx, dgamma, dbeta of sum(dout * bn(x))."""
    g = sb.DAG("cs231n batchnorm")
    x = g.input("x", 5)
    gamma, beta = g.param("gamma", 5, kind="scale"), g.param("beta", 5, kind="shift")
    g.loss(g.batchnorm("out", x, gamma, beta, eps=EPS), "mse", reduction="sum")
    graph, output = g.graph()
    d = sb.Derivation(graph, output, ["x", "gamma", "beta"], g.summary())  # dx too
    rng = np.random.default_rng(231)
    X = 5 * rng.standard_normal((4, 5)) + 12
    params = {"gamma": rng.standard_normal(5), "beta": rng.standard_normal(5)}
    dout = rng.standard_normal((4, 5))
    values = evaluate_batch(d.graph, params, X, np.zeros((4, 5)))
    upstream = d.graph["dl_dout"].name
    values[upstream] = dout.T  # the assignment's upstream gradient, fed into the derived recursion
    from symback.ops.batchnorm import batch_value  # noqa: PLC0415  (the evaluator of one expression)
    dx = batch_value(d.gradient_of("x").expr, values, 5, 4).T
    dgamma = (dout.T * values["xhat_out"]).sum(axis=1)
    assert d.gradient_of("gamma").expr == sb.ir.sym(upstream) * sb.ir.sym("xhat_out")
    tx = torch.tensor(X, requires_grad=True)
    tg, tb = (torch.tensor(params[k], requires_grad=True) for k in ("gamma", "beta"))
    out = torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True, eps=EPS)
    out.backward(torch.tensor(dout))
    assert cs231n_error(dx, tx.grad.numpy()) < 1e-8
    assert cs231n_error(dgamma, tg.grad.numpy()) < 1e-8
    assert cs231n_error(dout.sum(axis=0), tb.grad.numpy()) < 1e-8
    assert cs231n_error(values["out"].T, out.detach().numpy()) < 1e-8


def test_central_differences(bn_net):
    _, d = bn_net
    params, X, Y = instance(d, B=5, seed=7)
    grads, _, _ = batch_gradients(d.graph, d.adjoints, params, X, Y)
    h = 1e-6
    for p in ("W1", "gamma1", "beta1", "W2"):
        num = np.zeros_like(params[p])
        for idx in np.ndindex(params[p].shape):
            up, down = dict(params), dict(params)
            up[p], down[p] = params[p].copy(), params[p].copy()
            up[p][idx] += h
            down[p][idx] -= h
            num[idx] = (batch_gradients(d.graph, d.adjoints, up, X, Y)[1]
                        - batch_gradients(d.graph, d.adjoints, down, X, Y)[1]) / (2 * h)
        assert np.max(np.abs(num - grads[p])) < 1e-6 * max(1, np.max(np.abs(grads[p]))), p


def test_udl_placement_eps_on_the_standard_deviation():
    """eps_at="std": gamma (f - mu) / (sqrt(var) + eps) + beta, derived, simplified and equal to PyTorch autograd of
    that formula and to the unsimplified derivation."""
    net = sb.Network(5, [sb.Dense(4), sb.BatchNorm(eps=1e-3, eps_at="std"), sb.Activation("relu"), sb.Dense(3)])
    d = net.derive()
    assert str(d.graph["sigma1"].expr) == "1/1000 + sqrt(Sum((-mu1 + f1[b])**2, (b, 0, B - 1)))/sqrt(B)"
    params, X, Y = instance(d, B=5, seed=11)
    grads, loss, values = batch_gradients(d.graph, d.adjoints, params, X, Y)
    plain, _, raw = batch_gradients(d.raw, d.adjoints, params, X, Y)
    assert np.max(np.abs(values["dl_df1"] - raw["dl_df1"])) < 1e-12
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    f1 = torch.tensor(X) @ t["W1"].T + t["b1"]
    mu, var = f1.mean(dim=0), f1.var(dim=0, unbiased=False)
    out = torch.relu(t["gamma1"] * (f1 - mu) / (torch.sqrt(var) + 1e-3) + t["beta1"]) @ t["W2"].T + t["b2"]
    tl = ((out - torch.tensor(Y)) ** 2).sum(dim=1).mean()
    tl.backward()
    assert loss == pytest.approx(float(tl.detach()), rel=1e-12)
    for p in ("W1", "gamma1", "beta1", "W2", "b2"):
        assert rel(grads[p], t[p].grad.numpy()) < 1e-9, p
        assert rel(plain[p], grads[p]) < 1e-12, p


def test_one_sample_is_an_honest_error(bn_net):
    _, d = bn_net
    params, X, Y = instance(d)
    with pytest.raises(sb.SymbackError, match="needs the whole batch"):
        d.evaluate(params, X[0], Y[0])


@pytest.mark.parametrize("bad, message", [
    (lambda: sb.BatchNorm(eps=0), "eps must be a positive number"),
    (lambda: sb.BatchNorm(eps=-1e-5), "eps must be a positive number"),
    (lambda: sb.BatchNorm(eps="1e-5"), "eps must be a positive number"),
    (lambda: sb.BatchNorm(eps=float("nan")), "eps must be a positive number"),
    (lambda: sb.BatchNorm(eps=True), "eps must be a positive number"),
    (lambda: sb.Activation("no_such_thing"), "Activation"),
    (lambda: sb.BatchNorm(eps_at="root"), "eps_at must be 'variance'"),
    (lambda: sb.DAG("g").batchnorm("bn", "x", "gamma", "beta", eps_at=None), "eps_at must be 'variance'"),
])
def test_bad_layers(bad, message):
    with pytest.raises(sb.SymbackError, match=message):
        bad()


def _dag(gamma_shape=4, beta_is_value=False):
    g = sb.DAG("bad")
    x = g.input("x", 4)
    gamma = g.param("gamma", gamma_shape, kind="scale")
    beta = g.ew("beta", sb.ir.sym("x") * 2) if beta_is_value else g.param("beta", 4, kind="shift")
    g.loss(g.batchnorm("bn", x, gamma, beta), "mse")
    return g


@pytest.mark.parametrize("build, message", [
    (lambda: _dag(gamma_shape=3), r"gamma has shape \(3,\), expected \(4,\)"),
    (lambda: _dag(beta_is_value=True), "beta must be a parameter"),
])
def test_bad_dag_modules(build, message):
    with pytest.raises(sb.SymbackError, match=message) as err:
        build().graph()
    assert "\n" not in str(err.value)


def test_weight_decay_leaves_gamma_and_beta_alone():
    net = sb.Network(3, [sb.Dense(4), sb.BatchNorm(), sb.Activation("tanh"), sb.Dense(2)], weight_decay=0.1)
    graph, _ = net.graph()
    assert {m.name for m in graph["l"].meta.regularizer.atoms(sp.MatrixSymbol)} == {"W1", "W2"}
    assert net.summary().kind == "dag" and "BatchNorm(eps=1/100000)" in repr(net)


# -- random networks mixing batch normalisation with dense layers, against PyTorch -------------------------------

TORCH_ACTS = {"identity": lambda t: t, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


@st.composite
def mixed_networks(draw):
    """(n_in, layers, spec): depth 1-4 Dense layers, each maybe followed by BatchNorm and an Activation."""
    n_in, layers, spec = draw(st.integers(2, 4)), [], []
    for _ in range(draw(st.integers(1, 4))):
        width, act = draw(st.integers(2, 5)), draw(st.sampled_from(sorted(TORCH_ACTS)))
        layers.append(sb.Dense(width, act))
        spec.append(("dense", act))
        if draw(st.booleans()):
            after = draw(st.sampled_from(["relu", "tanh"]))
            layers += [sb.BatchNorm(eps=EPS), sb.Activation(after)]
            spec.append(("bn", after))
    return n_in, layers, spec


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=mixed_networks(), batch=st.integers(2, 8), classes=st.booleans(), seed=st.integers(0, 2**16))
def test_random_mixed_networks_match_pytorch(drawn, batch, classes, seed):
    n_in, layers, spec = drawn
    net = sb.Network(n_in, layers, loss="softmax_cross_entropy" if classes else "mse")
    d = net.derive()
    rng = np.random.default_rng(seed)
    params = {p: rng.standard_normal(d.graph[p].shape) for p in d.params}
    X = rng.standard_normal((batch, n_in))
    n_out = layers[-1].n_out if isinstance(layers[-1], sb.Dense) else next(
        l.n_out for l in reversed(layers) if isinstance(l, sb.Dense))
    Y = rng.integers(0, n_out, batch) if classes else rng.standard_normal((batch, n_out))
    grads, loss, _ = batch_gradients(d.graph, d.adjoints, params, X, Y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h, k = torch.tensor(X), 0
    for kind, act in spec:
        if kind == "dense":
            k += 1
            h = TORCH_ACTS[act](h @ t[f"W{k}"].T + t[f"b{k}"])
        else:
            h = TORCH_ACTS[act](torch.nn.functional.batch_norm(h, None, None, t[f"gamma{k}"], t[f"beta{k}"],
                                                               training=True, eps=EPS))
    tl = (torch.nn.functional.cross_entropy(h, torch.tensor(Y)) if classes
          else ((h - torch.tensor(Y)) ** 2).sum(dim=1).mean())
    tl.backward()
    assert loss == pytest.approx(float(tl.detach()), rel=1e-9)
    scale = max(np.max(np.abs(t[p].grad.numpy())) for p in d.params)
    for p in d.params:  # 1e-9 relative; a bias before a norm has gradient 0 up to rounding: a floor for it
        ref = t[p].grad.numpy()
        assert np.max(np.abs(grads[p] - ref)) <= 1e-9 * max(np.max(np.abs(ref)), 1e-3 * scale), p
