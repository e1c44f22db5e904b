"""Per-entry-point cost of a generated module (issue 14, item 1): sgd_step on a packed Params, forward and
loss_and_grad (fresh results, and written into the caller's buffers with out=), and sgd_step on a plain dict of
arrays, each with its ratio to sgd_step(Params), in one run.

    python benchmarks/bench_entry.py               # regenerate the modules into a temp dir, then time them
    python benchmarks/bench_entry.py --dir DIR     # keep the modules (and Numba's on-disk cache) in DIR
    python benchmarks/bench_entry.py --dtype float32

The modules are written by `symback compile` from examples/udl_toy.py and examples/train_digits.py, so the
numbers are those of the current code generator and runtime, not of the checked-in generated/ files.
µs per call: the minimum over 41 repeats of the mean of n calls (n chosen so a repeat lasts ~2 ms), the
repeats of the four calls interleaved (on a shared machine, many short repeats find a quiet moment).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import timeit
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# name -> (example file, batch sizes); digits at batch 32 as examples/train_digits.py trains it
CASES = {"toy": ("examples/udl_toy.py", (1, 256)), "digits": ("examples/train_digits.py", (1, 32))}
LR = 1e-3
REPEATS = 41
COLUMNS = ("sgd_step (Params)", "forward", "forward (out=)", "loss_and_grad", "loss_and_grad (out=)",
           "sgd_step (plain dict)")


def compile_module(spec: str, folder: Path):
    """`symback compile SPEC -o folder/NAME.py`, then import the module under its own name."""
    from symback.cli import main as cli

    path = folder / Path(spec).name
    if cli(["compile", spec, "-o", str(path), "--force"]) != 0:
        raise SystemExit(f"symback compile {spec} failed")
    name = f"bench_entry_{path.stem}"
    loaded = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(loaded)
    sys.modules[name] = module
    loaded.loader.exec_module(module)
    return module


def batch(module, B: int, dtype):
    rng = np.random.default_rng(B)
    X = rng.standard_normal((B, module.N_IN)).astype(dtype)
    labels = module.LOSS == "softmax_cross_entropy"
    Y = rng.integers(0, module.N_OUT, B) if labels else rng.standard_normal((B, module.N_OUT)).astype(dtype)
    return X, Y


def per_call(calls) -> list[float]:
    """µs per call of each (fn, args), the minimum over REPEATS repeats; the repeats of the calls interleave, so a
    burst of load on the (shared) machine skews one repeat of every entry point rather than one entry point."""
    timers = []
    for fn, args in calls:
        fn(*args)
        fn(*args)  # compiled and warm
        timer = timeit.Timer("fn(*args)", globals={"fn": fn, "args": args})
        n, t = timer.autorange()
        timers.append((timer, max(1, int(n * 0.002 / t))))
    best = [float("inf")] * len(calls)
    for _ in range(REPEATS):
        for k, (timer, n) in enumerate(timers):
            best[k] = min(best[k], timer.timeit(n) / n * 1e6)
    return best


def row(module, B: int, dtype) -> list[float]:
    X, Y = batch(module, B, dtype)
    params = module.init_params(seed=0, dtype=dtype)
    plain = {name: np.array(a) for name, a in params.items()}
    out, grads = np.empty_like(module.forward(params, X)), module.new_gradients(params)
    return per_call([(module.sgd_step, (params, X, Y, LR)), (module.forward, (params, X)),
                     (module.forward, (params, X, out)), (module.loss_and_grad, (params, X, Y)),
                     (module.loss_and_grad, (params, X, Y, grads)), (module.sgd_step, (plain, X, Y, LR))])


def table(modules: dict, dtype) -> str:
    lines = [f"| module, batch | {' | '.join(COLUMNS)} |", "|---|" + "---|" * len(COLUMNS)]
    for name, (spec, sizes) in CASES.items():
        module = modules[name]
        for B in sizes:
            t = row(module, B, dtype)
            cells = [f"{t[0]:.2f}"] + [f"{x:.2f} ({x / t[0]:.2f}x)" for x in t[1:]]
            lines.append(f"| {name} {list(module.SIZES)}, B={B} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", help="folder for the generated modules (default: a fresh temporary folder)")
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    args = ap.parse_args(argv)
    os.chdir(ROOT)  # SPEC paths are relative to the repository
    with tempfile.TemporaryDirectory(prefix="bench_entry_") as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        modules = {name: compile_module(spec, folder) for name, (spec, _) in CASES.items()}
        start = os.getloadavg()[0]
        text = table(modules, np.dtype(args.dtype))
        print(f"µs per call (min of {REPEATS}), {args.dtype}, ratio to sgd_step (Params); "
              f"load average {start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end\n")
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
