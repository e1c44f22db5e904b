"""Start-up of a symback kernel for [64, 32, 32, 10]: cold (empty Numba cache) and warm (new process, cache present).

    .venv/bin/python benchmarks/startup_symback.py

cold: imports + derive + codegen + Numba compile + first sgd_step, in a fresh
process with an empty NUMBA_CACHE_DIR; warm: a new process that imports the
module written by the cold run (cache present) and makes its first step.
"""

import os
import subprocess
import sys
import tempfile

COLD = """
import os, time
t0 = time.perf_counter()
import numpy as np, symback as sb
net = sb.Network(64, [sb.Dense(32, "relu"), sb.Dense(32, "relu"), sb.Dense(10)], loss="softmax_cross_entropy")
m = net.derive().compile(os.path.join(os.environ["WORK"], "k.py"))
p = m.init_params(seed=0)
X = np.random.default_rng(0).normal(size=(32, 64)); Y = np.arange(32) % 10
m.sgd_step(p, X, Y, 0.01)
print(f"{time.perf_counter() - t0:.2f}")
"""

WARM = """
import os, sys, time, importlib.util
t0 = time.perf_counter()
import numpy as np
spec = importlib.util.spec_from_file_location("k", os.path.join(os.environ["WORK"], "k.py"))
m = importlib.util.module_from_spec(spec); sys.modules["k"] = m; spec.loader.exec_module(m)
p = m.init_params(seed=0)
X = np.random.default_rng(0).normal(size=(32, 64)); Y = np.arange(32) % 10
m.sgd_step(p, X, Y, 0.01)
print(f"{time.perf_counter() - t0:.2f}")
"""


def run(code: str, env: dict) -> str:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "WORK": work, "NUMBA_CACHE_DIR": os.path.join(work, "numba-cache")}
        print(f"cold start: {run(COLD, env)} s (target 5 s)")
        print("warm start: " + ", ".join(run(WARM, env) for _ in range(3)) + " s (target 1 s)")
