"""A batch-normalised MLP's training step: symback's generated kernel vs PyTorch eager vs JAX jit, in one run.

    python benchmarks/bench_batchnorm.py            # [64, 64, 64, 10] at batch 64, float32 and float64
    python benchmarks/bench_batchnorm.py --quick    # a smoke run

The network is 64 -> (Dense 64, BatchNorm, ReLU) x 2 -> Dense 10 with softmax cross-entropy (mean over the
batch), batch normalisation in training mode (eps 1e-5). One step is a forward pass, the gradient and an SGD
update of every parameter. Before timing, the float64 losses and updated parameters of the three systems are
checked to agree to 1e-9 (the parameters relative to the largest entry of the update). Every system gets 2
threads. Reported: the median µs per step over the repeats, and each peer's time over symback's (above 1:
symback is faster).
"""

from __future__ import annotations

import os

THREADS = "2"
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = THREADS
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SIZES, BATCH, EPS, LR = (64, 64, 64, 10), 64, 1e-5, 1e-3


def network():
    import symback as sb

    layers = []
    for n in SIZES[1:-1]:
        layers += [sb.Dense(n), sb.BatchNorm(eps=EPS), sb.Activation("relu")]
    return sb.Network(SIZES[0], layers + [sb.Dense(SIZES[-1])], loss="softmax_cross_entropy", name="bn_mlp")


def initial(dtype):
    """The same parameters for every system (W: He normal, b and beta: 0, gamma: 1), and one batch."""
    rng = np.random.default_rng(0)
    params = {}
    for k, (n_in, n_out) in enumerate(zip(SIZES, SIZES[1:]), 1):
        params[f"W{k}"] = (rng.standard_normal((n_out, n_in)) * np.sqrt(2 / n_in)).astype(dtype)
        params[f"b{k}"] = np.zeros(n_out, dtype)
        if k < len(SIZES) - 1:
            params[f"gamma{k}"], params[f"beta{k}"] = np.ones(n_out, dtype), np.zeros(n_out, dtype)
    X = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    return params, X, rng.integers(0, SIZES[-1], BATCH)


def symback_step(dtype, folder: Path):
    module = network().derive().compile(folder / f"bn_mlp_{np.dtype(dtype).name}.py", force=True)
    params, X, Y = initial(dtype)
    p = module.init_params(dtype=dtype)
    for k, v in params.items():
        p[k][...] = v
    return (lambda: module.sgd_step(p, X, Y, LR)), (lambda: {k: np.array(p[k]) for k in params})


def torch_step(dtype):
    import torch

    torch.set_num_threads(int(THREADS))
    params, X, Y = initial(dtype)
    tt = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    Xt, Yt, depth = torch.tensor(X), torch.tensor(Y), len(SIZES) - 1
    opt = torch.optim.SGD(list(tt.values()), lr=LR)

    def step():
        opt.zero_grad(set_to_none=True)
        h = Xt
        for k in range(1, depth):
            f = torch.nn.functional.linear(h, tt[f"W{k}"], tt[f"b{k}"])
            h = torch.relu(torch.nn.functional.batch_norm(f, None, None, tt[f"gamma{k}"], tt[f"beta{k}"],
                                                          training=True, eps=EPS))
        loss = torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, tt[f"W{depth}"], tt[f"b{depth}"]), Yt)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step, (lambda: {k: v.detach().numpy().copy() for k, v in tt.items()})


def jax_step(dtype):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    params, X, Y = initial(dtype)
    depth = len(SIZES) - 1

    def loss(p, X, Y):
        h = X
        for k in range(1, depth):
            f = h @ p[f"W{k}"].T + p[f"b{k}"]
            mu, var = f.mean(axis=0), f.var(axis=0)
            h = jax.nn.relu(p[f"gamma{k}"] * (f - mu) / jnp.sqrt(var + EPS) + p[f"beta{k}"])
        z = h @ p[f"W{depth}"].T + p[f"b{depth}"]
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - z[jnp.arange(z.shape[0]), Y])

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
    folder = Path(tempfile.mkdtemp(prefix="bench_batchnorm_"))
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
    print(f"\nBatch-normalised MLP {list(SIZES)}, batch {BATCH}, one SGD training step; µs per step (median of "
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
