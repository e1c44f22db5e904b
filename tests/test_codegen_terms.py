"""Products with several or scaled terms, in every layout, against the IR's reference evaluator.

No front end declares them yet (``linear`` is ``W x + b``), so the test declares them the way
`DAG.linear` does: a ``linear`` declaration whose build returns the matrix expression. In the BLAS
layout each extra forward term needs its own scratch view, and a scaled backward product (``2 W^T g``,
``2 g h^T``) or a weight used twice in one node goes through scratch that must be allocated.
"""

from __future__ import annotations

import numpy as np
import pytest

import symback as sb
from symback.codegen.plan import Affine
from symback.declare.dag import _Decl
from symback.ir import Meta
from symback.ops.base import msym
from tests.codegen_support import ALL, batch, compiled, perturbed, reference, rel, with_layout


def _product(g, name: str, shapes: dict, expr, size: int) -> str:
    """A ``linear`` value `name` = `expr` (a function of the args' matrix symbols) of `size` components."""
    m = {k: msym(k, s) for k, s in shapes.items()}
    return g._declare(_Decl(name, "linear", tuple(shapes), None, lambda _: (expr(m), (size,)), Meta(kind="pre")))


def _five_terms():
    """f3 = W1 h1 + 2 W2^T h2 + W3 x + W4 h1 + W1 h4 + b: five matvec terms, W1 twice, h1 twice, one scaled."""
    g = sb.DAG("terms")
    x = g.input("x", 3)
    for name, shape in [("A", (4, 3)), ("a", 4), ("C", (3, 3)), ("W1", (5, 4)), ("W2", (3, 5)), ("W3", (5, 3)),
                        ("W4", (5, 4)), ("b", 5), ("V", (2, 5))]:
        g.param(name, shape)
    f1 = g.linear("f1", "A", x, "a")
    g.map("h1", f1, "tanh")
    g.map("h4", f1, "sigmoid")
    g.map("h2", g.linear("f2", "C", x), "sigmoid")
    shapes = {"W1": (5, 4), "h1": (4,), "W2": (3, 5), "h2": (3,), "W3": (5, 3), "x": (3,), "W4": (5, 4), "h4": (4,),
              "b": (5,)}
    _product(g, "f3", shapes, lambda m: m["W1"] * m["h1"] + 2 * m["W2"].T * m["h2"] + m["W3"] * m["x"]
             + m["W4"] * m["h1"] + m["W1"] * m["h4"] + m["b"], 5)
    g.loss(g.linear("out", "V", g.map("h3", "f3", "tanh")), "mse")
    return g, 5


def _scaled():
    """out = 2 W h: one scaled term, so only the backward products (2 W^T g, 2 g h^T) need scratch."""
    g = sb.DAG("scaled")
    h = g.map("h", g.linear("f1", g.param("A", (4, 3)), g.input("x", 3)), "tanh")
    g.param("W", (2, 4))
    g.loss(_product(g, "out", {"W": (2, 4), h: (4,)}, lambda m: 2 * m["W"] * m["h"], 2), "mse")
    return g, 1


@pytest.mark.parametrize("make", [_five_terms, _scaled])
def test_products_match_the_reference_in_every_layout(make):
    net, matvecs = make()
    mod, d, plan = compiled(f"{net.name}|all", net, layouts=ALL)
    node = "f3" if matvecs > 1 else "out"
    assert sum(t.kind == "matvec" for st in plan.steps if isinstance(st, Affine) and st.node == node
               for t in st.terms) == matvecs
    rng = np.random.default_rng(0)
    for layout in ALL:
        with with_layout(mod, layout):
            for B in (1, 7):
                params = perturbed(mod, rng)
                X, Y = batch(plan, B, rng)
                loss, grads = mod.loss_and_grad(params, X, Y)
                want, wgrads = reference(d, plan, params, X, Y)
                assert rel(loss, want) < 1e-12, (layout, B)
                for p in mod.PARAMS:
                    assert rel(grads[p], wgrads[p]) < 1e-12, (layout, B, p)
                out = mod.forward(params, X)
                P = {k: np.asarray(v, dtype=float) for k, v in params.items()}
                for s in range(B):
                    v = d.evaluate(P, {"x": X[s]}, Y[s])
                    assert rel(out[s], np.ravel(v["out"])) < 1e-12, (layout, B, s)
