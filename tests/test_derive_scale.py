"""Issue 16: deriving a flat sum costs linear time in its terms, through `sb.grad` and its gradient and JSON.

Each doubling of the terms may cost at most 2.8x, and two doublings at most 6x (linear: 2x and 4x; quadratic: 4x
and 16x), measured in CPU time (other processes on the machine do not count) as the best of two runs from an
empty SymPy cache. The sizes keep the file under about 3 s.
"""

import time

import sympy as sp
from sympy.core.cache import clear_cache

import symback as sb



def _seconds(make, n: int) -> float:
    expr, last, local = make(n)
    best = float("inf")
    for _ in range(2):
        clear_cache()
        start = time.process_time()
        g = sb.grad(expr)
        data = g.to_dict()
        best = min(best, time.process_time() - start)
    assert g.gradient[last] == local and data["gradient"][last.name] == str(local)  # the work was done
    return best


def _products(n: int):
    xs, ys = sp.symbols(f"a0:{n}"), sp.symbols(f"b0:{n}")
    return sp.Add(*[x * y for x, y in zip(xs, ys)]), xs[-1], ys[-1]


FUNCTIONS = (sp.sin, sp.cos, sp.exp, sp.tanh, sp.log)


def _functions(n: int):
    xs = sp.symbols(f"c0:{n}")
    f = FUNCTIONS[(n - 1) % len(FUNCTIONS)]
    return sp.Add(*[FUNCTIONS[i % len(FUNCTIONS)](x) for i, x in enumerate(xs)]), xs[-1], sp.diff(f(xs[-1]), xs[-1])


def _linear(make, n: int) -> None:
    t1, t2, t4 = (_seconds(make, k * n) for k in (1, 2, 4))
    assert t2 / t1 < 2.8 and t4 / t2 < 2.8 and t4 / t1 < 6, (t1, t2, t4)


def test_a_sum_of_products_derives_in_linear_time():
    _linear(_products, 800)


def test_a_sum_of_distinct_functions_derives_in_linear_time():
    _linear(_functions, 500)
