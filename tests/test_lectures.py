"""The lectures' worked examples, with their exact numbers."""

import random

import sympy as sp

import symback as sb
from cases import toy_chain
from conftest import central_difference

x, y, z, t = sp.symbols("x y z t")


def test_cs7643_circuit_x_plus_y_times_z():
    """(x + y) z at (-2, 5, -4): q = 3, f = -12, df/dq = -4, gradients (-4, -4, 3)."""
    g = sb.grad("q = x + y; f = q*z")
    table = g.at(x=-2, y=5, z=-4)
    assert table.value == -12
    assert (table.grad["x"], table.grad["y"], table.grad["z"]) == (-4, -4, 3)
    assert table.values["q"] == 3
    assert table.adjoint_value("q") == -4
    # the gate patterns fall out of sympy.diff: add distributes, mul swaps
    assert g.gradient[x] == z and g.gradient[y] == z
    assert g.gradient[z] == sp.Symbol("q")


def test_circuit_as_one_expression_names_intermediates_v1():
    g = sb.grad((x + y) * z)
    table = g.at(x=-2, y=5, z=-4)
    assert [n.name for n in g.graph.forward()] == ["x", "y", "z", "v1", "f"]
    assert table.values["v1"] == 3 and table.adjoint_value("v1") == -4
    assert table.value == -12 and dict(table.grad) == {"x": -4, "y": -4, "z": 3}


def test_max_gate_routes_the_gradient_to_the_larger_input():
    g = sb.grad(sp.Max(x, y) * 2)
    table = g.at(x=4, y=1)
    assert (table.grad["x"], table.grad["y"]) == (2, 0)


def test_foml_f_equals_xy_plus_z_squared_loss_matches_central_differences(close):
    """FoML: f = x y + z, L = (f - t)^2; gradients to 1e-8 relative at random points."""
    g = sb.grad("f = x*y + z; L = (f - t)^2")
    L = (x * y + z - t) ** 2
    rng = random.Random(0)
    for _ in range(5):
        point = {s: rng.uniform(-3, 3) for s in (t, x, y, z)}
        table = g.at({s.name: v for s, v in point.items()})
        for v in (x, y, z, t):
            close(table.grad[v], central_difference(L, v, point), 1e-8)


def test_udl_toy_network_eight_gradients_equal_sympy_diff_and_central_differences(close):
    loss, b, w = toy_chain(3)
    params = [p for pair in zip(b, w) for p in pair]  # beta0, omega0, ..., the lecture's order
    g = sb.grad(loss, wrt=params)
    assert g.wrt == ["b0", "w0", "b1", "w1", "b2", "w2", "b3", "w3"]
    expanded = g.expanded()
    rng = random.Random(1)
    for _ in range(4):
        point = {s: rng.uniform(-2, 2) for s in (*b, *w, x, y)}
        table = g.at({s.name: v for s, v in point.items()})
        for p in params:
            reference = sp.diff(loss, p).subs(point)
            reference = reference.replace(sp.Heaviside, lambda u, *_: sp.Integer(1) if u > 0 else sp.Integer(0))
            close(table.grad[p], sp.N(reference), 1e-12)
            close(table.grad[p], sp.N(expanded[p].subs(point)), 1e-12)
            close(table.grad[p], central_difference(loss, p, point), 1e-7)


def test_shared_subexpression_is_one_node_whose_adjoint_sums_both_paths():
    """f = x y + sin(x y): one node for x y with two consumers; its adjoint has two terms."""
    g = sb.grad(x * y + sp.sin(x * y))
    products = [n for n in g.graph.forward() if n.expr is not None and n.expr == sp.Symbol("x", real=True) * sp.Symbol("y", real=True)]
    assert len(products) == 1
    v = products[0].name
    assert [c for c in g.graph.consumers(v) if g.graph[c].role == "forward"] == ["v2", "f"]
    adjoint = next(n for n in g.graph.backward() if n.of == v)
    assert len(adjoint.terms) == 2
    table = g.at(x=1, y=2)
    assert abs(float(table.adjoint_value(v)) - (1 + float(sp.cos(2)))) < 1e-15
