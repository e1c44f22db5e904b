"""The two loop orders of a compiled conv kernel (`codegen/conv.py` OUTER_SUM) agree with each other and with
PyTorch's autograd to 1e-12 relative in float64, on hypothesis-drawn 1-D and 2-D conv/pool networks.

Both orders print the same derived index form; only the loops move (one serial sum per entry, or the sums outside
the output's last axis with the output gathering every term). Each drawn network is compiled twice, once per order,
and its kernel's Python function (`py_func`: the source Numba would compile, run by the interpreter) is called on a
tiny batch, so no test here pays a Numba compile."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from codegen_support import CACHE, rel
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import symback as sb
from symback.codegen import compile_derivation
from symback.codegen import conv as conv_codegen
from symback.errors import SymbackError

POOLS = {"max": (sb.MaxPool, {1: F.max_pool1d, 2: F.max_pool2d}), "avg": (sb.AvgPool, {1: F.avg_pool1d,
                                                                                         2: F.avg_pool2d})}


def gradients(mod, params, X, Y):
    """(mean loss, {name: gradient of the summed loss}) from the blas kernel's Python function."""
    kernel, size, _ = mod._LAYOUTS["blas"]
    P, ws = np.zeros(mod.N_PARAMS), np.zeros(size(len(X)))
    for k, v in mod._fields(P):
        v[...] = params[k]
    # the intrinsic runs only compiled; the batch checks as Python too, so nothing here is compiled
    saved = mod._view, mod._check_batch, mod._check_targets
    mod._view, mod._check_batch, mod._check_targets = mod._reshape, *(f.py_func for f in saved[1:])
    try:
        loss = kernel.py_func(P, X, Y, ws, 0.0, mod.GRADIENT)
    finally:
        mod._view, mod._check_batch, mod._check_targets = saved
    return loss, {k: v.copy() for k, v in mod._fields(ws[:mod.N_PARAMS])}


def torch_reference(cfg, params, X, Y):
    dims, C, n, B = cfg["dims"], cfg["c_in"], cfg["size"], len(X)
    conv = F.conv1d if dims == 1 else F.conv2d
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.tensor(X.reshape((B, C) + (n,) * dims))
    for k, (c_out, kern, stride, pad, dil) in enumerate(cfg["convs"], start=1):
        w = t[f"W{k}"].reshape((c_out, h.shape[1]) + (kern,) * dims)
        h = torch.tanh(conv(h, w, t[f"b{k}"], stride=stride, padding=pad, dilation=dil))
    if cfg["pool"]:
        h = POOLS[cfg["pool"]][1][dims](h, 2)
    last = len(cfg["convs"]) + 1
    loss = F.cross_entropy(h.reshape(B, -1) @ t[f"W{last}"].T + t[f"b{last}"], torch.tensor(Y), reduction="sum")
    loss.backward()
    return loss.item() / B, {k: v.grad.numpy() for k, v in t.items()}


conv_layer = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1), st.integers(1, 2))


# no shrinking: each example compiles two modules
@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(dims=st.sampled_from([1, 2]), c_in=st.integers(1, 2), size=st.integers(4, 7),
       convs=st.lists(conv_layer, min_size=1, max_size=2), pool=st.sampled_from([None, "max", "avg"]),
       B=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_both_loop_orders_equal_each_other_and_torch(dims, c_in, size, convs, pool, B, seed):
    layers = [(sb.Conv1D if dims == 1 else sb.Conv2D)(c, k, stride=s, padding=p, dilation=d, activation="tanh")
              for c, k, s, p, d in convs]
    layers += [POOLS[pool][0](2)] if pool else []
    try:
        net = sb.Network(n_in=(c_in,) + (size,) * dims, layers=layers + [sb.Flatten(), sb.Dense(3)],
                         loss="softmax_cross_entropy", name="orders")
        d = net.derive()
    except SymbackError:
        assume(False)
    cfg = {"dims": dims, "c_in": c_in, "size": size, "convs": convs, "pool": pool}
    rng = np.random.default_rng(seed)
    mods = []
    for outer_sum in (1, 10**9):  # the outer order everywhere, the serial sum everywhere
        old, conv_codegen.OUTER_SUM = conv_codegen.OUTER_SUM, outer_sum
        try:
            mods.append(compile_derivation(d, CACHE / f"orders_{outer_sum}.py", force=True, layouts=("blas",)))
        finally:
            conv_codegen.OUTER_SUM = old
    params = {k: rng.standard_normal(v.shape) for k, v in mods[0].init_params(seed=seed).items()}
    X, Y = rng.standard_normal((B, mods[0].N_IN)), rng.integers(0, 3, B).astype(np.int64)
    (loss, grads), (loss2, grads2) = [gradients(mod, params, X, Y) for mod in mods]
    want_loss, want = torch_reference(cfg, params, X, Y)
    assert abs(loss - loss2) <= 1e-12 * abs(loss2) and abs(loss - want_loss) <= 1e-12 * abs(want_loss)
    for k in want:
        assert rel(grads[k], grads2[k]) < 1e-12 and rel(grads[k], want[k]) < 1e-12, k
