"""A new op is one entry: ops declared here only, then derived, evaluated and printed like built-in ones.

`softsign` (smooth but for |z|) and `hardtanh` (kinks at -1 and 1) are
registered from their SymPy definitions; nothing in symback names them.
Their derivatives must be `sympy.diff` of the definitions, their printed
form the one registered, and their numbers the definitions' numbers.
"""

import shutil

import mpmath
import numpy as np
import pytest
import sympy as sp
from oracles import central_differences, random_instance, sympy_gradients

import symback as sb
from symback.ops import OPS, batched, expand_ops, lookup

z = sp.Symbol("z")
x, w = sp.symbols("x w", real=True)
SOFTSIGN = z / (1 + sp.Abs(z))
HARDTANH = sp.Max(-1, sp.Min(1, z))
softsign = sb.register_op("softsign", SOFTSIGN, latex=r"\operatorname{softsign}")
hardtanh = sb.register_op("hardtanh", HARDTANH, latex=r"\operatorname{hardtanh}")
DEFINITIONS = {softsign: SOFTSIGN, hardtanh: HARDTANH}
POINTS = [-2.5, -0.7, 0.3, 0.9, 1.6]  # away from the kinks at 0 and +-1


def central(f, at: float, h: str = "1e-12") -> float:
    """Central difference of a SymPy function of one variable, in 40-digit arithmetic."""
    g = sp.lambdify(z, f, modules="mpmath")
    with mpmath.workdps(40):
        a, step = mpmath.mpf(at), mpmath.mpf(h)
        return float((g(a + step) - g(a - step)) / (2 * step))


@pytest.mark.parametrize("op", [softsign, hardtanh], ids=["softsign", "hardtanh"])
def test_derivative_is_sympy_diff_of_the_definition_and_matches_central_differences(op):
    body = DEFINITIONS[op].xreplace({z: x})
    ours = sp.diff(op(x), x)
    assert not ours.has(sp.Derivative)
    for p in POINTS:
        at = {x: sp.Float(p, 30)}
        assert float(ours.xreplace(at)) == pytest.approx(float(sp.diff(body, x).xreplace(at)), rel=1e-12)
        assert float(ours.xreplace(at)) == pytest.approx(central(DEFINITIONS[op], p), rel=1e-9, abs=1e-12)


def test_printers_show_the_registered_form_and_expand_ops_gives_the_definition():
    assert str(softsign(x)) == "softsign(x)"
    assert sp.latex(softsign(x) ** 2) == r"\operatorname{softsign}\left(x\right)^{2}"
    assert expand_ops(softsign(hardtanh(x))) == SOFTSIGN.xreplace({z: HARDTANH.xreplace({z: x})})
    assert softsign(3) == sp.Rational(3, 4) and hardtanh(sp.Rational(-7, 2)) == -1


def test_numbers_come_from_the_definition_in_numpy_and_exactly():
    f = sp.lambdify(x, softsign(x) + hardtanh(x), "numpy")
    v = np.array(POINTS)
    assert np.allclose(f(v), v / (1 + np.abs(v)) + np.clip(v, -1, 1), rtol=1e-15)
    assert sp.N(softsign(x).xreplace({x: sp.sqrt(2)}), 30) == sp.N(sp.sqrt(2) / (1 + sp.sqrt(2)), 30)


def test_grad_of_an_expression_with_the_ops_matches_central_differences():
    g = sb.grad(softsign(w * x) + hardtanh(x) * w, wrt=[w, x])
    table = g.at(w=sp.Rational(1, 2), x=sp.Rational(3, 5))
    loss = SOFTSIGN.xreplace({z: w * x}) + HARDTANH.xreplace({z: x}) * w
    for v, other in ((w, {x: sp.Rational(3, 5)}), (x, {w: sp.Rational(1, 2)})):
        at = float(sp.Rational(1, 2) if v == w else sp.Rational(3, 5))
        expected = central(loss.xreplace(other).xreplace({v: z}), at)
        assert float(table.grad[v.name]) == pytest.approx(expected, rel=1e-9)
    assert "softsign" in g.render("text") and r"\operatorname{softsign}" in g.render("latex")


@pytest.fixture(scope="module")
def net():
    return sb.Network(2, [sb.Dense(3, "softsign"), sb.Dense(2, "hardtanh"), sb.Dense(1)], loss="mse")


def test_dense_activation_gradients_equal_sympy_diff_and_central_differences(net):
    d = net.derive()
    for seed in (0, 1):
        values, xs, ys = random_instance(net, seed)
        ours = d.evaluate(values, xs, ys)
        reference, fd = sympy_gradients(net, values, xs, ys), central_differences(net, values, xs, ys)
        for p in d.params:
            assert np.allclose(ours[d.adjoints[p]], reference[p], rtol=1e-10, atol=1e-12), p
            assert np.allclose(ours[d.adjoints[p]], fd[p], rtol=1e-8, atol=1e-10), p


def test_forward_values_of_the_numeric_evaluator_are_the_definitions(net):
    d = net.derive()
    values, xs, ys = random_instance(net, 0)
    out = d.evaluate(values, xs, ys)
    f1 = values["W1"] @ xs + values["b1"]
    assert np.allclose(out["h1"], f1 / (1 + np.abs(f1)), rtol=1e-14)
    f2 = values["W2"] @ out["h1"] + values["b2"]
    assert np.allclose(out["h2"], np.clip(f2, -1, 1), rtol=1e-14)


def test_rendering_shows_the_registered_forms(net):
    d = net.derive()  # UDL notation: h_1 = a(f_0)
    assert "h_1 = softsign(f_0)" in d.render("text") and "h_2 = hardtanh(f_1)" in d.render("text")
    assert r"\mathbf{h}_{1} &= \operatorname{softsign}\left(\mathbf{f}_{0}\right)" in d.render("latex")
    assert r"\operatorname{hardtanh}\left(\mathbf{f}_{1}\right)" in d.render("latex")


def test_every_op_has_an_entry_with_the_rules_its_kind_needs():
    for name in ("scalar", "linear", "ew", "loss", "concat"):
        op = lookup(name)
        assert op.vjp is not None and op.numeric is not None and op.batched is not None, name
    for name in ("input", "param", "target"):
        assert OPS[name].is_leaf and OPS[name].vjp is None
    with pytest.raises(sb.SymbackError, match="unknown op 'conv3d'"):
        lookup("conv3d")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_the_picture_names_the_ops(net, tmp_path):
    svg = sb.draw(net.derive(), seed=0, path=tmp_path / "ops.svg", notation="udl").read_text()
    assert "softsign" in svg and "hardtanh" in svg


def test_explain_and_check_take_the_op_from_its_entry(net):
    d = net.derive()
    assert "h₁ = softsign(f₀)" in str(sb.explain(d))
    # softsign'(u) = 1/(1 + |u|)^2 = (1 - |softsign(u)|)^2: both hand forms equal the derivation
    report = d.check("dl/df_0 = dl/dh_1 / (1 + abs(f_0))^2\ndl/df_0 = (1 - abs(softsign(f_0)))^2 ⊙ dl/dh_1\n")
    assert "2 equations: 2 equal, 0 different" in str(report)
    wrong = d.check("dl/df_0 = (1 - softsign(f_0))^2 ⊙ dl/dh_1\n")
    assert "1 equation: 0 equal, 1 different" in str(wrong)


def test_exact_rules_of_linear_and_concat_agree_with_their_numpy_rules():
    g = sb.DAG("stack")
    a, b = g.input("a", 2), g.input("b", 1)
    W, c = g.param("W", (2, 3)), g.param("c", (2,))
    out = g.linear("u", W, g.concat("ab", a, b), c)
    g.loss(out, "mse")
    graph, _ = g.graph()
    exact = {"a": [sp.Rational(1, 2), -2], "b": [3], "W": [[1, 2, 0], [sp.Rational(-1, 3), 1, 4]], "c": [5, -1]}
    exact["ab"] = lookup("concat").exact(graph["ab"], exact)
    exact["u"] = lookup("linear").exact(graph["u"], exact)
    assert exact["ab"] == sp.Matrix([sp.Rational(1, 2), -2, 3])
    assert exact["u"] == sp.Matrix([sp.Rational(3, 2), sp.Rational(53, 6)])  # W [1/2, -2, 3] + c
    as_float = {k: np.asarray(sp.Matrix(v), dtype=float).squeeze() for k, v in exact.items() if k in "abWc"}
    values = sb.Derivation(graph, "l", ["W", "c"], g.summary()).evaluate(
        {"W": as_float["W"], "c": as_float["c"]}, {"a": as_float["a"], "b": np.atleast_1d(as_float["b"])}, [0.0, 0.0])
    assert np.allclose(values["u"], np.asarray(exact["u"], dtype=float).ravel(), rtol=1e-15)


def test_every_batched_matrix_product_is_the_per_sample_product():
    """Parameter times columns, rows times parameter, parameter times parameter, outer products: sample by sample."""
    rng, B = np.random.default_rng(0), 4
    W, V = rng.normal(size=(3, 2)), rng.normal(size=(2, 2))
    h, g = rng.normal(size=(2, B)), rng.normal(size=(3, B))
    values = {"W": np.broadcast_to(W[..., None], W.shape + (B,)), "V": np.broadcast_to(V[..., None], V.shape + (B,)),
              "h": h, "g": g}
    Ws, Vs, hs, gs = (sp.MatrixSymbol(n, *s) for n, s in (("W", (3, 2)), ("V", (2, 2)), ("h", (2, 1)), ("g", (3, 1))))
    cases = {Ws * hs: lambda b: W @ h[:, b:b + 1], hs.T * Vs: lambda b: h[:, b:b + 1].T @ V,
             Ws * Vs * hs: lambda b: W @ V @ h[:, b:b + 1], gs * hs.T: lambda b: g[:, b:b + 1] @ h[:, b:b + 1].T,
             2 * Ws.T * gs: lambda b: 2 * W.T @ g[:, b:b + 1]}
    for expr, one in cases.items():
        got = batched.matrix_value(expr, values)
        for b in range(B):
            np.testing.assert_allclose(got[..., b], one(b), rtol=1e-14, err_msg=str(expr))


def test_the_compiled_kernel_computes_the_ops_from_their_definitions(net, tmp_path):
    """compile: the code generator lowers a registered op through its definition; kernels agree to 1e-12."""
    from codegen_support import batch, perturbed, reference, rel

    from symback.codegen.plan import build

    d = net.derive()
    mod = d.compile(tmp_path / "ops_net.py")
    rng = np.random.default_rng(0)
    params = perturbed(mod, rng)
    plan = build(d)
    X, Y = batch(plan, 5, rng)
    loss, grads = mod.loss_and_grad(params, X, Y)
    want_loss, want = reference(d, plan, params, X, Y)
    assert abs(loss - want_loss) <= 1e-12 * max(1.0, abs(want_loss))
    for p in mod.PARAMS:
        assert rel(grads[p], want[p]) <= 1e-12, p
