"""Side-by-side MLP training-step benchmark (see peers.py for the problem).

    python benchmarks/bench_train.py            # full run, a few minutes
    python benchmarks/bench_train.py --quick    # smoke run (~1 min)
    python benchmarks/bench_train.py --check    # peers agree to 1e-9 in float64
    python benchmarks/bench_train.py --systems numpy,numba_hand --cases toy1
    python benchmarks/bench_train.py --module symback=generated/mlp.py

Every system gets 2 threads: OMP/MKL/OPENBLAS/NUMBA_NUM_THREADS=2 are set
here before numpy is imported, torch.set_num_threads(2) in its factory.  XLA
has no thread-count flag: its CPU pool is sized to the core count, which is 2
on the reference machine (the script prints the core count).

Reported: median µs per step over repeats (after warmup), the ratio to the
fastest peer for that case/dtype, and the achieved fraction of the machine's
GEMM rate (np.dot on 1024x1024 in that dtype, fastest of 15, measured at start-up) with
FLOPs = peers.step_flops(sizes, batch).  OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE
change which OpenBLAS kernel runs; unset them for the GEMM rate, e.g.
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train.py``.
"""
from __future__ import annotations

import os

THREADS = "2"
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = THREADS
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=true").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402
from peers import CE, MSE, SYSTEMS, Unavailable  # noqa: E402

# name -> (sizes, loss, batch)
CASES = {
    "toy1": ((1, 3, 3, 3, 1), MSE, 1),
    "toy256": ((1, 3, 3, 3, 1), MSE, 256),
    "small32": ((64, 32, 32, 10), CE, 32),
    "mnist128": ((784, 256, 256, 10), CE, 128),
    "wide512": ((1024, 1024, 1024, 1024, 10), CE, 512),
}
DTYPES = ("float64", "float32")
LR_BENCH = 1e-3
MARK = "@@bench_train results@@ "
NOISY = 1.5        # max/min over the repeats above this: cell marked as noisy
LR_CHECK = 0.1


# ---------------------------------------------------------------------------
# machine facts
# ---------------------------------------------------------------------------

def blas_info():
    try:
        import threadpoolctl
    except ImportError:
        return "threadpoolctl not installed"
    out = []
    for d in threadpoolctl.threadpool_info():
        out.append(f"{d.get('internal_api')} {d.get('version')} "
                   f"arch={d.get('architecture', '-')} threads={d.get('num_threads')} "
                   f"({os.path.basename(d.get('filepath', ''))})")
    return "; ".join(out)


def gemm_rate(dtype, n=1024, reps=15):
    """FLOP/s of np.dot on n x n matrices: the fastest of reps (the machine's
    capability; on a shared 2-core box the median mostly measures the load)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype=dtype)
    np.dot(a, b, out=c)
    np.dot(a, b, out=c)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        np.dot(a, b, out=c)
        ts.append(time.perf_counter() - t)
    return 2.0 * n ** 3 / min(ts)


# ---------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------

def time_peer(peer, target_s, repeats, warmup_s):
    """(median s/step, steps per repeat, first-call s, min s/step, max s/step).

    The first call (which may compile) is timed separately; then at least 2
    warmup steps and warmup_s of warmup; each repeat runs n steps, n chosen
    so that a repeat lasts about target_s."""
    step, args = peer.step, peer.args
    t0 = time.perf_counter()
    step(*args)
    first = time.perf_counter() - t0
    one = float("inf")
    k = 0
    t0 = time.perf_counter()
    while k < 2 or time.perf_counter() - t0 < warmup_s:
        t = time.perf_counter()
        step(*args)
        one = min(one, time.perf_counter() - t)
        k += 1
    n = max(1, int(target_s / max(one, 1e-7)))
    per = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            step(*args)
        per.append((time.perf_counter() - t) / n)
    return statistics.median(per), n, first, min(per), max(per)


def build(system, sizes, loss, dtype, batch, lr):
    params = peers.init_params(sizes, dtype, seed=0)
    X, Y = peers.make_batch(sizes, loss, batch, dtype, seed=1)
    t = time.perf_counter()
    peer = SYSTEMS[system](sizes, loss, params, X, Y, lr)
    return peer, time.perf_counter() - t


# ---------------------------------------------------------------------------
# agreement check
# ---------------------------------------------------------------------------

def check(systems, cases, tol=1e-9, verbose=True):
    """All peers vs the NumPy peer, float64: loss of step 1 and step 2 and the
    parameter update of step 1 (= lr * gradient) agree to ``tol`` (relative).
    Returns the list of failures."""
    failures = []
    for cname in cases:
        sizes, loss, batch = CASES[cname]
        dtype = np.float64
        params = peers.init_params(sizes, dtype, seed=0)
        X, Y = peers.make_batch(sizes, loss, batch, dtype, seed=1)
        ref = peers.make_numpy(sizes, loss, params, X, Y, LR_CHECK)
        l1 = ref.step(*ref.args)
        p1 = ref.get_params()
        l2 = ref.step(*ref.args)
        dref = {n: params[n] - p1[n] for n in params}
        scale = max(np.abs(d).max() for d in dref.values())
        for sname in systems:
            try:
                peer = SYSTEMS[sname](sizes, loss, params, X, Y, LR_CHECK)
            except Unavailable as e:
                if verbose:
                    print(f"  {cname:9s} {sname:15s} skipped: {e}")
                continue
            m1 = peer.step(*peer.args)
            q1 = peer.get_params()
            m2 = peer.step(*peer.args)
            e1 = abs(m1 - l1) / max(abs(l1), 1e-300)
            e2 = abs(m2 - l2) / max(abs(l2), 1e-300)
            ep = max(np.abs((params[n] - q1[n]) - dref[n]).max() for n in params) / scale
            ok = e1 <= tol and e2 <= tol and ep <= tol
            if verbose:
                print(f"  {cname:9s} {sname:15s} loss={m1:.15g} rel.err loss1={e1:.1e} "
                      f"loss2={e2:.1e} update={ep:.1e} {'ok' if ok else 'FAIL'}  [{peer.note}]")
            if not ok:
                failures.append((cname, sname, e1, e2, ep))
    return failures


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def fmt_us(s):
    us = s * 1e6
    if us < 10:
        return f"{us:.2f}"
    if us < 1000:
        return f"{us:.1f}"
    return f"{us:,.0f}"


def markdown(results, systems, cases, rates, dtypes=DTYPES):
    lines = []
    head = "| case | sizes | batch | dtype | " + " | ".join(systems) + " |"
    sep = "|" + "---|" * (4 + len(systems))
    lines += ["µs per step (median) and ratio to the fastest peer:", "", head, sep]
    for cname in cases:
        sizes, loss, batch = CASES[cname]
        for dt in dtypes:
            row = {s: results.get((cname, dt, s)) for s in systems}
            times = [r["t"] for r in row.values() if r and "t" in r]
            best = min(times) if times else None
            cells = []
            for s in systems:
                r = row[s]
                if not r:
                    cells.append("–")
                elif "t" not in r:
                    cells.append(r.get("status", "–"))
                else:
                    mark = "**" if r["t"] == best else ""
                    noisy = "†" if r.get("max", 0) > NOISY * r.get("min", 1e300) else ""
                    cells.append(f"{mark}{fmt_us(r['t'])}{mark}{noisy} ({r['t'] / best:.2f}×)")
            lines.append(f"| {cname} | {list(sizes)} | {batch} | {dt} | " + " | ".join(cells) + " |")
    lines += ["", f"† noisy: slowest repeat > {NOISY}× the fastest (other load on the machine)."]
    lines += ["", "Achieved fraction of the np.dot GEMM rate "
              f"(float64 {rates['float64'] / 1e9:.1f} GFLOP/s, float32 {rates['float32'] / 1e9:.1f} GFLOP/s):",
              "", "| case | MFLOP/step | dtype | " + " | ".join(systems) + " |",
              "|" + "---|" * (3 + len(systems))]
    for cname in cases:
        sizes, loss, batch = CASES[cname]
        fl = peers.step_flops(sizes, batch)
        for dt in dtypes:
            cells = []
            for s in systems:
                r = results.get((cname, dt, s))
                if r and "t" in r:
                    cells.append(f"{100 * fl / r['t'] / rates[dt]:.1f}%")
                else:
                    cells.append("–")
            lines.append(f"| {cname} | {fl / 1e6:.3g} | {dt} | " + " | ".join(cells) + " |")
    lines += ["", "Setup time (s: build + first step, i.e. incl. compilation; on-disk caches as found):", "",
              "| case | dtype | " + " | ".join(systems) + " |", "|" + "---|" * (2 + len(systems))]
    for cname in cases:
        for dt in dtypes:
            cells = []
            for s in systems:
                r = results.get((cname, dt, s))
                cells.append(f"{r['setup']:.2f}" if r and "setup" in r else "–")
            lines.append(f"| {cname} | {dt} | " + " | ".join(cells) + " |")
    notes = sorted({f"{s}: {r['note']}" for (c, d, s), r in results.items() if r.get("note")})
    if notes:
        lines += ["", "Peers: " + "; ".join(notes)]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--check", action="store_true", help="only verify that the peers agree (float64)")
    ap.add_argument("--systems", default=None, help="comma-separated subset of " + ",".join(SYSTEMS))
    ap.add_argument("--cases", default=None, help="comma-separated subset of " + ",".join(CASES))
    ap.add_argument("--dtypes", default=",".join(DTYPES))
    ap.add_argument("--inprocess", action="store_true", help="run all systems in this process")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--module", action="append", default=[], metavar="NAME=PATH",
                    help="add a generated module (contract: see peers.py) as system NAME")
    args = ap.parse_args(argv)

    for spec in args.module:
        name, _, path = spec.partition("=")
        SYSTEMS[name] = peers.module_factory(peers.load_module(path), label=name)
    if args.check:
        # exercise the generated-module hook with the hand kernel behind the contract
        nm = peers._numba_mlp()
        SYSTEMS["hook_numba_contract"] = peers.module_factory(
            lambda sizes, loss, dtype: nm.ContractModule(sizes, loss, dtype), label="hook")
    systems = args.systems.split(",") if args.systems else list(SYSTEMS)
    cases = args.cases.split(",") if args.cases else list(CASES)
    for s in systems:
        if s not in SYSTEMS:
            ap.error(f"unknown system {s}")
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case {c}")

    if args.check:
        print(f"agreement check, float64, lr={LR_CHECK}, tolerance 1e-9 (relative, vs numpy):")
        fails = check(systems, cases)
        print("OK: all peers agree" if not fails else f"FAILED: {fails}")
        return 1 if fails else 0

    dtypes = [d for d in args.dtypes.split(",") if d]
    target, repeats, warmup = (0.01, 5, 0.05) if args.quick else (0.05, 7, 0.2)
    if args.child:
        return main_child(args, systems, cases, dtypes, target, repeats, warmup)
    print(f"# MLP training step benchmark ({'quick' if args.quick else 'full'})\n")
    print(f"- cores: {os.cpu_count()}, threads per system: {THREADS}, "
          f"load average at start: {os.getloadavg()[0]:.2f} (other processes skew 2-thread timings)")
    print(f"- python {sys.version.split()[0]}, numpy {np.__version__}")
    print(f"- BLAS: {blas_info()}")
    for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(v):
            print(f"- WARNING: {v}={os.environ[v]} is set (changes the OpenBLAS kernel)")
    rates = {dt: gemm_rate(np.dtype(dt)) for dt in DTYPES}
    print(f"- np.dot 1024x1024 GEMM: float64 {rates['float64'] / 1e9:.1f} GFLOP/s, "
          f"float32 {rates['float32'] / 1e9:.1f} GFLOP/s")
    print(f"- timing: median of {repeats} repeats of ~{target * 1e3:.0f} ms each after "
          f"{warmup * 1e3:.0f} ms warmup; lr={LR_BENCH}\n")
    sys.stdout.flush()

    results = {}
    t_all = time.perf_counter()
    if args.inprocess:
        results = run_systems(systems, cases, dtypes, target, repeats, warmup)
    else:
        # one child process per system: thread pools of one library (OpenBLAS
        # workers spin ~0.1 s after each call, OpenMP/Eigen pools likewise)
        # must not steal the 2 cores from the next system.
        for s in systems:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--systems", s,
                   "--cases", ",".join(cases), "--dtypes", ",".join(dtypes)]
            cmd += ["--quick"] if args.quick else []
            for spec in args.module:
                cmd += ["--module", spec]
            out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            if out.returncode != 0:
                print(f"  {s}: child failed (exit {out.returncode})", file=sys.stderr)
                for c in cases:
                    for dt in dtypes:
                        results[(c, dt, s)] = {"status": "error"}
                continue
            line = [ln for ln in out.stdout.splitlines() if ln.startswith(MARK)][-1]
            for k, v in json.loads(line[len(MARK):]):
                results[tuple(k)] = v
    print(markdown(results, systems, cases, rates, dtypes))
    print(f"\n(total {time.perf_counter() - t_all:.0f} s; load average at end: {os.getloadavg()[0]:.2f})")
    return 0


def main_child(args, systems, cases, dtypes, target, repeats, warmup):
    results = run_systems(systems, cases, dtypes, target, repeats, warmup)
    print("\n" + MARK + json.dumps([[list(k), v] for k, v in results.items()]))
    return 0


def run_systems(systems, cases, dtypes, target, repeats, warmup):
    results = {}
    for cname in cases:
        sizes, loss, batch = CASES[cname]
        for dt in dtypes:
            for s in systems:
                key = (cname, dt, s)
                try:
                    peer, setup = build(s, sizes, loss, np.dtype(dt), batch, LR_BENCH)
                except Unavailable as e:
                    results[key] = {"status": "n/a"}
                    print(f"  {cname} {dt} {s}: unavailable ({e})", file=sys.stderr)
                    continue
                except Exception:
                    results[key] = {"status": "error"}
                    traceback.print_exc()
                    continue
                t, n, first, tmin, tmax = time_peer(peer, target, repeats, warmup)
                setup += first
                results[key] = {"t": t, "min": tmin, "max": tmax, "setup": setup, "note": peer.note,
                                "load": os.getloadavg()[0]}
                print(f"  {cname:9s} {dt} {s:15s} {t * 1e6:12.2f} us  (min {tmin * 1e6:.2f}, max {tmax * 1e6:.2f}, "
                      f"n={n}, setup+first step {setup:.2f}s, load {os.getloadavg()[0]:.2f})", file=sys.stderr)
                del peer
    return results


if __name__ == "__main__":
    sys.exit(main())
