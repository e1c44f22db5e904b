"""DAGs: several consumers, shared and tied weights, concatenation; one mechanism with Network."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symback as sb
from oracles import graph_gradients
from symback.declare.spec import load_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DAGS = ["foml_dag.py", "residual.py", "two_inputs.py", "tied_autoencoder.py"]
TOL = 1e-10


def instance(d, seed):
    """Random params, inputs (a dict by name) and target for a derived DAG."""
    rng = np.random.default_rng(seed)
    g = d.graph
    values = {n.name: rng.normal(size=tuple(int(s) for s in n.shape)) for n in g.leaves("param")}
    inputs = {n.name: rng.normal(size=int(n.shape[0])) for n in g.leaves("input")}
    y_node = g["y"]
    if y_node.shape == ():
        y = int(rng.integers(int(g["l"].meta.size)))
    else:
        y = rng.normal(size=int(y_node.shape[0]))
    return values, inputs, y


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))))


@pytest.mark.parametrize("example", DAGS)
def test_example_gradients_equal_sympy_diff_and_central_differences(example):
    d = load_spec(str(EXAMPLES / example)).derive()
    for seed in (0, 1):
        values, inputs, y = instance(d, seed)
        ours = d.evaluate(values, inputs, y)
        reference, fd = graph_gradients(d.graph, values, None, y, inputs)
        for p in d.params:
            assert rel(ours[d.adjoints[p]], reference[p]) < TOL, p
            assert rel(ours[d.adjoints[p]], fd[p]) < 1e-9, p


def test_lecture_dag_sums_both_paths_for_x1_and_both_uses_of_w1():
    d = load_spec(str(EXAMPLES / "foml_dag.py")).derive()
    g = d.graph
    assert g["dl_dx1"].op == "ew" and set(g["dl_dx1"].args) == {"dl_dx1_via_m", "dl_dx1_via_c"}
    assert {g["dl_dw1_via_x3"].meta.path, g["dl_dw1_via_s1"].meta.path} == {"x3", "s1"}
    values, inputs, y = instance(d, 3)
    v = d.evaluate(values, inputs, y)
    np.testing.assert_allclose(v["dl_dw1"], v["dl_dw1_via_x3"] + v["dl_dw1_via_s1"], rtol=0, atol=0)
    assert np.abs(v["dl_dw1_via_x3"]).max() > 0 and np.abs(v["dl_dw1_via_s1"]).max() > 0


def test_tied_weights_gradient_sums_encoder_and_transposed_decoder_use():
    d = load_spec(str(EXAMPLES / "tied_autoencoder.py")).derive()
    exprs = {n.meta.path: str(n.expr) for n in d.graph.backward() if n.of == "W_enc" and n.meta.path is not None}
    assert exprs == {"xhat": "code*dl_dxhat.T", "enc": "dl_denc*x.T"}


def test_network_and_the_same_graph_declared_by_hand_derive_identically():
    net = sb.Network(3, [sb.Dense(4, "tanh"), sb.Dense(2)], loss="softmax_cross_entropy")
    g = sb.DAG()
    x = g.input("x", 3)
    g.param("W1", (4, 3), layer=1), g.param("b1", 4, layer=1), g.param("W2", (2, 4), layer=2), g.param("b2", 2, layer=2)
    h = g.map("h1", g.linear("f1", "W1", x, "b1", kind="pre", layer=1), "tanh", kind="act", layer=1)
    g.loss(g.linear("f2", "W2", h, "b2", kind="pre", layer=2), "softmax_cross_entropy")
    a, b = net.derive().graph, g.derive().graph
    assert [(n.name, n.op, n.args, str(n.expr), n.shape) for n in a] == [
        (n.name, n.op, n.args, str(n.expr), n.shape) for n in b
    ]


def _bad(build):
    with pytest.raises(ValueError) as info:
        build().derive()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_bad_graphs_are_refused_naming_the_node():
    def cycle():
        g = sb.DAG()
        x = g.input("x", 2)
        g.ew("a", sp.Symbol("x") + sp.Symbol("b"), {"x": "x", "b": "b"})
        g.ew("b", 2 * sp.Symbol("a"))
        g.loss("b", "mse")
        return g

    assert "cycle: a -> b -> a" in _bad(cycle) or "cycle: b -> a -> b" in _bad(cycle)

    def dangling():
        g = sb.DAG()
        g.input("x", 2)
        g.add("s", "x", "nowhere")
        g.loss("s", "mse")
        return g

    assert "input 'nowhere' is never declared" in _bad(dangling)

    def mismatch():
        g = sb.DAG()
        x = g.input("x", 3)
        W = g.param("W", (2, 4))
        g.loss(g.linear("f", W, x), "mse")
        return g

    assert "module f: W has 4 columns but x has shape (3,)" in _bad(mismatch)

    def unused():
        g = sb.DAG()
        x = g.input("x", 3)
        g.param("W", (2, 3))
        g.loss(g.map("h", x, "tanh"), "mse")
        return g

    assert "param W is declared but never used" in _bad(unused)

    def on_no_path():  # V feeds only a branch that never reaches the loss: refused, not a zero gradient
        g = sb.DAG()
        x = g.input("x", 2)
        W, V = g.param("W", (2, 2)), g.param("V", (2, 2))
        g.map("dead", g.linear("u", V, x), "tanh")
        g.loss(g.linear("f", W, x), "mse")
        return g

    assert "param V is used only by modules that never reach the loss (u)" in _bad(on_no_path)


def test_a_module_that_never_reaches_the_loss_warns():
    g = sb.DAG()
    x = g.input("x", 2)
    W = g.param("W", (2, 2))
    g.map("dead", g.linear("u", W, x), "tanh")
    g.loss(g.linear("f", W, x), "mse")
    with pytest.warns(UserWarning) as caught:
        g.derive()
    assert [str(w.message) for w in caught] == ["u, dead do not reach the loss; no gradient flows through them"]


@st.composite
def random_dags(draw):
    """2-8 modules over vectors of one width; fan-in 1-3; parameters shared at random."""
    n = 3
    g = sb.DAG()
    values = [g.input("x", n)]
    params = [g.param("P0", (n, n))]
    for k in range(draw(st.integers(2, 8))):
        kind = draw(st.sampled_from(["linear", "act", "add", "mul"]))
        name = f"v{k}"
        fan = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
        if kind == "linear":
            if draw(st.booleans()) or not params:
                params.append(g.param(f"P{len(params)}", (n, n)))
            W = draw(st.sampled_from(params))
            values.append(g.linear(name, W, fan[0]))
        elif kind == "act":
            values.append(g.map(name, fan[0], draw(st.sampled_from(["tanh", "sigmoid", "softplus"]))))
        elif kind == "add":
            values.append(g.add(name, *fan))
        else:
            values.append(g.mul(name, fan[0], fan[-1]))
    used = set()
    for d in g._decls.values():
        used.update(d.args)
    # every value feeds the output, so nothing dangles; every parameter is used
    out = g.add("out", *[v for v in values if v not in used or v == values[-1]])
    for p in params:
        if p not in used:
            out = g.add(f"use_{p}", out, g.linear(f"lin_{p}", p, "x"))
    g.loss(out, "mse")
    return g


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag=random_dags(), seed=st.integers(0, 2**16))
def test_random_dags_match_central_differences(dag, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = dag.derive()
    values, inputs, y = instance(d, seed)
    for v in values.values():
        v *= 0.5
    ours = d.evaluate(values, inputs, y)
    reference, fd = graph_gradients(d.graph, values, None, y, inputs, h=1e-12)
    for p in d.params:
        assert rel(ours[d.adjoints[p]], fd[p]) < 1e-9, p
