"""Whole epochs in one compiled call: a generated module's `train` against Python loops.

    python benchmarks/bench_epochs.py            # both tables, about a minute (after the first compile)
    python benchmarks/bench_epochs.py --repeats 3
    python benchmarks/bench_epochs.py --toy      # the first table alone (seconds)

1. The UDL toy network [1, 3, 3, 3, 1] at batch 1: `train` (SGD) per step against a Python loop of `sgd_step`,
   with the rows indexed per step as a training loop does (`X[order[i:i + 1]]`) and pre-sliced (the loop's floor),
   the three interleaved, fastest of 4 x repeats.
2. The digits network [64, 64, 10] (examples/train_digits.py, its 1,347 training rows), 30 epochs at batch 32:
   `train` against PyTorch's idiomatic loop (tensors pre-built, no DataLoader: randperm, index, zero_grad,
   forward, cross_entropy, backward, step), with the same optimizer (SGD lr 0.1; Adam lr 0.003), in float64
   and float32. PyTorch gets the faster of 1 and 2 threads (the machine has 2 cores). JAX (if installed): one
   jitted epoch function (shuffle with jax.random, `jax.lax.scan` over the full minibatches, then the last partial
   one), called once per epoch, with hand-written SGD/Adam updates as torch.optim computes them; x64 enabled so
   float64 runs in float64; XLA's default CPU threads.

Times are the fastest of the repeats (the machine is shared), after a warm-up call that compiles or loads the
kernels. The modules are generated/udl_toy.py and generated/train_digits.py, or, if those predate `train`,
the same networks compiled into ~/.cache/symback/bench_epochs/.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import runpy
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "symback" / "bench_epochs"


def module(name):
    """The generated module of examples/<name>.py: generated/<name>.py if it has `train`, else compiled afresh."""
    path = ROOT / "generated" / f"{name}.py"
    if path.exists():
        spec = importlib.util.spec_from_file_location(f"bench_epochs_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # Numba's cache looks the module up by name
        spec.loader.exec_module(mod)
        if hasattr(mod, "train"):
            return mod
    CACHE.mkdir(parents=True, exist_ok=True)
    return runpy.run_path(str(ROOT / "examples" / f"{name}.py"))["net"].derive().compile(CACHE / f"{name}.py",
                                                                                      force=True)


def fastest(run, repeats):
    """The fastest of `repeats` timed calls of run(), after one untimed call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def toy_rows(repeats, n=256, epochs=20):
    """(label, µs per step) for the toy network at batch 1."""
    mod = module("udl_toy")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 1))
    Y = np.sin(X)
    params, order, lr = mod.init_params(seed=1), rng.permutation(n), 1e-3
    rows = [(X[i:i + 1], Y[i:i + 1]) for i in order]

    def indexed():
        for _ in range(epochs):
            for i in range(n):
                idx = order[i:i + 1]
                mod.sgd_step(params, X[idx], Y[idx], lr)

    def sliced():
        for _ in range(epochs):
            for x, y in rows:
                mod.sgd_step(params, x, y, lr)

    runs = {"train (SGD), one call": lambda: mod.train(params, X, Y, lr, epochs=epochs, batch_size=1),
            "Python loop of sgd_step, rows indexed per step": indexed,
            "Python loop of sgd_step, rows pre-sliced": sliced}
    best = dict.fromkeys(runs, math.inf)
    for run in runs.values():
        run()  # compiled and warm
    for _ in range(4 * repeats):  # a few ms each: interleaved, so a burst of load skews every loop, not one
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return [(name, t / (n * epochs) * 1e6) for name, t in best.items()]


def torch_loop(torch, X, y, optimizer, lr, epochs, batch):
    """PyTorch's idiomatic minibatch loop over pre-built tensors; returns a function running all epochs."""
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)).to(X.dtype)
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=lr)
    loss_fn = torch.nn.functional.cross_entropy

    def run():
        for _ in range(epochs):
            perm = torch.randperm(len(X))
            for start in range(0, len(X), batch):
                idx = perm[start:start + batch]
                opt.zero_grad()
                loss = loss_fn(model(X[idx]), y[idx])
                loss.backward()
                opt.step()

    return run


def jax_loop(X, y, optimizer, lr, epochs, batch):
    """The same loop in JAX: a jitted epoch (`lax.scan` over minibatches); None if JAX is not installed."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)  # float64 arrays stay float64 (float32 ones stay float32)
    X, y, n, full = jnp.asarray(X), jnp.asarray(y), len(X), len(X) // batch * batch
    rng = np.random.default_rng(0)
    params = [jnp.asarray(rng.standard_normal(s) / np.sqrt(s[-1]), X.dtype) for s in ((64, 64), (64,), (10, 64),
                                                                                       (10,))]

    def loss_fn(p, xb, yb):
        logits = jax.nn.relu(xb @ p[0].T + p[1]) @ p[2].T + p[3]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1))

    def update(carry, xb, yb):  # torch.optim.SGD / torch.optim.Adam (betas 0.9, 0.999, eps 1e-8)
        p, m, v, t = carry
        loss, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        if optimizer == "sgd":
            return ([w - lr * d for w, d in zip(p, g)], m, v, t), loss
        t = t + 1
        m = [0.9 * a + 0.1 * d for a, d in zip(m, g)]
        v = [0.999 * a + 0.001 * d * d for a, d in zip(v, g)]
        p = [w - lr * (a / (1 - 0.9 ** t)) / (jnp.sqrt(b / (1 - 0.999 ** t)) + 1e-8) for w, a, b in zip(p, m, v)]
        return (p, m, v, t), loss

    @jax.jit
    def epoch(carry, key):
        order = jax.random.permutation(key, n)
        xs, ys = X[order[:full]].reshape(-1, batch, 64), y[order[:full]].reshape(-1, batch)
        carry, losses = jax.lax.scan(lambda c, b: update(c, *b), carry, (xs, ys))
        carry, last = update(carry, X[order[full:]], y[order[full:]])
        return carry, (losses.sum() * batch + last * (n - full)) / n

    def run():
        zeros = [jnp.zeros_like(w) for w in params]
        carry, history = (params, zeros, zeros, jnp.zeros((), X.dtype)), []
        for k in range(epochs):
            carry, loss = epoch(carry, jax.random.key(k))
            history.append(loss)
        return np.asarray(jnp.stack(history).block_until_ready())

    return run


def digits_rows(repeats, epochs=30, batch=32):
    """(optimizer, dtype, train s, torch s, torch threads, JAX s or None) for 30 epochs of digits."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    mod = module("train_digits")
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(X / 16.0, y.astype(np.int64), test_size=0.25, random_state=0,
                                              stratify=y)
    out = []
    for optimizer, lr in (("sgd", 0.1), ("adam", 0.003)):
        for dtype in (np.float64, np.float32):
            Xd = np.ascontiguousarray(X_train, dtype=dtype)

            def ours(Xd=Xd, dtype=dtype, optimizer=optimizer, lr=lr):
                mod.train(mod.init_params(seed=0, dtype=dtype), Xd, y_train, lr, epochs=epochs, batch_size=batch,
                          optimizer=optimizer)

            mine = fastest(ours, repeats)
            theirs = []
            for threads in (1, 2):
                torch.set_num_threads(threads)
                run = torch_loop(torch, torch.tensor(Xd), torch.tensor(y_train), optimizer, lr, epochs, batch)
                theirs.append((fastest(run, repeats), threads))
            jax_run = jax_loop(Xd, y_train, optimizer, lr, epochs, batch)
            out.append((optimizer, np.dtype(dtype).name, mine, *min(theirs), jax_run and fastest(jax_run, repeats)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--toy", action="store_true", help="the toy table alone (no PyTorch, no JAX)")
    args = parser.parse_args(argv)
    print(f"# bench_epochs.py: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start, "
          f"fastest of {args.repeats} repeats\n")
    toy = toy_rows(args.repeats)
    print("## UDL toy [1, 3, 3, 3, 1], batch 1, 256 rows x 20 epochs\n")
    print("| loop | µs per step | ratio to train |\n|---|---|---|")
    for name, us in toy:
        print(f"| {name} | {us:.3f} | {us / toy[0][1]:.1f}x |")
    if args.toy:
        return 0
    print("\n## digits [64, 64, 10], 1,347 rows, 30 epochs at batch 32\n")
    print("| optimizer | dtype | train (s) | PyTorch loop (s) | PyTorch threads | speed-up | JAX lax.scan (s) "
          "| speed-up |\n|---|---|---|---|---|---|---|---|")
    for optimizer, dtype, mine, theirs, threads, jax_s in digits_rows(args.repeats):
        jax_cells = "n/a | n/a" if jax_s is None else f"{jax_s:.3f} | {jax_s / mine:.1f}x"
        print(f"| {optimizer} | {dtype} | {mine:.3f} | {theirs:.3f} | {threads} | {theirs / mine:.1f}x | {jax_cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
