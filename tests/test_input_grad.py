"""Gradients with respect to inputs and intermediates (issue 11): ``derive(wrt=["x"])`` gives dl/dx (CS231n's dx).

The derived dl/dx, evaluated by NumPy, matches PyTorch autograd per sample (float64, 1e-9 relative) and central
differences; an intermediate's gradient matches ``retain_grad``; the three notations render it in text and LaTeX;
``symback check --wrt x`` checks a hand file's dl/dx and names a missing transpose; bad names fail in one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_grad_cli import run

import symback as sb
from symback.errors import SymbackError
from symback.numeric import evaluate_batch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from two_inputs import net as two_inputs


def network():
    return sb.Network(3, [sb.Dense(4, "tanh"), sb.Dense(4, "softplus"), sb.Dense(2)], loss="softmax_cross_entropy")


def instance(graph, B=5, seed=0):
    rng = np.random.default_rng(seed)
    params = {n.name: rng.normal(size=tuple(int(s) for s in n.shape)) for n in graph.leaves("param")}
    inputs = {n.name: rng.normal(size=(B, int(n.shape[0]))) for n in graph.leaves("input")}
    return params, inputs, rng.integers(0, 2, size=B)


def rel(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def torch_mlp(params, X, Y):
    """Per-sample losses summed (so each x's gradient is its own sample's dl/dx), and the hidden values kept."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in {**params, "x": X}.items()}
    h1 = torch.tanh(t["x"] @ t["W1"].T + t["b1"])
    h1.retain_grad()
    h2 = torch.nn.functional.softplus(h1 @ t["W2"].T + t["b2"])
    f = h2 @ t["W3"].T + t["b3"]
    torch.nn.functional.cross_entropy(f, torch.tensor(Y), reduction="sum").backward()
    return t["x"].grad.numpy(), h1.grad.numpy()


def test_dl_dx_and_an_intermediate_match_pytorch_autograd_per_sample():
    d = network().derive(wrt=["x", "h1"])
    assert d.params == ["W1", "b1", "W2", "b2", "W3", "b3"] and d.adjoints["x"] == "dl_dx"
    params, inputs, Y = instance(d.graph)
    values = evaluate_batch(d.graph, params, inputs, Y)
    dx, dh1 = torch_mlp(params, inputs["x"], Y)
    assert rel(values["dl_dx"].T, dx) < 1e-9
    assert rel(values[d.adjoints["h1"]].T, dh1) < 1e-9


def test_dl_dx_matches_central_differences():
    d = network().derive(wrt=["x"])
    params, inputs, Y = instance(d.graph, B=1, seed=2)
    x, eps = inputs["x"], 1e-6

    def loss(x):
        return float(evaluate_batch(d.graph, params, {"x": x}, Y)["l"][0])

    num = np.array([(loss(x + eps * e) - loss(x - eps * e)) / (2 * eps) for e in np.eye(3)])
    assert rel(evaluate_batch(d.graph, params, inputs, Y)["dl_dx"][:, 0], num) < 1e-7


def test_a_dag_gives_each_input_its_gradient_through_a_dropout_too():
    d = two_inputs.derive(wrt=["xa", "xb"])
    assert {"xa", "xb"} <= set(d.adjoints)
    g = sb.DAG("dropped")
    g.param("W", (2, 3))
    g.loss(g.linear("f", "W", g.dropout("d", g.input("x", 3), 0.5)), "mse")
    dd = g.derive(wrt=["x"])
    values = evaluate_batch(dd.graph, {"W": np.ones((2, 3))}, {"x": np.ones((1, 3)), "m_d": np.array([[1, 0, 1.]])},
                            np.zeros((1, 2)))
    # d = 2 m ⊙ x = (2, 0, 2), f = W d = (4, 4), dl/df = 2 f = (8, 8), dl/dd = W^T dl/df = 16, dl/dx = 2 m ⊙ 16
    assert values["dl_dx"][:, 0].tolist() == [32.0, 0.0, 32.0]


def test_dl_dx_is_rendered_in_every_notation_and_format():
    d = network().derive(wrt=["x"])
    expected = {"udl": ("dl/dx   = Omega_0^T dl/df_0", r"\frac{\partial \ell}{\partial \mathbf{x}}"),
                "cs229": ("dJ/dx     = W^[1]T delta^[1]", r"\frac{\partial J}{\partial x}"),
                "foml": ("dl/dx^(0) = W^(1)T dl/ds^(1)", r"\frac{\partial \mathcal{L}}{\partial \mathbf{x}^{(0)}}")}
    for notation, (text, latex) in expected.items():
        assert text in d.render("text", notation=notation), notation
        assert latex in d.render("latex", notation=notation), notation
    assert "dl/dx" not in str(network().derive())  # not asked for: not derived


def test_symback_check_wrt_x_checks_a_hand_files_dx(tmp_path):
    spec = "examples/cs229_two_layer.py:two_layer"
    good, bad = tmp_path / "dx.txt", tmp_path / "dx_bad.txt"
    good.write_text("delta^[1] = (W^[2]^T delta^[2]) ⊙ g'(z^[1])\ndJ/dx = W^[1]^T delta^[1]\n")
    bad.write_text("dJ/dx = W^[1] delta^[1]\n")
    code, out, _ = run("check", spec, str(good), "--notation", "cs229", "--wrt", "x")
    assert code == 0 and "2 equations: 2 equal" in out
    code, out, _ = run("check", spec, str(bad), "--notation", "cs229", "--wrt", "x")
    assert code == 1 and "missing transpose on W^[1]" in out
    code, _, err = run("check", spec, str(good), "--notation", "cs229")
    assert code == 2 and "'dJ/dx' is not a quantity" in err  # not derived unless asked for
    code, out, _ = run("derive", spec, "--notation", "cs229", "--wrt", "x")
    assert code == 0 and "dJ/dx" in out


@pytest.mark.parametrize("wrt, message", [
    (["q"], "'q' is not a value of this network"), (["y"], "'y' is not a value"), (["l"], "'l' is not a value"),
    ("x", "give a list of value names"), ([], "give a list of value names"), ([3], "give a list of value names"),
])
def test_bad_wrt_fails_in_one_line(wrt, message):
    with pytest.raises(SymbackError) as err:
        network().derive(wrt=wrt)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_value_the_loss_does_not_read_has_no_gradient_to_ask_for():
    g = sb.DAG("unused")
    g.param("W", (2, 3))
    g.input("z", 2)
    g.loss(g.linear("f", "W", g.input("x", 3)), "mse")
    with pytest.raises(SymbackError, match="the loss does not depend on 'z'"):
        g.derive(wrt=["z"])
