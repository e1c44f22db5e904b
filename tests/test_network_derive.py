"""Layered networks: every derived gradient equals sympy.diff of the explicit loss and central differences."""

import runpy
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from cases import networks
from oracles import central_differences, random_instance, sympy_gradients

import symback as sb
from symback.derive import simplify
from symback.numeric import evaluate_batch
from symback.declare.spec import declared

NETS = networks()
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOL = 1e-10  # relative, against sympy.diff and central differences, both evaluated at 40 digits


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))))


@pytest.fixture(scope="module")
def derivations():
    return {name: net.derive() for name, net in NETS.items()}


@pytest.mark.parametrize("name", sorted(NETS))
def test_gradients_equal_sympy_diff_and_central_differences(name, derivations):
    net, d = NETS[name], derivations[name]
    for seed in (0, 1):
        values, x, y = random_instance(net, seed)
        ours = d.evaluate(values, x, y)
        reference = sympy_gradients(net, values, x, y)
        fd = central_differences(net, values, x, y)
        for p in d.params:
            g = ours[d.adjoints[p]]
            assert rel(g, reference[p]) < TOL, (p, g, reference[p])
            assert rel(g, fd[p]) < 1e-9, (p, g, fd[p])


@pytest.mark.parametrize("name", sorted(NETS))
def test_simplified_and_unsimplified_derivations_agree(name, derivations):
    net = NETS[name]
    plain = net.derive(simplify=False)
    for seed in (2, 3):
        values, x, y = random_instance(net, seed)
        a, b = derivations[name].evaluate(values, x, y), plain.evaluate(values, x, y)
        for p in plain.params:
            assert rel(a[plain.adjoints[p]], b[plain.adjoints[p]]) < 1e-12


def _ew(d, name):
    return d.graph[name].expr


def test_textbook_simplifications_are_found_by_algebra():
    h1, h2, f1, f2, y, p = (sp.Symbol(n, real=True) for n in ("h1", "h2", "f1", "f2", "y", "p"))
    up1 = sp.Symbol("dl_dh1", real=True)
    d = sb.Network(3, [sb.Dense(4, "tanh"), sb.Dense(2, "sigmoid")], loss="bce").derive()
    assert _ew(d, "dl_df1") == up1 * (1 - h1**2)  # tanh' = 1 - h^2
    assert _ew(d, "dl_df2") == h2 - sp.Symbol("y", real=True)  # sigmoid + BCE = h - y
    d = sb.Network(3, [sb.Dense(4, "sigmoid"), sb.Dense(2)], loss="mse").derive()
    assert _ew(d, "dl_df1") == up1 * h1 * (1 - h1)  # sigmoid' = h(1 - h)
    assert str(_ew(d, "dl_df2")) == "2*(f2 - y)"  # identity + MSE = 2(f - y), as written
    d = sb.Network(3, [sb.Dense(4, "relu"), sb.Dense(2)], loss="softmax_cross_entropy").derive()
    assert _ew(d, "dl_df1") == up1 * sb.Indicator(f1 > 0)  # relu' = I[f > 0]
    assert _ew(d, "dl_df2") == p - sp.KroneckerDelta(sp.Symbol("i", integer=True, nonnegative=True), y)
    d = sb.Network(3, [sb.Dense(2)], loss="bce_with_logits").derive()
    assert _ew(d, "dl_df1") == sp.Symbol("sigma", real=True) - y  # sigma(f) - y


def test_linear_vjp_rule_matches_an_index_level_derivation():
    """dl/dW = g h^T, dl/dh = W^T g, dl/db = g, from l = sum_i g_i (sum_j W_ij h_j + b_i) with KroneckerDelta."""
    m, n = 3, 4
    i, j, a, c = sp.symbols("i j a c", integer=True)
    W, h, b, g = (sp.IndexedBase(s) for s in ("W", "h", "b", "g"))
    scalar = sp.Sum(g[i] * (sp.Sum(W[i, j] * h[j], (j, 0, n - 1)) + b[i]), (i, 0, m - 1))
    net = sb.Network(n, [sb.Dense(m)], loss="mse")
    d = net.derive()
    # the upstream of f1 is dl/df1; compare the symbolic products entry by entry
    rule = {"W1": d.gradient_of("W1").expr, "x": None, "b1": d.gradient_of("b1").expr}
    G = sp.MatrixSymbol("dl_df1", m, 1)
    assert rule["W1"] == G * sp.MatrixSymbol("x", n, 1).T
    assert rule["b1"] == G
    for aa in range(m):
        for cc in range(n):
            by_index = sp.diff(scalar, W[aa, cc]).doit()
            assert sp.simplify(by_index - g[aa] * h[cc]) == 0
    for cc in range(n):
        by_index = sp.diff(scalar, h[cc]).doit()
        assert sp.simplify(by_index - sum(W[r, cc] * g[r] for r in range(m))) == 0  # (W^T g)_c
    from symback.ops.linear import vjp as _linear_vjp

    f1 = d.graph["f1"]
    assert _linear_vjp(f1, "x", sp.Symbol("dl_df1")).value == sp.MatrixSymbol("W1", m, n).T * G


def test_symbolic_widths_derive():
    n0, n1, n2 = sp.symbols("n0 n1 n2")
    d = sb.Network(n0, [sb.Dense(n1, "relu"), sb.Dense(n2)], loss="mse").derive()
    assert d.gradient_of("W1").shape[0].name == "n1"
    assert str(d.gradient_of("W1").expr) == "dl_df1*x.T"


BAD = [
    (lambda: sb.Dense(3, "rleu"), "unknown activation 'rleu'; did you mean 'relu'"),
    (lambda: sb.Network(2, [sb.Dense(3)], loss="mae"), "unknown loss 'mae'"),
    (lambda: sb.Dense(3, sp.Symbol("u") * sp.Symbol("v")), "must be a function of exactly one symbol"),
    (lambda: sb.Network(2, [sb.Dense(3)], loss=sp.Symbol("y") ** 2), "does not depend on the output f"),
    (lambda: sb.Dense(3, sp.sign(z)), "derivative 0 almost everywhere"),
    (lambda: sb.Dense(0), "width must be positive"),
    (lambda: sb.Network(2, []), "give at least one layer"),
    (lambda: sb.Network(2, [3]), "layer 1: expected sb.Dense"),
]
z = sp.Symbol("z")


@pytest.mark.parametrize("build, message", BAD, ids=[m for _, m in BAD])
def test_bad_declarations_raise_value_error_with_one_line(build, message):
    with pytest.raises(ValueError, match=None) as info:
        build()
    assert message in str(info.value) and "\n" not in str(info.value)


def test_simplify_false_is_sympys_own_derivative_and_the_textbook_rows_rewrite_it():
    net = sb.Network(2, [sb.Dense(2, "sigmoid")], loss="mse")
    raw, simplified = net.derive(simplify=False), net.derive()
    f1, h1 = sp.Symbol("f1", real=True), sp.Symbol("h1", real=True)
    (t,) = raw.graph["dl_df1"].terms
    assert t.local == sp.exp(-f1) / (1 + sp.exp(-f1)) ** 2  # as sympy.diff gives it
    assert simplified.graph["dl_df1"].terms[0].local == h1 * (1 - h1)  # the output_form row
    assert raw.graph["dl_df1"].expr == t.local * sp.Symbol("dl_dh1", real=True)
    assert [r.name for r in simplify.rows("textbook")] == ["output_form", "loss_gradient", "softmax_module", "layernorm", "softmax", "sigmoid",
                                                             "batchnorm"]


@pytest.mark.parametrize("name", sorted(NETS))
def test_batched_evaluation_equals_the_per_sample_evaluator(name, derivations):
    net, d = NETS[name], derivations[name]
    values, _, _ = random_instance(net, 0)
    samples = [random_instance(net, seed)[1:] for seed in (1, 2, 3)]
    X = np.stack([x for x, _ in samples])
    Y = np.array([y for _, y in samples])
    batch = evaluate_batch(d.graph, values, X, Y)
    for s, (x, y) in enumerate(samples):
        one = d.evaluate(values, x, y)
        for node in d.graph:
            if not node.is_leaf:
                assert np.allclose(batch[node.name][..., s], one[node.name], rtol=1e-13, atol=1e-15), (node.name, s)


@pytest.mark.parametrize("example", ["foml_dag", "residual", "tied_autoencoder", "two_inputs"])
def test_batched_evaluation_of_dags_with_concat_shared_and_tied_weights(example):
    (d,) = [v.derive() for k, v in runpy.run_path(str(EXAMPLES / f"{example}.py"), run_name="__symback_spec__").items()
            if not k.startswith("_") and declared(v)]
    g, rng, B = d.graph, np.random.default_rng(0), 3
    params = {p: rng.normal(size=tuple(int(s) for s in g[p].shape)) for p in d.params}
    X = {n.name: rng.normal(size=(B, int(n.shape[0]))) for n in g.leaves("input")}
    n_out = int(g[g["l"].meta.prediction].shape[0])
    Y = rng.integers(0, n_out, B) if g["y"].shape == () else rng.normal(size=(B, n_out))
    batch = evaluate_batch(g, params, X, Y)
    for s in range(B):
        one = d.evaluate(params, {n: X[n][s] for n in X}, Y[s])
        for node in g:
            if not node.is_leaf:
                assert np.allclose(batch[node.name][..., s], one[node.name], rtol=1e-13, atol=1e-14), (node.name, s)
