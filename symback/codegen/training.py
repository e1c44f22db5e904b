"""The training side of every generated module: loss_and_grad's gradients, optimizers in flat buffers and whole
epochs in one compiled call.

Stage: codegen. Like `runtime`, ordinary linted Python that imports nothing from symback outside its stand-ins;
`module.copy_runtime` copies the part between the ``# -- runtime`` markers into each generated module after
runtime's, keeping what the module reaches. It calls runtime's checks (`_flat`, `_inputs`, `_targets`, `_batch`,
`_run`) and reads the module's wiring: ``MODULE_ID`` (the network's identity, carried by every optimizer state)
and ``_TRAIN`` ({(layout of the full batches, layout of the last one): a cached njit function that names their
kernels}: Numba caches a function that takes a kernel as an argument only inside one that names it).

An update follows torch.optim's formulas in the same order (SGD with momentum, dampening 0 and Nesterov; Adam;
AdamW with decoupled weight decay), on the gradient the kernel sums over the batch times 1/B for a mean loss;
`_update` is compiled without fastmath, so it rounds the same wherever it is called (from `step` or inlined
into `train`'s epochs). Plain SGD (no momentum, no weight decay) is the kernel's fused update, as in `sgd_step`.
`_epochs` and `_minibatch` are inlined (in Numba's IR) into the module's `_TRAIN` functions: compiled on their own,
each would link the kernels and optimise their code once more (a toy module's first `train` took 17 s, now 10 s).
"""

# ruff: noqa: TRY004 (the contract of DESIGN.md: bad input is a ValueError naming the argument)

from __future__ import annotations

import difflib
import math
import os
import zipfile

import numpy as np
from numba import njit

from .compiled import _view
from .runtime import (
    _LAYOUTS,
    _MISSES,
    _MUTATORS,
    GRADIENT,
    N_PARAMS,
    PARAMS,
    REDUCTION,
    SGD,
    SHAPES,
    Params,
    _batch,
    _check_out,
    _checked,
    _fields,
    _fingerprint,
    _flat,
    _inputs,
    _layout,
    _on_dict,
    _read_only,
    _run,
    _targets,
    _unpacks,
    _workspace,
)

# -- runtime: copied from here into each generated module ------------------------------------------

OPTIMIZERS = ("sgd", "adam", "adamw")
_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


class Gradients(dict):
    """`loss_and_grad`'s {name: gradient}: views into one flat buffer `flat`, laid out as `Params.flat` (an
    optimizer of one's own can update `params.flat` from `grads.flat` in one line); fresh, or the caller's `out=`
    (from `new_gradients`), rewritten in place. Assigning an entry clears `packed`: as `out=`, its entries become
    views of `flat` again; so do they after `flat` is rebound (else they would keep the old buffer's values).
    Pickled and copied as the plain dict it holds. Its views are made at once: made on first use instead, the call
    would cost less, but a caller who reads the gradients would pay more, and C code reading a dict's table (json's
    encoder) would find it empty."""

    __slots__ = ("flat", "packed")

    def __reduce__(self):
        return dict, (dict(self),)

    def __setattr__(self, name, value):
        dict.__setattr__(self, name, value)
        if name == "flat":
            dict.__setattr__(self, "packed", False)


for _name in _MUTATORS:
    setattr(Gradients, _name, _unpacks(getattr(dict, _name)))
_SET_FLAT, _SET_PACKED = Gradients.flat.__set__, Gradients.packed.__set__  # the slots, without __setattr__'s cost


def _gradients(flat):
    """{name: gradient} on `flat`, a fresh copy of an entry's gradient block, scaled for its batch."""
    grads = Gradients(_fields(flat))
    _SET_FLAT(grads, flat)
    _SET_PACKED(grads, True)
    return grads


def new_gradients(params):
    """Zero gradients for `params` (their dtype), a `Gradients` to pass to `loss_and_grad(..., out=)` again and again:
    it is written in place and nothing is allocated."""
    return _gradients(np.zeros(N_PARAMS, _flat(params)[0].dtype))


def _check_grads(out, dtype, _shape):
    """The flat buffer of `out`, a Gradients of this module from `new_gradients` (or `loss_and_grad`), to write into;
    its entries made views of it again if one was assigned."""
    if type(out).__name__ == "Gradients" and type(out) is not Gradients:
        raise ValueError("out: a Gradients of another generated module; make one with this module's new_gradients()")
    if type(out) is not Gradients:
        raise TypeError(f"out: expected a Gradients from new_gradients(params), got {type(out).__name__}")
    flat = _check_out(getattr(out, "flat", None), dtype, (N_PARAMS,), "out.flat")
    if not getattr(out, "packed", False):  # an entry assigned, `flat` rebound, or a Gradients() made by hand
        dict.clear(out)
        dict.update(out, _fields(flat))
        out.packed = True
    return flat


def loss_and_grad(params, X, Y, out=None):
    """(loss, {name: gradient}) at params for the batch (X, Y); params are not changed. The gradients are a fresh
    `Gradients`, or written into `out` (one from `new_gradients(params)`), which is returned: nothing is allocated."""
    try:
        kind = type(params)
        if out is None:
            if kind is dict:
                loss, entry = _on_dict(params, X, Y, 0.0, GRADIENT)
                return loss, _gradients(entry[4]())
            if kind is Params and params.packed:
                _, work, _, _, gradient, P, calls, _ = params._batch.cache[len(X)]
                return calls[_fingerprint((X, Y))](P, X, Y, work, 0.0, GRADIENT), _gradients(gradient())
        elif type(out) is Gradients and out.packed:
            if kind is Params and params.packed:
                _, work, _, _, _, P, _, into = params._batch.cache[len(X)]
                G = out.flat
                return into[_fingerprint((X, Y, G))](P, X, Y, work, G, GRADIENT), out
            if kind is dict:
                return _on_dict(params, X, Y, 0.0, GRADIENT, out.flat)[0], out
    except _MISSES:
        pass  # the checked path below says what is wrong
    loss, entry = _checked(params, X, Y, 0.0, GRADIENT, out, _check_grads)
    return loss, (out if out is not None else _gradients(entry[4]()))


class Optimizer:
    """An optimizer: its name and hyperparameters, `steps` taken, and its state in two flat buffers laid out as
    the parameters' flat buffer, in their dtype: `m` (SGD's momentum buffer, Adam's first moment) and `v` (Adam's
    second moment). Made by init_state; step and train update it in place; save writes it beside the weights."""

    __slots__ = ("betas", "eps", "lr", "m", "module", "momentum", "name", "nesterov", "steps", "v", "weight_decay")

    def __init__(self, **fields):
        for key, value in fields.items():
            setattr(self, key, value)

    def __repr__(self):
        keys = ("lr", "betas", "eps", "weight_decay") if self.name != "sgd" else ("lr", "weight_decay", "momentum",
                                                                                   "nesterov")
        return f"Optimizer({self.name!r}, {', '.join(f'{k}={getattr(self, k)!r}' for k in keys)}, steps={self.steps})"

    def _hyper(self):
        return (OPTIMIZERS.index(self.name), self.lr, *self.betas, self.eps, self.weight_decay, self.momentum,
                self.nesterov)


def _real(name, value, low, high=math.inf, strict=False):
    """`value` as a float in [low, high), or in (low, high) if strict; else a one-line ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a real number, got {value!r:.40}")
    x = float(value)
    if not (x > low if strict else x >= low) or not x < high:  # NaN fails both
        bound = f"{'>' if strict else '>='} {low:g}" if high == math.inf else f"in [{low:g}, {high:g})"
        raise ValueError(f"{name}: expected a finite number {bound}, got {x}")
    return x


def _count(name, value, low=1):
    """`value` as an int >= low (a Python or NumPy integer, not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r:.40}")
    return int(value)


def init_state(params, optimizer="adam", lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum=0.0,
               nesterov=False):
    """A fresh Optimizer for `params` (its dtype, zero buffers, 0 steps): "sgd" (momentum, nesterov, weight_decay
    added to the gradient), "adam" (betas, eps, weight_decay added to the gradient) or "adamw" (weight decay
    decoupled: params *= 1 - lr * weight_decay), each as torch.optim computes it."""
    P, _ = _flat(params)
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        near = difflib.get_close_matches(str(optimizer).lower(), OPTIMIZERS, 1, 0.5)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ValueError(f"optimizer: unknown {optimizer!r:.40}{hint} (expected one of {', '.join(OPTIMIZERS)})")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas: expected a pair (beta1, beta2), got {betas!r:.40}")
    if not isinstance(nesterov, (bool, np.bool_)):
        raise ValueError(f"nesterov: expected True or False, got {nesterov!r:.40}")
    mu = _real("momentum", momentum, 0.0, 1.0)
    if optimizer != "sgd" and (mu or nesterov):
        raise ValueError(f"momentum: applies to optimizer='sgd' only; {optimizer} has betas")
    if nesterov and not mu:
        raise ValueError("nesterov: needs momentum > 0")
    return Optimizer(name=optimizer, lr=_real("lr", lr, 0.0, strict=True),
                     betas=(_real("betas[0]", betas[0], 0.0, 1.0), _real("betas[1]", betas[1], 0.0, 1.0)),
                     eps=_real("eps", eps, 0.0, strict=True), weight_decay=_real("weight_decay", weight_decay, 0.0),
                     momentum=mu, nesterov=bool(nesterov), steps=0, m=np.zeros_like(P), v=np.zeros_like(P),
                     module=MODULE_ID)


def _state(state, dtype):
    """Refuse a state that is not an Optimizer of this network in this dtype (from another module, say)."""
    if type(state).__name__ != "Optimizer" or not hasattr(state, "module"):
        raise ValueError(f"state: expected an Optimizer from init_state, got {type(state).__name__}")
    if state.module != MODULE_ID or state.m.shape != (N_PARAMS,) or state.v.shape != (N_PARAMS,):
        raise ValueError(f"state: made by another module (network {state.module}, this one {MODULE_ID})")
    if state.m.dtype != dtype or state.v.dtype != dtype:
        raise ValueError(f"state: dtype {state.m.dtype} differs from the parameters' ({dtype})")


def _scale(B):
    return 1.0 / B if REDUCTION == "mean" else 1.0


def step(params, state, X, Y):
    """One optimizer step in place on the batch (X, Y), all its rows; returns the loss before the step."""
    P, back = _flat(params)
    _read_only(back, "step")
    X = _inputs(X, P.dtype)
    Y = _targets(Y, X.shape[0], P.dtype)
    _state(state, P.dtype)
    work = _batch(params, X.shape[0], P.dtype)[1]  # this thread's workspace; the kernel on the flat buffer P
    kernel = _LAYOUTS[_layout(X.shape[0])][0]
    plain = _plain(state._hyper())
    loss = _run(kernel, P, X, Y, work, state.lr if plain else 0.0, SGD if plain else GRADIENT)  # checks X, Y first
    state.steps += 1
    if not plain:
        _update(P, work, state.m, state.v, state.steps, state._hyper(), _scale(X.shape[0]))
    _write_back(P, back)
    return loss


def _write_back(P, back):
    """Copy the flat buffer into a plain dict's arrays (a `Params` views it already)."""
    if back is not None:
        for name, view in _fields(P):
            back[name][...] = view


def train(params, X, Y, lr=None, epochs=1, batch_size=32, seed=0, optimizer="sgd", callback=None, every=1):
    """Train in place for `epochs` epochs; returns the loss history, one float64 per epoch: the mean per-sample
    loss over the epoch's steps, each taken before its update.

    Each epoch draws a permutation of the rows from (seed, epoch) and runs batches of `batch_size` rows in that
    order, the last partial batch kept (torch's DataLoader with drop_last=False), each by the kernel its size
    selects, as `step` would (so a Python loop of `step` gives the same bits), all in one compiled call.
    `optimizer` is a name ("sgd", "adam", "adamw": a fresh state, defaults as init_state, `lr` required) or an
    Optimizer from init_state, updated in place (`lr`, if given, replaces its lr). `callback(epoch, losses)` runs
    every `every` epochs (between compiled calls), with the epochs done and their losses; a true result stops.
    """
    P, back = _flat(params)
    _read_only(back, "train")
    X = _inputs(X, P.dtype)
    n = X.shape[0]
    Y = _targets(Y, n, P.dtype)
    for name, a in (("X", X), ("Y", Y)):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{name}: contains NaN or infinity")
    epochs, B, every = _count("epochs", epochs), min(_count("batch_size", batch_size), n), _count("every", every)
    seed = _count("seed", seed, 0)
    if callback is not None and not callable(callback):
        raise ValueError(f"callback: expected a function callback(epoch, losses), got {type(callback).__name__}")
    if isinstance(optimizer, str):
        state = init_state(params, optimizer, lr=_real("lr", lr, 0.0, strict=True))
    else:
        _state(optimizer, P.dtype)
        state = optimizer
        state.lr = state.lr if lr is None else _real("lr", lr, 0.0, strict=True)
    r = n % B  # the rows of the last, partial batch
    (kernel, size, _), (last, last_size, _) = _LAYOUTS[_layout(B)], _LAYOUTS[_layout(r or B)]
    Xb, Yb, Xr, Yr = X[:B].copy(), Y[:B].copy(), X[:r].copy(), Y[:r].copy()  # batch buffers, refilled each step
    ws, ws_r, order, losses = _workspace(size(B), P.dtype), _workspace(last_size(r or B), P.dtype), \
        np.empty(n, np.int64), np.zeros(epochs)
    _run(kernel, P, Xb, Yb, ws, 0.0, GRADIENT)  # compiled (or loaded) for these types before _TRAIN links it
    if r:
        _run(last, P, Xr, Yr, ws_r, 0.0, GRADIENT)
    done = 0
    while done < epochs:
        count = min(every if callback else epochs, epochs - done)
        _TRAIN[_layout(B), _layout(r or B)]((P, X, Y, order, Xb, Yb, Xr, Yr, ws, ws_r, state.m, state.v,
                                             state._hyper(), state.steps, REDUCTION == "mean", seed, done,
                                             losses[done:done + count]))
        done, state.steps = done + count, state.steps + count * -(-n // B)
        _write_back(P, back)
        if callback is not None and callback(done, losses[:done]):
            return losses[:done]
    return losses


@njit(_nrt=False, inline="always")
def _epochs(kernel, last, a):
    """The epochs of one `train` call between callbacks: `kernel` runs the full batches, `last` the partial one."""
    P, X, Y, order, Xb, Yb, Xr, Yr, ws, ws_r, m, v, hyper, t, mean, seed, first, losses = a
    n, r = X.shape[0], Xr.shape[0]
    for e in range(losses.shape[0]):
        _shuffle(order, seed, first + e)
        total = 0.0
        for start in range(0, n - r, Xb.shape[0]):
            t += 1
            total += _minibatch(kernel, P, X, Y, order, start, Xb, Yb, ws, m, v, hyper, t, mean)
        if r:
            t += 1
            total += _minibatch(last, P, X, Y, order, n - r, Xr, Yr, ws_r, m, v, hyper, t, mean)
        losses[e] = total / n


@njit(_nrt=False, inline="always")
def _minibatch(kernel, P, X, Y, order, start, Xs, Ys, ws, m, v, hyper, t, mean):
    """One step of `train` on the rows order[start:start + len(Xs)]: gather them, the gradient, the update; returns
    the loss times the rows for a mean loss (a sum's as it is)."""
    _gather(Xs, X, order, start)
    _gather(Ys, Y, order, start)
    if _plain(hyper):
        loss = kernel(P, Xs, Ys, ws, hyper[1], SGD)
    else:
        loss = kernel(P, Xs, Ys, ws, 0.0, GRADIENT)
        _update(P, ws, m, v, t, hyper, 1.0 / Xs.shape[0] if mean else 1.0)
    return loss * Xs.shape[0] if mean else loss


@njit(cache=True, _nrt=False)
def _gather(dst, src, order, start):
    """dst's rows = src's rows order[start], order[start + 1], ... (1-D or 2-D, C-contiguous)."""
    d, s, w = _view(dst, (dst.size,)), _view(src, (src.size,)), src.size // src.shape[0]
    for i in range(dst.shape[0]):
        j = order[start + i] * w
        for c in range(w):
            d[i * w + c] = s[j + c]


@njit(cache=True, _nrt=False)
def _mix(z):
    """splitmix64's finaliser: a well-mixed 64-bit value of z."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, _nrt=False)
def _shuffle(order, seed, epoch):
    """order = epoch `epoch`'s permutation under `seed`: Fisher-Yates on splitmix64 draws, a pure function of
    (seed, epoch), so a run split by callbacks, or replayed in Python, draws the same orders."""
    z = _mix(_mix(np.uint64(seed) + _GOLDEN) ^ np.uint64(epoch))
    for i in range(order.shape[0]):
        order[i] = i
    for i in range(order.shape[0] - 1, 0, -1):
        z += _GOLDEN
        j = np.int64(_mix(z) % np.uint64(i + 1))  # bias below (i + 1) / 2**64
        order[i], order[j] = order[j], order[i]


@njit(cache=True, _nrt=False)
def _plain(hyper):
    """Plain SGD (no momentum, no weight decay) is the kernel's own fused update, as in sgd_step."""
    return hyper[0] == 0 and hyper[5] == 0.0 and hyper[6] == 0.0


@njit(cache=True, _nrt=False)
def _update(P, G, m, v, t, hyper, scale):
    """Step t (1 for the first) of the optimizer in `hyper` on the flat buffers, gradient G[:N] * scale, in
    torch.optim's order of operations (Adam's m is torch's lerp: m + (1 - beta1) (g - m))."""
    kind, lr, b1, b2, eps, wd, mu, nesterov = hyper
    if kind == 0:
        for k in range(P.shape[0]):
            g = G[k] * scale + wd * P[k] if wd != 0.0 else G[k] * scale
            if mu != 0.0:
                m[k] = g if t == 1 else m[k] * mu + g
                g = g + mu * m[k] if nesterov else m[k]
            P[k] -= lr * g
        return
    step_size, root = lr / (1.0 - b1 ** float(t)), math.sqrt(1.0 - b2 ** float(t))
    for k in range(P.shape[0]):
        g = G[k] * scale
        if kind == 2:
            P[k] *= 1.0 - lr * wd
        elif wd != 0.0:
            g += wd * P[k]
        m[k] += (1.0 - b1) * (g - m[k])
        v[k] = v[k] * b2 + (1.0 - b2) * g * g
        P[k] -= step_size * m[k] / (math.sqrt(v[k]) / root + eps)


def save(path, params, state=None):
    """Write the parameters (and an Optimizer, if given) to `path` as one .npz file, atomically."""
    P, _ = _flat(params)
    arrays = {f"param.{name}": view for name, view in _fields(P)}
    if state is not None:
        _state(state, P.dtype)
        arrays.update({"optimizer.name": np.array(state.name), "optimizer.m": state.m, "optimizer.v": state.v,
                       "optimizer.hyper": np.array(state._hyper()[1:], np.float64),
                       "optimizer.steps": np.array(state.steps, np.int64)})
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as fh:
        np.savez(fh, module=np.array(MODULE_ID), **arrays)
    os.replace(tmp, path)


def load(path):
    """(Params, Optimizer or None) from a file `save` wrote for this network; refuses any other (and pickles)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {key: f[key] for key in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"path: not a file written by save(): {str(e).splitlines()[0]:.120}") from None
    module = data.pop("module", np.array(0))
    if module.dtype.kind != "U" or module.shape != () or str(module) != MODULE_ID:
        raise ValueError(f"path: not saved by this network's module (id {MODULE_ID})")
    arrays = {name: data.pop(f"param.{name}", None) for name in PARAMS}
    for name, a in arrays.items():
        if a is None:
            raise ValueError(f"path: missing 'param.{name}' (shape {SHAPES[name]})")
    params, state = Params(_flat(arrays)[0]), None
    if "optimizer.name" in data:
        hyper, steps = data.pop("optimizer.hyper", np.zeros(0)), data.pop("optimizer.steps", np.array(-1))
        if hyper.shape != (7,) or hyper.dtype != np.float64 or steps.shape != () or steps.dtype.kind not in "iu":
            raise ValueError("path: 'optimizer.hyper' or 'optimizer.steps' is not as save() writes it")
        lr, b1, b2, eps, wd, mu, nesterov = hyper
        state = init_state(params, str(data.pop("optimizer.name")), lr, (b1, b2), eps, wd, mu, bool(nesterov))
        state.steps = _count("optimizer.steps", int(steps), 0)
        for key in ("m", "v"):
            a = data.pop(f"optimizer.{key}", None)
            if a is None or a.shape != (N_PARAMS,) or a.dtype != params.flat.dtype:
                raise ValueError(f"path: 'optimizer.{key}' missing or not {N_PARAMS} values of {params.flat.dtype}")
            getattr(state, key)[...] = a
    if data:
        raise ValueError(f"path: unexpected entry {min(data)!r}")
    return params, state


# -- runtime: copied up to here; below, stand-ins for the wiring a generated module defines at its end --

MODULE_ID = "standin"
_TRAIN: dict = {}
