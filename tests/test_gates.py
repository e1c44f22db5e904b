"""Gates on demand (`--gates`, ``sb.grad(..., gates=True)``): named steps split into the lecture's gates.

The split is a rewrite into more named steps, so the gradient must be the
ungated one (and sympy.diff's), and the lecture's circuits must come out
gate by gate with the lecture's numbers.
"""

import json
import math

import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_grad_cli import run
from test_grad_properties import VARS, _far_from_kinks, trees

import symback as sb
from symback.teach.gates import gate_label

SIGMOID = "1/(1 + exp(-(w0*x0 + w1*x1 + w2)))"
SIGMOID_AT = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}


def steps(g) -> list[str]:
    return [f"{n.name} = {n.expr}" for n in g.graph.forward() if not n.is_leaf]


def one_gate(e) -> bool:
    """`e` is one operation of variables and numbers: ``q*z``, ``r - t``, ``q/s``, ``exp(u)``, ``s**2``."""
    return all(a.is_Atom or (-a).is_Atom or (a.is_Pow and a.base.is_Atom and a.exp == -1) for a in e.args)


def test_the_squared_error_circuit_is_mul_add_sub_square():
    g = sb.grad("L = (x*y + z - t)^2", gates=True)
    assert steps(g) == ["q = x*y", "r = q + z", "s = r - t", "L = s**2"]
    assert [gate_label(n.expr) for n in g.graph.forward() if not n.is_leaf] == ["×", "+", "−", "^2"]
    t = g.at(x=1, y=2, z=3, t=1)
    assert (t.value, dict(t.grad)) == (16, {"x": 16, "y": 8, "z": 8, "t": -8})


def test_the_lectures_q_circuit_is_already_gates():
    g = sb.grad("(x + y)*z", gates=True)
    assert steps(g) == ["q = x + y", "f = q*z"]
    t = g.at(x=-2, y=5, z=-4)
    assert (t.value, t.values["q"], dict(t.grad)) == (-12, 3, {"x": -4, "y": -4, "z": 3})
    assert steps(sb.grad("q = x + y; f = q*z", gates=True)) == ["q = x + y", "f = q*z"]


def test_the_lectures_sigmoid_circuit_and_its_numbers():
    g = sb.grad(SIGMOID, gates=True)
    assert steps(g) == ["q = w0*x0", "r = w1*x1", "s = q + r", "t = s + w2", "u = -t", "v = exp(u)",
                        "a = v + 1", "f = 1/a"]  # w is skipped beside the weights w0, w1, w2
    labels = [gate_label(n.expr) for n in g.graph.forward() if not n.is_leaf]
    assert labels == ["×", "×", "+", "+", "× -1", "exp", "+ 1", "1/·"]
    t = g.at(SIGMOID_AT)
    assert {v: round(float(d), 2) for v, d in t.grad.items()} == \
        {"w0": -0.2, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.2}
    forward = [round(float(t.values[n]), 2) for n in "qrstuvaf"]
    assert forward == [-2, 6, 4, 1, -1, 0.37, 1.37, 0.73]


def test_subtraction_division_and_constants_are_one_gate_each():
    cases = {
        "x - y": ["f = x - y"],
        "x/y": ["f = x/y"],
        "x/y/z": ["q = x/y", "f = q/z"],
        "2/x": ["f = 2/x"],
        "2*x*y": ["q = x*y", "f = 2*q"],
        "a - 2*(b + c)": ["q = b + c", "r = 2*q", "f = a - r"],
        "exp(x) + 1": ["q = exp(x)", "f = q + 1"],
        "max(0, x*y)": ["q = x*y", "f = Max(0, q)"],
        "-(x + y)*z": ["q = x + y", "r = -q", "f = r*z"],
    }
    for text, expected in cases.items():
        assert steps(sb.grad(text, gates=True)) == expected, text


def test_every_gate_is_one_operation_and_named_steps_keep_their_names():
    text = "h = max(0, w*x + b)^2/2 + log(1 + exp(-w*x)); L = sqrt(h)*sigmoid(b - x)"
    g = sb.grad(text, gates=True)
    names = [n.name for n in g.graph.forward() if not n.is_leaf]
    assert names[-1] == "L" and "h" in names and len(names) > 10
    for node in g.graph.forward():
        if not node.is_leaf:
            assert one_gate(node.expr), (node.name, node.expr)


EXPRESSIONS = [
    "(x*y + z - x)^2", "x*y*z", "x/y - z/x", "exp(x*y) + log(z^2 + 1)", "sigmoid(x*y - z)",
    "relu(x - y)*z", "max(x, y*z) - min(x, 2*z)", "1/(1 + exp(-(x*y + z)))", "(x + y)^3/(z^2 + 1)",
    "sqrt(x^2 + y^2) + z", "-x - y*z + 3", "tanh(x)*sin(y) - cos(z)/2", "x^y", "abs(x - y)*z",
    "log(sigmoid(x)) + (1 - z)*log(1 - sigmoid(y))", "2^x*3 - y/(z*x)", "pi*x - E*y + z",
]
POINT = {"x": sp.Rational(3, 2), "y": sp.Rational(-1, 3), "z": sp.Rational(5, 4)}


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_gated_gradient_is_the_ungated_one_and_sympys(text):
    gated, plain = sb.grad(text, gates=True), sb.grad(text)
    assert gated.wrt == plain.wrt
    a, b = gated.at({v: POINT[v] for v in gated.inputs}), plain.at({v: POINT[v] for v in plain.inputs})
    assert sp.simplify(a.value - b.value) == 0
    expr = plain.expr.xreplace({s: sp.Symbol(s.name, real=True) for s in plain.expr.free_symbols})
    for v in gated.wrt:
        assert sp.simplify(a.grad[v] - b.grad[v]) == 0, (text, v)
        ref = sp.diff(expr, sp.Symbol(v, real=True)).subs({sp.Symbol(k, real=True): POINT[k] for k in gated.inputs})
        assert math.isclose(float(a.grad[v]), float(ref), rel_tol=1e-12, abs_tol=1e-12), (text, v)
    for v in ("x", "y"):  # and symbolically, over the gates' names expanded away
        if v in gated.wrt and "max" not in text and "relu" not in text and "abs" not in text:
            assert sp.simplify(gated.expanded()[v] - plain.expanded()[v]) == 0, (text, v)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=trees(), coords=st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_gates_equal_sympy_diff_on_random_trees(expr, coords):
    free = sorted(expr.free_symbols, key=lambda s: s.name)
    assume(free)
    point = {s: sp.Float(c, 30) for s, c in zip(VARS, coords) if s in free}
    assume(_far_from_kinks(expr, point))
    table = sb.grad(expr, gates=True).at({s.name: v for s, v in point.items()})
    real = {s: sp.Symbol(s.name, real=True) for s in free}  # |u|' = sign(u), as symback takes it
    for s in free:
        reference = sp.N(sp.diff(expr.xreplace(real), real[s]).subs({real[v]: c for v, c in point.items()}), 30)
        assume(reference.is_real and math.isfinite(float(reference)))
        assert abs(float(table.grad[s]) - float(reference)) <= 1e-9 * max(1.0, abs(float(reference))), (expr, s)


def test_generated_names_avoid_the_users_and_fall_back_to_numbers():
    g = sb.grad("q = x*y*s; f = q/(1 + r*q)", gates=True)  # q, r, s are the user's: t, u, ... are free
    assert steps(g) == ["t = x*y", "q = s*t", "u = q*r", "v = u + 1", "f = q/v"]
    assert steps(sb.grad("f*x*q + 1", gates=True)) == ["r = f*x", "s = q*r", "f_ = s + 1"]  # f is a variable
    big = " + ".join(f"x{i}*y{i}" for i in range(12))  # 23 gates: more than the free letters
    names = [n.name for n in sb.grad(big + " + v1", gates=True).graph.forward() if not n.is_leaf]
    assert names[-1] == "f" and all(n.startswith("v") and n != "v1" for n in names[:-1])
    assert len(set(names)) == len(names)


def test_steps_that_are_no_gate_stay_as_written():
    assert steps(sb.grad("f = x", gates=True)) == ["f = x"]
    assert steps(sb.grad("2*3*x", gates=True)) == ["f = 6*x"]
    g = sb.grad("x*y + 0*z*w", gates=True)
    assert g.gradient["z"] == 0 and g.gradient["x"] == sp.Symbol("y")


def test_sympy_objects_and_steps_split_too():
    x, y, z = sp.symbols("x y z")
    g = sb.grad([("q", x * y), ("f", sp.exp(q := sp.Symbol("q")) - z * q)], gates=True)
    assert [n.name for n in g.graph.forward() if not n.is_leaf][-1] == "f"
    assert all(one_gate(n.expr) for n in g.graph.forward() if not n.is_leaf)
    assert sp.simplify(g.expanded()["x"] - sp.diff(sp.exp(x * y) - z * x * y, x)) == 0


def test_cli_grad_gates_json_and_table():
    code, out, err = run("grad", SIGMOID, "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--gates", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [s["node"] for s in data["steps"][5:13]] == ["q", "r", "s", "t", "u", "v", "a", "f"]
    assert {k: round(v, 2) for k, v in data["grad_at"].items()} == \
        {"w0": -0.2, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.2}
    code, out, _ = run("grad", "L = (x*y + z - t)^2", "--at", "x=1,y=2,z=3,t=1", "--gates")
    assert code == 0 and " s      r - t            4" in out and "dL/dt      dL/ds × -1" in out


def test_cli_explain_and_draw_gates(tmp_path):
    code, out, err = run("explain", "L = (x*y + z - t)^2", "--at", "x=1,y=2,z=3,t=1", "--gates")
    assert code == 0, err
    assert "F3. s = r - t = 5 - 1 = 4" in out and "F4. L = s^2 = 4^2 = 16" in out
    assert "subtract gate: distributes the upstream gradient, negated" in out
    code, out, err = run("draw", SIGMOID, "--gates", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3",
                         "-o", str(tmp_path / "sig.dot"), "--json")
    assert code == 0, err
    labels = [n["label"] for n in json.loads(out)["nodes"] if n["kind"] == "gate"]
    assert labels == ["×", "×", "+", "+", "× -1", "exp", "+ 1", "1/·"]


def test_api_explain_and_draw_take_gates(tmp_path):
    ex = sb.explain("L = (x*y + z - t)^2", at={"x": 1, "y": 2, "z": 3, "t": 1}, gates=True)
    assert "F1. q = x·y = 1·2 = 2" in str(ex)
    path = sb.draw(SIGMOID, at=SIGMOID_AT, path=tmp_path / "sig.dot", gates=True)
    assert "1/·" in path.read_text(encoding="utf-8")


def test_gates_refused_where_the_steps_are_fixed():
    g = sb.grad("(x + y)*z")
    with pytest.raises(ValueError, match="already fixes its steps"):
        sb.explain(g, gates=True)
    code, _, err = run("draw", "examples/udl_toy.py", "--gates", "-o", "x.svg")
    assert code == 2 and "--gates splits the named steps of an expression" in err


def test_bad_input_gives_the_ungated_message():
    for text in ["q = x + y; q = q*z", "f = q*z; q = x + y", "foo(x)", "x +* y"]:
        assert run("grad", text, "--gates")[2] == run("grad", text)[2] != ""


def test_division_and_a_constant_minus_are_gates_with_their_own_symbols():
    x, y = sp.symbols("x y")
    assert [gate_label(e) for e in (x / y, 2 / y, 1 - x, x - y)] == ["÷", "÷", "1 − ·", "−"]
    text = str(sb.explain("f = x/y + (1 - z)", at="x=1,y=2,z=3", gates=True))
    assert "div gate: the local gradients are 1/b for the numerator a and -a/b² for the denominator b" in text
