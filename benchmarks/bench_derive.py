"""Derivation cost of the scalar toy chain: symback's reverse pass vs plain sympy.diff.

For depth D the chain is f = b_D + w_D relu(... relu(b0 + w0 x)), loss (f - y)^2,
and the gradient is wanted for all 2(D + 1) parameters. Prints, per D:
operation counts of symback's forward and backward IR and their ratio, the
time of `symback.grad` (Python API) and of `symback grad --json` (the CLI in
this process: parsing + derivation + JSON, no process start), and what plain
`sympy.diff` of the nested expression costs for every parameter.

Run: make bench-derive   (or .venv/bin/python benchmarks/bench_derive.py; with --flat, the flat sums alone)
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import sympy as sp
from sympy.core.cache import clear_cache

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from cases import toy_chain, toy_chain_text  # noqa: E402

import symback as sb  # noqa: E402
from symback.cli import main  # noqa: E402
from symback.textparse import MAX_LENGTH  # noqa: E402

DEPTHS = (4, 8, 16, 32, 64)
SYMPY_BUDGET_S = 60.0
SIZES = (12_500, 25_000, 50_000, 100_000)  # terms of the flat sums


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        clear_cache()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def cli_json(text: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["grad", text, "--json"]) == 0


def plain_sympy(loss, params):
    """sympy.diff for each parameter; returns (seconds, total count_ops) or the failure."""
    t = time.perf_counter()
    try:
        ops = sum(int(sp.count_ops(sp.diff(loss, p))) for p in params)
    except RecursionError:
        return "RecursionError", "-"
    return f"{time.perf_counter() - t:.2f} s", f"{ops:,}"


def main_bench() -> None:
    rows = []
    for depth in DEPTHS:
        clear_cache()
        loss, b, w = toy_chain(depth)
        params = [*b, *w]
        t_api, g = best_of(lambda: sb.grad(loss, wrt=params))
        text = toy_chain_text(depth)
        t_cli, _ = best_of(lambda: cli_json(text))
        fw, bw = g.graph.ops(g.graph.forward()), g.graph.ops(g.graph.backward())
        clear_cache()
        loss, b, w = toy_chain(depth)
        sym_t, sym_ops = plain_sympy(loss, [*b, *w])
        rows.append((depth, fw, bw, bw / fw, t_api, t_cli, sym_t, sym_ops))
    print("| D | ops forward | ops backward | backward/forward | symback.grad | symback grad --json | sympy.diff, all params | sympy.diff ops |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d, fw, bw, r, ta, tc, st, so in rows:
        print(f"| {d} | {fw} | {bw} | {r:.2f} | {ta * 1e3:.0f} ms | {tc * 1e3:.0f} ms | {st} | {so} |")
    t16 = next(r[5] for r in rows if r[0] == 16)
    t64 = next(r[5] for r in rows if r[0] == 64)
    print(f"\nCLI time D=64 / D=16: {t64 / t16:.1f}x (linear would be 4x)")


def bench_symbolic_mlp() -> None:
    """Issue 4's budget: a 10-layer MLP with symbolic widths derives well under a second."""
    n = sp.symbols("n0:11")
    sb.Network(2, [sb.Dense(2, "tanh"), sb.Dense(2)]).derive()  # warm SymPy's caches once
    print("\n| 10-layer MLP, symbolic widths n0..n10, softmax CE | derive | render (text) |")
    print("|---|---:|---:|")
    for act in ("relu", "tanh", "sigmoid", "gelu"):
        clear_cache()
        t = time.perf_counter()
        d = sb.Network(n[0], [sb.Dense(n[k], act) for k in range(1, 10)] + [sb.Dense(n[10])],
                       loss="softmax_cross_entropy").derive()
        t_derive = time.perf_counter() - t
        t = time.perf_counter()
        d.render("text", notation="cs229")
        print(f"| {act} hidden layers | {t_derive * 1e3:.0f} ms | {(time.perf_counter() - t) * 1e3:.0f} ms |")


FUNCTIONS = (sp.sin, sp.cos, sp.exp, sp.tanh, sp.log)


def flat_sum(n: int, kind: str):
    """A sum of n products x_i*y_i ("products") or of n distinct functions f_i(x_i) ("functions"), and its text."""
    if kind == "products":
        xs, ys = sp.symbols(f"x0:{n}"), sp.symbols(f"y0:{n}")
        return sp.Add(*[a * b for a, b in zip(xs, ys)]), "+".join(f"x{i}*y{i}" for i in range(n))
    xs = sp.symbols(f"x0:{n}")
    fs = [FUNCTIONS[i % len(FUNCTIONS)] for i in range(n)]
    return sp.Add(*[f(x) for f, x in zip(fs, xs)]), "+".join(f"{f.__name__}(x{i})" for i, f in enumerate(fs))


def flat_one(n: int, kind: str) -> list[float]:
    """CPU seconds (``time.process_time``) of `sb.grad`, `.gradient`, `.to_dict()` and `symback grad TEXT --json`
    (in this process: parsing, derivation, JSON; NaN for a text over the parser's limit) of one flat sum."""
    expr, text = flat_sum(n, kind)
    if len(text) > MAX_LENGTH and kind == "products":  # names of four characters: x + 3 base-62 digits
        text = "+".join(f"x{short(i)}*y{short(i)}" for i in range(n))
    clear_cache()
    gc.collect()
    start = time.process_time()
    g = sb.grad(expr)
    derived = time.process_time()
    g.gradient
    written = time.process_time()
    g.to_dict()
    times = [derived - start, written - derived, time.process_time() - written]
    del g, expr
    clear_cache()
    gc.collect()
    t = time.process_time()
    if len(text) <= MAX_LENGTH:
        cli_json(text)
    return [*times, time.process_time() - t if len(text) <= MAX_LENGTH else math.nan]


def reference(n: int) -> list[float]:
    """CPU seconds of plain Python work linear in n, shaped like a derivation's bookkeeping (3n names, each an object
    in a list, a dict and a set, looked up again), without the collector: what linear costs per doubling on this
    machine, where tables of 10^5-10^6 entries outgrow the CPU's caches (a quiet machine gave 2.3-2.7x)."""
    gc.collect()
    gc.disable()
    start = time.process_time()
    names = [f"x{i}" for i in range(3 * n)]
    objects = [(name, [i]) for i, name in enumerate(names)]
    position = {name: i for i, name in enumerate(names)}
    taken = set(names)
    assert len([objects[position[name]] for name in reversed(names) if name in taken]) == 3 * n
    return [time.process_time() - start]


def bench_flat_sum(rounds: int = 3) -> None:
    """Issue 16's budget: a flat sum of n terms derives in time linear in n (within 2x per doubling).

    CPU seconds (``time.process_time``): the machine is shared, and wall time counts the other processes. Each
    size runs in a fresh process (as a user's command does: no heap left over from a larger run), the sizes
    interleaved over `rounds` rounds, and each cell is the least of its rounds, so a burst of load on the machine
    spoils one round of every size rather than one size. The CLI column is `symback grad TEXT --json` (parsing,
    derivation, JSON); the text is written without spaces, and a text over the parser's limit
    (textparse.MAX_LENGTH) is refused with the limit named. "x" columns: each cell over the cell of half the terms.
    """
    best: dict[tuple, list] = {}
    load = [os.getloadavg()[0]]
    for _ in range(rounds):
        for kind in ("products", "functions", "reference"):
            for n in SIZES:
                out = subprocess.run([sys.executable, __file__, "--flat-one", str(n), kind], check=True,
                                     capture_output=True, text=True).stdout
                cells = json.loads(out.splitlines()[-1])
                best[kind, n] = [min(a, b) for a, b in zip(best.get((kind, n), cells), cells)]
                load.append(os.getloadavg()[0])
    print(f"\nflat sums, CPU s, least of {rounds} interleaved rounds, each in a fresh process; "
          f"load average {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} cores")
    for kind in ("products", "functions"):
        print(f"\n| sum of n {kind} (CPU s) | sb.grad | x | .gradient | x | .to_dict() | x | "
              "symback grad TEXT --json | x |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in SIZES:
            half = best.get((kind, n // 2))
            cells = []
            for k, v in enumerate(best[kind, n]):
                ratio = "" if half is None or math.isnan(v) else f"{v / half[k]:.2f}"
                cells += ["over the limit" if math.isnan(v) else f"{v:.3f}", ratio]
            print(f"| {n:,} | {' | '.join(cells)} |")
    print("\n| n: linear reference, plain Python dicts, sets and lists of 3n names | CPU s | x |\n|---:|---:|---:|")
    for n in SIZES:
        t, half = best["reference", n][0], best.get(("reference", n // 2))
        print(f"| {n:,} | {t:.3f} | {'' if half is None else f'{t / half[0]:.2f}'} |")


def short(i: int) -> str:
    """`i` < 62**3 as three base-62 digits: 10^5 products x_i*y_i in under 10^6 characters."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return digits[i // 3844] + digits[i // 62 % 62] + digits[i % 62]


def bench_small() -> None:
    """The common small cases, which must not get slower: `sb.grad` of the lecture's circuit, the README's toy."""
    net = sb.Network(n_in=1, layers=[sb.Dense(3, "relu"), sb.Dense(3, "relu"), sb.Dense(3, "relu"), sb.Dense(1)],
                     loss="mse")  # the README's toy (examples/udl_toy.py)
    cases = {"sb.grad('(x + y)*z')": lambda: sb.grad("(x + y)*z"),
             "sb.grad('(x + y)*z').to_dict()": lambda: sb.grad("(x + y)*z").to_dict(),
             "toy Network(...).derive()": net.derive}
    print("\n| small case | ms (best of 20, SymPy cache cleared) |")
    print("|---|---:|")
    for name, fn in cases.items():
        fn()
        print(f"| {name} | {best_of(fn, 20)[0] * 1e3:.2f} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--flat-one"]:  # one cell row of bench_flat_sum, in this fresh process
        print(json.dumps(reference(int(sys.argv[2])) if sys.argv[3] == "reference" else
                         flat_one(int(sys.argv[2]), sys.argv[3])))
        sys.exit()
    if sys.argv[1:2] in (["-h"], ["--help"]) or sys.argv[1:] not in ([], ["--flat"]):
        print(__doc__)
        sys.exit(0 if sys.argv[1:2] in (["-h"], ["--help"]) else 2)
    if sys.argv[1:2] == ["--flat"]:  # the flat sums alone
        bench_flat_sum()
        sys.exit()
    main_bench()
    bench_symbolic_mlp()
    bench_small()
    bench_flat_sum()
