"""Max pooling at ties, against PyTorch autograd: the loss and every gradient, the input's too (float64, 1e-12).

Inputs built to tie: blank images, constant regions, 0/1 pixels, all-negative images (padding reads -inf, never a
winning 0), ReLU zeros and copies of relu(b) from a zero kernel; windows that overlap (stride 1), are padded or
dilated, 1-D and 2-D, the pool after the input (ties in the raw image) or after a conv and ReLU. A tie goes to the
first tap in row-major order (`ops.pool.WindowMax`), as PyTorch's max_pool: by the IR's numeric evaluator for
every configuration, by the compiled kernels in every loop layout for a pool on the raw image.
"""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from codegen_support import ALL, CACHE, rel, with_layout

import symback as sb
from symback.codegen import compile_derivation
from symback.numeric import evaluate_batch

KINDS = ("blank", "constant", "pixels", "negative", "one_lit")


def tiled(k, s, p, d, base):
    """The first size from `base` on that the pool's stride tiles exactly (symback refuses a remainder)."""
    return next(n for n in itertools.count(base) if n + 2 * p - d * (k - 1) - 1 >= 0
                and (n + 2 * p - d * (k - 1) - 1) % s == 0)


def network(dims, k, s, p, d, after):
    shape = (2, *[tiled(k, s, p, d, base) for base in (5, 7)[-dims:]])
    conv = [(sb.Conv1D if dims == 1 else sb.Conv2D)(2, 3, padding=1, activation="relu")] if after == "conv" else []
    return sb.Network(n_in=shape, layers=[*conv, sb.MaxPool(k, s, p, d), sb.Flatten(), sb.Dense(3)],
                      loss="softmax_cross_entropy", name="pool_ties"), shape


def tied(kind, shape, B, rng):
    n = int(np.prod(shape))
    X = {"blank": np.zeros((B, n)), "constant": np.full((B, n), 1.5), "pixels": rng.integers(0, 2, (B, n)) * 1.0,
         "negative": -1.0 - rng.integers(0, 2, (B, n)), "one_lit": np.eye(n)[rng.integers(0, n, B)]}[kind]
    return X, rng.integers(0, 3, B)


def tied_params(params: dict, kind: str, rng) -> dict:
    """Integer kernels (exact sums, so equal pixels stay equal) and biases of 0 or 1/2; a zero kernel where the
    image is constant: every conv output is relu(b), one value repeated over the whole map."""
    if "W1" in params and params["W1"].shape[0] == 2:  # the conv's
        params["W1"] = rng.integers(-1, 2, params["W1"].shape) * float(kind not in ("blank", "constant"))
        params["b1"] = rng.choice([0.0, 0.5], 2)
    return params


def torch_loss(dims, k, s, p, d, after, shape, params, X, Y):
    """(loss, {name: gradient}, dl/dX) by autograd on the mean cross-entropy."""
    t = {name: torch.tensor(np.asarray(v, dtype=float), requires_grad=True) for name, v in params.items()}
    x = torch.tensor(np.asarray(X, dtype=float).reshape(len(X), *shape), requires_grad=True)
    h, out = x, 1
    if after == "conv":
        conv = F.conv1d if dims == 1 else F.conv2d
        h, out = torch.relu(conv(h, t["W1"].reshape(2, 2, *[3] * dims), t["b1"], padding=1)), 2
    h = (F.max_pool1d if dims == 1 else F.max_pool2d)(h, k, s, p, dilation=d)
    loss = F.cross_entropy(h.reshape(len(X), -1) @ t[f"W{out}"].T + t[f"b{out}"], torch.tensor(Y))
    loss.backward()
    return loss.item(), {name: v.grad.numpy() for name, v in t.items()}, x.grad.numpy().reshape(len(X), -1)


GEOMETRIES = [(dims, k, s, p, d) for dims, k, s, p, d in itertools.product((1, 2), (2, 3), (1, 2), (0, 1), (1, 2))
              if p <= k // 2]


@pytest.mark.parametrize("after", ["input", "conv"])
@pytest.mark.parametrize("dims, k, s, p, d", GEOMETRIES)
def test_tied_windows_give_pytorchs_loss_and_gradients_in_the_numeric_evaluator(dims, k, s, p, d, after):
    net, shape = network(dims, k, s, p, d, after)
    der = net.derive(wrt=["x"])
    rng = np.random.default_rng(dims + 2 * k + 4 * s + 8 * p + 16 * d)
    params = {n.name: rng.standard_normal(tuple(int(q) for q in n.shape)) for n in der.graph.leaves("param")}
    for kind in KINDS:
        X, Y = tied(kind, shape, 3, rng)
        params = tied_params(params, kind, rng)
        values = evaluate_batch(der.graph, params, X, Y)
        loss, grads, dx = torch_loss(dims, k, s, p, d, after, shape, params, X, Y)
        assert abs(values["l"].mean() - loss) < 1e-12 * max(1.0, abs(loss)), kind
        assert rel(values[der.adjoints["x"]].T / len(X), dx) < 1e-12, kind
        for w in der.params:
            assert rel(values[der.adjoints[w]].mean(axis=-1), grads[w].reshape(params[w].shape)) < 1e-12, (kind, w)


@pytest.mark.parametrize("layout", ALL)
def test_the_compiled_kernels_route_a_tie_in_the_raw_image_as_pytorch_in_every_layout(layout):
    """MaxPool(2, stride 1, padding 1) on the image: overlapping windows, the border's windows half padding. The
    input gradient and the dense layer's, float64 (1e-12) and float32 (1e-5)."""
    net, shape = network(2, 2, 1, 1, 1, "input")
    CACHE.mkdir(parents=True, exist_ok=True)
    mod = compile_derivation(net.derive(wrt=["x"]), CACHE / "pool_ties_raw.py", source="tests (pool ties)", force=True,
                             layouts=ALL)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        rng = np.random.default_rng(11)
        params = mod.init_params(seed=1, dtype=dtype)
        for kind in KINDS:
            X, Y = tied(kind, shape, 4, rng)
            X = X.astype(dtype)
            with with_layout(mod, layout):
                loss, grads = mod.loss_and_grad(params, X, Y)
                got_dx = mod.input_grad(params, X, Y)
            want, their, dx = torch_loss(2, 2, 1, 1, 1, "input", shape, params, X, Y)
            assert abs(loss - want) < tol * max(1.0, abs(want)) and rel(got_dx, dx) < tol, (kind, dtype)
            for w in mod.PARAMS:
                assert rel(grads[w], their[w]) < tol, (kind, dtype, w)


def test_a_padded_pools_printed_input_gradient_checks_equal_as_a_hand_file():
    """A window's one other tap prints as max(x[...]): inside a max the padding reads -inf, as the derivation reads
    it. Printed bare (x[...], an entry outside the image reads 0), symback's own line was DIFFERENT as a hand file
    wherever a negative pixel sits beside the padding."""
    net = sb.Network(n_in=(1, 4, 4), layers=[sb.MaxPool(2, 2, 1), sb.Flatten(), sb.Dense(2)], loss="mse")
    d = net.derive(wrt=["x"])
    line = ("dl/dx = (c, m, n) ↦ dl/dxbar[c, m/2, (n + 1)/2] I[x[c, m, n] - max(x[c, m - 1, n], x[c, m - 1, n + 1])"
            " > 0] I[x[c, m, n] - max(x[c, m, n + 1]) >= 0] + dl/dxbar[c, (m + 1)/2, n/2]"
            " I[x[c, m, n] - max(x[c, m, n - 1]) > 0] I[x[c, m, n] - max(x[c, m + 1, n - 1], x[c, m + 1, n]) >= 0]"
            " + dl/dxbar[c, (m + 1)/2, (n + 1)/2]"
            " I[x[c, m, n] - max(x[c, m, n + 1], x[c, m + 1, n], x[c, m + 1, n + 1]) >= 0] + dl/dxbar[c, m/2, n/2]"
            " I[x[c, m, n] - max(x[c, m - 1, n - 1], x[c, m - 1, n], x[c, m, n - 1]) > 0]")
    printed = " ".join(d.render("text", notation="udl").split())
    assert "I[x[c, m, n] - max(x[c, m, n + 1]) >= 0]" in printed
    report = d.check(line, notation="udl")
    assert report.exit_code == 0, str(report)
