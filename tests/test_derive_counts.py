"""Issue 16: deriving a flat sum does work linear in its terms, counted in calls rather than timed.

cProfile counts every Python and built-in function call of `sb.grad`, its `.gradient`, its `.to_dict()` and
`symback grad TEXT --json` (parser, derivation, JSON). The counts are the same on a quiet or a loaded machine, so
the bounds are tight: 4x the terms must make at most 4.1x the calls and 4.1x the SymPy objects (``__new__``), where
any per-term work that grows with the sum (a look-up that compares terms, a rebuilt Add, a sort by Python keys)
gives more (quadratic: 16x; n log n by Python comparisons: about 4.9x). `sympy.diff` runs once per term shape
(`ops.scalar._local`), never per term: after a first sum has met the shapes, a sum of any length runs none.
"""

import contextlib
import cProfile
import gc
import io
import pstats
import weakref

import pytest
import sympy as sp
from sympy.core.cache import clear_cache

import symback as sb
from symback.cli import main
from symback.declare.expression import build_graph
from symback.derive.sweep import reverse
from symback.ir import no_gc

FUNCTIONS = (sp.sin, sp.cos, sp.exp, sp.tanh, sp.log)


def _sum(kind: str, n: int, prefix: str):
    """A sum of n products a_i*b_i or of n functions f_i(a_i), and its text; names fresh for each `prefix` (symback
    caches a symbol per name: a second sum over the same names would make fewer)."""
    xs, ys = sp.symbols(f"{prefix}a0:{n}"), sp.symbols(f"{prefix}b0:{n}")
    if kind == "products":
        return sp.Add(*[a * b for a, b in zip(xs, ys)]), "+".join(f"{prefix}a{i}*{prefix}b{i}" for i in range(n))
    fs = [FUNCTIONS[i % len(FUNCTIONS)] for i in range(n)]
    return sp.Add(*[f(a) for f, a in zip(fs, xs)]), "+".join(f"{f.__name__}({prefix}a{i})" for i, f in enumerate(fs))


def _calls(work) -> dict[str, int]:
    """Calls made by `work()`, from an empty SymPy cache: all, SymPy constructors, and symback's sympy.diff."""
    clear_cache()
    profile = cProfile.Profile()
    profile.runcall(work)
    stats = pstats.Stats(profile).stats  # (file, line, function) -> (primitive calls, all calls, ...)
    return {"calls": sum(s[1] for s in stats.values()),
            "sympy objects": sum(s[1] for (file, _, fn), s in stats.items() if fn == "__new__" and "sympy" in file),
            "diff": sum(s[1] for (_, _, fn), s in stats.items() if fn == "local_derivative")}


def _everything(kind: str, n: int, prefix: str) -> dict[str, int]:
    expr, text = _sum(kind, n, prefix)

    def work():
        g = sb.grad(expr)
        g.gradient
        g.to_dict()
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["grad", text, "--json"]) == 0

    return _calls(work)


@pytest.mark.parametrize("kind", ["products", "functions"])
def test_a_flat_sum_costs_calls_linear_in_its_terms(kind):
    # names no other test uses: a sum over names another test on this worker made first finds its symbols in
    # symback's cache and makes fewer objects. A first sum of the larger size, over other names, makes the objects
    # that outlive SymPy's cache (520 for 300 terms, 1,800 for 1,200: the counts after it are the same on any worker,
    # 3,904 and 15,604; measured first, they depended on what ran before and gave 4.17x), and meets the term shapes
    _everything(kind, 1200, f"counted_{kind}_w")
    small, large = _everything(kind, 300, f"counted_{kind}_s"), _everything(kind, 1200, f"counted_{kind}_l")
    assert small["calls"] > 300 * 100  # the work was counted
    for what in ("calls", "sympy objects"):
        assert large[what] / small[what] < 4.1, (what, small, large)
    assert small["diff"] == large["diff"] == 0, (small, large)


def test_the_reverse_sweep_costs_calls_linear_in_its_terms():
    # test_linear_cost times the sweep over a flat sum of symbols; its call count is exact on any machine
    def sweep(n: int, prefix: str) -> int:
        xs = sp.symbols(f"{prefix}0:{n}")
        graph, out = build_graph(sp.Add(*xs))
        return _calls(lambda: reverse(graph, out, [s.name for s in xs]))["calls"]

    sweep(40, "u")
    small, large = sweep(400, "t"), sweep(3200, "v")
    assert large / small < 8.2, (small, large)  # 8x the terms: linear ~8x, quadratic 64x


def test_deriving_an_equal_sum_again_makes_no_more_calls():
    # test_linear_cost times this; counted: an index of a sum cached by equality compared a second, equal sum
    # term by term on each of its n look-ups (quadratic calls of SymPy's __eq__)
    def derive() -> int:
        xs, ys = sp.symbols("r0:2000"), sp.symbols("s0:2000")
        expr = sp.Add(*[a * b for a, b in zip(xs, ys)])
        return _calls(lambda: sb.grad(expr))["calls"]

    first, second = derive(), derive()
    assert second <= first, (first, second)


def test_the_collector_comes_back_after_a_derivation_and_still_finds_garbage():
    # ir.no_gc: the collector is off while deriving, back on after; what the derivation made joins the oldest
    # generation unscanned, where a full collection still finds any cycle; objects the program froze stay frozen
    class Cycle:
        pass

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with no_gc():
        assert not gc.isenabled()
        a, b = Cycle(), Cycle()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        sb.grad("x*y + sin(x)")
    assert gc.isenabled() and gc.get_count()[0] < 100 and gc.get_freeze_count() == frozen
    gc.collect()
    assert gone() is None
    gc.disable()
    try:
        sb.grad("x*y")
        assert not gc.isenabled()  # left off, as the program had it
    finally:
        gc.enable()
