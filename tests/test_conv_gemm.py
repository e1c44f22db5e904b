"""Convolutions by im2col + GEMM (symback/codegen/im2col.py) against the direct loops and PyTorch autograd.

Two networks, each compiled once per path in the BLAS layout (the GEMM's home): a 2-D one whose second conv has
stride 2, padding 1 and dilation 2 (its input gradient is a GEMM and a col2im scatter over a strided, dilated,
padded window), and a 1-D one (stride 2 and padding 1, then dilation 2 and padding 2). Float64 to 1e-9 of torch;
float32 to 1e-4; the measured rule ("auto") on each side of its threshold; no allocation inside a step.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from codegen_support import CACHE, batch, perturbed, reference, rel
from numba import njit
from numba.core.runtime import nrt, rtsys

import symback as sb
from symback.codegen import compile_derivation, generate, im2col
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


@pytest.mark.parametrize("net", [NET2D, NET1D], ids=["2d", "1d"])
def test_gemm_equals_the_loops_and_torch_in_float64(net):
    gemm, d, plan = module(net, "gemm")
    loops = module(net, "loops")[0]
    assert "np.dot(W2.T, dy_, cols_)" in Path(gemm.__file__).read_text()  # the input gradient: GEMM + col2im
    assert "cols_" not in Path(loops.__file__).read_text()
    params, loop_params = (perturbed(m, np.random.default_rng(7)) for m in (gemm, loops))  # the same values
    X, Y = batch(plan, 5, np.random.default_rng(8))
    loss, grads = gemm.loss_and_grad(params, X, Y)
    loop_loss, loop_grads = loops.loss_and_grad(loop_params, X, Y)
    torch_loss, want = torch_grads(net, params, X, Y)
    _, oracle = reference(d, plan, params, X, Y)
    assert abs(loss - torch_loss) < 1e-9 * max(1.0, abs(torch_loss)) and abs(loss - loop_loss) < 1e-12
    for p in d.params:
        assert rel(grads[p], want[p].reshape(grads[p].shape)) < 1e-9, p
        assert rel(grads[p], loop_grads[p]) < 1e-12 and rel(grads[p], oracle[p]) < 1e-12, p


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
    as at batch 40 (none per sample), as many as the loops' module (one loss_and_grad each); the workspace grows
    by one fixed region."""
    gemm, _, plan = module(NET2D, "gemm")
    loops = module(NET2D, "loops")[0]
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
        assert allocations(gemm, 4) == allocations(gemm, 40) == allocations(loops, 4)
        before = rtsys.get_allocation_stats().alloc
        _allocating(3)  # and the count does move when Numba code allocates
        assert rtsys.get_allocation_stats().alloc > before
    finally:
        nrt._nrt.memsys_disable_stats()
    size, loop_size = gemm._LAYOUTS["blas"][1], loops._LAYOUTS["blas"][1]
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
