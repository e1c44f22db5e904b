"""The digits CNN's training step: the generated kernel against PyTorch eager and JAX jit (ratios in one run).

    python benchmarks/bench_conv.py              # batch 64, float64 and float32
    python benchmarks/bench_conv.py --batch 32 --repeats 50

The network is examples/digits_cnn.py (Conv2D 8 channels 3x3 pad 1, ReLU, MaxPool 2, Dense 10, softmax
cross-entropy). One SGD step on a batch of 8x8 digits-sized inputs: the module's `sgd_step` (direct loops);
PyTorch: zero_grad, forward, cross_entropy, backward, step (1 thread and 2, the faster); JAX: one jitted function
returning the loss and the updated parameters (x64 enabled for float64). Times are the fastest of the repeats
after a warm-up call that compiles. Then a LeNet-sized net on 28x28 inputs against PyTorch eager (float64).

The generated module's dense steps call np.dot on small matrices (batch x 256 x 120); OpenBLAS's threads cost more
than they save there on this 2-core machine (LeNet's step 69-137 ms with 2 threads, 25-33 ms with 1, measured
with threadpoolctl), so symback is timed both ways: "BLAS default" and "BLAS 1 thread" (threadpoolctl's
`threadpool_limits(1, "blas")` around the calls, what a user sets with OPENBLAS_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import runpy
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "symback" / "bench_conv"


def both(run, repeats: int) -> tuple[float, float]:
    """(fastest with BLAS's default threads, fastest with BLAS at one thread)."""
    default = fastest(run, repeats)
    with threadpool_limits(1, "blas"):
        return default, fastest(run, repeats)


def fastest(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def ours(X, Y, dtype, repeats):
    CACHE.mkdir(parents=True, exist_ok=True)
    net = runpy.run_path(str(ROOT / "examples" / "digits_cnn.py"))["net"]
    mod = net.derive().compile(CACHE / "digits_cnn.py", force=True)
    params = mod.init_params(seed=0, dtype=dtype)
    return both(lambda: mod.sgd_step(params, X, Y, 0.01), repeats)


def pytorch(X, Y, dtype, repeats):
    import torch
    import torch.nn.functional as F

    best = np.inf
    for threads in (1, 2):
        torch.set_num_threads(threads)
        tdt = torch.float64 if dtype == np.float64 else torch.float32
        conv, dense = torch.nn.Conv2d(1, 8, 3, padding=1).to(tdt), torch.nn.Linear(128, 10).to(tdt)
        opt = torch.optim.SGD([*conv.parameters(), *dense.parameters()], lr=0.01)
        x, y = torch.tensor(X.reshape(-1, 1, 8, 8)), torch.tensor(Y)

        def step():
            opt.zero_grad()
            h = F.max_pool2d(torch.relu(conv(x)), 2).reshape(len(x), -1)
            F.cross_entropy(dense(h), y).backward()
            opt.step()

        best = min(best, fastest(step, repeats))
    return best


def jax_jit(X, Y, dtype, repeats):
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((8, 1, 3, 3)) / 3, "b1": np.zeros(8), "W2": rng.standard_normal((10, 128)) / 11,
              "b2": np.zeros(10)}
    params = {k: jnp.asarray(v, dtype=dtype) for k, v in params.items()}

    def loss(p, x, y):
        h = jax.lax.conv_general_dilated(x, p["W1"], (1, 1), ((1, 1), (1, 1))) + p["b1"][None, :, None, None]
        h = jax.lax.reduce_window(jax.nn.relu(h), -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        logits = h.reshape(len(x), -1) @ p["W2"].T + p["b2"]
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(len(x)), y])

    @jax.jit
    def step(p, x, y):
        value, grads = jax.value_and_grad(loss)(p, x, y)
        return value, {k: p[k] - 0.01 * grads[k] for k in p}

    x, y = jnp.asarray(X.reshape(-1, 1, 8, 8), dtype=dtype), jnp.asarray(Y)
    state = {"p": params}

    def run():
        value, state["p"] = step(state["p"], x, y)
        value.block_until_ready()

    return fastest(run, repeats)


def lenet_net():
    """LeNet-sized: conv 6 5x5, max-pool 2, conv 16 5x5, max-pool 2, dense 120, 84, 10 on 1x28x28 inputs."""
    import symback as sb

    return sb.Network(n_in=(1, 28, 28), layers=[
        sb.Conv2D(6, 5, activation="relu"), sb.MaxPool(2), sb.Conv2D(16, 5, activation="relu"), sb.MaxPool(2),
        sb.Flatten(), sb.Dense(120, "relu"), sb.Dense(84, "relu"), sb.Dense(10)], loss="softmax_cross_entropy",
        name="lenet")


def lenet(batch: int, repeats: int) -> None:
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    X, Y = rng.random((batch, 784)), rng.integers(0, 10, batch).astype(np.int64)
    CACHE.mkdir(parents=True, exist_ok=True)
    mod = lenet_net().derive().compile(CACHE / "lenet.py", force=True)
    params = mod.init_params(seed=0)
    t_ours, t_one = both(lambda: mod.sgd_step(params, X, Y, 0.01), repeats)
    best = np.inf
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 6, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(6, 16, 5),
            torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(256, 120), torch.nn.ReLU(),
            torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10)).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x, y = torch.tensor(X.reshape(-1, 1, 28, 28)), torch.tensor(Y)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        best = min(best, fastest(step, repeats))
    print(f"LeNet-sized (28x28, conv 6 5x5, pool, conv 16 5x5, pool, dense 120, 84, 10), one SGD step at batch "
          f"{batch}, float64: symback {t_ours * 1e3:.2f} ms (BLAS 1 thread {t_one * 1e3:.2f} ms), PyTorch eager "
          f"{best * 1e3:.2f} ms ({best / t_ours:.2f}x; {best / t_one:.2f}x)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"digits CNN (conv 8x3x3 pad 1, ReLU, max-pool 2, dense 10), one SGD step at batch {args.batch}")
    for dtype in (np.float64, np.float32):
        X = rng.random((args.batch, 64)).astype(dtype)
        Y = rng.integers(0, 10, args.batch).astype(np.int64)
        (t_ours, t_one), t_torch = ours(X, Y, dtype, args.repeats), pytorch(X, Y, dtype, args.repeats)
        t_jax = jax_jit(X, Y, dtype, args.repeats)
        jax_text = "" if t_jax is None else \
            f", JAX jit {t_jax * 1e6:.0f} us ({t_jax / t_ours:.2f}x; {t_jax / t_one:.2f}x)"
        print(f"  {np.dtype(dtype).name}: symback {t_ours * 1e6:.0f} us (BLAS 1 thread {t_one * 1e6:.0f} us), PyTorch "
              f"eager {t_torch * 1e6:.0f} us ({t_torch / t_ours:.2f}x; {t_torch / t_one:.2f}x){jax_text}  "
              f"(ratio > 1: symback faster)")
    lenet(args.batch, max(3, args.repeats // 5))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
