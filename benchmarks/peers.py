"""Peer implementations of one MLP training step, for side-by-side benchmarks.

Problem
-------
``sizes = [n0, n1, ..., nL]``: dense layers, ReLU on hidden layers, identity
output.  Parameters are a dict ``{"W1": (n1, n0), "b1": (n1,), "W2": ...}``
(W_k has shape (n_out, n_in) as in the math); ``X`` has shape (batch, n0),
one sample per row.  Loss, averaged over the batch:

* ``"mse"``: per sample sum_j (f_j - y_j)^2; ``Y`` float, shape (batch, nL).
* ``"softmax_cross_entropy"``: logsumexp(f) - f[y]; ``Y`` int64 labels, (batch,).

One step = forward + backward + in-place SGD update ``p -= lr * dL/dp``; it
returns the loss at the parameters *before* the update, as a Python float.

Interface
---------
Every system is a *factory* registered in ``SYSTEMS`` (name -> factory)::

    factory(sizes, loss, params, X, Y, lr) -> Peer

``params`` (numpy, already in the wanted dtype) are copied, so peers never
share state; ``X``/``Y`` are one batch, which the factory converts once to the
system's native types (torch tensor, jax array...).  The returned ``Peer`` has

* ``step(*args) -> float`` and ``args``: the timed call is ``peer.step(*peer.args)``;
* ``get_params() -> dict`` of numpy copies of the current parameters;
* ``note``: a short free-text description (kernel chosen etc.).

A factory raises ``Unavailable`` when its system is not installed or does not
apply to this problem; harnesses skip such peers.

Plugging in a generated module (symback's Numba code generator)
---------------------------------------------------------------
``module_factory(module_or_getter)`` wraps any module following the generated
module contract:

* ``PARAMS``: tuple of parameter names (``("W1", "b1", ...)``);
* ``init_params(seed=0) -> dict`` of arrays with the right shapes and dtype;
* ``forward(params, X)``; ``loss_and_grad(params, X, Y) -> (float, dict)``;
* ``sgd_step(params, X, Y, lr) -> float``, updating ``params`` in place;
* optional ``SIZES``, ``LOSS``, ``DTYPE``: cases that do not match are skipped.

``module_or_getter`` may also be a callable ``(sizes, loss, dtype) -> module or
None`` (None: skip), for generators that emit one module per architecture.
Register it with ``SYSTEMS["symback"] = module_factory(...)`` or from the
command line: ``bench_train.py --module symback=path/to/generated.py``.

The threading environment (OMP/MKL/OPENBLAS/NUMBA thread counts, XLA_FLAGS)
must be set before numpy is imported; bench_train.py does that.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

MSE = "mse"
CE = "softmax_cross_entropy"
LOSSES = (MSE, CE)


class Unavailable(Exception):
    """The system is not installed or does not apply to this problem."""


@dataclass
class Peer:
    step: Callable[..., float]
    args: tuple
    get_params: Callable[[], dict]
    note: str = ""
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# problem data
# ---------------------------------------------------------------------------

def param_names(sizes):
    return tuple(n for k in range(1, len(sizes)) for n in (f"W{k}", f"b{k}"))


def init_params(sizes, dtype=np.float64, seed=0):
    """He-normal weights, small random biases (nonzero so db is exercised)."""
    rng = np.random.default_rng(seed)
    p = {}
    for k in range(1, len(sizes)):
        nin, nout = sizes[k - 1], sizes[k]
        p[f"W{k}"] = (rng.standard_normal((nout, nin)) * np.sqrt(2.0 / nin)).astype(dtype)
        p[f"b{k}"] = (0.1 * rng.standard_normal(nout)).astype(dtype)
    return p


def make_batch(sizes, loss, batch, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    if loss == MSE:
        Y = rng.standard_normal((batch, sizes[-1])).astype(dtype)
    elif loss == CE:
        Y = rng.integers(0, sizes[-1], batch).astype(np.int64)
    else:
        raise ValueError(f"unknown loss {loss!r}")
    return X, Y


def step_flops(sizes, batch):
    """Multiply-add FLOPs of one training step (x2 per MAC): forward and dW
    for every layer, dA for every layer but the first (dL/dX is not needed).
    The common approximation 6 * batch * sum(n_in * n_out) overcounts the
    first layer's dA."""
    macs = [sizes[k] * sizes[k + 1] for k in range(len(sizes) - 1)]
    return 2 * batch * (2 * sum(macs) + sum(macs[1:]))


def _copy_params(sizes, params):
    names = param_names(sizes)
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"missing parameters {missing}")
    return {n: np.array(params[n], copy=True, order="C") for n in names}


# ---------------------------------------------------------------------------
# hand-written NumPy
# ---------------------------------------------------------------------------

def make_numpy(sizes, loss, params, X, Y, lr):
    sizes = tuple(sizes)
    L = len(sizes) - 1
    p = _copy_params(sizes, params)
    Ws = [p[f"W{k}"] for k in range(1, L + 1)]
    bs = [p[f"b{k}"] for k in range(1, L + 1)]

    def step(X, Y):
        B = X.shape[0]
        acts = [X]
        A = X
        for k in range(L):
            Z = A @ Ws[k].T
            Z += bs[k]
            if k < L - 1:
                np.maximum(Z, 0, out=Z)
            acts.append(Z)
            A = Z
        F = A
        if loss == MSE:
            D = F - Y
            val = float(np.einsum("ij,ij->", D, D)) / B
            D *= 2.0 / B
        else:
            m = F.max(axis=1, keepdims=True)
            E = np.exp(F - m)
            se = E.sum(axis=1, keepdims=True)
            rows = np.arange(B)
            val = float(np.mean(np.log(se[:, 0]) + m[:, 0] - F[rows, Y]))
            D = E
            D /= se
            D[rows, Y] -= 1.0
            D *= 1.0 / B
        for k in range(L - 1, -1, -1):
            dW = D.T @ acts[k]
            db = D.sum(axis=0)
            if k > 0:
                D = D @ Ws[k]
                D *= acts[k] > 0
            Ws[k] -= lr * dW
            bs[k] -= lr * db
        return val

    return Peer(step, (X, Y), lambda: {n: v.copy() for n, v in p.items()}, "numpy")


# ---------------------------------------------------------------------------
# hand-written Numba (benchmarks/numba_mlp.py)
# ---------------------------------------------------------------------------

def _numba_mlp():
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        import numba_mlp
    except ImportError as e:  # numba missing
        raise Unavailable(str(e))
    return numba_mlp


def make_numba(sizes, loss, params, X, Y, lr, kernel=None):
    nm = _numba_mlp()
    net = nm.NumbaMLP(sizes, loss, params["W1"].dtype, params, kernel=kernel)
    net.setup(X.shape[0])
    step = net.step

    def run(X, Y):
        return step(X, Y, lr)

    return Peer(run, (X, Y), lambda: {n: v.copy() for n, v in net.params.items()},
                f"kernel={net.kernel_name(X.shape[0])}", {"net": net})


# ---------------------------------------------------------------------------
# PyTorch eager
# ---------------------------------------------------------------------------

def make_torch(sizes, loss, params, X, Y, lr):
    try:
        import torch
        import torch.nn.functional as Fn
    except ImportError as e:
        raise Unavailable(str(e))
    torch.set_num_threads(2)
    L = len(sizes) - 1
    names = param_names(sizes)
    ps = [torch.from_numpy(np.array(params[n], copy=True)).requires_grad_(True) for n in names]
    Xt = torch.from_numpy(X)
    Yt = torch.from_numpy(Y)
    B = X.shape[0]

    def step(X, Y):
        A = X
        for k in range(L):
            A = Fn.linear(A, ps[2 * k], ps[2 * k + 1])
            if k < L - 1:
                A = torch.relu(A)
        if loss == MSE:
            val = Fn.mse_loss(A, Y, reduction="sum") / B
        else:
            val = Fn.cross_entropy(A, Y)
        grads = torch.autograd.grad(val, ps)
        with torch.no_grad():
            torch._foreach_add_(ps, grads, alpha=-lr)
        return val.item()

    def get_params():
        return {n: p.detach().numpy().copy() for n, p in zip(names, ps)}

    return Peer(step, (Xt, Yt), get_params, f"torch {torch.__version__}")


# ---------------------------------------------------------------------------
# JAX jit
# ---------------------------------------------------------------------------

def make_jax(sizes, loss, params, X, Y, lr):
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
    except ImportError as e:
        raise Unavailable(str(e))
    import warnings
    L = len(sizes) - 1
    names = param_names(sizes)
    dtype = params["W1"].dtype
    lr_t = dtype.type(lr)
    B = X.shape[0]

    def loss_fn(ps, X, Y):
        A = X
        for k in range(L):
            A = A @ ps[2 * k].T + ps[2 * k + 1]
            if k < L - 1:
                A = jax.nn.relu(A)
        if loss == MSE:
            return jnp.sum((A - Y) ** 2) / B
        lse = jax.nn.logsumexp(A, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(A, Y[:, None], axis=1)[:, 0])

    def _step(ps, X, Y):
        val, g = jax.value_and_grad(loss_fn)(ps, X, Y)
        return tuple(p - lr_t * gi for p, gi in zip(ps, g)), val

    # donate the parameter buffers: the update is written in place
    jstep = jax.jit(_step, donate_argnums=(0,))
    state = [tuple(jnp.asarray(np.array(params[n], copy=True)) for n in names)]
    Xj = jax.device_put(X)
    Yj = jax.device_put(Y)

    def step(X, Y):
        ps, val = jstep(state[0], X, Y)
        state[0] = ps
        return float(val)

    with warnings.catch_warnings():
        warnings.simplefilter("error")    # fail loudly if donation is not honoured
        step(Xj, Yj)                      # compile
    # undo the compile step so every peer starts from the same parameters
    state[0] = tuple(jnp.asarray(np.array(params[n], copy=True)) for n in names)

    def get_params():
        return {n: np.asarray(p).copy() for n, p in zip(names, state[0])}

    return Peer(step, (Xj, Yj), get_params, f"jax {jax.__version__} jit+donate")


# ---------------------------------------------------------------------------
# PyTensor
# ---------------------------------------------------------------------------

def _make_pytensor(sizes, loss, params, X, Y, lr, mode):
    try:
        import pytensor
        import pytensor.tensor as pt
    except ImportError as e:
        raise Unavailable(str(e))
    L = len(sizes) - 1
    names = param_names(sizes)
    dtype = str(params["W1"].dtype)
    shared = [pytensor.shared(np.array(params[n], copy=True), name=n, borrow=True) for n in names]
    Xv = pt.matrix("X", dtype=dtype)
    Yv = pt.matrix("Y", dtype=dtype) if loss == MSE else pt.vector("Y", dtype=str(Y.dtype))
    B = X.shape[0]
    A = Xv
    for k in range(L):
        A = pt.dot(A, shared[2 * k].T) + shared[2 * k + 1]
        if k < L - 1:
            A = pt.switch(A > 0, A, 0)
    if loss == MSE:
        val = pt.sum(pt.sqr(A - Yv)) / B
    else:
        lse = pt.logsumexp(A, axis=1)
        val = pt.mean(lse - A[pt.arange(B), Yv])
    grads = pytensor.grad(val, shared)
    lr_c = pt.constant(np.asarray(lr, dtype=dtype))
    fn = pytensor.function([Xv, Yv], val, updates=[(p, p - lr_c * g) for p, g in zip(shared, grads)],
                           mode=mode)
    fn.trust_input = True                  # skip per-call input validation

    def step(X, Y):
        return float(fn(X, Y))

    def get_params():
        return {n: np.array(s.get_value(borrow=True), copy=True) for n, s in zip(names, shared)}

    linker = type(fn.maker.linker).__name__
    return Peer(step, (X, Y), get_params, f"pytensor {pytensor.__version__} {linker}")


def make_pytensor_numba(sizes, loss, params, X, Y, lr):
    return _make_pytensor(sizes, loss, params, X, Y, lr, "NUMBA")


def make_pytensor_c(sizes, loss, params, X, Y, lr):
    # "CVM": the C backend, PyTensor's default before 3.0 (3.x defaults to NUMBA)
    return _make_pytensor(sizes, loss, params, X, Y, lr, "CVM")


# ---------------------------------------------------------------------------
# generated-module hook
# ---------------------------------------------------------------------------

def load_module(path, name=None):
    """Import a Python file (e.g. a symback-generated kernel) as a module."""
    name = name or os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def module_factory(module_or_getter, label="module"):
    """Factory for any module following the generated-module contract
    (see the module docstring)."""

    def factory(sizes, loss, params, X, Y, lr):
        dtype = params["W1"].dtype
        if callable(module_or_getter) and not hasattr(module_or_getter, "sgd_step"):
            mod = module_or_getter(tuple(sizes), loss, dtype)
            if mod is None:
                raise Unavailable(f"{label}: no module for {sizes} {loss} {dtype}")
        else:
            mod = module_or_getter
        if getattr(mod, "SIZES", None) is not None and tuple(mod.SIZES) != tuple(sizes):
            raise Unavailable(f"{label}: built for sizes {tuple(mod.SIZES)}")
        if getattr(mod, "LOSS", None) is not None and mod.LOSS != loss:
            raise Unavailable(f"{label}: built for loss {mod.LOSS}")
        if getattr(mod, "DTYPE", None) is not None and np.dtype(mod.DTYPE) != dtype:
            raise Unavailable(f"{label}: built for dtype {np.dtype(mod.DTYPE)}")
        p = mod.init_params(seed=0)
        if tuple(mod.PARAMS) != param_names(sizes):
            raise Unavailable(f"{label}: PARAMS {tuple(mod.PARAMS)} != {param_names(sizes)}")
        for n in mod.PARAMS:
            if p[n].shape != params[n].shape:
                raise Unavailable(f"{label}: {n} has shape {p[n].shape}")
            if p[n].dtype != dtype:
                p[n] = np.empty(params[n].shape, dtype=dtype)
            p[n][...] = params[n]
        sgd_step = mod.sgd_step

        def step(X, Y):
            return sgd_step(p, X, Y, lr)

        return Peer(step, (X, Y), lambda: {n: np.array(p[n], copy=True) for n in mod.PARAMS},
                    f"{label}: {getattr(mod, '__name__', '?')}", {"module": mod, "params": p})

    return factory


# ---------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------

def _symback_module(sizes, loss, dtype):
    """symback's generated kernel for this case: Network -> derive -> compile into benchmarks/.cache/."""
    import symback as sb

    layers = [sb.Dense(n, "relu") for n in sizes[1:-1]] + [sb.Dense(sizes[-1])]
    net = sb.Network(sizes[0], layers, loss=loss)
    cache = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache")
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, f"symback_{'_'.join(map(str, sizes))}_{loss}.py")
    return net.derive().compile(path, force=True)


SYSTEMS: dict[str, Callable[..., Peer]] = {
    "symback": module_factory(_symback_module, label="symback"),
    "numpy": make_numpy,
    "numba_hand": make_numba,
    "torch": make_torch,
    "jax": make_jax,
    "pytensor_c": make_pytensor_c,
    "pytensor_numba": make_pytensor_numba,
}
