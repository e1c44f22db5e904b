"""Softmax as a module of its own (issue 11): SymPy's derivative of exp(f_i) / sum_j exp(f_j), simplified to
p * (u - sum_j u_j p_j) and proven equal to it; the compiled kernel subtracts the maximum, so logits of a thousand
neither overflow nor lose the gradient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sympy as sp
from test_layernorm import layered
from test_layernorm_codegen import LAYOUTS

import symback as sb
from symback.numeric import evaluate_batch
from tests.codegen_support import compiled, rel

K = sp.Symbol("j", integer=True, nonnegative=True)


def softmax_dag(n=3):
    g = sb.DAG("sm")
    h = g.linear("h", g.param("W", (n, 2)), g.input("x", 2))
    g.loss(g.softmax("p", h), "mse")
    return g


def test_the_raw_derivative_is_sympys_and_the_textbook_form_is_p_times_u_minus_the_sum():
    raw, textbook = softmax_dag().derive(simplify=False).graph, softmax_dag().derive().graph
    h, u = sp.Symbol("h", real=True), sp.Symbol("dl_dp", real=True)
    hb, ub, pb = (sp.IndexedBase(n, real=True) for n in ("h", "dl_dp", "p"))
    s = sp.Sum(sp.exp(hb[sp.Symbol("j", integer=True, nonnegative=True)]), (sp.Symbol("j", integer=True,
                                                                                        nonnegative=True), 0, 2))
    assert raw["dl_dh"].expr.has(s) and raw["dl_dh"].expr.has(sp.exp(h))  # in the logits, as SymPy gives it
    assert textbook["dl_dh"].expr == sp.Symbol("p", real=True) * (u - sp.Sum(ub[K] * pb[K], (K, 0, 2)))
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((3, 2))}
    X, Y = rng.standard_normal((5, 2)), rng.uniform(size=(5, 3))
    a, b = evaluate_batch(raw, params, X, Y), evaluate_batch(textbook, params, X, Y)
    assert rel(a["dl_dh"], b["dl_dh"]) < 1e-14 and rel(a["dl_dW"], b["dl_dW"]) < 1e-14


def test_a_symbolic_width_renders_the_sum_in_every_notation():
    n = sp.Symbol("n")
    d = sb.Network(2, [sb.Dense(n), sb.Softmax()], loss="mse").derive()
    for notation, line in [("udl", "dl/df_0 = p ⊙ (dl/dp - sum_j dl/dp[j] p[j])"),
                           ("cs229", "delta^[1] = p ∘ (dJ/dp - sum_j dJ/dp[j] p[j])"),
                           ("foml", "dl/ds^(1) = p ⊙ (dl/dp - sum_j dl/dp[j] p[j])")]:
        assert line in " ".join(d.render(notation=notation).split()), notation
    assert r"\mathbf{p} \odot \left(" in d.render(notation="udl", format="latex")


def test_the_kernel_takes_logits_of_a_thousand():
    mod, _, _ = compiled("layernorm_network", layered(), layouts=LAYOUTS["network"])  # test_layernorm_codegen's module
    rng = np.random.default_rng(1)
    params = mod.init_params(seed=1)  # packed: the kernel test_layernorm_codegen compiles, no plain-dict wrapper
    for v in params.values():
        v[...] = rng.standard_normal(v.shape)
    params["W2"][...] *= 400.0  # the normalised hidden layer has norm sqrt(5): logits in the hundreds to thousands
    X, Y = rng.standard_normal((4, 4)), rng.uniform(size=(4, 3))
    f = np.tanh(X @ params["W1"].T + params["b1"])
    xhat = (f - f.mean(1, keepdims=True)) / np.sqrt(f.var(1, keepdims=True) + 1e-5)
    logits = (params["gamma1"] * xhat + params["beta1"]) @ params["W2"].T + params["b2"]
    assert np.abs(logits).max() > 700  # exp would overflow in float64
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    out = mod.forward(params, X)
    assert np.all(np.isfinite(out)) and rel(out, p) < 1e-12
    loss, grads = mod.loss_and_grad(params, X, Y)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())


def test_explain_shows_the_vjp_as_derived_not_as_a_diagonal_factor():
    text = str(sb.explain(str(Path(__file__).resolve().parent.parent / "examples" / "layernorm_mlp.py"),
                          notation="cs229", seed=0))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    step = next(line for line in lines if line.startswith("B2. δ^[2] = ∂J/∂z^[2] ="))
    assert step.startswith("B2. δ^[2] = ∂J/∂z^[2] = p ∘ (∂J/∂p - Σⱼ ∂J/∂p[j] p[j])")
    assert "local factor from p = exp(z^[2])/(Σⱼ exp(z^[2][j]))" in lines and "diag(p" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
