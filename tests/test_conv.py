"""Convolution and pooling: the derived index-form gradients against PyTorch autograd (float64, 1e-9 relative).

Every configuration hypothesis draws (1-D and 2-D, channels 1-4, kernel 1-5, stride 1-3, padding 0-2, dilation
1-2, batch 1-4) is declared as a one-layer `Network`, derived by SymPy (with respect to the input too), evaluated
by the NumPy oracle (`evaluate_batch`) and compared with torch's conv1d/conv2d/max_pool/avg_pool on the same
mean squared loss: the loss, dW, db and dx.
"""

import time

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symback as sb
from symback.derivation import Derivation
from symback.numeric import evaluate_batch

TOL = 1e-9
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def rel(a, b) -> float:
    """max |a - b| / max(1, |a|, |b|), elementwise."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b))), initial=0.0))


def derive(net) -> Derivation:
    """`net`'s derivation with respect to its parameters and its input x."""
    graph, out = net.graph()
    return Derivation(graph, out, net.params() + ["x"], net.summary())


def ours(net, shape, params: dict, X: np.ndarray, Y: np.ndarray) -> dict:
    """The loss (mean over the batch) and the mean gradients, by the NumPy oracle of the derivation."""
    d = derive(net)
    values = evaluate_batch(d.graph, params, X.reshape(len(X), -1), Y)
    grads = {w: values[d.adjoints[w]].mean(axis=-1) for w in d.params}
    grads["x"] = (values[d.adjoints["x"]] / len(X)).T.reshape(X.shape)
    return {"loss": values["l"].mean(), **grads}


def theirs(forward, X: np.ndarray, Y: np.ndarray, params: dict) -> dict:
    """The same loss by torch: ``mean over the batch of sum_j (out_j - y_j)^2``; its autograd gradients."""
    x = torch.tensor(X, requires_grad=True)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    out = forward(x, tp).reshape(len(X), -1)
    loss = ((out - torch.tensor(Y)) ** 2).sum() / len(X)
    loss.backward()
    return {"loss": loss.item(), "x": x.grad.numpy(), **{k: v.grad.numpy() for k, v in tp.items()}}


def agree(a: dict, b: dict) -> None:
    for k in b:
        assert rel(a[k], b[k]) < TOL, (k, rel(a[k], b[k]))


@st.composite
def geometry(draw, pool=False):
    dims = draw(st.sampled_from([1, 2]))
    k = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    s = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    d = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    p = tuple(draw(st.integers(0, min(2, kk // 2) if pool else 2)) for kk in k)
    out = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    # an input the stride tiles exactly: n + 2p - d(k-1) - 1 = s(out-1)
    n = tuple(ss * (o - 1) + dd * (kk - 1) + 1 - 2 * pp for ss, o, dd, kk, pp in zip(s, out, d, k, p))
    if min(n) < 1:
        n = tuple(nn + ss * (-(min(n) - 1) // ss + 1) for nn, ss in zip(n, s))
    return dims, k, s, d, p, n


@given(geometry(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**16))
@SETTINGS
def test_conv_matches_torch(geo, c_in, c_out, batch, seed):
    dims, k, s, d, p, n = geo
    rng = np.random.default_rng(seed)
    layer = (sb.Conv1D if dims == 1 else sb.Conv2D)(c_out, k, stride=s, padding=p, dilation=d)
    net = sb.Network(n_in=(c_in, *n), layers=[layer])
    out = net.layers[0].width(net.n_in)
    X = rng.standard_normal((batch, c_in, *n))
    Y = rng.standard_normal((batch, int(np.prod(out))))
    W = rng.standard_normal((c_out, c_in, *k))
    params = {"W1": W.reshape(c_out, -1), "b1": rng.standard_normal(c_out)}
    conv = F.conv1d if dims == 1 else F.conv2d
    reference = theirs(lambda x, t: conv(x, t["W1"], t["b1"], stride=s, padding=p, dilation=d), X, Y,
                       {"W1": W, "b1": params["b1"]})
    reference["W1"] = reference["W1"].reshape(c_out, -1)
    agree(ours(net, (c_in, *n), params, X, Y), reference)


@given(geometry(pool=True), st.sampled_from(["max", "avg"]), st.integers(1, 4), st.integers(1, 4),
       st.integers(0, 2**16))
@SETTINGS
def test_pooling_matches_torch(geo, mode, channels, batch, seed):
    dims, k, s, d, p, n = geo
    if mode == "avg":
        d = (1,) * dims
        n = tuple(ss * (max(1, (nn + 2 * pp - kk) // ss)) + kk - 2 * pp for nn, ss, kk, pp in zip(n, s, k, p))
    rng = np.random.default_rng(seed)
    layer = sb.MaxPool(k, s, p, d) if mode == "max" else sb.AvgPool(k, s, p)
    net = sb.Network(n_in=(channels, *n), layers=[layer])
    out = net.layers[0].width(net.n_in)
    X = rng.standard_normal((batch, channels, *n))
    Y = rng.standard_normal((batch, int(np.prod(out))))
    fn = getattr(F, f"{mode}_pool{dims}d")
    extra = {"dilation": d} if mode == "max" else {}
    reference = theirs(lambda x, t: fn(x, k, s, p, **extra), X, Y, {})
    agree(ours(net, (channels, *n), {}, X, Y), reference)


def test_cs231n_conv_backward_naive_case():
    """The assignment's case: x 4x3x5x5, w 2x3x3x3, stride 1, pad 1; dx, dw, db to its relative error < 1e-8."""
    rng = np.random.default_rng(231)
    X, W, b = rng.standard_normal((4, 3, 5, 5)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2)
    net = sb.Network(n_in=(3, 5, 5), layers=[sb.Conv2D(2, 3, padding=1)])
    Y = rng.standard_normal((4, 2 * 5 * 5))
    got = ours(net, (3, 5, 5), {"W1": W.reshape(2, -1), "b1": b}, X, Y)
    want = theirs(lambda x, t: F.conv2d(x, t["W1"], t["b1"], padding=1), X, Y, {"W1": W, "b1": b})
    for k in ("x", "W1", "b1"):
        a, c = np.asarray(got[k]).ravel(), np.asarray(want[k]).ravel()
        assert np.max(np.abs(a - c) / np.maximum(1e-8, np.abs(a) + np.abs(c))) < 1e-8, k


def test_cnn_gradients_match_torch_through_relu_pool_and_dense():
    """Conv2D + ReLU + MaxPool + Flatten + Dense + softmax cross-entropy, input gradient included."""
    rng = np.random.default_rng(5)
    net = sb.Network(n_in=(2, 6, 6), layers=[sb.Conv2D(3, 3, padding=1, activation="relu"), sb.MaxPool(2),
                                             sb.Flatten(), sb.Dense(4)], loss="softmax_cross_entropy")
    W1, b1 = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    W2, b2 = rng.standard_normal((4, 27)), rng.standard_normal(4)
    X, Y = rng.standard_normal((3, 2, 6, 6)), rng.integers(0, 4, 3)
    d = derive(net)
    values = evaluate_batch(d.graph, {"W1": W1.reshape(3, -1), "b1": b1, "W2": W2, "b2": b2}, X.reshape(3, -1), Y)
    x = torch.tensor(X, requires_grad=True)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in {"W1": W1, "b1": b1, "W2": W2, "b2": b2}.items()}
    h = F.max_pool2d(torch.relu(F.conv2d(x, t["W1"], t["b1"], padding=1)), 2).reshape(3, -1)
    loss = F.cross_entropy(h @ t["W2"].T + t["b2"], torch.tensor(Y))
    loss.backward()
    assert rel(values["l"].mean(), loss.item()) < TOL
    assert rel(values[d.adjoints["x"]].T.reshape(X.shape) / 3, x.grad.numpy()) < TOL
    for k, v in t.items():
        assert rel(values[d.adjoints[k]].mean(axis=-1), v.grad.numpy().reshape(values[k].shape[:-1])) < TOL, k


def test_symbolic_image_size_derives_quickly():
    """A Conv2D on a C x H x W image with H, W symbols: derived in under 2 s, its gradients in index form."""
    H, W = sp.symbols("H W")
    start = time.perf_counter()
    net = sb.Network(n_in=(3, H, W), layers=[sb.Conv2D(4, 3, padding=1)])
    d = net.derive()
    assert time.perf_counter() - start < 2.0
    text = str(d.graph[d.adjoints["W1"]].expr)
    assert "x[c, i + u - 1, j + v - 1]" in text and "Sum" in text


def test_per_sample_evaluation_equals_the_batch_and_central_differences():
    """The `numeric` rule (one sample) equals the `batched` one; dx and dW equal central differences."""
    rng = np.random.default_rng(9)
    net = sb.Network(n_in=(2, 5), layers=[sb.Conv1D(2, 3, stride=2, padding=1, dilation=1, activation="tanh"),
                                          sb.AvgPool(2, 1)])
    d = derive(net)
    params = {"W1": rng.standard_normal((2, 6)), "b1": rng.standard_normal(2)}
    X, Y = rng.standard_normal((2, 10)), rng.standard_normal((2, 4))
    batch = evaluate_batch(d.graph, params, X, Y)
    for s in range(2):
        one = d.evaluate(params, X[s], Y[s])
        for node in d.graph:
            if not node.is_leaf:
                assert np.allclose(batch[node.name][..., s], one[node.name], rtol=1e-13, atol=1e-14), node.name

    def loss(p, x):
        return d.evaluate(p, x, Y[0])["l"]

    one, h = d.evaluate(params, X[0], Y[0]), 1e-6
    for j in range(10):
        e = np.eye(10)[j] * h
        fd = (loss(params, X[0] + e) - loss(params, X[0] - e)) / (2 * h)
        assert abs(fd - one[d.adjoints["x"]][j]) < 1e-7
    for j in range(12):
        e = np.eye(12)[j].reshape(2, 6) * h
        fd = (loss({**params, "W1": params["W1"] + e}, X[0]) - loss({**params, "W1": params["W1"] - e}, X[0])) / (2 * h)
        assert abs(fd - one[d.adjoints["W1"]].ravel()[j]) < 1e-7


@pytest.mark.parametrize("make, message", [
    (lambda: sb.Network(n_in=(1, 4, 4), layers=[sb.Conv2D(2, 5)]), "kernel spans 5 but the padded input has 4"),
    (lambda: sb.Network(n_in=(1, 8, 8), layers=[sb.Conv2D(2, 3, stride=2)]), "stride 2 does not tile the input: 1 left"),
    (lambda: sb.Network(n_in=(1, 8, 7), layers=[sb.Conv2D(2, 3, stride=(1, 3))]), "width: stride 3"),
    (lambda: sb.Network(n_in=(1, 8, 8), layers=[sb.Conv2D(2, 3, in_channels=3)]),
     "expects 3 input channels, but its input (1x8x8) has 1"),
    (lambda: sb.Network(n_in=(1, 8, 8), layers=[sb.Conv2D(4, 3), sb.Conv2D(2, 3, in_channels=3)]),
     "layer 2 after layer 1, Conv2D(4, 3x3): Conv2D(3 -> 2, 3x3) expects 3 input channels, but its input (4x6x6) has 4"),
    (lambda: sb.Conv2D(2, 3, padding=-1), "padding must be at least 0"),
    (lambda: sb.Conv1D(2, 0), "kernel_size must be at least 1"),
    (lambda: sb.Network(n_in=(1, 8), layers=[sb.Conv2D(2, 3)]), "is 2-D but its input is 1x8 (1-D)"),
    (lambda: sb.Network(n_in=(1, 8, 8), layers=[sb.MaxPool(2, padding=2)]), "more than half the kernel"),
    (lambda: sb.Network(n_in=64, layers=[sb.Conv2D(2, 3)]), "its input must be an image"),
])
def test_bad_geometry_is_one_line_at_declaration(make, message):
    with pytest.raises(sb.SymbackError) as info:
        make()
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_max_pool_tie_sends_the_delta_to_the_first_tied_entry_as_pytorch():
    """The stated convention (README, the max gate's note): a window whose maximum several entries share sends its
    delta to the first of them in row-major order, as PyTorch's max_pool; untied windows to their argmax."""
    X = np.array([[[[1.0, 1.0, 3.0, 3.0, 5.0, 2.0], [0.0, -1.0, 3.0, 3.0, 1.0, 0.0]]]])
    Y = np.zeros((1, 3))
    net = sb.Network(n_in=(1, 2, 6), layers=[sb.MaxPool(2)])
    got, want = ours(net, (1, 2, 6), {}, X, Y), theirs(lambda x, t: F.max_pool2d(x, 2), X, Y, {})
    assert "at a tie, the first" in str(derive(net).graph[derive(net).adjoints["x"]].expr.note)
    assert want["x"][0, 0, 0, 0] == 2.0 and want["x"][0, 0, 0, 2] == 6.0  # PyTorch: to the first maximum
    assert np.count_nonzero(want["x"][..., :4]) == 2 and rel(got["x"], want["x"]) < TOL


def test_a_pooling_windows_expressions_read_back_in_sympys_own_functions():
    """The JSON's `expr` is SymPy syntax: the window's max (kept in scan order for the tie rule) is written as
    SymPy's Max, its tie factors as Heaviside(u, 0) and Heaviside(u, 1); nothing reads back as an unknown function."""
    from sympy.core.function import AppliedUndef

    from symback.render.jsonform import sympy_text

    d = derive(sb.Network(n_in=(1, 4, 4), layers=[sb.Conv2D(1, 1, padding=1), sb.MaxPool(2), sb.Flatten(), sb.Dense(1)],
                          loss="mse"))
    arrays = {n.name: sp.IndexedBase(n.name) for n in d.graph}
    texts = [sympy_text(n.expr) for n in d.graph if n.expr is not None and n.expr.has(sp.Indexed)]  # index forms
    assert any("Heaviside(" in t and ", 1)" in t for t in texts) and any(t.startswith("Max(f1[") for t in texts)
    for text in texts:
        assert not sp.sympify(text, locals=arrays).atoms(AppliedUndef), text
