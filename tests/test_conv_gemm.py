"""Convolutions by im2col + GEMM (symback/codegen/im2col.py) against the direct loops and PyTorch autograd.

A 2-D network compiled once, by GEMM, in the BLAS layout (the GEMM's home), whose second conv has stride 2,
padding 1 and dilation 2 (its input gradient is a GEMM and a col2im scatter over a strided, dilated, padded
window): float64 to 1e-9 of torch and to 1e-12 of the loops' kernel, float32 to 1e-4, no allocation inside a step.
A 1-D one (stride 2 and padding 1, then dilation 2 and padding 2) by both paths against torch. Every
configuration tests/test_conv.py's generator draws, by both paths: the generated kernels run as Python (their
``py_func``, the source Numba compiles; no compile per draw) against torch autograd, loss, weights and input. The
measured rule ("auto") on each side of its threshold.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from codegen_support import CACHE, batch, perturbed, reference, rel
from hypothesis import given
from hypothesis import strategies as st
from numba import njit
from numba.core.runtime import nrt, rtsys
from test_conv import SETTINGS, agree, geometry, theirs

import symback as sb
from symback.codegen import compile_derivation, generate, im2col, load_module, write_module
from symback.codegen.plan import build

NET2D = sb.Network(n_in=(2, 9, 9), layers=[
    sb.Conv2D(3, 3, stride=2, padding=1, activation="tanh"), sb.Conv2D(4, 3, stride=2, padding=1, dilation=2),
    sb.Flatten(), sb.Dense(3)], loss="softmax_cross_entropy", name="gemm_2d")
NET1D = sb.Network(n_in=(2, 12), layers=[
    sb.Conv1D(3, 4, stride=2, padding=1, activation="relu"), sb.Conv1D(2, 3, padding=2, dilation=2), sb.Flatten(),
    sb.Dense(2)], loss="softmax_cross_entropy", name="gemm_1d")
_MODULES: dict = {}


def module(net, conv: str):
    """(module, derivation, plan) of `net` in the BLAS layout with its convolutions by `conv`, compiled once."""
    if (net.name, conv) not in _MODULES:
        d = net.derive()
        CACHE.mkdir(parents=True, exist_ok=True)
        name = "m_" + hashlib.sha256(f"{net.name}|blas|{conv}".encode()).hexdigest()[:12]
        mod = compile_derivation(d, CACHE / f"{name}.py", source=f"tests ({net.name}, conv={conv})", force=True,
                                 layouts=("blas",), conv=conv)
        _MODULES[net.name, conv] = mod, d, build(d)
    return _MODULES[net.name, conv]


def as_python(d, conv: str):
    """The module of `d` (BLAS layout, convolutions by `conv`), to run its kernels as Python: imported without a
    compile, its batch checks (Numba functions themselves) left out."""
    text = generate(d, "tests", layouts=("blas",), conv=conv)
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"py_{hashlib.sha256(text.encode()).hexdigest()[:12]}.py"
    write_module(path, text, force=True)
    mod = load_module(path)
    mod._check_batch = lambda *args: None
    mod._view = mod._reshape  # the intrinsic runs only compiled
    return mod


def python_step(mod, P: np.ndarray, X: np.ndarray, Y: np.ndarray) -> dict:
    """Loss and gradients (mean over the batch) of the training kernel run as Python; the input's, if it has one."""
    kernel, size, _ = mod._LAYOUTS["blas"]
    B, ws = len(X), np.zeros(size(len(X)))
    out = {"loss": kernel.py_func(P, X, Y, ws, 0.0, 1)}
    for name, at in zip(mod.PARAMS, np.cumsum([0] + [np.prod(mod.SHAPES[q]) for q in mod.PARAMS])):
        out[name] = ws[at:at + np.prod(mod.SHAPES[name])].reshape(mod.SHAPES[name]) / B
    if hasattr(mod, "_INPUT_GRAD"):
        kernel, size, rows = mod._INPUT_GRAD["blas"]
        ws = np.zeros(size(B))
        kernel.py_func(P, X, Y, ws, 0.0, 0)
        out["x"] = rows(ws, B) / B
    return out


def torch_grads(net, params: dict, X: np.ndarray, Y: np.ndarray) -> tuple:
    """The loss and gradients by torch autograd, the layers read off the declaration."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.tensor(X.reshape(len(X), *net.n_in))
    for k, layer in enumerate(net.layers[:2], start=1):
        conv = F.conv1d if len(net.n_in) == 2 else F.conv2d
        w = t[f"W{k}"].reshape(layer.out_channels, -1, *layer.kernel_size)
        h = conv(h, w, t[f"b{k}"], stride=layer.stride, padding=layer.padding, dilation=layer.dilation)
        h = {"tanh": torch.tanh, "relu": torch.relu}.get(layer.activation, lambda v: v)(h)
    out = h.reshape(len(X), -1) @ t["W3"].T + t["b3"]
    loss = F.cross_entropy(out, torch.tensor(Y))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


def test_gemm_equals_the_loops_and_torch_in_float64():
    gemm, d, plan = module(NET2D, "gemm")
    assert "np.dot(W2.T, dy_, cols_)" in Path(gemm.__file__).read_text()  # the input gradient: GEMM + col2im
    loops = as_python(d, "loops")
    assert "cols_" not in loops._step_blas.py_func.__code__.co_varnames
    params = perturbed(gemm, np.random.default_rng(7))
    X, Y = batch(plan, 5, np.random.default_rng(8))
    loss, grads = gemm.loss_and_grad(params, X, Y)
    by_loops = python_step(loops, params.flat.copy(), X, Y)
    torch_loss, want = torch_grads(NET2D, params, X, Y)
    _, oracle = reference(d, plan, params, X, Y)
    assert abs(loss - torch_loss) < 1e-9 * max(1.0, abs(torch_loss)) and abs(loss - by_loops["loss"]) < 1e-12
    for p in d.params:
        assert rel(grads[p], want[p].reshape(grads[p].shape)) < 1e-9, p
        assert rel(grads[p], by_loops[p]) < 1e-12 and rel(grads[p], oracle[p]) < 1e-12, p


def test_two_1d_convs_by_both_paths_match_torch():
    """NET1D's kernels as Python (the 1-D GEMM's Numba compile is the 2-D one's code with one position axis)."""
    d = NET1D.derive()
    plan = build(d)
    rng = np.random.default_rng(10)
    params = {q: rng.standard_normal(plan.shapes[q]) * 0.5 for q in plan.params}
    X, Y = batch(plan, 4, rng)
    torch_loss, want = torch_grads(NET1D, params, X, Y)
    for path in ("gemm", "loops"):
        got = python_step(as_python(d, path), np.concatenate([params[q].ravel() for q in plan.params]), X, Y)
        assert abs(got["loss"] - torch_loss) < 1e-9 * max(1.0, abs(torch_loss)), path
        for q in plan.params:
            assert rel(got[q], want[q].reshape(got[q].shape)) < 1e-9, (path, q)


@given(geometry(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**16))
@SETTINGS
def test_both_paths_match_torch_on_the_conv_tests_draws(geo, c_in, c_out, batch, seed):
    """tests/test_conv.py's configurations (its `geometry`, channels, batch; its torch loss), by GEMM and by loops."""
    dims, k, s, dil, p, n = geo
    rng = np.random.default_rng(seed)
    layer = (sb.Conv1D if dims == 1 else sb.Conv2D)(c_out, k, stride=s, padding=p, dilation=dil)
    net = sb.Network(n_in=(c_in, *n), layers=[layer])
    X = rng.standard_normal((batch, c_in, *n))
    Y = rng.standard_normal((batch, int(np.prod(layer.width(net.n_in)))))
    W, b = rng.standard_normal((c_out, c_in, *k)), rng.standard_normal(c_out)
    conv = F.conv1d if dims == 1 else F.conv2d
    want = theirs(lambda x, t: conv(x, t["W1"], t["b1"], stride=s, padding=p, dilation=dil), X, Y, {"W1": W, "b1": b})
    want["W1"], want["x"] = want["W1"].reshape(c_out, -1), want["x"].reshape(batch, -1)
    d = net.derive(wrt=["W1", "b1", "x"])
    for path in ("gemm", "loops"):
        mod = as_python(d, path)
        assert ("cols_" in mod._step_dx_blas.py_func.__code__.co_varnames) == (path == "gemm")
        agree(python_step(mod, np.concatenate([W.ravel(), b]), X.reshape(batch, -1), Y), want)


def test_float32_and_the_sgd_step():
    mod, d, plan = module(NET2D, "gemm")
    rng = np.random.default_rng(8)
    params = perturbed(mod, rng)
    X, Y = batch(plan, 6, rng)
    _, want = reference(d, plan, params, X, Y)
    single = mod.init_params(dtype=np.float32)
    for k in mod.PARAMS:
        single[k][...] = params[k]
    _, grads = mod.loss_and_grad(single, X.astype(np.float32), Y)
    for p in d.params:
        assert grads[p].dtype == np.float32 and rel(grads[p], want[p]) < 1e-4, p
    before = {k: v.copy() for k, v in params.items()}
    mod.sgd_step(params, X, Y, 0.1)
    for p in d.params:
        assert rel(params[p], before[p] - 0.1 * want[p]) < 1e-12, p


@njit(cache=True)
def _allocating(n):
    return np.empty(n).size


def test_a_step_allocates_nothing():
    """The kernel works on the workspace alone: Numba's allocator counts as many allocations per step at batch 4
    as at batch 40 (none per sample: one loss_and_grad each); the workspace grows by one fixed region."""
    gemm, d, plan = module(NET2D, "gemm")
    rng = np.random.default_rng(9)

    def allocations(mod, B):
        params = perturbed(mod, rng)
        X, Y = batch(plan, B, rng)
        mod.loss_and_grad(params, X, Y)  # the workspace for this batch size, once
        before = rtsys.get_allocation_stats().alloc
        for _ in range(10):
            mod.loss_and_grad(params, X, Y)
        return rtsys.get_allocation_stats().alloc - before

    nrt._nrt.memsys_enable_stats()
    try:
        assert allocations(gemm, 4) == allocations(gemm, 40)
        before = rtsys.get_allocation_stats().alloc
        _allocating(3)  # and the count does move when Numba code allocates
        assert rtsys.get_allocation_stats().alloc > before
    finally:
        nrt._nrt.memsys_disable_stats()
    size, loop_size = gemm._LAYOUTS["blas"][1], as_python(d, "loops")._LAYOUTS["blas"][1]
    plan.conv = "gemm"
    assert size(4) - loop_size(4) == im2col.space(plan) == size(40) - loop_size(40) > 0


def test_auto_picks_each_path_by_the_measured_rule():
    # 2 x 4 x 25 = 200 multiply-adds a sample by loops; NET2D's first conv 3 x 18 x 25 = 1,350 by GEMM
    tiny = sb.Network(n_in=(1, 6, 6), layers=[sb.Conv2D(2, 2), sb.Flatten(), sb.Dense(2)], loss="mse", name="tiny")
    plans = {n.name: build(n.derive()) for n in (tiny, NET2D)}
    convs = {k: [st.gemm for st in p.steps if getattr(st, "gemm", None) is not None] for k, p in plans.items()}
    small = next(g for g in convs["tiny"] if g.role == "forward")
    big = next(g for g in convs["gemm_2d"] if g.role == "forward")
    assert not im2col.wins(small) and im2col.wins(big)
    text = generate(tiny.derive(), "tiny", layouts=("blas",))
    assert "cols_" not in text and "cols_" in generate(tiny.derive(), "tiny", layouts=("blas",), conv="gemm")


def test_an_unknown_choice_is_one_line():
    with pytest.raises(sb.SymbackError, match="conv: expected one of 'auto', 'gemm', 'loops', got 'fast'"):
        generate(NET1D.derive(), "net", conv="fast")
