"""The PyTorch bridge: sb.from_torch makes the Network of an nn.Sequential MLP; its compiled module, loaded with
the model's state_dict, gives the model's outputs and loss gradients to 1e-12 in float64; weights round-trip
bit for bit; unsupported models and bad state dicts are refused in one line, nothing updated."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import symback as sb
from tests.codegen_support import CACHE, ROOT, compiled, rel

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

#: model, symback loss, the same loss in PyTorch (symback's convention: per sample summed, mean over the batch)
MODELS = {
    "tanh_mse": (lambda: nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)), "mse",
                 lambda f, y: ((f - y) ** 2).sum(1).mean()),
    "relu_ce": (lambda: nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)),
                "cross_entropy", F.cross_entropy),
    "leaky_sigmoid_bce": (lambda: nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(0.2), nn.Linear(6, 3), nn.Sigmoid()),
                          "bce", lambda f, y: F.binary_cross_entropy(f, y, reduction="none").sum(1).mean()),
    "settings_mse": (lambda: nn.Sequential(nn.Linear(3, 5), nn.ELU(0.5), nn.Linear(5, 5), nn.GELU("tanh"),
                                           nn.Linear(5, 4), nn.Softplus(beta=2), nn.Linear(4, 4), nn.SiLU(),
                                           nn.Linear(4, 3), nn.Softsign(), nn.Linear(3, 2), nn.Identity()),
                     "mse", lambda f, y: ((f - y) ** 2).sum(1).mean()),
}


def setup(key):
    """(torch model in float64, compiled module, plan), the model's weights drawn by torch's seeded init."""
    make, loss, _ = MODELS[key]
    torch.manual_seed(len(key))
    model = make().double()
    mod, _, plan = compiled(f"torch-bridge|{key}", sb.from_torch(model, loss=loss))
    return model, mod, plan


def data(plan, B, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, plan.n_in))
    if plan.labels:
        Y = rng.integers(0, plan.n_out, B)
    else:
        Y = rng.uniform(0.05, 0.95, (B, plan.n_out)) if plan.loss == "bce" else rng.standard_normal((B, plan.n_out))
    return X, Y


@pytest.mark.parametrize("key", sorted(MODELS))
def test_outputs_and_gradients_match_the_torch_model(key):
    model, mod, plan = setup(key)
    params = sb.load_torch_state(mod, model.state_dict())
    assert params["W1"].dtype == np.float64 and np.array_equal(params["W1"], model[0].weight.detach().numpy())
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for B in (1, 7, 64):
        X, Y = data(plan, B, B)
        out = model(torch.tensor(X))
        assert rel(mod.forward(params, X), out.detach().numpy()) < 1e-12, B
        loss, grads = mod.loss_and_grad(params, X, Y)
        model.zero_grad()
        want = MODELS[key][2](out, torch.tensor(Y))
        want.backward()
        assert rel(loss, want.item()) < 1e-12, B
        for k, layer in enumerate(linears, 1):
            assert rel(grads[f"W{k}"], layer.weight.grad.numpy()) < 1e-12, (B, k)
            assert rel(grads[f"b{k}"], layer.bias.grad.numpy()) < 1e-12, (B, k)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_weights_round_trip_bitwise(dtype):
    model, mod, _ = setup("relu_ce")
    model = model.to(dtype)
    state = model.state_dict()
    params = sb.load_torch_state(mod, state)
    assert params.packed and params["W2"].dtype == {torch.float64: np.float64, torch.float32: np.float32}[dtype]
    back = sb.to_torch_state(params, model)
    assert list(back) == list(state)
    for k, t in state.items():
        assert back[k].dtype == dtype and torch.equal(back[k], t), k
    fresh = MODELS["relu_ce"][0]().to(dtype)
    fresh.load_state_dict(back)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), state.values()))
    plain = {k: np.array(v) for k, v in mod.init_params(dtype=params["W1"].dtype).items()}
    assert sb.load_torch_state(plain, state) is plain and np.array_equal(plain["b3"], state["4.bias"].numpy())


def test_the_network_and_an_inference_module(tmp_path):
    """The Network says what the model is; its inference module predicts the model's classes."""
    model, _, _ = setup("relu_ce")
    net = sb.from_torch(model, loss="cross_entropy", name="mlp")
    assert repr(net) == ("Network(n_in=5, layers=[Dense(16, 'relu'), Dense(8, 'relu'), Dense(4, 'identity')], "
                         "loss='softmax_cross_entropy')")
    text = net.derive().render(notation="cs229")  # the model's equations
    assert "a^[2] = max(0, z^[2])" in text and "delta^[3] = p - e_y" in text, text
    CACHE.mkdir(parents=True, exist_ok=True)
    inf = net.derive().compile(CACHE / "torch_bridge_inference.py", force=True, inference=True)
    params = sb.load_torch_state(inf, model.state_dict())
    X = np.random.default_rng(3).standard_normal((20, 5))
    assert np.array_equal(inf.predict(params, X), model(torch.tensor(X)).argmax(1).numpy())
    act = sb.from_torch(nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Linear(3, 1), nn.Softplus(beta=2)))
    assert [str(layer.fn(sb.library.Z)) for layer in act.layers] == ["Piecewise((z, z > 0), (z/5, True))",
                                                                    "log(exp(2*z) + 1)/2"]


@pytest.mark.parametrize("model, error, words", [
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Dropout2d(0.5), nn.Linear(4, 1)), ValueError,
     ["layer 1 (Dropout2d) is not supported", "LeakyReLU", "Linear"]),
    (lambda: nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU()), ValueError, ["layer 0 (Linear)", "bias=False"]),
    (lambda: nn.Sequential(nn.ReLU(), nn.Linear(3, 4)), ValueError, ["layer 0 (ReLU) comes first"]),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Tanh()), ValueError, ["layer 2 (Tanh) follows another"]),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 1)), ValueError, ["layer 1 (Linear) takes 5", "gives 4"]),
    (lambda: nn.Sequential(nn.Identity()), ValueError, ["no Linear layer"]),
    (lambda: nn.Linear(3, 4), TypeError, ["torch.nn.Sequential", "got Linear"]),
])
def test_unsupported_models_are_refused(model, error, words):
    with pytest.raises(error) as info:
        sb.from_torch(model())
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_bad_state_dicts_update_nothing():
    model, mod, _ = setup("tanh_mse")
    state = model.state_dict()
    params = mod.init_params()
    before = params.flat.copy()
    cases = [
        ({k: v for k, v in state.items() if k != "2.bias"}, ValueError, "missing '2.bias'"),
        ({k: v for k, v in state.items() if k.startswith("0.")}, ValueError, "missing the tensors of W2, b2"),
        ({**state, "4.weight": torch.zeros(1, 2), "4.bias": torch.zeros(1)}, ValueError, "unexpected '4.weight'"),
        ({**state, "0.running_mean": torch.zeros(8)}, ValueError, "unexpected '0.running_mean'"),
        ({**state, "2.weight": torch.zeros(2, 7, dtype=torch.float64)}, ValueError, "shape (2, 7), but W2"),
        ({k: v.float() for k, v in state.items()}, TypeError, "dtype float32, but params['W1'] is float64"),
        ({**state, "0.bias": np.zeros(8)}, TypeError, "expected a torch tensor, got ndarray"),
        ({**state, "0.bias": torch.zeros(8, dtype=torch.int64)}, TypeError, "torch.int64"),
        ({**state, "2.bias": [0.0, 0.0]}, TypeError, "state_dict['2.bias']: expected a torch tensor, got list"),
        ([("0.weight", state["0.weight"])], TypeError, "expected a dict of tensors"),
    ]
    for bad, error, words in cases:
        with pytest.raises(error) as info:
            sb.load_torch_state(params, bad)
        assert words in str(info.value) and "\n" not in str(info.value), str(info.value)
        assert np.array_equal(params.flat, before)
    with pytest.raises(ValueError, match="params: missing 'b2'"):
        sb.load_torch_state({k: v for k, v in params.items() if k != "b2"}, state)
    with pytest.raises(ValueError, match="params: missing 'beta1'"):  # a norm layer's gamma1 needs its beta1
        sb.load_torch_state({**params, "gamma1": np.ones(3)}, state)
    with pytest.raises(ValueError, match=r"shape \(8, 3\), but W1 has shape \(3, 3\)"):
        sb.to_torch_state({**params, "W1": np.zeros((3, 3))}, model)
    with pytest.raises(TypeError, match="the torch.nn.Module"):
        sb.to_torch_state(params, state)
    linear = nn.Linear(2, 3).double()  # a bare Linear's state dict: "weight", "bias"
    p = sb.load_torch_state({"W1": np.zeros((3, 2)), "b1": np.zeros(3)}, linear.state_dict())
    assert np.array_equal(p["W1"], linear.weight.detach().numpy())
    assert list(sb.to_torch_state(p, linear)) == ["weight", "bias"]


def test_symback_imports_without_torch():
    """torch is imported by the bridge's functions only: `import symback` does not load it, and without torch
    the bridge says what it needs in one line."""
    code = ("import sys, symback as sb; print('torch' in sys.modules); sys.modules['torch'] = None\n"
            "try:\n    sb.from_torch(None)\nexcept ImportError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == "False\nthe PyTorch bridge needs torch (pip install torch); symback and its modules do not\n"
