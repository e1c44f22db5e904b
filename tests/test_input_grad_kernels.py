"""Compiled input gradients: ``input_grad(params, X, Y)`` in the module of ``derive(wrt=["x"])`` (issue 11).

d(batch loss)/dX from the generated kernels equals PyTorch autograd's ``X.grad`` on the mean loss (float64, 1e-9
relative; float32, 1e-4) in every loop layout, and central differences of the module's own loss; dropout is off in
it (as in forward()); a DAG's inputs come side by side as in X; the training kernels are those of ``derive()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_grad_cli import run

import symback as sb
from symback.codegen import compile_derivation
from symback.codegen.inputgrad import for_parameters
from symback.codegen.module import generate
from tests.codegen_support import ALL, CACHE, with_layout

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from two_inputs import net as two_inputs

NET = sb.Network(3, [sb.Dense(5, "tanh"), sb.Dropout(0.5), sb.Dense(3)], loss="softmax_cross_entropy")
_MODULES: dict = {}


def module(key, declared, wrt, layouts=None):
    if key not in _MODULES:
        CACHE.mkdir(parents=True, exist_ok=True)
        _MODULES[key] = compile_derivation(declared.derive(wrt=wrt), CACHE / f"input_grad_{key}.py", force=True,
                                           source=f"tests (input_grad {key})", layouts=layouts)
    return _MODULES[key]


def instance(mod, B, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = mod.init_params(seed=seed, dtype=dtype)
    for k in mod.PARAMS:
        params[k][...] += (0.3 * rng.standard_normal(params[k].shape)).astype(dtype)
    return params, rng.standard_normal((B, mod.N_IN)).astype(dtype), rng.integers(0, mod.N_OUT, B)


def torch_dx(params, X, Y):
    """X.grad of the mean cross-entropy of the network without dropout (dropout off)."""
    t = {k: torch.tensor(np.asarray(v, dtype=float), requires_grad=True) for k, v in {**params, "x": X}.items()}
    f = torch.tanh(t["x"] @ t["W1"].T + t["b1"]) @ t["W2"].T + t["b2"]
    torch.nn.functional.cross_entropy(f, torch.tensor(Y)).backward()
    return t["x"].grad.numpy()


def rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, float) - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("layout", ALL)
def test_input_grad_equals_pytorch_in_every_layout(layout):
    mod = module("mlp", NET, ["x"], ALL)
    params, X, Y = instance(mod, B=7)
    with with_layout(mod, layout):
        dx = mod.input_grad(params, X, Y)
    assert dx.shape == (7, 3)
    assert rel(dx, torch_dx(params, X, Y)) < 1e-9


def test_float32_input_grad():
    mod = module("mlp", NET, ["x"], ALL)
    params, X, Y = instance(mod, B=5, dtype=np.float32)
    dx = mod.input_grad(params, X, Y)
    assert dx.dtype == np.float32 and rel(dx, torch_dx(params, X.astype(float), Y)) < 1e-4


def test_input_grad_equals_central_differences_of_the_modules_loss():
    mod = module("mlp", NET, ["x"], ALL)
    params, X, Y = instance(mod, B=3, seed=4)

    def loss(X):  # the mean cross-entropy of the module's output, dropout off
        return float(np.mean([np.log(np.exp(f - f.max()).sum()) + f.max() - f[y]
                              for f, y in zip(mod.forward(params, X), Y)]))

    eps, dx, num = 1e-6, mod.input_grad(params, X, Y), np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        up[idx] += eps
        down[idx] -= eps
        num[idx] = (loss(up) - loss(down)) / (2 * eps)
    assert rel(dx, num) < 1e-7


def test_a_dags_inputs_gradients_come_side_by_side_as_in_x():
    mod = module("two_inputs", two_inputs, ["xa", "xb"])
    params, X, Y = instance(mod, B=4)
    given = {**params, "xa": X[:, :3], "xb": X[:, 3:]}
    t = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in given.items()}
    hid = torch.tanh(torch.cat([t["xa"], t["xb"]], dim=1) @ t["W1"].T + t["b1"])
    torch.nn.functional.cross_entropy(hid @ t["W2"].T + t["b2"], torch.tensor(Y)).backward()
    expected = np.concatenate([t["xa"].grad.numpy(), t["xb"].grad.numpy()], axis=1)
    assert rel(mod.input_grad(params, X, Y), expected) < 1e-9
    assert rel(mod.input_grad(params, {"xa": X[:, :3], "xb": X[:, 3:]}, Y), expected) < 1e-9


def test_the_training_kernels_are_those_of_the_parameters_derivation():
    plain, wrt = NET.derive(), NET.derive(wrt=["x", "h1"])
    assert [n.name for n in for_parameters(wrt).graph] == [n.name for n in plain.graph]
    text = generate(wrt, "net", layouts=("sample",))
    assert "def input_grad(params, X, Y)" in text and "input_grad(params, X, Y)    -> d(batch loss)/dX" in text
    def kernel(text):
        return text.split("def _step_sample(")[1].split("\n\n\n")[0]

    assert kernel(text) == kernel(generate(plain, "net", layouts=("sample",)))
    assert "def input_grad" not in generate(NET.derive(wrt=["h1"]), "net")  # an intermediate is not compiled
    assert "def input_grad" not in generate(wrt, "net", inference=True)  # no loss: no input gradient


def test_input_grad_checks_its_arguments():
    mod = module("mlp", NET, ["x"], ALL)
    params, X, Y = instance(mod, B=4)
    with pytest.raises(ValueError, match="Y: expected shape"):
        mod.input_grad(params, X, Y[:2])
    with pytest.raises(ValueError, match="X: expected shape"):
        mod.input_grad(params, X[:, :2], Y)


def test_symback_compile_wrt_x_writes_input_grad(tmp_path):
    out = tmp_path / "dx.py"
    code, _, err = run("compile", "examples/cs229_two_layer.py:two_layer", "--wrt", "x", "-o", str(out))
    assert code == 0, err
    assert "def input_grad(params, X, Y)" in out.read_text() and "--wrt x" in out.read_text().splitlines()[0]
    code, _, err = run("compile", "examples/cs229_two_layer.py:two_layer", "--wrt", "nope", "-o", str(out))
    assert code == 2 and "'nope' is not a value" in err


def test_one_of_a_dags_inputs_gives_its_columns_alone():
    text = generate(two_inputs.derive(wrt=["xb"]), "two_inputs", layouts=("sample",))
    assert "input_grad(params, X, Y)    -> d(batch loss)/dX, shape (batch, 2): each sample's dl/d(xb)" in text
    assert "def input_grad(params, X, Y):\n    \"\"\"d(batch loss)/dX, shape (batch, 2)" in text


def test_an_input_with_two_consumers_a_residual_gets_its_summed_gradient():
    """x feeds both W x and the residual add x + tanh(W x): dl/dx is the sum of the two paths (a step no later
    step reads, kept for input_grad), equal to PyTorch's X.grad."""
    g = sb.DAG("residual_x")
    x = g.input("x", 3)
    g.param("W", (3, 3))
    g.add("out", x, g.map("h", g.linear("u", "W", x), "tanh"))
    g.loss("out", "mse")
    mod = module("residual_x", g, ["x"], layouts=("sample",))
    rng = np.random.default_rng(4)
    params = {"W": rng.standard_normal((3, 3))}
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    t = {k: torch.tensor(v, requires_grad=True) for k, v in {"W": params["W"], "x": X}.items()}
    out = t["x"] + torch.tanh(t["x"] @ t["W"].T)
    (((out - torch.tensor(Y)) ** 2).sum(dim=1).mean()).backward()
    assert rel(mod.input_grad(params, X, Y), t["x"].grad.numpy()) < 1e-9
