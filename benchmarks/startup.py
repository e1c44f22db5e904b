"""Compile time and warm start of the hand-written Numba kernel (numba_mlp).

    python benchmarks/startup.py [--cases toy1,toy256,...] [--dtypes float64,float32]

For each case a fresh Python process runs: import numpy+numba, import
numba_mlp, build the net, first training step (compiles, or loads from the
on-disk cache), second step.  "cold" uses an empty NUMBA_CACHE_DIR, "warm"
runs again in a new process with the cache the cold run wrote.  Reported in
seconds; the first-step column is the compile (or cache-load) cost.

``measure(snippet_setup, first_call)`` is reusable for other kernels, e.g.
symback-generated modules: see ``startup_table``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import os, sys, time, json
t0 = time.perf_counter()
import numpy as np, numba
t1 = time.perf_counter()
sys.path.insert(0, {here!r})
import numba_mlp, peers
t2 = time.perf_counter()
sizes, loss, batch, dtype = {sizes!r}, {loss!r}, {batch!r}, {dtype!r}
params = peers.init_params(sizes, dtype)
X, Y = peers.make_batch(sizes, loss, batch, dtype)
net = numba_mlp.NumbaMLP(sizes, loss, dtype, params)
t3 = time.perf_counter()
net.step(X, Y, 1e-3)
t4 = time.perf_counter()
net.step(X, Y, 1e-3)
t5 = time.perf_counter()
print(json.dumps(dict(import_numba=t1 - t0, import_kernel=t2 - t1, build=t3 - t2,
                      first_step=t4 - t3, second_step=t5 - t4,
                      kernel=net.kernel_name(batch))))
"""


def run_child(code, cache_dir):
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = cache_dir
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[v] = "2"
    t = __import__("time").perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    wall = __import__("time").perf_counter() - t
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_wall"] = wall
    return res


def measure(sizes, loss, batch, dtype):
    """{'cold': {...}, 'warm': {...}} timings for one configuration."""
    code = CHILD.format(here=HERE, sizes=tuple(sizes), loss=loss, batch=batch, dtype=dtype)
    with tempfile.TemporaryDirectory(prefix="numba_cache_") as cache:
        cold = run_child(code, cache)
        warm = run_child(code, cache)
    return {"cold": cold, "warm": warm}


def startup_table(cases, dtypes):
    sys.path.insert(0, HERE)
    from bench_train import CASES
    lines = ["| case | dtype | kernel | cold: first step (compile) | warm: first step (cache load) "
             "| warm: import numba_mlp | warm: process total | steady step |",
             "|---|---|---|---|---|---|---|---|"]
    for c in cases:
        sizes, loss, batch = CASES[c]
        for dt in dtypes:
            r = measure(sizes, loss, batch, dt)
            cold, warm = r["cold"], r["warm"]
            lines.append(f"| {c} | {dt} | {warm['kernel']} | {cold['first_step']:.2f} s | "
                         f"{warm['first_step'] * 1e3:.0f} ms | {warm['import_kernel'] * 1e3:.0f} ms | "
                         f"{warm['process_wall']:.2f} s | {warm['second_step'] * 1e6:.1f} µs |")
            print(f"  {c} {dt}: {json.dumps(r)}", file=sys.stderr)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="toy1,toy256,small32,mnist128,wide512")
    ap.add_argument("--dtypes", default="float64")
    args = ap.parse_args(argv)
    print("Hand-written Numba kernel: compile time (cold, empty cache) and warm start "
          "(new process, cache present). 'import numpy+numba' alone is excluded from the "
          "first-step columns.\n")
    print(startup_table(args.cases.split(","), args.dtypes.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
