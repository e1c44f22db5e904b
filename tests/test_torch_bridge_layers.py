"""The PyTorch bridge for the layers beyond Linear: Conv1d/2d, MaxPool/AvgPool 1d/2d, Flatten, BatchNorm1d,
LayerNorm, Dropout, Softmax and activations after them. Each torch model (float64, training mode) -> sb.from_torch
-> load_torch_state gives the model's loss and every parameter's gradient by the derivation's NumPy oracle
(`evaluate_batch`) to 1e-9 relative; weights (a conv kernel reshaped) round-trip bit for bit; the settings symback
has no equivalent for are refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symback as sb
from symback.numeric import evaluate_batch
from tests.codegen_support import compiled

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


def mse(f, y):
    return ((f - y) ** 2).sum(1).mean()


#: model, input shape given to from_torch (None: from the first layer), input shape of a sample, loss, torch's loss
MODELS = {
    "cnn": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(18, 3)), (1, 6, 6), (1, 6, 6), "cross_entropy", F.cross_entropy),
    "bn_mlp": (lambda: nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6, eps=1e-3), nn.ReLU(), nn.Linear(6, 3)),
               None, (4,), "mse", mse),
    "layernorm": (lambda: nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 5), nn.Tanh(), nn.LayerNorm(5, eps=1e-3),
                                        nn.Sigmoid(), nn.Linear(5, 2)), None, (4,), "mse", mse),
    "dropout_softmax": (lambda: nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Dropout(0.25), nn.Linear(5, 4),
                                              nn.Softmax(dim=-1)), 3, (3,), "mse", mse),
    "conv1d_pools": (lambda: nn.Sequential(nn.Conv1d(2, 3, 3, stride=2, padding=1), nn.Tanh(),
                                           nn.MaxPool1d(3, stride=1, padding=1), nn.AvgPool1d(2), nn.Flatten(),
                                           nn.Linear(6, 2)), (2, 7), (2, 7), "mse", mse),
    "conv2d_same_avg": (lambda: nn.Sequential(nn.Conv2d(2, 2, 3, dilation=2, padding="same"),
                                              nn.AvgPool2d(2, padding=1), nn.ELU(), nn.Flatten(), nn.Linear(32, 2)),
                        (2, 6, 6), (2, 6, 6), "mse", mse),
}


def model_and_net(key):
    make, given, _, loss, _ = MODELS[key]
    torch.manual_seed(len(key))
    model = make().double().train()
    return model, sb.from_torch(model, loss=loss, input_shape=given)


def close(ours, theirs, what) -> None:
    """1e-9 relative to the largest entry (absolutely 1e-13 for a gradient that is 0, a bias before BatchNorm)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    assert np.max(np.abs(ours - theirs)) <= 1e-9 * np.max(np.abs(theirs)) + 1e-13, what


@pytest.mark.parametrize("key", sorted(MODELS))
def test_loss_and_every_gradient_equal_torch_autograd(key):
    model, net = model_and_net(key)
    d = net.derive(simplify=False)
    params = sb.load_torch_state({p: np.zeros(d.graph[p].shape) for p in d.params}, model.state_dict())
    _, _, shape, _, torch_loss = MODELS[key]
    rng = np.random.default_rng(7)
    B = 5
    X = rng.standard_normal((B, *shape))
    masks = []  # the masks torch's Dropout draws, given to symback's mask inputs
    for m in model:
        if isinstance(m, nn.Dropout):
            m.register_forward_hook(lambda mod, inp, out: masks.append((out != 0).double().numpy()))
    out = model(torch.tensor(X))
    if key == "cnn":
        Y = rng.integers(0, 3, B)
    else:
        Y = rng.standard_normal((B, out.shape[1]))
    want = torch_loss(out, torch.tensor(Y))
    want.backward()
    names = [n.name for n in d.graph.leaves("input") if n.meta.rate is not None]
    assert len(names) == len(masks)
    values = evaluate_batch(d.graph, params, {"x": X.reshape(B, -1), **dict(zip(names, masks))}, Y)
    assert abs(values["l"].sum() / B - want.item()) <= 1e-9 * abs(want.item()), key
    grads = {p: values[d.adjoints[p]].sum(axis=-1) / B for p in d.params}
    named = dict(model.named_parameters())
    for key_, tensor in sb.to_torch_state(grads, model).items():  # each gradient in torch's name and shape
        if key_ in named:
            close(tensor.numpy(), named[key_].grad.numpy(), key_)
    assert len(named) == len(d.params)


def test_weights_round_trip_bitwise_and_the_conv_kernel_is_reshaped():
    model = nn.Sequential(nn.Conv2d(2, 3, (3, 2)), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 3 * 4, 4),
                          nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2), nn.LayerNorm(2)).double()
    net = sb.from_torch(model, input_shape=(2, 5, 5))
    assert repr(net) == ("Network(n_in=(2, 5, 5), layers=[Conv2D(2 -> 3, 3x2, 'relu'), Flatten(), "
                         "Dense(4, 'identity'), BatchNorm(eps=1/100000), Activation('tanh'), Dense(2, 'identity'), "
                         "LayerNorm(eps=1e-05)], "
                         "loss='mse')")
    state = model.state_dict()
    state["4.running_mean"] += 1.5  # running statistics: not used by symback, passed through unchanged
    params = sb.load_torch_state({p: np.zeros(s) for p, s in [("W1", (3, 12)), ("b1", (3,)), ("W2", (4, 36)),
                                                             ("b2", (4,)), ("gamma2", (4,)), ("beta2", (4,)),
                                                             ("W3", (2, 4)), ("b3", (2,)), ("gamma3", (2,)),
                                                             ("beta3", (2,))]}, state)
    weight = state["0.weight"].numpy()
    assert params["W1"][2, 1 * 6 + 2 * 2 + 1] == weight[2, 1, 2, 1]  # W[o, c*kh*kw + u*kw + v] = weight[o, c, u, v]
    assert np.array_equal(params["gamma2"], state["4.weight"].numpy())
    assert np.array_equal(params["beta3"], state["7.bias"].numpy())
    back = sb.to_torch_state(params, model)
    assert list(back) == list(state) and all(torch.equal(back[k], v) for k, v in state.items())
    assert back["0.weight"].shape == (3, 2, 3, 2)
    fresh = nn.Sequential(nn.Conv2d(2, 3, (3, 2)), nn.ReLU(), nn.Flatten(), nn.Linear(36, 4), nn.BatchNorm1d(4),
                          nn.Tanh(), nn.Linear(4, 2), nn.LayerNorm(2)).double()
    fresh.load_state_dict(back)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), state.values()))
    state32 = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    p32 = sb.load_torch_state({k: v.astype(np.float32) for k, v in params.items()}, state32)
    assert p32["W2"].dtype == np.float32 and all(torch.equal(sb.to_torch_state(p32, fresh.float())[k], v)
                                                 for k, v in state32.items())


def test_settings_carried_over():
    net = sb.from_torch(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, eps=1e-3), nn.Dropout(0.2),
                                      nn.LayerNorm(4, eps=1e-4), nn.LeakyReLU(0.2), nn.Linear(4, 2)))
    bn, drop, ln, act = net.layers[1:5]
    assert bn.eps == sp.Rational(1, 1000) and drop.p == sp.Rational(1, 5) and ln.eps == 1e-4
    assert str(act.activation) == "Piecewise((z, z > 0), (z/5, True))"
    cnn = sb.from_torch(nn.Sequential(nn.Conv1d(1, 2, 3, stride=2, padding=2, dilation=2), nn.SiLU(),
                                      nn.AvgPool1d(2), nn.MaxPool1d(2, stride=1)), input_shape=(1, 11))
    assert repr(cnn.layers) == ("[Conv1D(1 -> 2, 3, stride=2, padding=2, dilation=2, 'swish'), AvgPool(2), "
                                "MaxPool(2, stride=1)]")


@pytest.mark.parametrize("layers, input_shape, words", [
    ([nn.Linear(3, 4), nn.BatchNorm1d(4, affine=False)], None, "layer 1 (BatchNorm1d) has affine=False"),
    ([nn.Linear(3, 4), nn.BatchNorm1d(5)], None, "layer 1 (BatchNorm1d) takes 5 features but the layer before it"),
    ([nn.LayerNorm(3, elementwise_affine=False), nn.Linear(3, 1)], None, "(LayerNorm) has no weight or bias"),
    ([nn.LayerNorm(3, bias=False), nn.Linear(3, 1)], None, "(LayerNorm) has no weight or bias"),
    ([nn.LayerNorm((2, 3)), nn.Flatten(), nn.Linear(6, 1)], None, "normalized_shape must be one width"),
    ([nn.Conv2d(2, 2, 3, groups=2)], (2, 5, 5), "layer 0 (Conv2d) has groups=2"),
    ([nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")], (1, 5, 5), "padding_mode='reflect'"),
    ([nn.Conv2d(1, 2, 3, bias=False)], (1, 5, 5), "layer 0 (Conv2d) has no bias (bias=False)"),
    ([nn.Conv2d(1, 2, 2, padding="same")], (1, 5, 5), "padding='same' with an even kernel"),
    ([nn.Conv2d(1, 2, 3)], None, "layer 0 (Conv2d) needs an image input: pass input_shape=(C, H, W)"),
    ([nn.Linear(4, 8), nn.Conv1d(1, 2, 3)], None, "its input is a vector of width 8"),
    ([nn.Conv2d(3, 2, 3)], (1, 5, 5), "layer 0 (Conv2d): Conv2D(3 -> 2, 3x3) expects 3 input channels"),
    ([nn.Conv1d(1, 2, 3)], (1, 6, 6), "is 1-D but its input is 1x6x6"),
    ([nn.Conv2d(1, 2, 3), nn.Linear(18, 2)], (1, 5, 5), "layer 1 (Linear) reads an image (2x3x3); put nn.Flatten()"),
    ([nn.Conv2d(1, 1, 1), nn.AvgPool2d(2, padding=1, count_include_pad=False)], (1, 4, 4),
     "count_include_pad=False with padding"),
    ([nn.Conv2d(1, 1, 1), nn.AvgPool2d(2, divisor_override=3)], (1, 4, 4), "divisor_override"),
    ([nn.Conv2d(1, 1, 1), nn.MaxPool2d(2, ceil_mode=True)], (1, 4, 4), "ceil_mode=True"),
    ([nn.Conv2d(1, 1, 1), nn.MaxPool2d(2, return_indices=True)], (1, 4, 4), "return_indices=True"),
    ([nn.Conv2d(1, 1, 1), nn.MaxPool2d(3)], (1, 4, 4), "layer 1 (MaxPool2d): "),
    ([nn.Linear(3, 4), nn.Softmax(dim=0)], None, "layer 1 (Softmax) has dim=0"),
    ([nn.Conv2d(1, 1, 1), nn.Softmax(dim=1)], (1, 2, 2), "layer 1 (Softmax) reads an image"),
    ([nn.Conv2d(1, 1, 1), nn.Flatten(0)], (1, 2, 2), "has start_dim=0, end_dim=-1"),
    ([nn.Linear(3, 4), nn.Dropout(1.0)], None, "layer 1 (Dropout): Dropout: p must be a number in [0, 1)"),
    ([nn.Linear(3, 4), nn.Dropout2d(0.5)], None, "layer 1 (Dropout2d) is not supported; supported: Linear, Conv1d"),
    ([nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)], (1, 5, 5), "layer 1 (BatchNorm2d) is not supported"),
    ([nn.LayerNorm(3), nn.ReLU(), nn.Linear(3, 1)], None, "layer 1 (ReLU) comes before any Linear or conv layer"),
    ([nn.Linear(4, 2)], 5, "layer 0 (Linear) takes 4 inputs but input_shape gives 5"),
    ([nn.LayerNorm(3), nn.Dropout(0.5)], None, "the model has no Linear layer or conv layer"),
    ([nn.Linear(4, 2)], (0, 2), "from_torch(input_shape): width must be positive"),
])
def test_unsupported_settings_are_refused_in_one_line(layers, input_shape, words):
    with pytest.raises(ValueError) as info:
        sb.from_torch(nn.Sequential(*layers), input_shape=input_shape)
    message = str(info.value)
    assert words in message and "\n" not in message and message.startswith("from_torch"), message


def test_bad_state_dicts_for_the_new_layers_update_nothing():
    # float32 whatever torch's default dtype (some test files set float64 when imported)
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3), nn.BatchNorm1d(3)).float()
    state = model.state_dict()
    params = sb.load_torch_state({"W1": np.zeros((2, 3), np.float32), "b1": np.zeros(2, np.float32),
                                  "W2": np.zeros((3, 8), np.float32), "b2": np.zeros(3, np.float32),
                                  "gamma2": np.zeros(3, np.float32), "beta2": np.zeros(3, np.float32)}, state)
    before = {k: v.copy() for k, v in params.items()}
    cases = [
        ({**state, "0.weight": torch.zeros(2, 1, 4)},
         "state_dict['0.weight']: shape (2, 1, 4), but W1 has shape (2, 3)"),
        ({**state, "2.running_var": torch.ones(3)}, "unexpected '2.running_var'; a Linear or conv layer has only"),
        ({k: v for k, v in state.items() if k != "3.bias"}, "state_dict: missing '3.bias'"),
        ({k: v for k, v in state.items() if not k.startswith("3.")}, "missing the tensors of gamma2, beta2"),
        ({**state, "3.momentum": torch.ones(3)}, "unexpected '3.momentum'"),
    ]
    for bad, words in cases:
        with pytest.raises(ValueError) as info:
            sb.load_torch_state(params, bad)
        assert words in str(info.value) and "\n" not in str(info.value), str(info.value)
        assert all(np.array_equal(params[k], v) for k, v in before.items())
    with pytest.raises(ValueError, match="params: missing 'beta2'"):
        sb.load_torch_state({k: v for k, v in params.items() if k != "beta2"}, state)
    with pytest.raises(ValueError, match="params: 'running_mean2' is not a layer's parameter"):
        sb.load_torch_state({**params, "running_mean2": np.zeros(3)}, state)


def test_a_compiled_cnn_with_batchnorm_loads_the_model_and_gives_its_gradients():
    """The one compiled module of this file: load_torch_state(module, state_dict) fills PARAMS in the model's
    order (conv kernel reshaped, BatchNorm1d's gamma, beta), and loss_and_grad equals torch autograd."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 4),
                          nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 3)).double().train()
    mod, _, _ = compiled("torch-bridge-layers|cnn_bn", sb.from_torch(model, loss="cross_entropy",
                                                                     input_shape=(1, 4, 4)))
    assert mod.PARAMS == ("W1", "b1", "W2", "b2", "gamma2", "beta2", "W3", "b3")
    params = sb.load_torch_state(mod, model.state_dict())
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((6, 1, 4, 4)), rng.integers(0, 3, 6)
    loss, grads = mod.loss_and_grad(params, X.reshape(6, -1), Y)
    want = F.cross_entropy(model(torch.tensor(X)), torch.tensor(Y))
    want.backward()
    assert abs(loss - want.item()) <= 1e-9 * want.item()
    named = dict(model.named_parameters())
    for key, tensor in sb.to_torch_state(grads, model).items():
        if key in named:
            close(tensor.numpy(), named[key].grad.numpy(), key)
