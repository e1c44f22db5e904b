"""Backprop, not naive differentiation: the backward IR costs a small constant times the forward IR."""

import json
import time

import pytest
import sympy as sp
from sympy.core.cache import clear_cache
from cases import toy_chain, toy_chain_text
from test_grad_cli import run

import symback as sb
from symback.derive.sweep import reverse
from symback.declare.expression import build_graph


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 8, 16, 32, 64])
def test_backward_ops_at_most_three_times_forward_ops(depth):
    loss, b, w = toy_chain(depth)
    g = sb.grad(loss, wrt=[*b, *w])
    forward, backward = g.graph.ops(g.graph.forward()), g.graph.ops(g.graph.backward())
    assert backward <= 3 * forward, (depth, forward, backward)


def test_gradient_reuses_upstream_quantities_so_its_size_is_linear():
    sizes = {}
    for depth in (8, 16, 32):
        loss, b, w = toy_chain(depth)
        g = sb.grad(loss)
        sizes[depth] = sum(len(str(e)) for e in g.gradient.values())
    # doubling the depth doubles the written gradient (within rounding), not quadruples it
    assert sizes[32] / sizes[16] < 2.3 and sizes[16] / sizes[8] < 2.3


def test_depth_128_chain_derives_through_the_python_api_without_recursion():
    # fresh names: SymPy itself compares a new deep tree with an equal cached
    # one recursively, so rebuilding the depth-64 chain of another test would
    # overflow inside SymPy before symback sees the expression
    loss, b, w = toy_chain(128, names=("beta", "omega"), evaluate=False)
    g = sb.grad(loss)
    assert len(g.wrt) == 2 * 129 + 2  # beta0..beta128, omega0..omega128, x, y
    point = {s.name: 0.5 for s in (*b, *w)} | {"x": 1.0, "y": 0.0}
    table = g.at(point)
    assert float(table.grad["beta128"]) == pytest.approx(2 * float(table.value) ** 0.5)


def test_cli_json_at_depth_64_uses_node_names_to_stay_small():
    code, out, _ = run("grad", toy_chain_text(64), "--json")
    assert code == 0
    data = json.loads(out)
    assert max(len(e) for e in data["gradient"].values()) < 80


def _reverse_seconds(n: int) -> float:
    """Best of three runs from an empty SymPy cache: the reverse sweep over a flat sum of n symbols (the front end and
    printing excluded), in CPU time: the time other processes take on a busy machine does not count."""
    xs = sp.symbols(f"t0:{n}")
    graph, out = build_graph(sp.Add(*xs))
    best = float("inf")
    for _ in range(3):
        clear_cache()  # SymPy's cache holds a small sum whole but not a large one: time both from empty
        start = time.process_time()
        reverse(graph, out, [s.name for s in xs])
        best = min(best, time.process_time() - start)
    return best


def test_deriving_a_flat_sum_costs_linear_time_in_its_terms():
    # each argument's local derivative reads only the terms holding it: 8x the terms, linear cost gives ~8x,
    # quadratic 64x; the bound leaves room for a busy machine (the suite runs on every core), and
    # test_derive_counts counts the same sweep's calls, which no load changes
    small, large = _reverse_seconds(400), _reverse_seconds(3200)
    assert large / small < 24, (small, large)


def _grad_seconds(n: int) -> float:
    """Best of two runs from an empty SymPy cache: `sb.grad` of a sum of n products through the Python API, and its
    gradient and JSON (CPU time, so other processes on the machine do not count)."""
    xs, ys = sp.symbols(f"p0:{n}"), sp.symbols(f"q0:{n}")
    expr = sp.Add(*[a * b for a, b in zip(xs, ys)])
    best = float("inf")
    for _ in range(2):
        clear_cache()
        start = time.process_time()
        g = sb.grad(expr)
        assert g.gradient[xs[-1]] == ys[-1] and g.to_dict()["gradient"]["q0"] == "p0"
        best = min(best, time.process_time() - start)
    return best


def test_grad_of_a_sum_of_products_costs_linear_time_in_its_terms():
    # issue 16: 4x the terms, linear cost gives ~4x, quadratic 16x (the JSON once sorted a sum's terms quadratically)
    small, large = _grad_seconds(600), _grad_seconds(2400)
    assert large / small < 7, (small, large)


def _table_seconds(n: int) -> float:
    """CPU seconds to render the worked table (text and LaTeX) of a sum of n products at a point, best of two."""
    xs, ys = sp.symbols(f"p0:{n}"), sp.symbols(f"q0:{n}")
    table = sb.grad(sp.Add(*[a * b for a, b in zip(xs, ys)])).at(**{str(s): 1.0 for s in xs + ys})
    best = float("inf")
    for _ in range(2):
        start = time.process_time()
        text, latex = table.render("text"), table.render("latex")
        best = min(best, time.process_time() - start)
    assert f"df/dp{n - 1} = q{n - 1} = 1" in text and r"\frac{\partial f}{\partial p_{0}}" in latex
    return best


def test_worked_table_of_a_sum_renders_in_linear_time():
    # each cell once spelled every name of the graph (500 terms: 66 s); 4x the terms, linear gives ~4x
    small, large = _table_seconds(100), _table_seconds(400)
    assert large / small < 7, (small, large)


def test_deriving_an_equal_sum_again_costs_no_more():
    # holding()'s index of a sum was cached by equality: a second sum equal to the first (built again, as the API
    # and then the CLI do in one process) was compared term by term on each of its n look-ups, quadratic
    def seconds():
        xs, ys = sp.symbols("r0:6000"), sp.symbols("s0:6000")
        expr = sp.Add(*[a * b for a, b in zip(xs, ys)])
        start = time.process_time()
        sb.grad(expr)
        return time.process_time() - start

    first, second = seconds(), seconds()
    assert second < 1.6 * first + 0.2, (first, second)  # quadratic: about 3x at 6,000 terms
