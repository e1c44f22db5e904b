"""The attention block's training step: symback's generated kernel vs PyTorch eager vs JAX jit, in one run.

    python benchmarks/bench_attention.py            # examples/attention_block.py at batch 64, float32 and float64
    python benchmarks/bench_attention.py --quick    # a smoke run

The model is examples/attention_block.py's: a sequence of 4 tokens of width 5, one attention head with its
residual, layer norm, an MLP (20 -> 16 -> 20, ReLU) with its residual and a linear output, squared error (mean over
the batch). One step is a forward pass, the gradient and an SGD update of every parameter. Before timing, the
float64 losses and updated parameters of the three systems are checked to agree to 1e-9 (the parameters relative
to the largest entry of the update). Every system gets 2 threads. Reported: the median µs per step over the
repeats, and each peer's time over symback's (above 1: symback is faster). Target (issue 11): torch / symback at
least 1.5, jax / symback at least 1.
"""

from __future__ import annotations

import os

THREADS = "2"
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = THREADS
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH, EPS, LR = 64, 1e-5, 1e-3
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from attention_block import D, T, block, data

N = T * D


def initial(dtype):
    """The same parameters for every system (normal, scaled by 1/sqrt(fan-in); gamma 1), and one batch."""
    rng = np.random.default_rng(0)
    d = block.derive()
    params = {}
    for p in d.params:
        shape = tuple(int(s) for s in d.graph[p].shape)
        params[p] = (rng.standard_normal(shape) / np.sqrt(shape[-1] if len(shape) == 2 else 4)).astype(dtype)
    params["gamma"] = (1 + 0.1 * rng.standard_normal(N)).astype(dtype)
    X, Y = data(BATCH, 0)
    return params, X.astype(dtype), Y.astype(dtype)


def symback_step(dtype, folder: Path):
    module = block.derive().compile(folder / f"attention_block_{np.dtype(dtype).name}.py", force=True)
    params, X, Y = initial(dtype)
    p = module.init_params(dtype=dtype)
    for k, v in params.items():
        p[k][...] = v
    return (lambda: module.sgd_step(p, X, Y, LR)), (lambda: {k: np.array(p[k]) for k in params})


def _forward(lib, p, X, softmax, layer_norm, relu):
    """The block on a batch, written once for torch and jax.numpy (`lib`)."""
    x = X.reshape(X.shape[0], T, D)
    Q, K, V = x @ p["Wq"].T, x @ p["Wk"].T, x @ p["Wv"].T
    a = (x + softmax(Q @ lib.swapaxes(K, 1, 2) / D**0.5) @ V).reshape(X.shape[0], N)
    n = layer_norm(a) * p["gamma"] + p["beta"]
    r = n + relu(n @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]
    return r @ p["Wo"].T + p["bo"]


def torch_step(dtype):
    import torch

    torch.set_num_threads(int(THREADS))
    params, X, Y = initial(dtype)
    tt = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    opt = torch.optim.SGD(list(tt.values()), lr=LR)

    def step():
        opt.zero_grad(set_to_none=True)
        f = _forward(torch, tt, Xt, lambda s: torch.softmax(s, dim=2),
                     lambda a: torch.nn.functional.layer_norm(a, (N,), eps=EPS), torch.relu)
        loss = ((f - Yt) ** 2).sum(dim=1).mean()
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step, (lambda: {k: v.detach().numpy().copy() for k, v in tt.items()})


def jax_step(dtype):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    params, X, Y = initial(dtype)

    def layer_norm(a):
        mu = a.mean(axis=1, keepdims=True)
        return (a - mu) / jnp.sqrt(((a - mu) ** 2).mean(axis=1, keepdims=True) + EPS)

    def loss(p, X, Y):
        f = _forward(jnp, p, X, lambda s: jax.nn.softmax(s, axis=2), layer_norm, jax.nn.relu)
        return jnp.mean(((f - Y) ** 2).sum(axis=1))

    @jax.jit
    def update(p, X, Y):
        value, grads = jax.value_and_grad(loss)(p, X, Y)
        return value, jax.tree_util.tree_map(lambda a, g: a - LR * g, p, grads)

    state = {"p": {k: jnp.asarray(v) for k, v in params.items()}}
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def step():
        value, state["p"] = update(state["p"], Xj, Yj)
        return float(value)

    return step, (lambda: {k: np.asarray(v) for k, v in state["p"].items()})


def median_us(step, seconds: float, repeats: int) -> float:
    for _ in range(3):
        step()
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < seconds / 4 or n < 3:
        step()
        n += 1
    per = max(1, int(n * seconds / max(time.perf_counter() - t, 1e-9) / repeats))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(per):
            step()
        times.append((time.perf_counter() - t) / per)
    return statistics.median(times) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short timings (a smoke run)")
    args = ap.parse_args()
    seconds, repeats = (0.2, 3) if args.quick else (1.0, 7)
    folder = Path(tempfile.mkdtemp(prefix="bench_attention_"))
    systems = {"symback": lambda dt: symback_step(dt, folder), "torch eager": torch_step, "jax jit": jax_step}
    # agreement in float64: the loss before the step and the parameters after it
    made = {name: make(np.float64) for name, make in systems.items()}
    start = initial(np.float64)[0]
    losses = {name: step() for name, (step, _) in made.items()}
    after = {name: get() for name, (_, get) in made.items()}
    ref = after["symback"]
    for name in systems:
        update = {k: ref[k] - start[k] for k in ref}  # relative to the largest entry of the SGD update
        scale = max(np.max(np.abs(u)) for u in update.values())
        err = max(np.max(np.abs(after[name][k] - ref[k])) for k in ref) / scale
        lerr = abs(losses[name] - losses["symback"]) / abs(losses["symback"])
        ok = err < 1e-9 and lerr < 1e-9
        print(f"float64 agreement {name:12s} loss {losses[name]:.15g} (rel {lerr:.1e}), params rel {err:.1e} "
              f"{'ok' if ok else 'FAIL'}")
        if not ok:
            return 1
    print(f"\nAttention block ({T} tokens of width {D}), batch {BATCH}, one SGD training step; µs per step (median of "
          f"{repeats}) and each peer's time over symback's:\n")
    print(f"| dtype | {' | '.join(systems)} | torch / symback | jax / symback |")
    print("|---|" + "---|" * (len(systems) + 2))
    for dtype in (np.float32, np.float64):
        us = {name: median_us(make(dtype)[0], seconds, repeats) for name, make in systems.items()}
        cells = " | ".join(f"{us[name]:,.1f}" for name in systems)
        print(f"| {np.dtype(dtype).name} | {cells} | {us['torch eager'] / us['symback']:.2f}x | "
              f"{us['jax jit'] / us['symback']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
