"""Checking a hand-written conv/pool backward: equal gradients pass, the classic mistakes are named."""

import numpy as np
import pytest

import symback as sb


def conv_backward_naive(x, w, dout, stride, pad, flip=True, use_stride=True):
    """A student's loops (CS231n's assignment): dx, dw, db of out = conv(x, w) + b; optional classic bugs."""
    N, C, H, W = x.shape
    F, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), dout.sum(axis=(0, 2, 3))
    Ho, Wo = dout.shape[2:]
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    s = stride if use_stride else 1
                    window = xp[n, :, i * stride:i * stride + k, j * stride:j * stride + k]
                    dw[f] += window * dout[n, f, i, j]
                    kernel = w[f] if flip else w[f, :, ::-1, ::-1]
                    if i * s + k <= xp.shape[2] and j * s + k <= xp.shape[3]:
                        dxp[n, :, i * s:i * s + k, j * s:j * s + k] += kernel * dout[n, f, i, j]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw, db


@pytest.fixture
def case():
    rng = np.random.default_rng(231)
    return rng.standard_normal((4, 3, 5, 5)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2), rng


def test_the_cs231n_case_is_equal(case):
    x, w, b, rng = case
    dout = rng.standard_normal((4, 2, 5, 5))
    dx, dw, db = conv_backward_naive(x, w, dout, 1, 1)
    report = sb.check_layer(sb.Conv2D(2, 3, padding=1), x, {"W": w, "b": b}, dout, {"x": dx, "W": dw, "b": db})
    assert report.equal, str(report)
    assert str(report).count("equal (relative error") == 3


def test_an_unflipped_kernel_is_named(case):
    x, w, b, rng = case
    dout = rng.standard_normal((4, 2, 5, 5))
    dx, dw, db = conv_backward_naive(x, w, dout, 1, 1, flip=False)
    report = sb.check_layer(sb.Conv2D(2, 3, padding=1), x, {"W": w, "b": b}, dout, {"x": dx, "W": dw})
    assert not report.equal
    assert "dW: equal" in str(report) and "dx: different" in str(report)
    assert "likely cause: kernel not flipped" in str(report)


def test_a_stride_ignored_in_the_input_gradient_is_named():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 2, 7, 7)), rng.standard_normal((3, 2, 3, 3))
    dout = rng.standard_normal((2, 3, 3, 3))
    dx, _, _ = conv_backward_naive(x, w, dout, 2, 0, use_stride=False)
    report = sb.check_layer(sb.Conv2D(3, 3, stride=2), x, {"W": w, "b": np.zeros(3)}, dout, {"x": dx})
    assert "likely cause: stride ignored in the input gradient" in str(report), str(report)


def test_a_max_pool_gradient_sent_to_every_input_is_named():
    rng = np.random.default_rng(2)
    x, dout = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 2, 2))
    spread = np.repeat(np.repeat(dout, 2, axis=2), 2, axis=3)  # every input of a window gets its delta
    routed = spread * (x == np.repeat(np.repeat(x.reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5)), 2, 2), 2, 3))
    good = sb.check_layer(sb.MaxPool(2), x, {}, dout, {"x": routed})
    assert good.equal, str(good)
    bad = sb.check_layer(sb.MaxPool(2), x, {}, dout, {"x": spread})
    assert "likely cause: gradient sent to every pooled input" in str(bad), str(bad)


def max_pool_backward_naive(x, dout, k, s, p, d, keep):
    """A student's loops: each window's delta to the entry its row-major scan keeps, `keep(v, best)` (v > best: the
    first of tied entries, v >= best: the last); taps in the padding are skipped."""
    N, C, H, W = x.shape
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dout.shape):
        best, at = -np.inf, None
        for u, v in np.ndindex(k, k):
            r, q = s * i + d * u - p, s * j + d * v - p
            if 0 <= r < H and 0 <= q < W and keep(x[n, c, r, q], best):
                best, at = x[n, c, r, q], (r, q)
        dx[n, c][at] += dout[n, c, i, j]
    return dx


@pytest.mark.parametrize("k, s, p, d, n", [(2, 2, 0, 1, 6), (3, 1, 1, 1, 5), (2, 1, 1, 2, 5), (3, 2, 1, 1, 5)])
def test_tied_windows_go_to_the_first_entry_and_a_scan_keeping_the_last_is_named(k, s, p, d, n):
    """0/1 images (one channel blank) tie in most windows, overlapping, padded or dilated: PyTorch's dx and the
    first-entry loop are equal; a loop keeping the max by >= (the last tied entry) is named."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(k + 3 * s + 5 * p + 7 * d)
    x = rng.integers(0, 2, (2, 2, n, n)).astype(float)
    x[0, 0] = 0.0
    xt = torch.tensor(x, requires_grad=True)
    out = F.max_pool2d(xt, k, s, p, dilation=d)
    dout = rng.standard_normal(out.shape)
    out.backward(torch.tensor(dout))
    first = max_pool_backward_naive(x, dout, k, s, p, d, lambda v, best: v > best)
    last = max_pool_backward_naive(x, dout, k, s, p, d, lambda v, best: v >= best)
    assert np.array_equal(first, xt.grad.numpy()) and not np.array_equal(first, last)
    layer = sb.MaxPool(k, s, p, d)
    assert sb.check_layer(layer, x, {}, dout, {"x": first}).equal
    bad = str(sb.check_layer(layer, x, {}, dout, {"x": last}))
    assert "dx: different" in bad and "yours sends it to the last of them" in bad, bad
