"""Layer normalisation, softmax as a module and means over a vector's components (issue 11), derived per sample.

Every gradient of a network around them matches PyTorch autograd (``torch.nn.functional.layer_norm``,
``torch.softmax``; float64, 1e-9 relative) and 40-digit central differences of an independent forward pass;
the textbook forms ``p (u - sum p u)`` and ``(n u - sum u - xhat sum u xhat) / (n sigma)`` are reached by
simplification and equal SymPy's own derivative numerically; bad input fails at declaration in one line.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
import torch

import symback as sb
from symback.errors import SymbackError
from symback.numeric import evaluate_batch

EPS = 1e-5
torch.set_default_dtype(torch.float64)


def layered():
    return sb.Network(4, [sb.Dense(5, "tanh"), sb.LayerNorm(eps=EPS), sb.Dense(3), sb.Softmax()], loss="mse")


def dag():
    """h = W x + b, d = h - mean(h), z = layernorm(d), p = softmax(z): a mean module broadcast in an ew module."""
    g = sb.DAG("ln")
    x = g.input("x", 3)
    h = g.linear("h", g.param("W", (4, 3)), x, g.param("b", 4))
    g.mean("mu", h)
    d = g.ew("d", sp.Symbol("h") - sp.Symbol("mu"))
    z = g.layernorm("z", d, g.param("gamma", 4), g.param("beta", 4), eps=EPS)
    g.loss(g.softmax("p", z), "mse")
    return g


def point(d, B=6, seed=0):
    rng = np.random.default_rng(seed)
    params = {p: rng.standard_normal(d.graph[p].shape) for p in d.params}
    n_in = int(d.graph["x"].shape[0])
    return params, rng.standard_normal((B, n_in)), rng.uniform(size=(B, int(d.graph["y"].shape[0])))


def gradients(d, params, X, Y) -> dict:
    values = evaluate_batch(d.graph, params, X, Y)
    return {p: values[a].mean(axis=-1) for p, a in d.adjoints.items()} | {"loss": values["l"].mean()}


def torch_layered(P, X, Y):
    h = torch.tanh(X @ P["W1"].T + P["b1"])
    n = torch.nn.functional.layer_norm(h, (h.shape[1],), P["gamma1"], P["beta1"], EPS)
    p = torch.softmax(n @ P["W2"].T + P["b2"], dim=1)
    return ((p - Y) ** 2).sum(dim=1).mean()


def torch_dag(P, X, Y):
    h = X @ P["W"].T + P["b"]
    d = h - h.mean(dim=1, keepdim=True)
    p = torch.softmax(torch.nn.functional.layer_norm(d, (d.shape[1],), P["gamma"], P["beta"], EPS), dim=1)
    return ((p - Y) ** 2).sum(dim=1).mean()


def torch_gradients(model, params, X, Y) -> dict:
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    loss = model(P, torch.tensor(X), torch.tensor(Y))
    loss.backward()
    return {k: v.grad.numpy() for k, v in P.items()} | {"loss": loss.item()}


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("make, model", [(layered, torch_layered), (dag, torch_dag)], ids=["network", "dag"])
@pytest.mark.parametrize("simplify", [True, False], ids=["textbook", "raw"])
def test_every_gradient_matches_pytorch_autograd(make, model, simplify):
    d = make().derive(simplify=simplify)
    params, X, Y = point(d)
    ours, theirs = gradients(d, params, X, Y), torch_gradients(model, params, X, Y)
    assert set(ours) == set(theirs)
    for k in theirs:
        assert rel(ours[k], theirs[k]) < 1e-9, k


def _forward_mp(P, x, y):
    """The layered network's per-sample loss in mpmath, written out independently of symback."""
    h = [mpmath.tanh(sum(P["W1"][i][j] * x[j] for j in range(len(x))) + P["b1"][i]) for i in range(len(P["b1"]))]
    n = len(h)
    mu = sum(h) / n
    var = sum((v - mu) ** 2 for v in h) / n
    z = [P["gamma1"][i] * (h[i] - mu) / mpmath.sqrt(var + mpmath.mpf(EPS)) + P["beta1"][i] for i in range(n)]
    f = [sum(P["W2"][i][j] * z[j] for j in range(n)) + P["b2"][i] for i in range(len(P["b2"]))]
    s = sum(mpmath.exp(v) for v in f)
    return sum((mpmath.exp(v) / s - t) ** 2 for v, t in zip(f, y))


def test_every_gradient_equals_40_digit_central_differences():
    d = layered().derive()
    params, X, Y = point(d, B=1, seed=3)
    ours = gradients(d, params, X, Y)
    h = mpmath.mpf("1e-15")
    with mpmath.workdps(40):
        P = {k: np.vectorize(mpmath.mpf, otypes=[object])(v).tolist() for k, v in params.items()}
        x, y = [mpmath.mpf(v) for v in X[0]], [mpmath.mpf(v) for v in Y[0]]
        for name, value in params.items():
            fd = np.zeros(value.shape)
            for idx in np.ndindex(value.shape):
                entry = P[name]
                for i in idx[:-1]:
                    entry = entry[i]
                saved = entry[idx[-1]]
                entry[idx[-1]] = saved + h
                up = _forward_mp(P, x, y)
                entry[idx[-1]] = saved - h
                down = _forward_mp(P, x, y)
                entry[idx[-1]] = saved
                fd[idx] = float((up - down) / (2 * h))
            assert rel(ours[name], fd) < 1e-9, name


# -- the textbook forms -------------------------------------------------------------------------------------------

def test_softmax_vjp_reads_p_times_u_minus_the_sum_of_p_u():
    g = layered().derive().graph
    p, u, j = sp.IndexedBase("p2", real=True), sp.IndexedBase("dl_dp2", real=True), sp.Symbol("j", integer=True,
                                                                                               nonnegative=True)
    expected = sp.Symbol("p2", real=True) * (sp.Symbol("dl_dp2", real=True) - sp.Sum(u[j] * p[j], (j, 0, 2)))
    assert g["dl_df2"].expr == expected


def test_layernorm_vjp_reads_the_compact_form_with_mean_and_sigma_hoisted():
    g = layered().derive().graph
    assert str(g["mu1"].expr) == "Sum(h1[j], (j, 0, 4))/5"
    assert str(g["sigma1"].expr) == "sqrt(Sum((-mu1 + h1[j])**2, (j, 0, 4))/5 + 1/100000)"  # two passes, eps inside
    assert str(g["xhat1"].expr) == "(h1 - mu1)/sigma1"
    assert str(g["n1"].expr) == "beta1 + gamma1*xhat1"
    assert str(g["dl_dxhat1"].expr) == "dl_dn1*gamma1"  # g = gamma * dy
    assert str(g["dl_dh1"].expr) == ("(5*dl_dxhat1 - xhat1*Sum(dl_dxhat1[j]*xhat1[j], (j, 0, 4)) "
                                     "- Sum(dl_dxhat1[j], (j, 0, 4)))/(5*sigma1)")
    assert str(g["dl_dgamma1"].expr) == "dl_dn1*xhat1" and str(g["dl_dbeta1"].expr) == "dl_dn1"


def test_the_compact_forms_equal_sympys_own_derivative_numerically():
    net = layered()
    raw, textbook = net.derive(simplify=False), net.derive()
    assert raw.graph["dl_dh1"].expr.count_ops() > 3 * textbook.graph["dl_dh1"].expr.count_ops()
    for seed in range(3):
        params, X, Y = point(textbook, seed=seed)
        a, b = evaluate_batch(raw.graph, params, X, Y), evaluate_batch(textbook.graph, params, X, Y)
        for name in ("dl_df2", "dl_dh1", "dl_dgamma1", "dl_dbeta1"):
            assert rel(b[name], a[name]) < 1e-12, name


def test_symbolic_widths_derive_the_same_forms():
    n, m = sp.symbols("n m")
    g = sb.Network(n, [sb.Dense(m, "relu"), sb.LayerNorm(), sb.Dense(1)]).derive().graph
    assert str(g["dl_dh1"].expr) == ("(dl_dxhat1*m - xhat1*Sum(dl_dxhat1[j]*xhat1[j], (j, 0, m - 1)) "
                                     "- Sum(dl_dxhat1[j], (j, 0, m - 1)))/(m*sigma1)")


def test_a_mean_broadcast_over_a_vector_gets_the_sum_of_its_shares():
    g = dag().derive(simplify=False).graph
    assert str(g["dl_dmu"].expr) == "-Sum(dl_dd[j], (j, 0, 3))"
    assert g["dl_dmu"].shape == ()


def test_sum_module_is_a_scalar_and_its_gradient_is_the_upstream_everywhere():
    g = sb.DAG("s")
    h = g.linear("h", g.param("W", (3, 2)), g.input("x", 2))
    g.sum("s", h)
    g.loss(g.ew("o", sp.Symbol("h") * sp.Symbol("s")), "mse")
    d = g.derive()
    assert d.graph["s"].shape == () and str(d.graph["s"].expr) == "Sum(h[j], (j, 0, 2))"
    params, X, Y = point(d)
    W = torch.tensor(params["W"], requires_grad=True)
    h = torch.tensor(X) @ W.T
    ((h * h.sum(dim=1, keepdim=True) - torch.tensor(Y)) ** 2).sum(dim=1).mean().backward()
    assert rel(gradients(d, params, X, Y)["W"], W.grad.numpy()) < 1e-9


def test_weight_decay_leaves_gamma_and_beta_alone():
    net = sb.Network(4, [sb.Dense(5, "tanh"), sb.LayerNorm(), sb.Dense(3)], weight_decay=0.1)
    g = net.derive().graph
    assert "W1" in str(g["dl_dW1"].expr) and "lambda" not in str(g["dl_dgamma1"].expr)
    assert str(g["dl_dgamma1"].expr) == "dl_dn1*xhat1" and str(g["dl_dbeta1"].expr) == "dl_dn1"
    assert [g[p].meta.kind for p in ("gamma1", "beta1")] == ["scale", "shift"]


# -- bad input ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("build, message", [
    (lambda: sb.LayerNorm(eps=0), "LayerNorm: eps must be a positive number"),
    (lambda: sb.LayerNorm(eps=-1e-5), "LayerNorm: eps must be a positive number"),
    (lambda: sb.LayerNorm(eps=float("nan")), "LayerNorm: eps must be a positive number"),
    (lambda: sb.LayerNorm(eps=float("inf")), "LayerNorm: eps must be a positive number"),
    (lambda: sb.LayerNorm(eps="1e-5"), "LayerNorm: eps must be a positive number"),
    (lambda: sb.DAG().layernorm("z", "x", "g", "b", eps=True), "layernorm z: eps must be a positive number"),
    (lambda: sb.LayerNorm(eps=sp.Symbol("e")), "LayerNorm: eps must be a positive number"),
    (lambda: sb.LayerNorm(eps=np.float32("nan")), "LayerNorm: eps must be a positive number"),
])
def test_bad_eps_fails_at_declaration_in_one_line(build, message):
    with pytest.raises(SymbackError) as err:
        build()
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def _scalar_dag(method):
    g = sb.DAG()
    x = g.input("x", 3)
    s = g.sum("s", x)
    getattr(g, method)("r", s)
    g.loss(g.ew("o", sp.Symbol("x") * sp.Symbol("r")), "mse")
    return g


@pytest.mark.parametrize("method, what", [("sum", "a sum"), ("mean", "a mean"), ("softmax", "softmax")])
def test_reducing_a_scalar_fails_in_one_line_naming_the_module(method, what):
    with pytest.raises(SymbackError, match=rf"^module r: {what} needs a vector input, s has shape \(\)$"):
        _scalar_dag(method).graph()


def test_layernorm_parameters_of_the_wrong_shape_fail_in_one_line():
    g = sb.DAG()
    x = g.input("x", 3)
    g.loss(g.layernorm("z", x, g.param("gamma", 4), g.param("beta", 3)), "mse")
    with pytest.raises(SymbackError, match=r"^module z: elementwise inputs must have one shape, got gamma \(4,\)"):
        g.graph()
    g = sb.DAG()
    g.loss(g.layernorm("z", g.sum("s", g.input("x", 3)), "gamma", "beta"), "mse")
    g.param("gamma", 1), g.param("beta", 1)
    with pytest.raises(SymbackError, match=r"^module xhat_z: layer normalisation needs a vector input"):
        g.graph()


@pytest.mark.parametrize("eps, exact", [(np.float64(1e-3), sp.Rational(1, 1000)),
                                        (sp.Rational(1, 10), sp.Rational(1, 10)), (2, sp.Integer(2))])
def test_eps_is_any_positive_real_and_prints_exactly(eps, exact):
    g = sb.Network(3, [sb.Dense(3), sb.LayerNorm(eps=eps), sb.Dense(1)]).derive().graph
    assert g["sigma1"].expr.has(exact) and str(g["sigma1"].expr).endswith(f"+ {exact})")


def test_a_layernorm_of_the_input_and_one_after_the_first_layer_have_their_own_names():
    net = sb.Network(3, [sb.LayerNorm(), sb.Dense(4, "tanh"), sb.LayerNorm(), sb.Dense(2)], loss="mse")
    d = net.derive()
    assert d.params == ["gamma0", "beta0", "W1", "b1", "gamma1", "beta1", "W2", "b2"]
    params, X, Y = point(d, seed=5)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    F = torch.nn.functional
    h = torch.tanh(F.layer_norm(torch.tensor(X), (3,), P["gamma0"], P["beta0"], EPS) @ P["W1"].T + P["b1"])
    out = F.layer_norm(h, (4,), P["gamma1"], P["beta1"], EPS) @ P["W2"].T + P["b2"]
    ((out - torch.tensor(Y)) ** 2).sum(dim=1).mean().backward()
    ours = gradients(d, params, X, Y)
    for k, v in P.items():
        assert rel(ours[k], v.grad.numpy()) < 1e-9, k


def test_a_softmax_over_one_feature_is_refused():
    with pytest.raises(SymbackError, match="^Softmax after layer 1: a softmax over one feature is the constant 1$"):
        sb.Network(2, [sb.Dense(1), sb.Softmax()]).graph()
