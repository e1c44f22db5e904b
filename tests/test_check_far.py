"""Issue 16: an equal verdict is confirmed far from the origin, so a formula wrong only there is caught.

Near points are standard normal draws; a step at x = 10 or a ``max(f_3, 50)`` never shows there. Every
equal verdict is re-checked at far points (draws times 10, 100, 1000, 10^6, either sign, `randomdata.FAR`):
an expression's exactly at 30 digits, a network's in float64 where float64 agrees with itself. Points where
the derived value is not finite or not defined are skipped, and so are points where yours is not.
"""

import numpy as np
import pytest

import symback as sb
from symback.check.instances import BOUND, make_instances
from symback.check.randomdata import FAR
from symback.check.spaces import ExpressionSpace, NetworkSpace
from symback.declare.spec import load_spec
from test_check import ex

UDL = load_spec(ex("udl_toy.py")).derive()
RESIDUAL = load_spec(ex("residual.py")).derive()
PERCEPTRON = load_spec(ex("cs7643_softmax.py:perceptron")).derive()


def only(report):
    (result,) = report.results
    return result


# -- wrong only far from the origin: now different, with the far point as the counterexample --------------------

def test_circuit_with_a_step_at_ten_is_different_at_a_far_point():
    """(x + y) z: df/dx = z, and z + 99 H(x - 10) agrees with it at every standard normal point."""
    report = sb.grad("(x + y)*z").check("df/dx = z + Heaviside(x - 10)*99\ndf/dy = z")
    wrong, right = report.results
    assert (wrong.status, right.status, report.exit_code) == ("different", "equal", 1)
    ce = wrong.counterexample
    assert ce.unit == "point" and ce.instance > 6 and abs(ce.scale) >= 10  # numbered after the 6 near points
    assert ce.inputs["x"] > 10 and ce.yours - ce.derived == pytest.approx(99)
    assert ce.derived == pytest.approx(ce.inputs["z"])
    assert wrong.cause is None  # no repair is suggested for a formula that agrees near the origin
    assert f"counterexample: point {ce.instance} (far from the origin, scale {ce.scale:g})" in str(report)


def test_udl_toy_with_max_f3_50_is_different_at_a_far_instance():
    """l = (f_3 - y)^2: dl/df_3 = 2 (f_3 - y); adding max(f_3, 50) - 50 changes it only where f_3 > 50."""
    result = only(UDL.check("dl/df_3 = 2*(f_3 - y) + max(f_3, 50) - 50"))
    assert result.status == "different"
    ce = result.counterexample
    assert ce.instance > 4 and ce.scale in FAR and ce.sample is not None
    f3 = ce.derived / 2 + ce.inputs["y"][0, 0]  # dl/df_3 = 2 (f_3 - y), so f_3 is read off the derived value
    assert f3 > 50 and ce.yours - ce.derived == pytest.approx(f3 - 50, rel=1e-9)
    assert result.to_dict()["counterexample"]["scale"] == ce.scale


def test_dag_residual_with_max_out_50_is_different_at_a_far_instance():
    """out = h + W2 relu(W1 h + b1), l = ||out - y||^2: the same mistake in a DAG's own names."""
    result = only(RESIDUAL.check("dl/dout = 2(out - y) + max(out, 50) - 50\n"))
    assert result.status == "different" and result.counterexample.scale in FAR
    ce = result.counterexample
    assert np.max(ce.yours_value - ce.derived_value) > 0  # max(out, 50) - 50 only adds


def test_far_verdicts_are_reproducible():
    """The far points come from the seed: the same report twice, another seed another draw."""
    text = "dl/df_3 = 2*(f_3 - y) + max(f_3, 50) - 50"
    assert UDL.check(text).to_dict() == UDL.check(text).to_dict()
    far = make_instances(UDL, 4, 0, FAR)
    assert [i.scale for i in far] == list(FAR) and [i.index for i in far] == list(range(5, 13))
    assert not np.array_equal(far[0].params["W1"], make_instances(UDL, 4, 1, FAR)[0].params["W1"])
    near = make_instances(UDL, 4, 0)
    assert np.array_equal(far[0].params["W1"], 10 * near[0].params["W1"])  # the first draw, times 10


# -- right in unusual forms: still equal far away, where float64 overflows ---------------------------------------

def test_sigmoid_derivative_in_other_forms_is_equal_where_float64_overflows():
    """sigma'(x) = sigma(x)(1 - sigma(x)) = e^-x / (1 + e^-x)^2; at x = -10^6 e^-x is past float64's range."""
    g = sb.grad("1/(1 + exp(-x))")
    report = g.check("df/dx = sigmoid(x)*(1 - sigmoid(x))\ndf/dx = exp(-x)/(1 + exp(-x))**2\ndf/dx = f*(1 - f)")
    assert report.ok, str(report)
    xs = [float(p["x"]) for p in ExpressionSpace(g).far(False)]
    assert min(xs) == pytest.approx(-535.669)  # (1 + e^535.669)^2 is about 10^465: past float64's 1.8 x 10^308
    with np.errstate(over="ignore"):
        assert np.isinf((1 + np.exp(-min(xs))) ** 2)


def test_far_points_of_an_expression_stay_within_bound():
    """exp(exp(x)) at x = 10 is about 10^9566: values past 10^1000 leave the point out (exp of them would take
    digits without end), so the check stays quick and a right formula stays equal."""
    g = sb.grad("exp(exp(x))")
    assert g.check("df/dx = exp(x)*exp(exp(x))").ok
    far = ExpressionSpace(g).far(False)
    assert len(far) == len(FAR) and all(abs(v) <= BOUND for p in far for v in p.values())
    assert all(p["x"] < 0 for p in far if abs(p.scale) == 1e6)  # x = +10^6 is drawn again until x < 0
    assert sb.grad("sin(exp(x))").check("df/dx = cos(exp(x))*exp(x)").ok


def test_relu_written_as_max_or_heaviside_is_equal():
    report = sb.grad("Max(x, 0)*y").check("df/dx = Heaviside(x)*y\ndf/dx = y*Max(x, 0)/x\ndf/dy = Max(0, x)")
    assert report.ok, str(report)


def test_saturated_sigmoid_network_forms_are_equal():
    """One sigmoid unit with BCE: dl/df_0 = h_1 - y; the chain-rule form loses 1 - h_1 to cancellation in
    float64 once f_0 is large, so those far samples are left out (`Instance.consistent`), not held against you."""
    report = PERCEPTRON.check("dl/df_0 = (exp(-f_0) ⊙ dl/dh_1)/(1 + exp(-f_0))^2\ndl/df_0 = h_1 - y\n"
                              "dl/dh_1 = -((y - 1)/(1 - h_1) + y/h_1)")
    assert report.ok, str(report)
    space = NetworkSpace(PERCEPTRON)
    kept, every = space.far(False), [(i, s) for i in make_instances(PERCEPTRON, 4, 0, FAR) for s in range(i.batch)]
    assert 0 < len(kept) < len(every)
    assert len(NetworkSpace(UDL).far(False)) == 8 * 4  # ReLU: float64 is exact enough at every far sample


def test_a_formula_that_differs_only_at_a_kink_is_equal():
    """|x|' = sign(x); x/|x| is undefined at 0 and 2H(x) - 1 is 0 there: both differ only at the kink."""
    assert sb.grad("Abs(x)").check("df/dx = x/Abs(x)\ndf/dx = 2*Heaviside(x) - 1").ok
    assert UDL.check("dl/df_2 = I(f_2 >= 0) ⊙ dl/dh_3").ok  # relu'(0) is 0, [f_2 >= 0] is 1


def test_points_where_the_derivative_is_undefined_are_skipped():
    """log x is defined for x > 0 only: far points with x < 0 are drawn again, so df/dy = log(x) stays equal."""
    g = sb.grad("log(x)*y")
    assert g.check("df/dy = log(x)\ndf/dx = y/x").ok
    assert all(p["x"] > 0 for p in ExpressionSpace(g).far(False))
