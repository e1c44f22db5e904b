"""Inference latency: a symback inference module (`symback compile --inference`) against PyTorch, ONNX Runtime
and JAX, at batch 1 and 256; and the start-up (import + first call) of an inference module against the full one.

    python benchmarks/bench_inference.py                 # a few minutes on 2 cores (the cold start-ups compile)
    python benchmarks/bench_inference.py --quick         # smoke run
    python benchmarks/bench_inference.py --dtype float64 --nets toy,digits --no-startup

The nets (ReLU hidden layers, identity output): toy [1, 3, 3, 3, 1] (examples/udl_toy.py), digits [64, 64, 10]
(examples/train_digits.py) and mnist [784, 256, 256, 10]. Each starts as a torch ``nn.Sequential`` with torch's
seeded initialisation; ``sb.from_torch`` makes its Network, ``compile(inference=True)`` its module (in
~/.cache/symback/bench), ``sb.load_torch_state`` copies the weights in, and ``torch.onnx.export`` writes the same
weights for ONNX Runtime. Each system's output is checked against PyTorch's before it is timed.

Measured: µs per call, the fastest of 21 loops of calls (about 5 ms each, so that on a shared machine some run
alone), inputs built beforehand, each system in a process of its own (idle thread pools of one system spin and
would steal the cores of the next): symback ``forward(params, X)`` (params a packed ``Params``) of the inference
module and of the full module; the inference kernel called directly on a preallocated workspace (no checks: the
floor of the Python entry point); PyTorch ``model(X)`` under ``torch.no_grad()``; ONNX Runtime
``session.run(None, {"x": X})``; JAX ``jit`` of the same layers (only if JAX is installed). 2 threads everywhere
unless --threads says otherwise (OMP/MKL/OPENBLAS/NUMBA_NUM_THREADS, torch.set_num_threads, ONNX Runtime's
intra-op pool). Start-up: a fresh process imports the module (after NumPy and Numba) and calls ``forward`` on one
row, then on 256 rows (the kernels of the other layouts); "cold" with an empty NUMBA_CACHE_DIR (the kernels
compile), "warm" with that cache; the fastest of 3.
"""

from __future__ import annotations

import os

THREADS = os.environ.setdefault("BENCH_THREADS", "2")  # --threads, passed to the child processes
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = THREADS
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NETS = {"toy": ((1, 3, 3, 3, 1), "mse"), "digits": ((64, 64, 10), "cross_entropy"),
        "mnist": ((784, 256, 256, 10), "cross_entropy")}
BATCHES = (1, 256)
SYSTEMS = ("symback", "symback_kernel", "symback_full", "torch", "onnxruntime", "jax")
CACHE = Path.home() / ".cache" / "symback" / "bench"

STARTUP = r"""
import importlib.util, json, sys, time
import numpy as np, numba
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("bench_module", sys.argv[1])
m = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = m
spec.loader.exec_module(m)
t1 = time.perf_counter()
p = m.init_params(dtype=sys.argv[2])
m.forward(p, np.zeros((1, m.N_IN), sys.argv[2]))
t2 = time.perf_counter()
m.forward(p, np.zeros((256, m.N_IN), sys.argv[2]))  # the other layouts' kernels
print(json.dumps({"import": t1 - t0, "first_call": t2 - t1, "batch_256": time.perf_counter() - t2}))
"""


def files(name, dtype) -> dict[str, Path]:
    return {k: CACHE / f"{name}_{dtype}_{k}" for k in ("inference.py", "full.py", "data.npz", "model.onnx")}


def model_of(sizes, dtype):
    """ReLU hidden layers, identity output; torch's default initialisation, seeded."""
    import torch

    torch.manual_seed(0)
    layers = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers += [torch.nn.Linear(n_in, n_out)] + ([torch.nn.ReLU()] if k < len(sizes) - 2 else [])
    return torch.nn.Sequential(*layers).to(getattr(torch, dtype))


def prepare(name, dtype) -> None:
    """Compile the net's inference and full modules from its torch model; save the weights (in symback's names),
    the inputs and PyTorch's outputs (.npz); export the model to ONNX."""
    import torch

    import symback as sb

    sizes, loss = NETS[name]
    model, f = model_of(sizes, dtype), files(name, dtype)
    d = sb.from_torch(model, loss=loss, name=name).derive()
    CACHE.mkdir(parents=True, exist_ok=True)
    inference = d.compile(f["inference.py"], force=True, inference=True)
    d.compile(f["full.py"], force=True)
    data = {f"param_{k}": np.array(v) for k, v in sb.load_torch_state(inference, model.state_dict()).items()}
    for B in BATCHES:
        data[f"X{B}"] = X = np.random.default_rng(B).standard_normal((B, sizes[0])).astype(dtype)
        with torch.no_grad():
            data[f"want{B}"] = model(torch.from_numpy(X)).numpy()
    np.savez(f["data.npz"], **data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.from_numpy(data["X1"]),), str(f["model.onnx"]), input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False)


def load(path):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Numba's cache finds the module by name
    spec.loader.exec_module(module)
    return module


def callables(system, name, dtype, data, params):
    """{batch: a call of `system` on that batch's pre-built input}, or None when the system is not installed."""
    f, Xs = files(name, dtype), {B: data[f"X{B}"] for B in BATCHES}
    if system.startswith("symback"):
        mod = load(f["full.py" if system == "symback_full" else "inference.py"])
        p = mod.init_params(dtype=dtype)
        for k in p:
            p[k][...] = params[k]
        if system != "symback_kernel":
            return {B: (lambda X=X: mod.forward(p, X)) for B, X in Xs.items()}
        out = {}
        for B, X in Xs.items():  # the kernel of B's layout on a workspace of its own, as forward runs it
            kernel, size, output = mod._LAYOUTS[mod._layout(B)]
            mod.forward(p, X)  # compiles (or loads) the kernel for these types
            ws, Y = np.zeros(size(B), dtype), mod._targets(None, B, np.dtype(dtype))
            out[B] = lambda X=X, B=B, kernel=kernel, ws=ws, Y=Y, output=output: (
                kernel(p.flat, X, Y, ws, 0.0, mod.FORWARD), output(ws, B))[1]
        return out
    if system == "torch":
        import torch

        torch.set_num_threads(int(THREADS))
        model = model_of(NETS[name][0], dtype)

        def run(Xt):
            with torch.no_grad():
                return model(Xt)

        tensors = {B: torch.from_numpy(X) for B, X in Xs.items()}  # built beforehand
        return {B: (lambda Xt=Xt: run(Xt).numpy()) for B, Xt in tensors.items()}
    if system == "onnxruntime":
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(THREADS)
        session = ort.InferenceSession(str(f["model.onnx"]), options, providers=["CPUExecutionProvider"])
        return {B: (lambda X=X: session.run(None, {"x": X})[0]) for B, X in Xs.items()}
    try:  # jax
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", dtype == "float64")
    layers = [(jnp.asarray(params[f"W{k}"]), jnp.asarray(params[f"b{k}"])) for k in range(1, len(NETS[name][0]))]

    @jax.jit
    def forward(x):
        for k, (w, b) in enumerate(layers):
            x = x @ w.T + b
            x = jax.nn.relu(x) if k < len(layers) - 1 else x
        return x

    arrays = {B: jnp.asarray(X) for B, X in Xs.items()}
    return {B: (lambda X=X: np.asarray(forward(X).block_until_ready())) for B, X in arrays.items()}


def per_call(fn, repeats, budget) -> float:
    """µs per call: the fastest of `repeats` loops, each about `budget` seconds long."""
    n, t = 1, 0.0
    while t < budget / 4:
        n *= 2
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
    n, best = max(1, int(n * budget / max(t, 1e-9))), float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def child(system, name, dtype, quick) -> dict:
    """In a process of its own: {batch: µs per call} for one system and net, after checking its output."""
    with np.load(files(name, dtype)["data.npz"]) as z:
        data = dict(z)
    params = {k[len("param_"):]: v for k, v in data.items() if k.startswith("param_")}
    calls = callables(system, name, dtype, data, params)
    if calls is None:
        return {}
    out = {}
    for B, fn in calls.items():
        got, want = np.asarray(fn()), data[f"want{B}"]
        err = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
        if err > (1e-5 if dtype == "float32" else 1e-12):
            raise SystemExit(f"{system} disagrees with PyTorch on {name} at batch {B}: {err:.2e}")
        out[B] = per_call(fn, 3 if quick else 21, 0.002 if quick else 0.005)
    return out


def run_child(args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "BENCH_THREADS": str(THREADS)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def startup(name, dtype, rounds) -> list[dict]:
    """Import + first call of the inference and the full module, each cold (kernels compile) and warm: the fastest
    of `rounds` (each with a cache of its own)."""
    rows = []
    for kind in ("inference", "full"):
        path = files(name, dtype)[f"{kind}.py"]
        row = {"net": name, "module": kind, "lines": len(path.read_text().splitlines())}
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as cache:
                for state in ("cold", "warm"):
                    out = subprocess.run([sys.executable, "-c", STARTUP, str(path), dtype], check=True, text=True,
                                         capture_output=True, env={**os.environ, "NUMBA_CACHE_DIR": cache})
                    t = json.loads(out.stdout.strip().splitlines()[-1])
                    row[state] = min(row.get(state, np.inf), t["import"] + t["first_call"])
                    row[f"{state}_import"] = min(row.get(f"{state}_import", np.inf), t["import"])
                    row[f"{state}_all"] = min(row.get(f"{state}_all", np.inf), sum(t.values()))
        rows.append(row)
    return rows


def fmt(x) -> str:
    return "n/a" if x is None else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def tables(rows, starts, dtype) -> str:
    def ratio(r, k):
        return "n/a" if r.get(k) is None else f"{r[k] / r['symback']:.1f}x"

    out = [(f"Inference latency, µs per call (fastest of 21), {dtype}, {THREADS} thread(s); ratio: the peer's time / "
            "symback inference's"), "",
           ("| net | batch | symback inference | kernel alone | symback full forward | PyTorch no_grad | ONNX Runtime "
            "| JAX jit | ONNX RT / symback | PyTorch / symback |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = " | ".join(fmt(r.get(k)) for k in SYSTEMS)
        out.append(f"| {r['net']} {list(NETS[r['net']][0])} | {r['batch']} | {cells} | {ratio(r, 'onnxruntime')} "
                   f"| {ratio(r, 'torch')} |")
    if starts:
        out += ["", ("Start-up, seconds: import the module (after NumPy and Numba) and call forward on one row; "
                     "cold: an empty Numba cache (the kernels compile), warm: cached; the fastest of 3"), "",
                "| net | module | lines | cold | cold, then batch 256 too | warm | warm: import alone |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {r['net']} | {r['module']} | {r['lines']} | {r['cold']:.2f} | {r['cold_all']:.2f} | {r['warm']:.2f} "
                f"| {r['warm_import']:.3f} |" for r in starts]
    return "\n".join(out)


def main(argv=None) -> int:
    global THREADS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default=",".join(NETS), help="comma-separated: " + ", ".join(NETS))
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--quick", action="store_true", help="short timing loops")
    ap.add_argument("--threads", type=int, default=int(THREADS), help="threads of every system (default 2)")
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up table (its cold runs compile)")
    ap.add_argument("--child", nargs=3, metavar=("SYSTEM", "NET", "DTYPE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.quick)))
        return 0
    THREADS = str(args.threads)
    names = [n for n in args.nets.split(",") if n]
    if unknown := [n for n in names if n not in NETS]:
        ap.error(f"unknown net {unknown[0]!r}; known: {', '.join(NETS)}")
    rows, starts = [], []
    for name in names:
        prepare(name, args.dtype)
        times = {s: run_child([s, name, args.dtype] + ["--quick"] * args.quick) for s in SYSTEMS}
        for B in BATCHES:
            rows.append({"net": name, "batch": B} | {s: t.get(str(B)) for s, t in times.items()})
            print(json.dumps(rows[-1]), file=sys.stderr)
        if not args.no_startup:
            starts += startup(name, args.dtype, 1 if args.quick else 3)
    print(tables(rows, starts, args.dtype))
    return 0


if __name__ == "__main__":
    sys.exit(main())
