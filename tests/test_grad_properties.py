"""Property: on random expression trees the reverse pass equals sympy.diff."""

import math

import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symback as sb

X, Y, Z = sp.symbols("x y z")
VARS = (X, Y, Z)

UNARY = {
    "exp": lambda a: sp.exp(sp.tanh(a)),  # bounded argument keeps values finite
    "log": lambda a: sp.log(1 + a**2),  # positive argument
    "sin": sp.sin,
    "cos": sp.cos,
    "tanh": sp.tanh,
    "sqrt": lambda a: sp.sqrt(1 + a**2),
    "sigmoid": lambda a: 1 / (1 + sp.exp(-a)),
    "abs": sp.Abs,
    "square": lambda a: a**2,
}
BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / (2 + sp.sin(b)),  # denominator bounded away from 0
    "max": sp.Max,
    "pow": lambda a, b: (1 + a**2) ** sp.Rational(3, 2),
}

leaves = st.sampled_from(VARS) | st.sampled_from([sp.Integer(2), sp.Rational(1, 2), sp.Integer(-3)])


def trees():
    return st.recursive(
        leaves,
        lambda sub: st.one_of(
            st.builds(lambda f, a: UNARY[f](a), st.sampled_from(sorted(UNARY)), sub),
            st.builds(lambda f, a, b: BINARY[f](a, b), st.sampled_from(sorted(BINARY)), sub, sub),
        ),
        max_leaves=8,
    )


def _far_from_kinks(expr, point) -> bool:
    """True unless a Max/Abs argument sits within 1e-3 of its kink at `point`."""
    for m in expr.atoms(sp.Max):
        vals = sorted(float(a.subs(point)) for a in m.args)
        if any(abs(b - a) < 1e-3 for a, b in zip(vals, vals[1:])):
            return False
    for a in expr.atoms(sp.Abs):
        if abs(float(a.args[0].subs(point))) < 1e-3:
            return False
    return True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=trees(), coords=st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_reverse_mode_equals_sympy_diff_on_random_trees(expr, coords):
    free = sorted(expr.free_symbols, key=lambda s: s.name)
    assume(free)
    point = {s: sp.Float(c, 30) for s, c in zip(VARS, coords) if s in free}
    assume(_far_from_kinks(expr, point))
    g = sb.grad(expr)
    table = g.at({s.name: v for s, v in point.items()})
    for s in free:
        reference = sp.N(sp.diff(expr, s).subs(point), 30)
        assume(reference.is_real and math.isfinite(float(reference)))
        ours = float(table.grad[s])
        assert abs(ours - float(reference)) <= 1e-9 * max(1.0, abs(float(reference))), (expr, s, ours, reference)
