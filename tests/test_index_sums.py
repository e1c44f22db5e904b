"""Index notation in `sb.grad` and `symback grad`: Sum over indexed components (issue 11).

The linear layer with squared error, L = 1/2 sum_i (sum_j W[i,j] x[j] - y[i])^2, written with integer
bounds (lowered to one leaf per component) and with symbolic bounds (the index form dL/dW[k,l]).
"""

import contextlib
import io
import json
import time

import mpmath
import numpy as np
import pytest
import sympy as sp

import symback as sb
from symback.cli import main

LAYER = "L = Sum((Sum(W[i,j]*x[j], (j, 1, {n})) - y[i])**2, (i, 1, {m}))/2"
W_, X_, Y_ = sp.IndexedBase("W"), sp.IndexedBase("x"), sp.IndexedBase("y")


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def _point(m=2, n=3, seed=0):
    """Exact rational W (m x n), x (n), y (m) as arrays and as the --at mapping of components."""
    rng = np.random.default_rng(seed)
    draw = lambda *shape: np.vectorize(lambda v: sp.Rational(int(v), 7))(rng.integers(-20, 20, shape))  # noqa: E731
    W, x, y = draw(m, n), draw(n), draw(m)
    at = {f"W[{i + 1},{j + 1}]": W[i, j] for i in range(m) for j in range(n)}
    at.update({f"x[{j + 1}]": x[j] for j in range(n)} | {f"y[{i + 1}]": y[i] for i in range(m)})
    return W, x, y, at


def _matrix_gradient(W, x, y):
    """The layer's gradients as matrices: r = W x - y, dW = r x^T, dx = W^T r, dy = -r."""
    r = W.dot(x) - y
    return np.outer(r, x), W.T.dot(r), -r


def test_concrete_layer_gradient_equals_the_matrix_form_and_central_differences():
    g = sb.grad(LAYER.format(n=3, m=2))
    W, x, y, at = _point()
    assert g.wrt == [*(f"W[{i},{j}]" for i in (1, 2) for j in (1, 2, 3)), "x[1]", "x[2]", "x[3]", "y[1]", "y[2]"]
    got = g.at(at).grad
    dW, dx, dy = _matrix_gradient(W, x, y)
    for i in range(2):
        assert got[f"y[{i + 1}]"] == dy[i]
        for j in range(3):
            assert got[f"W[{i + 1},{j + 1}]"] == dW[i, j]
    assert [got[f"x[{j + 1}]"] for j in range(3)] == list(dx)
    # central differences on the lowered expression, in exact rationals: L is quadratic, so they are exact
    user = g.summary.user_symbols
    L = lambda shift: g.expr.xreplace({user[v]: at[v] + shift.get(v, 0) for v in g.wrt})  # noqa: E731
    h = sp.Rational(1, 1000)
    for v in g.wrt:
        assert (L({v: h}) - L({v: -h})) / (2 * h) == got[v]
    # and at 50 digits with a tiny step, to 1e-12 relative
    f = sp.lambdify([[user[v] for v in g.wrt]], g.expr, "mpmath")
    with mpmath.workdps(50):
        base = [mpmath.mpf(at[v].p) / at[v].q for v in g.wrt]
        for k, v in enumerate(g.wrt):
            up, down = list(base), list(base)
            up[k] += mpmath.mpf("1e-20")
            down[k] -= mpmath.mpf("1e-20")
            fd = (f(up) - f(down)) / mpmath.mpf("2e-20")
            assert abs(fd - mpmath.mpf(got[v].p) / got[v].q) <= 1e-12 * max(1, abs(fd))


def test_python_components_have_gradients_and_arrays_none():
    i, j = sp.symbols("i j")
    L = sp.Sum((sp.Sum(W_[i, j] * X_[j], (j, 1, 2)) - Y_[i]) ** 2, (i, 1, 2)) / 2
    g = sb.grad(L)
    assert "W" not in g.gradient and "x" not in g.gradient
    leaf = {str(i).replace(" ", ""): sp.Symbol(str(i).replace(" ", "")) for i in (W_[1, 1], W_[1, 2], X_[1], X_[2], Y_[1])}
    want = (leaf["W[1,1]"] * leaf["x[1]"] + leaf["W[1,2]"] * leaf["x[2]"] - leaf["y[1]"]) * leaf["x[2]"]
    assert sp.expand(g.expanded()[W_[1, 2]] - want) == 0
    assert list(sb.grad(W_[1, 2] * X_[2]).gradient) == ["W[1,2]", "x[2]"]
    assert sb.grad(L, wrt=W_).wrt == ["W[1,1]", "W[1,2]", "W[2,1]", "W[2,2]"]
    assert sb.grad(L, wrt=[X_[2]]).wrt == ["x[2]"]


def test_symbolic_bounds_give_the_index_form():
    g = sb.grad(LAYER.format(n="n", m="m"))
    assert g.wrt == ["W[k,l]", "x[k]", "y[k]"]
    assert sp.sstr(g.gradient["W[k,l]"]) == "(-y[k] + Sum(W[k, j]*x[j], (j, 1, n)))*x[l]"
    assert sp.sstr(g.gradient["y[k]"]) == "y[k] - Sum(W[k, j]*x[j], (j, 1, n))"
    assert sp.sstr(g.gradient["x[k]"]) == "Sum((-y[i] + Sum(W[i, j]*x[j], (j, 1, n)))*W[i, k], (i, 1, m))"
    # with the sizes fixed, the index form equals the matrix form at every component
    W, x, y, at = _point()
    dW, dx, dy = _matrix_gradient(W, x, y)
    values = {sp.Indexed(b, *map(int, name[2:-1].split(","))): v for name, v in at.items()
              for b in (W_, X_, Y_) if name[0] == b.label.name}
    sizes = {s: {"n": 3, "m": 2}[s.name] for e in g.gradient.values() for s in e.free_symbols if s.name in "nm"}
    for (a, b_), want in np.ndenumerate(dW):
        e = g.gradient["W[k,l]"].xreplace(sizes).xreplace({s: {"k": a + 1, "l": b_ + 1}[s.name]
                                                            for s in g.gradient["W[k,l]"].free_symbols
                                                            if s.name in "kl"})
        assert e.doit().xreplace(values) == want
    for a, want in enumerate(dx):
        e = g.gradient["x[k]"]
        e = e.xreplace(sizes).xreplace({s: a + 1 for s in e.free_symbols if s.name == "k"})
        assert e.doit().xreplace(values) == want


def test_index_form_prints_sums_with_their_bounds():
    g = sb.grad(LAYER.format(n="n", m="m"))
    text = g.render("text")
    assert "dL/dW[k, l] = (-y[k] + Sum(W[k, j]*x[j], (j, 1, n)))*x[l]" in text
    assert "∂L/∂W[k, l] = (-y[k] + ∑ⱼ₌₁ⁿ W[k, j]*x[j])*x[l]" in g.render("unicode")
    assert "∂L/∂x[k]    = ∑ᵢ₌₁^m (-y[i] + ∑ⱼ₌₁ⁿ W[i, j]*x[j])*W[i, k]" in g.render("unicode")
    latex = g.render("latex")
    assert r"\frac{\partial L}{\partial {W}_{k,l}} &= \left(- {y}_{k} + \sum_{j=1}^{n} {W}_{k,j} {x}_{j}\right) {x}_{l}" \
        in latex
    assert "\\begin{aligned}" in g.render("markdown")
    with pytest.raises(ValueError, match="symbolic bounds"):
        g.at({"n": 3})


def test_cli_concrete_and_symbolic():
    code, out, err = run("grad", LAYER.format(n=2, m=2), "--wrt", "W",
                         "--at", "W[1,1]=1,W[1,2]=2,W[2,1]=0,W[2,2]=-1,x[1]=3,x[2]=4,y[1]=5,y[2]=1")
    assert code == 0 and err == ""
    assert "dL/dW[1,2] = x[2]*(W[1,1]*x[1] + W[1,2]*x[2] - y[1]) = 24" in out
    assert "dL/dW[2,1] = x[1]*(W[2,1]*x[1] + W[2,2]*x[2] - y[2]) = -15" in out
    code, out, _ = run("grad", LAYER.format(n="n", m="m"))
    assert code == 0 and "dL/dW[k, l] = (-y[k] + Sum(W[k, j]*x[j], (j, 1, n)))*x[l]" in out
    code, out, _ = run("grad", LAYER.format(n="n", m="m"), "--json", "--wrt", "W")
    assert json.loads(out)["gradient"] == {"W[k,l]": "(-y[k] + Sum(W[k, j]*x[j], (j, 1, n)))*x[l]"}
    code, out, _ = run("grad", "Sum(x[j]**2, (j, 1, 3))", "--wrt", "x[2]", "--json")
    assert json.loads(out)["gradient"] == {"x[2]": "2*Symbol('x[2]')"}  # reads back with sympify


def _one_line(code, out, err):
    assert code == 2, (code, out[:300], err[:300])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symback: error: ") and len(lines[0]) < 300, err[:500]


@pytest.mark.parametrize("text, says", [
    ("Sum(W[i,j]*x[j], (j, 1, 3))", "index i of W[i, j] is not summed over"),
    ("Sum(x[k], (j, 1, 3))", "index k of x[k] is not summed over"),
    ("Sum(W[j]*W[j,j], (j, 1, 3))", "W is used with"),
    ("Sum(x[j], (j, 1, 3)) + j", "j is a Sum's index and also a variable"),
    ("Sum(x[j], (j, 1, 3)) + x", "x is an array and also a variable"),
    ("Sum(Sum(x[j], (j, 1, 2))*x[j], (j, 1, 2))", "index j is summed twice"),
    ("Sum(x[j], (j, 1, 3/2))", "is 3/2, not an integer"),
    ("Sum(x[j], (j, 1.5, 3))", "not an integer"),
    ("Sum(x[j], (j, 1, j))", "must be an integer or a size"),
    ("Sum(x[j], (j, 1))", "should be (index, first, last)"),
    ("Sum(x[j], j)", "should be (index, first, last)"),
    ("Sum(x[j], (2, 1, 3))", "should be (index, first, last)"),
    ("Sum(x[j])", "Sum takes a term then (index, first, last)"),
    ("Sum(x[j], (j, 3, 1))", "has no terms"),
    ("Sum(x[j], (j, 0, 2))", "counted from 1"),
    ("x[0]", "counted from 1"),
    ("x[i+1]", "must be a name or a whole number"),
    ("x[]", "x[] needs an index"),
    ("x[1)", "')' does not close the '[' opened at column 2"),
    ("[1, 2]", "square brackets only index a name"),
    ("(x + y)[1]", "square brackets only index a name"),
    ("Sum(x[j], (j, 1, 10**9))", "1,000,000,000 terms (limit 2,000)"),
    ("Sum(Sum(W[i,j], (j, 1, 1000)), (i, 1, 1000))", "1,000,000 terms (limit 2,000)"),
])
def test_bad_index_input_is_one_line(text, says):
    start = time.perf_counter()
    code, out, err = run("grad", text)
    _one_line(code, out, err)
    assert says in err
    assert time.perf_counter() - start < 5  # refused before any expansion
    with pytest.raises(ValueError, match=None):
        sb.grad(text)


@pytest.mark.parametrize("text", [
    "Sum(__import__('os').system('touch {m}'), (j, 1, 3))",
    "x[__import__('os').system('touch {m}')]",
    "Sum(x[j], (j, 1, __import__('os').system('touch {m}')))",
    "W[().__class__]",
    "x[1:2]",
])
def test_hostile_index_text_is_never_run(text, tmp_path):
    marker = tmp_path / "marker"
    _one_line(*run("grad", text.format(m=marker)))
    assert not marker.exists()


def test_at_names_components_and_refuses_bad_ones():
    _one_line(*run("grad", "Sum(x[j]**2, (j, 1, 2))", "--at", "x[1]=1"))
    _one_line(*run("grad", "Sum(x[j]**2, (j, 1, 2))", "--at", "x[1]=1,x[2]=2,x[3]=4"))
    _one_line(*run("grad", "Sum(x[j]**2, (j, 1, 2))", "--at", "x[a]=1"))
    code, out, _ = run("grad", "Sum(x[j]**2, (j, 1, 2))", "--at", "x[1]=1, x[ 2 ]=3", "--json")
    assert code == 0 and json.loads(out)["grad_at"] == {"x[1]": 2, "x[2]": 6}


def test_concrete_json_reads_back_with_sympify():
    code, out, _ = run("grad", "Sum(W[j]*x[j], (j, 1, 2))**2", "--json", "--expand")
    data = json.loads(out)
    assert data["variables"] == ["W[1]", "W[2]", "x[1]", "x[2]"]
    names = {v: sp.Symbol(v) for v in data["variables"]}
    assert sp.sympify(data["gradient"]["W[2]"], locals=names) == \
        2 * names["x[2]"] * (names["W[1]"] * names["x[1]"] + names["W[2]"] * names["x[2]"])


def test_symbolic_form_also_differentiates_scalar_variables():
    g = sb.grad("J = lam/2*Sum(w[j]**2, (j, 1, n)) + Sum((w[j]*x[j] - t)**2, (j, 1, n))", wrt=["lam", "w", "t"])
    assert g.wrt == ["lam", "w[k]", "t"]
    assert sp.sstr(g.gradient["lam"]) == "Sum(w[j]**2, (j, 1, n))/2"
    assert sp.sstr(g.gradient["w[k]"]) == "lam*w[k] - 2*(t - w[k]*x[k])*x[k]"
    assert sp.sstr(g.gradient["t"]) == "2*Sum(t - w[j]*x[j], (j, 1, n))"
    with pytest.raises(ValueError, match="not an array or variable"):
        sb.grad("Sum(x[j]**2, (j, 1, n))", wrt="z")


def test_a_range_condition_stays_where_it_is_not_the_whole_array():
    """x[1] outside Sum(..., (j, 2, n)): d/dx[k] is 1 only for k >= 2, so that condition is kept."""
    g = sb.grad("Sum(x[j], (j, 2, n)) + x[1]**2")
    d = g.gradient["x[k]"]
    assert d.has(sp.Piecewise)
    k = next(s for s in d.free_symbols if s.name == "k")
    n = next(s for s in d.free_symbols if s.name == "n")
    x1 = sp.IndexedBase("x")[1]
    assert d.xreplace({k: 1, n: 4}).doit() == 2 * x1
    assert d.xreplace({k: 3, n: 4}).doit() == 1
