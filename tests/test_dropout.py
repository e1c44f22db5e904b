"""Inverted dropout (issue 11): ``d = m ⊙ h / (1 - p)`` with an explicit mask input, derived by SymPy.

The backward ``dl/dh = m ⊙ dl/dd / (1 - p)`` is `sympy.diff` of the forward; the NumPy evaluation of the derived
graph, given a mask, matches PyTorch autograd on the same mask (float64, 1e-9 relative) and central differences;
bad p fails at declaration in one line; p = 0 is the identity; constants get no gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_grad_cli import run

import symback as sb
from symback.errors import SymbackError
from symback.ir import sym
from symback.numeric import evaluate_batch

P = 0.25


def network(p=P, loss="mse"):
    return sb.Network(3, [sb.Dense(5, "tanh"), sb.Dropout(p), sb.Dense(2)], loss=loss)


def instance(d, B=4, seed=0):
    rng = np.random.default_rng(seed)
    params = {n.name: rng.normal(size=tuple(int(s) for s in n.shape)) for n in d.graph.leaves("param")}
    inputs = {"x": rng.normal(size=(B, 3)), "m1": (rng.random((B, 5)) >= P).astype(float)}
    return params, inputs, rng.normal(size=(B, 2))


def torch_grads(params, inputs, Y, p=P):
    """Per-sample-mean loss and gradients of the same network in PyTorch, the same mask given."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in {**params, **inputs}.items()}
    h = torch.tanh(t["x"] @ t["W1"].T + t["b1"])
    f = (t["m1"] * h / (1 - p)) @ t["W2"].T + t["b2"]
    loss = ((f - torch.tensor(Y)) ** 2).sum(dim=1).mean()
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


def rel(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# -- derived --------------------------------------------------------------------------------------------------------

def test_the_backward_is_sympy_diff_of_the_forward_mask_times_upstream_over_keep():
    d = network().derive()
    node, back = d.graph["d1"], d.graph["dl_dh1"]
    assert node.expr == sym("m1") * sym("h1") * sp.Rational(4, 3)  # m ⊙ h / (1 - 1/4)
    assert sp.simplify(back.expr - sym("m1") * sym("dl_dd1") / (1 - sp.Rational(1, 4))) == 0
    assert d.graph["m1"].meta.rate == sp.Rational(1, 4) and d.graph["m1"].op == "input"
    assert "m1" not in d.adjoints and "dl_dm1" not in d.graph.names  # a constant: never differentiated


def test_the_derived_gradients_match_pytorch_autograd_on_the_same_mask():
    d = network().derive()
    params, inputs, Y = instance(d)
    values = evaluate_batch(d.graph, params, inputs, Y)
    loss, grads = torch_grads(params, inputs, Y)
    assert abs(values["l"].mean() - loss) <= 1e-12 * abs(loss)
    for p in params:
        assert rel(values[d.adjoints[p]].mean(axis=-1), grads[p]) < 1e-9, p


def test_the_derived_gradients_match_central_differences():
    d = network().derive()
    params, inputs, Y = instance(d, B=1, seed=3)

    def loss(ps):
        return float(evaluate_batch(d.graph, ps, inputs, Y)["l"][0])

    values = evaluate_batch(d.graph, params, inputs, Y)
    eps = 1e-6
    for p in ("W1", "b1"):
        num = np.zeros_like(params[p])
        for idx in np.ndindex(params[p].shape):
            up, down = ({**params, p: params[p].copy()} for _ in range(2))
            up[p][idx] += eps
            down[p][idx] -= eps
            num[idx] = (loss(up) - loss(down)) / (2 * eps)
        assert rel(values[d.adjoints[p]][..., 0], num) < 1e-7, p


def test_a_dag_module_and_a_dropped_mask_column_route_no_gradient():
    g = sb.DAG("drop")
    g.param("W", (2, 3))
    g.loss(g.linear("f", "W", g.dropout("d", g.input("x", 3), 0.5)), "mse")
    d = g.derive()
    assert [n.name for n in d.graph.leaves("input")] == ["x", "m_d"]
    params = {"W": np.ones((2, 3))}
    x, m, y = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 0.0, 1.0]]), np.zeros((1, 2))
    values = evaluate_batch(d.graph, params, {"x": x, "m_d": m}, y)
    assert np.allclose(values["d"][:, 0], [2.0, 0.0, 6.0])  # kept units doubled, the dropped one 0
    assert np.all(values[d.adjoints["W"]][:, 1, 0] == 0)  # no gradient through a dropped unit


def test_p_zero_is_the_identity():
    plain = sb.Network(3, [sb.Dense(5, "tanh"), sb.Dense(2)]).derive()
    d = network(0).derive()
    assert [n.name for n in d.graph] == [n.name for n in plain.graph]
    g = sb.DAG("id")
    g.param("W", (2, 3))
    g.loss(g.linear("f", "W", g.dropout("d", g.input("x", 3), 0)), "mse")
    dd = g.derive()
    assert dd.graph["d"].expr == sym("x") and not [n for n in dd.graph.leaves("input") if n.name != "x"]


def test_a_constant_input_is_given_not_differentiated():
    g = sb.DAG("scaled")
    g.param("W", (2, 3))
    c = g.const("c", 3)
    g.loss(g.linear("f", "W", g.mul("u", g.input("x", 3), c)), "mse")
    d = g.derive()
    assert d.graph["c"].meta.kind == "const" and "c" not in d.adjoints
    assert "u = c ⊙ x" in str(d) or "u = x ⊙ c" in str(d)
    assert "dl_dc" in g.derive(wrt=["c"]).adjoints.values()  # asked for, it has one


@pytest.mark.parametrize("p", [-0.1, 1, 1.5, float("nan"), float("inf"), "0.5", True, None, sp.Symbol("p")])
def test_bad_p_fails_at_declaration_in_one_line(p):
    for declare in (lambda: sb.Dropout(p), lambda: sb.DAG("d").dropout("d", "x", p)):
        with pytest.raises(SymbackError) as err:
            declare()
        assert "p must be a number in [0, 1)" in str(err.value) and "\n" not in str(err.value)


def test_bad_constants_fail_at_declaration():
    g = sb.DAG("c")
    for bad in (lambda: g.const("c"), lambda: g.const("c", 3, like="x"), lambda: g.const("c", 0)):
        with pytest.raises(SymbackError):
            bad()


def test_two_dropouts_in_one_layer_get_their_own_names():
    net = sb.Network(3, [sb.Dropout(0.1), sb.Dense(4, "relu"), sb.Dropout(0.5), sb.Dropout(0.2), sb.Dense(1)])
    names = {n.name for n in net.graph()[0].leaves("input")}
    assert names == {"x", "m0", "m1", "m1_"}
    assert repr(net) == ("Network(n_in=3, layers=[Dropout(1/10), Dense(4, 'relu'), Dropout(1/2), Dropout(1/5), "
                         "Dense(1, 'identity')], loss='mse')")


# -- checked --------------------------------------------------------------------------------------------------------

EXAMPLE = "examples/dropout_digits.py"


def test_the_example_hand_file_checks_equal_with_dx():
    code, out, err = run("check", EXAMPLE, "--hand", "examples/hand/dropout_digits.txt", "--notation", "cs229",
                         "--wrt", "x")
    assert code == 0, err + out
    assert "7 equations: 7 equal" in out


@pytest.mark.parametrize("line, cause", [
    ("dJ/da^[1] = m1 ∘ dJ/dd1", "missing the inverted-dropout scale 1/(1 - p) = 5/4"),
    ("dJ/da^[1] = 5/4 dJ/dd1", "the dropout mask m1 is missing, so the gradient flows through the dropped units"),
    ("dJ/da^[1] = dJ/dd1", "the dropout mask m1 and the scale 1/(1 - p) = 5/4 are missing"),
    ("delta^[1] = I[z^[1] > 0] ∘ (W^[2]^T delta^[2])", "the dropout mask m1 and the scale 1/(1 - p) = 5/4"),
])
def test_check_names_the_dropout_mistakes(tmp_path, line, cause):
    hand = tmp_path / "hand.txt"
    hand.write_text(line + "\n")
    code, out, _ = run("check", EXAMPLE, str(hand), "--notation", "cs229")
    assert code == 1 and "likely cause: " + cause.split()[0] in out
    assert cause in " ".join(out.split()), out


def test_a_udl_hand_file_with_the_mistake_at_p_one_half_is_not_called_a_factor_2(tmp_path):
    spec = tmp_path / "net.py"
    spec.write_text("import symback as sb\n"
                    "net = sb.Network(3, [sb.Dense(4, 'relu'), sb.Dropout(0.5), sb.Dense(2)], loss='mse')\n")
    hand = tmp_path / "hand.txt"
    hand.write_text("dl/dh_1 = m1 ⊙ dl/dd1\n")
    code, out, _ = run("check", str(spec), str(hand))
    assert code == 1 and "missing the inverted-dropout scale 1/(1 - p) = 2" in " ".join(out.split())
    assert "factor 2" not in out


def test_bad_p_in_a_spec_exits_2_in_one_line(tmp_path):
    spec = tmp_path / "net.py"
    spec.write_text("import symback as sb\nnet = sb.Network(3, [sb.Dense(4), sb.Dropout(1.5), sb.Dense(1)])\n")
    code, out, err = run("derive", str(spec))
    assert code == 2 and not out
    assert "Dropout: p must be a number in [0, 1)" in err and len(err.strip().splitlines()) == 1


# -- mixed with Dense layers, drawn by hypothesis --------------------------------------------------------------------

ACTS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid,
        "softplus": torch.nn.functional.softplus, "identity": lambda z: z}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_networks_mixing_dropout_and_dense_match_pytorch_on_the_same_masks(data):
    depth = data.draw(st.integers(1, 4))
    widths = [data.draw(st.integers(1, 4)) for _ in range(depth + 1)]
    layers, spec = [], []  # spec: ("dense", width, act) or ("drop", p)
    for k in range(depth):
        if data.draw(st.booleans()):
            p = data.draw(st.sampled_from([0.1, 0.25, 0.5, 0.9]))
            layers.append(sb.Dropout(p))
            spec.append(("drop", p))
        act = data.draw(st.sampled_from(sorted(ACTS))) if k < depth - 1 else "identity"
        layers.append(sb.Dense(widths[k + 1], act))
        spec.append(("dense", widths[k + 1], act))
    B = data.draw(st.integers(2, 8))
    d = sb.Network(widths[0], layers, loss="mse").derive(wrt=["x"])
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    params = {n.name: rng.normal(size=tuple(int(s) for s in n.shape)) for n in d.graph.leaves("param")}
    inputs = {n.name: (rng.random((B, int(n.shape[0]))) >= float(n.meta.rate)).astype(float)
              for n in d.graph.leaves("input") if n.meta.rate is not None}
    inputs["x"], Y = rng.normal(size=(B, widths[0])), rng.normal(size=(B, widths[-1]))
    values = evaluate_batch(d.graph, params, inputs, Y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in {**params, "x": inputs["x"]}.items()}
    h, k, masks = t["x"], 0, iter(m for m in (n.name for n in d.graph.leaves("input")) if m != "x")
    for layer in spec:
        if layer[0] == "drop":
            h = torch.tensor(inputs[next(masks)]) * h / (1 - layer[1])
        else:
            k += 1
            h = ACTS[layer[2]](h @ t[f"W{k}"].T + t[f"b{k}"])
    ((h - torch.tensor(Y)) ** 2).sum(dim=1).sum().backward()  # summed: each sample's own gradients
    for name, tensor in t.items():
        ours = values[d.adjoints[name]]
        ours = ours.T if name == "x" else ours.sum(axis=-1)
        assert np.allclose(ours, tensor.grad.numpy(), rtol=1e-9, atol=1e-12), name
