"""Where sgd_step on a plain dict of arrays spends its time beyond the packed Params' step (issue 14, item 1), at
the toy network's batch 1 (benchmarks/RESULTS.md, Round 10): each piece of the plain dict's fast path timed alone.

    python benchmarks/bench_plain_dict.py

ns per call, the minimum over 41 interleaved repeats (bench_entry.per_call). "empty njit, ..." are compiled
functions that return at once, called through their compiled entry points as the fast path calls the kernels:
their difference is the cost of unboxing the eight arrays; "_pack + _unpack" adds the module's own copy-in and
copy-out of the 34 parameters (with the shape checks).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_entry import compile_module, per_call  # noqa: E402


def entry_point(fn, *args):
    """fn's compiled entry point for args' types (compiled by one call)."""
    fn(*args)
    return fn.overloads[fn.signatures[0]].entry_point


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench_plain_") as tmp:
        toy = compile_module("examples/udl_toy.py", Path(tmp))
        params = toy.init_params(seed=0)
        plain = {n: np.array(a) for n, a in params.items()}
        X, Y, lr = np.ones((1, 1)), np.ones((1, 1)), 1e-3
        for p in (params, plain, plain):
            toy.sgd_step(p, X, Y, lr)  # warm: both fast paths
        arrays = toy._ARRAYS(plain)
        _, work, _, _, _, flat, calls, _ = toy._SHARED[arrays[0].dtype].cache[1]
        _, pwork, _, _, _, P, pcalls, _ = params._batch.cache[1]
        kernel, wrapper = pcalls[toy._fingerprint((X, Y))], calls[toy._fingerprint((arrays, X, Y))]

        def copies(P, arrays, X, Y, ws, lr, mode):
            toy._pack(P, arrays)
            toy._unpack(P, arrays)
            return 0.0

        empty6 = entry_point(njit(_nrt=False)(lambda P, X, Y, ws, lr, mode: 0.0), P, X, Y, pwork, lr, toy.SGD)
        empty8 = entry_point(njit(_nrt=False)(lambda P, a, X, Y, ws, lr, mode: 0.0), flat, arrays, X, Y, work, lr,
                             toy.SGD)
        packed = entry_point(njit(_nrt=False)(copies), flat, arrays, X, Y, work, lr, toy.SGD)
        rows = {
            "sgd_step(Params)": (toy.sgd_step, (params, X, Y, lr)),
            "sgd_step(plain dict)": (toy.sgd_step, (plain, X, Y, lr)),
            "_ARRAYS(dict): the eight arrays": (toy._ARRAYS, (plain,)),
            "fingerprint of (X, Y)": (toy._fingerprint, ((X, Y),)),
            "fingerprint of (arrays, X, Y)": (toy._fingerprint, ((arrays, X, Y),)),
            "empty njit, six arguments": (empty6, (P, X, Y, pwork, lr, toy.SGD)),
            "empty njit, with the eight arrays": (empty8, (flat, arrays, X, Y, work, lr, toy.SGD)),
            "njit of _pack + _unpack": (packed, (flat, arrays, X, Y, work, lr, toy.SGD)),
            "the kernel's entry point": (kernel, (P, X, Y, pwork, lr, toy.SGD)),
            "the plain-dict wrapper's entry point": (wrapper, (flat, arrays, X, Y, work, lr, toy.SGD)),
        }
        times = per_call(list(rows.values()))
        for name, t in zip(rows, times):
            print(f"| {name} | {t * 1e3:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
