"""Products of computed values and the scaled dot-product attention head (issue 11), derived per sample.

Every gradient (the input's too, with ``wrt``) of an attention block with its residual, layer norm and an MLP, of
`sb.Attention` in a `Network`, and of a DAG of dot, outer, transpose and matmul modules matches PyTorch autograd
(float64, 1e-9 relative) and central differences of the NumPy forward pass; the row-wise softmax's folded VJP
``P (G - sum G P)`` equals SymPy's unfolded derivative; bad shapes fail at declaration in one line naming them.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

import symback as sb
from symback.errors import SymbackError
from symback.ir import Meta, Node
from symback.numeric import evaluate_batch
from symback.ops import attention, tensor

torch.set_default_dtype(torch.float64)
T, D, EPS = 3, 2, 1e-5


def block(tokens=T, d=D, out=2):
    """x (T x d) -> x + attention(x) -> layer norm -> tanh MLP -> `out` values."""
    g = sb.DAG("attention_block")
    a = g.attention("a", g.sequence("x", tokens, d))
    n = g.layernorm("n", a, g.param("gamma", tokens * d), g.param("beta", tokens * d), eps=EPS)
    h = g.map("h", g.linear("f1", g.param("W1", (5, tokens * d)), n, g.param("b1", 5)), "tanh")
    g.loss(g.linear("f", g.param("W2", (out, 5)), h, g.param("b2", out)), "mse")
    return g


def torch_block(P, X, Y, tokens=T, d=D):
    return ((torch_forward(P, X, tokens, d) - Y) ** 2).sum(dim=1).mean()


def torch_forward(P, X, tokens=T, d=D):
    x = X.reshape(X.shape[0], tokens, d)
    Q, K, V = x @ P["Wq"].T, x @ P["Wk"].T, x @ P["Wv"].T
    a = (x + torch.softmax(Q @ K.transpose(1, 2) / d**0.5, dim=2) @ V).reshape(X.shape[0], -1)
    n = torch.nn.functional.layer_norm(a, (a.shape[1],), P["gamma"], P["beta"], EPS)
    return torch.tanh(n @ P["W1"].T + P["b1"]) @ P["W2"].T + P["b2"]


def network():
    return sb.Network(6, [sb.Attention(tokens=3), sb.LayerNorm(eps=EPS), sb.Dense(4, "tanh"), sb.Dense(1)],
                      loss="mse")


def torch_network(P, X, Y):
    return torch_block({"Wq": P["Wq1"], "Wk": P["Wk1"], "Wv": P["Wv1"], "gamma": P["gamma1"], "beta": P["beta1"],
                        "W1": P["W1"], "b1": P["b1"], "W2": P["W2"], "b2": P["b2"]}, X, Y)


def products():
    """u, v, w linear in x; M = u vᵀ, Mt = Mᵀ, G = M Mt, H = Mtᵀ Mᵀ / 2, s = v · w; tanh(G + s H): every product of
    computed values (s enters linearly: ops/batched.py cannot yet evaluate a broadcast scalar's share sum whose body
    holds that scalar)."""
    g = sb.DAG("products")
    x = g.input("x", 4)
    u, v, w = (g.linear(n, g.param(f"W{n}", (k, 4)), x) for n, k in (("u", 3), ("v", 2), ("w", 2)))
    m = g.outer("M", u, v)
    mt = g.transpose("Mt", m)
    g.matmul("G", m, mt)
    g.matmul("H", mt, m, ta=True, tb=True, scale=0.5)
    g.dot("s", v, w)
    z = g.map("t", g.ew("z", sp.Symbol("G") + sp.Symbol("s") * sp.Symbol("H")), "tanh")
    g.loss(g.linear("f", g.param("Wf", (2, 9)), z), "mse")
    return g


def torch_products(P, X, Y):
    u, v, w = X @ P["Wu"].T, X @ P["Wv"].T, X @ P["Ww"].T
    M = u[:, :, None] * v[:, None, :]
    Mt = M.transpose(1, 2)
    G, H = M @ Mt, 0.5 * Mt.transpose(1, 2) @ M.transpose(1, 2)
    s = (v * w).sum(dim=1)[:, None, None]
    z = torch.tanh(G + s * H).reshape(X.shape[0], -1)
    return (((z @ P["Wf"].T) - Y) ** 2).sum(dim=1).mean()


CASES = {"block": (block, torch_block), "network": (network, torch_network), "products": (products, torch_products)}


def point(d, B=4, seed=0):
    rng = np.random.default_rng(seed)
    params = {p: rng.standard_normal(d.graph[p].shape) * 0.8 for p in d.params}
    return params, rng.standard_normal((B, int(d.graph["x"].shape[0]))), \
        rng.standard_normal((B, int(d.graph["y"].shape[0])))


def ours(d, params, X, Y) -> dict:
    values = evaluate_batch(d.graph, params, X, Y)
    out = {p: values[a].mean(axis=-1) for p, a in d.adjoints.items() if p in params} | {"loss": values["l"].mean()}
    return out | ({"x": values[d.adjoints["x"]].T / X.shape[0]} if "x" in d.adjoints else {})


def theirs(model, params, X, Y) -> dict:
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    Xt = torch.tensor(X, requires_grad=True)
    loss = model(P, Xt, torch.tensor(Y))
    loss.backward()
    return {k: v.grad.numpy() for k, v in P.items()} | {"loss": loss.item(), "x": Xt.grad.numpy()}


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("simplify", [True, False], ids=["folded", "raw"])
def test_every_gradient_and_the_inputs_match_pytorch_autograd(case, simplify):
    make, model = CASES[case]
    d = make().derive(simplify=simplify, wrt=["x"])
    params, X, Y = point(d)
    mine, ref = ours(d, params, X, Y), theirs(model, params, X, Y)
    assert set(mine) == set(ref)
    for k in ref:
        assert rel(mine[k], ref[k]) < 1e-9, k


def test_gradients_equal_central_differences():
    d = block().derive(wrt=["x"])
    params, X, Y = point(d, B=2, seed=3)
    mine = ours(d, params, X, Y)

    def loss(p, x):
        return evaluate_batch(d.graph, p, x, Y)["l"].mean()

    h = 1e-6
    for k in [*params, "x"]:
        base = X if k == "x" else params[k]
        fd = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            hi, lo = base.copy(), base.copy()
            hi[idx] += h
            lo[idx] -= h
            args = [(params, hi), (params, lo)] if k == "x" else [({**params, k: hi}, X), ({**params, k: lo}, X)]
            fd[idx] = (loss(*args[0]) - loss(*args[1])) / (2 * h)
        assert rel(mine[k], fd) < 1e-6, k


def test_the_row_softmax_vjp_is_folded_to_p_and_equals_the_unfolded_derivative():
    d = block().derive()
    node = d.graph["P"]
    folded = attention.vjp(node, "S", sp.Symbol("G"))
    raw = tensor.vjp(node, "S", sp.Symbol("G"))
    assert "exp" not in str(folded.value.body) and "exp" in str(raw.value.body)
    rng = np.random.default_rng(1)
    values = {"S": rng.standard_normal((T * T, 3)), "G": rng.standard_normal((T * T, 3))}
    values["P"] = tensor.value(node, values, 3)
    meta = Meta(geometry=node.meta.geometry)
    one = [tensor.value(Node("dS", "index", expr=t.value, shape=(T * T,), meta=meta), values, 3)
           for t in (folded, raw)]
    assert rel(one[0], one[1]) < 1e-12


def test_the_backward_reads_as_the_course_writes_it():
    text = " ".join(block().derive().render().split())  # a long note wraps
    for line in ("((P transposed) G,", "(G K / sqrt(2),", "((G transposed) Q / sqrt(2),", "(G (V transposed),",
                 "row by row: P * (G - the sum of G * P over the row)"):
        assert line in text, line
    assert len(block().derive().render().splitlines()) < 80


@pytest.mark.parametrize("declare, message", [
    (lambda g, x: g.matmul("m", x, g.param("W", (3, 3))), "module m: cannot multiply x (3 x 2) by W (3 x 3)"),
    (lambda g, x: g.matmul("m", x, x, tb=True), "module m: x (x transposed) reads one value twice"),
    (lambda g, x: g.transpose("t", g.input("z", 3)), "module t: the transpose of z needs a matrix"),
    (lambda g, x: g.outer("o", x, g.param("W", (3, 3))), "module o: an outer product needs two vectors"),
    (lambda g, x: g.matmul("m", x, "later"), "'later' is never declared"),
    (lambda g, x: g.matmul("m", g.linear("u", g.param("W", (3, 6)), x), x), "u is not a matrix"),
    (lambda g, x: g.outer("o", g.input("z", 3), "z"), "module o: z (z transposed) reads one value twice"),
    (lambda g, x: g.sequence("s", 0, 2), "sequence s: tokens must be a positive integer"),
    (lambda g, x: g.dot("s", g.linear("u", g.param("W", (2, 6)), x), x), "the dot product of u (2,) and x (6,)"),
    (lambda g, x: g.dot("s", x, g.param("W", (6, 6))), "the dot product of x (6,) and W (6, 6) needs two vectors"),
    (lambda g, x: g.matmul("m", x, g.param("W", (2, 2)), scale="__import__('os')"), "m: scale must be a nonzero"),
    (lambda g, x: g.matmul("m", x, g.param("W", (2, 2)), scale=0), "module m: scale must be a nonzero number"),
    (lambda g, x: sb.Attention(tokens=2.5), "Attention: tokens must be a positive integer"),
    (lambda g, x: sb.Network(6, [sb.Attention(tokens=4)]), "its input width 6 is not a whole number of 4 tokens"),
])
def test_bad_shapes_fail_at_declaration_in_one_line(declare, message):
    g = sb.DAG()
    x = g.sequence("x", 3, 2)
    with pytest.raises(SymbackError) as exc:
        declare(g, x)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_gram_matrix_through_a_copy_matches_pytorch():
    """``h hᵀ`` reads one value twice, which one product refuses; ``h (copy of h)ᵀ`` derives both reads."""
    g = sb.DAG()
    h = g.matmul("h", g.sequence("x", 3, 2), g.param("W", (2, 2)), tb=True)
    g.loss(g.linear("f", g.param("V", (1, 9)), g.matmul("G", h, g.add("hc", h), tb=True)), "mse")
    d = g.derive(wrt=["x"])
    params, X, Y = point(d)

    def gram(P, X, Y):
        h = X.reshape(X.shape[0], 3, 2) @ P["W"].T
        return ((((h @ h.transpose(1, 2)).reshape(X.shape[0], 9)) @ P["V"].T - Y) ** 2).sum(dim=1).mean()

    mine, ref = ours(d, params, X, Y), theirs(gram, params, X, Y)
    for k in ref:
        assert rel(mine[k], ref[k]) < 1e-9, k


def test_a_linear_module_of_two_computed_values_points_to_the_products():
    g = sb.DAG()
    x = g.input("x", 3)
    k1, q1 = (g.linear(n, g.param(f"W{n}", (3, 3)), x) for n in ("k1", "q1"))
    g.loss(g.linear("s11", k1, q1), "mse")
    with pytest.raises(SymbackError, match=r"module s11: k1 must be a matrix, has shape \(3,\) \(a product of two "
                                           r"computed values is g.dot, g.outer or g.matmul\)"):
        g.graph()
