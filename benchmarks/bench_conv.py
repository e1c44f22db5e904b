"""CNN training steps: the generated kernel against PyTorch eager and JAX jit (ratios in one run); the conv paths.

    python benchmarks/bench_conv.py              # batch 64, float64 and float32: the digits CNN, then LeNet
    python benchmarks/bench_conv.py --batch 32 --repeats 50
    python benchmarks/bench_conv.py --sweep      # one conv layer by im2col + GEMM and by loops, over a grid

The digits CNN is examples/digits_cnn.py (Conv2D 8 channels 3x3 pad 1, ReLU, MaxPool 2, Dense 10, softmax
cross-entropy) on 8x8 inputs; the LeNet-sized net is conv 6 5x5, max-pool 2, conv 16 5x5, max-pool 2, dense 120,
84, 10 on 28x28 inputs. One SGD step: the module's `sgd_step` (its convolutions as compile(conv="auto") chooses);
PyTorch: zero_grad, forward, cross_entropy, backward, step (1 thread and 2, the faster); JAX: one jitted function
returning the loss and the updated parameters (x64 enabled for float64). Times are the fastest of the repeats
after a warm-up call that compiles.

The generated module's dense and conv steps call np.dot on small matrices (batch x 256 x 120; 16 x 150 x 64 per
sample); OpenBLAS's threads cost more than they save there on this 2-core machine when it is busy (one 64 x 256 x
120 np.dot from Numba: 21.6 ms with 2 threads at load 3.5, 0.08 ms with 1), so symback is timed both ways: "BLAS
default" and "BLAS 1 thread" (threadpoolctl's `threadpool_limits(1, "blas")` around the calls, what a user sets
with OPENBLAS_NUM_THREADS=1).

`--sweep` measured the rule of symback/codegen/im2col.py (`MIN_MACS`): one Conv2D + ReLU + Flatten + Dense 10
layer's SGD step at batch 64, BLAS 1 thread, gemm / loops time (load 3.5-4.5, 2026-12-03):

    C_in C_out k pad  H |    K  pos    MACs | float64 ratio | float32 ratio
       1     2 3   0   6 |    9   16     288 |  1.80 |  1.83
       2     2 3   0   6 |   18   16     576 |  1.35 |  1.25
       1     4 3   0   6 |    9   16     576 |  1.13 |  1.02-1.09
       1     8 3   0   6 |    9   16    1152 |  0.69 |  0.76
       1     4 3   1   6 |    9   36    1296 |  0.87 |  0.69
       2     4 3   0   8 |   18   36    2592 |  0.58 |  0.49
       8     8 1   0   8 |    8   64    4096 |  0.45 |  0.37
       1     8 3   1   8 |    9   64    4608 |  0.56 |  0.47   (the digits CNN's conv)
       1     2 5   0  16 |   25  144    7200 |  0.56 |  0.47
       1     8 3   0  16 |    9  196   14112 |  0.47 |  0.37
       4     8 3   1   8 |   36   64   18432 |  0.37 |  0.32
       4     8 3   0  10 |   36   64   18432 |  0.27 |  0.21
       1     6 5   0  28 |   25  576   86400 |  0.45 |  0.30   (LeNet's first conv)
       3    16 3   1  16 |   27  256  110592 |  0.12 |  0.15
       6    16 5   0  12 |  150   64  153600 |  0.26 |  0.15   (LeNet's second conv)
"""

from __future__ import annotations

import argparse
import os
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


def digits_net():
    return runpy.run_path(str(ROOT / "examples" / "digits_cnn.py"))["net"]


def lenet_net():
    """LeNet-sized: conv 6 5x5, max-pool 2, conv 16 5x5, max-pool 2, dense 120, 84, 10 on 1x28x28 inputs."""
    import symback as sb

    return sb.Network(n_in=(1, 28, 28), layers=[
        sb.Conv2D(6, 5, activation="relu"), sb.MaxPool(2), sb.Conv2D(16, 5, activation="relu"), sb.MaxPool(2),
        sb.Flatten(), sb.Dense(120, "relu"), sb.Dense(84, "relu"), sb.Dense(10)], loss="softmax_cross_entropy",
        name="lenet")


#: name -> (symback network, input shape, [(kind, sizes)] for torch and JAX: conv (in, out, k, pad), pool, dense)
CASES = {
    "digits CNN (conv 8x3x3 pad 1, ReLU, max-pool 2, dense 10)":
        (digits_net, (1, 8, 8), [("conv", (1, 8, 3, 1)), ("pool", 2), ("dense", (128, 10))]),
    "LeNet-sized (28x28, conv 6 5x5, pool, conv 16 5x5, pool, dense 120, 84, 10)":
        (lenet_net, (1, 28, 28), [("conv", (1, 6, 5, 0)), ("pool", 2), ("conv", (6, 16, 5, 0)), ("pool", 2),
                                  ("dense", (256, 120)), ("dense", (120, 84)), ("dense", (84, 10))]),
}


def ours(make, X, Y, dtype, repeats, conv="auto"):
    CACHE.mkdir(parents=True, exist_ok=True)
    net = make()
    mod = net.derive().compile(CACHE / f"{net.name}_{conv}.py", force=True, conv=conv)
    params = mod.init_params(seed=0, dtype=dtype)
    return both(lambda: mod.sgd_step(params, X, Y, 0.01), repeats)


def pytorch(layers, shape, X, Y, dtype, repeats):
    import torch
    import torch.nn.functional as F

    best = np.inf
    for threads in (1, 2):
        torch.set_num_threads(threads)
        mods = []
        for kind, size in layers:  # ReLU after every conv and every dense layer but the last
            if kind == "conv":
                mods += [torch.nn.Conv2d(size[0], size[1], size[2], padding=size[3]), torch.nn.ReLU()]
            elif kind == "pool":
                mods.append(torch.nn.MaxPool2d(size))
            else:  # flattened before the first
                mods += [torch.nn.Flatten()] * (not any(isinstance(m, torch.nn.Linear) for m in mods))
                mods += [torch.nn.Linear(*size), torch.nn.ReLU()]
        model = torch.nn.Sequential(*mods[:-1]).to(torch.float64 if dtype == np.float64 else torch.float32)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x, y = torch.tensor(X.reshape(-1, *shape)), torch.tensor(Y)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        best = min(best, fastest(step, repeats))
    return best


def jax_jit(layers, shape, X, Y, dtype, repeats):
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    params = []
    for kind, size in layers:
        if kind == "conv":
            params.append((rng.standard_normal(size[1:2] + size[:1] + size[2:3] * 2) / size[2], np.zeros(size[1])))
        elif kind == "dense":
            params.append((rng.standard_normal(size[::-1]) / np.sqrt(size[0]), np.zeros(size[1])))
    params = [tuple(jnp.asarray(a, dtype=dtype) for a in pair) for pair in params]

    def loss(p, x, y):
        h, k = x, 0
        for kind, size in layers:
            if kind == "pool":
                h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, size, size), (1, 1, size, size), "VALID")
                continue
            w, b = p[k]
            k += 1
            if kind == "conv":
                pad = ((size[3], size[3]),) * 2
                h = jax.nn.relu(jax.lax.conv_general_dilated(h, w, (1, 1), pad) + b[None, :, None, None])
            else:
                h = h.reshape(len(x), -1) @ w.T + b
                h = jax.nn.relu(h) if k < len(p) else h
        return -jnp.mean(jax.nn.log_softmax(h)[jnp.arange(len(x)), y])

    @jax.jit
    def step(p, x, y):
        value, grads = jax.value_and_grad(loss)(p, x, y)
        return value, jax.tree_util.tree_map(lambda a, g: a - 0.01 * g, p, grads)

    x, y = jnp.asarray(X.reshape(-1, *shape), dtype=dtype), jnp.asarray(Y)
    state = {"p": params}

    def run():
        value, state["p"] = step(state["p"], x, y)
        value.block_until_ready()

    return fastest(run, repeats)


def case(title: str, batch: int, repeats: int) -> None:
    make, shape, layers = CASES[title]
    rng = np.random.default_rng(0)
    print(f"{title}, one SGD step at batch {batch}")
    for dtype in (np.float64, np.float32):
        X = rng.random((batch, int(np.prod(shape)))).astype(dtype)
        Y = rng.integers(0, 10, batch).astype(np.int64)
        t_ours, t_one = ours(make, X, Y, dtype, repeats)
        t_torch, t_jax = pytorch(layers, shape, X, Y, dtype, repeats), jax_jit(layers, shape, X, Y, dtype, repeats)
        jax_text = "" if t_jax is None else \
            f", JAX jit {t_jax * 1e6:.0f} us ({t_jax / t_ours:.2f}x; {t_jax / t_one:.2f}x)"
        print(f"  {np.dtype(dtype).name}: symback {t_ours * 1e6:.0f} us (BLAS 1 thread {t_one * 1e6:.0f} us), PyTorch "
              f"eager {t_torch * 1e6:.0f} us ({t_torch / t_ours:.2f}x; {t_torch / t_one:.2f}x){jax_text}  "
              f"(ratio > 1: symback faster)", flush=True)


#: (C_in, C_out, kernel, padding, H): one Conv2D on C_in x H x H, ReLU, Flatten, Dense 10, for `sweep`
GRID = ((1, 2, 3, 0, 6), (2, 2, 3, 0, 6), (1, 4, 3, 0, 6), (1, 8, 3, 0, 6), (1, 4, 3, 1, 6), (2, 4, 3, 0, 8),
        (8, 8, 1, 0, 8), (1, 8, 3, 1, 8), (1, 2, 5, 0, 16), (1, 8, 3, 0, 16), (4, 8, 3, 1, 8), (4, 8, 3, 0, 10),
        (1, 6, 5, 0, 28), (3, 16, 3, 1, 16), (6, 16, 5, 0, 12))


def sweep(batch: int, repeats: int) -> None:
    """Where each conv path wins: one conv layer's SGD step by GEMM and by loops (BLAS layout, BLAS 1 thread),
    interleaved, fastest of `repeats`; the sizes `im2col.wins` reads (K = C_in*kh*kw, positions, multiply-adds
    per sample C_out*K*positions)."""
    import symback as sb
    from symback.codegen import compile_derivation

    rng = np.random.default_rng(0)
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"one conv layer's SGD step at batch {batch}, BLAS 1 thread (us): gemm / loops < 1: the GEMM wins")
    print("C_in C_out k pad  H |    K  pos    MACs | f64 gemm loops ratio | f32 gemm loops ratio")
    for c_in, c_out, k, pad, h in GRID:
        net = sb.Network(n_in=(c_in, h, h), layers=[sb.Conv2D(c_out, k, padding=pad, activation="relu"), sb.Flatten(),
                                                    sb.Dense(10)], loss="softmax_cross_entropy", name="sweep")
        d = net.derive()
        mods = {c: compile_derivation(d, CACHE / f"sweep_{c_in}_{c_out}_{k}_{pad}_{h}_{c}.py", force=True, conv=c,
                                      layouts=("blas",)) for c in ("gemm", "loops")}
        side = h + 2 * pad - k + 1
        taps, pos = c_in * k * k, side * side
        row = f"{c_in:4d} {c_out:5d} {k} {pad:3d} {h:3d} | {taps:4d} {pos:4d} {c_out * taps * pos:7d} |"
        with threadpool_limits(1, "blas"):
            for dtype in (np.float64, np.float32):
                X = rng.random((batch, c_in * h * h)).astype(dtype)
                Y = rng.integers(0, 10, batch).astype(np.int64)
                params = {c: m.init_params(seed=0, dtype=dtype) for c, m in mods.items()}
                best = {c: np.inf for c in mods}
                for _ in range(3):
                    for c, m in mods.items():
                        best[c] = min(best[c], fastest(lambda m=m, c=c: m.sgd_step(params[c], X, Y, 0.0), repeats))
                row += f" {best['gemm'] * 1e6:8.0f} {best['loops'] * 1e6:5.0f} {best['gemm'] / best['loops']:5.2f} |"
        print(row, flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--sweep", action="store_true", help="time one conv layer by GEMM and by loops over a grid of "
                   "sizes (the measurements behind symback/codegen/im2col.py's rule)")
    args = p.parse_args(argv)
    if args.sweep:
        sweep(args.batch, max(3, args.repeats // 3))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f} (1 min); symback's conv layers by im2col + GEMM or loops as "
          "compile(conv='auto') chooses them")
    for title in CASES:
        case(title, args.batch, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
