"""A generated module's optimizers against torch.optim: 20 steps of SGD, SGD with momentum, SGD with Nesterov
momentum, Adam and AdamW, each with and without weight decay, on the UDL toy regression network and the digits
classifier (examples/train_digits.py), losses and weights to 1e-12 in float64."""

from __future__ import annotations

import runpy

import numpy as np
import pytest

from tests.codegen_support import ROOT, batch, compiled, perturbed, rel

torch = pytest.importorskip("torch")
F = torch.nn.functional

# example -> (activations of its layers, its loss as torch computes it over a batch, mean reduction)
NETS = {
    "udl_toy": (("relu", "relu", "relu", "identity"), lambda f, y: ((f - y) ** 2).sum(1).mean()),
    "train_digits": (("relu", "identity"), F.cross_entropy),
}
CONFIGS = {
    "sgd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
    "adam": ("adam", {"betas": (0.8, 0.99)}),
    "adamw": ("adamw", {}),
}
TORCH = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@pytest.fixture(scope="module", params=sorted(NETS))
def net(request):
    return request.param, compiled(request.param, runpy.run_path(str(ROOT / "examples" / f"{request.param}.py"))["net"])


def twin_loss(example, tensors, X, Y):
    """The network's loss on (X, Y) in torch, from the same weights (W1, b1, W2, ... in PARAMS order)."""
    acts, loss = NETS[example]
    h = torch.tensor(X)
    for k, act in enumerate(acts):
        h = h @ tensors[2 * k].T + tensors[2 * k + 1]
        h = torch.relu(h) if act == "relu" else h
    return loss(h, torch.tensor(Y))


@pytest.mark.parametrize("decay", [0.0, 0.05], ids=["no_decay", "decay"])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_twenty_steps_match_torch_optim(net, config, decay):
    example, (mod, _, plan) = net
    rng = np.random.default_rng(7)
    params = perturbed(mod, rng)
    name, options = CONFIGS[config]
    lr = 0.05 if name == "sgd" else 0.01
    state = mod.init_state(params, name, lr=lr, weight_decay=decay, **options)
    tensors = [torch.tensor(np.array(params[k]), requires_grad=True) for k in mod.PARAMS]
    reference = TORCH[name](tensors, lr=lr, weight_decay=decay, **options)
    for _ in range(20):
        X, Y = batch(plan, 8, rng)
        loss = mod.step(params, state, X, Y)
        reference.zero_grad()
        want = twin_loss(example, tensors, X, Y)
        want.backward()
        reference.step()
        assert rel(loss, want.item()) < 1e-12
    assert state.steps == 20
    for k, tensor in zip(mod.PARAMS, tensors):
        assert rel(params[k], tensor.detach().numpy()) < 1e-12, k
    if name != "sgd" or options:  # the state buffer too, laid out as the flat parameters
        moments = [reference.state[t]["exp_avg" if name != "sgd" else "momentum_buffer"] for t in tensors]
        assert rel(state.m, torch.cat([t.reshape(-1) for t in moments]).numpy()) < 1e-12
