"""Hostile and careless input to the Round-5 layers (BatchNorm, LayerNorm, Softmax, Dropout, Conv, Pool, Flatten).

Each case was found by a red-team pass: before its fix it raised a non-symback error (OverflowError, a TypeError
from a repr, a Numba traceback), ran for minutes, or ran and was silently useless; now it is a one-line ValueError
at declaration (exit 2 on the CLI). No Numba compile except the tiny seeding function.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch
from test_grad_cli import run

import symback as sb
from symback.codegen.dropout import source as dropout_source
from symback.numeric import evaluate_batch

Z = sp.Symbol("z")
STEP = sp.Lambda(Z, sp.Heaviside(Z))
ROOT = Path(__file__).resolve().parent.parent


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 300, msg
    return msg


@pytest.mark.parametrize("bad", [
    lambda: sb.BatchNorm(eps=10**400),  # OverflowError in math.isfinite before
    lambda: sb.LayerNorm(eps=10**400),
    lambda: sb.Dropout(10**400),
    lambda: sb.BatchNorm(eps=sp.Rational(1, 10**400)),  # positive, but 0.0 as a float: a division by zero in kernels
    lambda: sb.Dropout(sp.Rational(10**400 - 1, 10**400)),  # below 1, but 1.0 as a float: 1/(1 - p) is inf
])
def test_numbers_beyond_float_are_refused(bad):
    with pytest.raises(sb.SymbackError, match="eps must be a positive number|p must be a number in"):
        bad()


@pytest.mark.parametrize("bad, says", [
    (lambda: sb.MaxPool(0), "kernel_size must be at least 1"),
    (lambda: sb.MaxPool(-1), "kernel_size must be at least 1"),
    (lambda: sb.MaxPool(1.5), "kernel_size must be an integer"),
    (lambda: sb.MaxPool("3"), "kernel_size must be an integer"),
    (lambda: sb.MaxPool(None), "kernel_size must be an integer"),
    (lambda: sb.MaxPool((2, 2, 2)), "kernel_size must be an integer"),
    (lambda: sb.AvgPool(2, stride=0), "stride must be at least 1"),
    (lambda: sb.AvgPool(2, stride=1.0), "stride must be an integer"),
    (lambda: sb.AvgPool(2, padding=-1), "padding must be at least 0"),
    (lambda: sb.MaxPool(2, dilation=0), "dilation must be at least 1"),
])
def test_pool_settings_are_checked_when_the_layer_is_made(bad, says):
    with pytest.raises(sb.SymbackError, match=says) as exc:  # before: accepted, refused only inside a Network
        bad()
    one_line(exc)


@pytest.mark.parametrize("kernel", [1.5, 2.0, None, sp.Symbol("k"), [[3]]])
def test_conv_kernel_of_a_wrong_type_is_named(kernel):
    for layer in (sb.Conv1D, sb.Conv2D):  # before: TypeError "'float' object is not iterable" from the repr
        with pytest.raises(sb.SymbackError, match="kernel_size must be an integer") as exc:
            layer(4, kernel)
        one_line(exc)


def test_numpy_integers_are_integers():
    conv = sb.Conv2D(np.int64(4), np.int64(3), stride=np.int64(1), padding=np.int32(1))  # before: ValueError from
    assert repr(conv) == "Conv2D(4, 3x3, padding=1)"  # NumPy's ambiguous truth value in the repr
    net = sb.Network((1, 6, 6), [conv, sb.MaxPool(np.int64(2)), sb.Flatten(), sb.Dense(1)])
    assert net.params() == ["W1", "b1", "W2", "b2"]


def test_a_max_pool_window_too_large_to_derive_is_refused():
    start = time.perf_counter()  # before: MaxPool(128) on 128 x 128 took 35 s to derive, 256 x 256 many minutes
    with pytest.raises(sb.SymbackError, match="a window of 65,536 taps, more than the limit of 4,096"):
        sb.Network((1, 256, 256), [sb.MaxPool(256), sb.Flatten(), sb.Dense(1)])
    assert time.perf_counter() - start < 5
    sb.Network((1, 256, 256), [sb.AvgPool(256), sb.Flatten(), sb.Dense(1)]).derive()  # a sum: no limit needed


@pytest.mark.parametrize("make, says", [
    (lambda: sb.Network((1, 10**4, 10**4), [sb.MaxPool(2), sb.Flatten(), sb.Dense(1)]), "1x10000x10000 has"),
    (lambda: sb.Network((1, 4, 4), [sb.Conv2D(2, 3, padding=10**5), sb.Flatten(), sb.Dense(1)]), "its output"),
    (lambda: sb.Network((1, 4, 4), [sb.Conv2D(10**8, 3), sb.Flatten(), sb.Dense(1)]), "its kernel"),
    (lambda: sb.Network(10**5, [sb.Dense(10**5), sb.Dense(1)]), "its weight matrix 100000 x 100000"),
])
def test_values_too_large_to_hold_fail_fast_at_declaration(make, says):
    start = time.perf_counter()  # before: declared, compiled, then init_params allocated GBs
    with pytest.raises(sb.SymbackError, match=says) as exc:
        make()
    assert "limit" in one_line(exc) and time.perf_counter() - start < 5


@pytest.mark.parametrize("layer", [sb.Dense(2), sb.BatchNorm(), sb.LayerNorm(), sb.Softmax()])
def test_an_image_into_a_vector_layer_says_flatten(layer):
    with pytest.raises(sb.SymbackError, match=r"input is the image 2x2x2; put sb.Flatten\(\) before it") as exc:
        sb.Network((1, 4, 4), [sb.Conv2D(2, 3), layer, sb.Flatten(), sb.Dense(1)])  # before: "param W2: width ..."
    one_line(exc)  # (or, for Softmax, a softmax over all C*H*W entries where PyTorch users expect one axis)


@pytest.mark.parametrize("make", [lambda: sb.Activation(STEP), lambda: sb.Conv2D(2, 3, activation=STEP),
                                  lambda: sb.Dense(2, STEP)])
def test_a_step_activation_is_refused_in_every_layer(make):
    with pytest.raises(sb.SymbackError, match="derivative 0 almost everywhere"):  # before: only Dense refused it
        make()


@pytest.mark.parametrize("make", [lambda: sb.Dense(2, sp.Lambda(Z, sp.I * Z)), lambda: sb.Activation(sp.Lambda(Z, Z + sp.I)),
                                  lambda: sb.Conv2D(2, 3, activation=sp.Lambda(Z, sp.exp(sp.I * Z)))])
def test_a_complex_activation_is_refused_when_declared(make):
    with pytest.raises(sb.SymbackError, match="is complex-valued"):  # before: compiled, then a Numba TypingError
        make()  # traceback at the first loss_and_grad


def test_two_layernorms_in_one_layer_get_their_own_parameters():
    net = sb.Network(4, [sb.Dense(3), sb.LayerNorm(), sb.LayerNorm(), sb.Dense(1)])  # before: 'gamma1' declared twice
    assert net.params() == ["W1", "b1", "gamma1", "beta1", "gamma1_2", "beta1_2", "W2", "b2"]
    assert "gamma1_2" in net.derive().adjoints


def test_an_activation_on_the_input_leaves_the_first_dense_its_names():
    net = sb.Network(3, [sb.Activation("tanh"), sb.Dense(2, "relu"), sb.Dense(1)])  # before: 'h1' is declared twice
    d = net.derive()
    rng = np.random.default_rng(0)
    params = {p: rng.standard_normal(d.graph[p].shape) for p in d.params}
    X, Y = rng.standard_normal((3, 3)), rng.standard_normal((3, 1))
    values = evaluate_batch(d.graph, params, X, Y)
    want = np.maximum(np.tanh(X) @ params["W1"].T + params["b1"], 0) @ params["W2"].T + params["b2"]
    assert np.allclose(values["l"], ((want - Y) ** 2).sum(axis=1), rtol=1e-12)


def test_layernorm_over_one_feature_is_refused():
    with pytest.raises(sb.SymbackError, match="one feature is the constant beta"):  # before: ran, no gradient
        sb.Network(4, [sb.Dense(1), sb.LayerNorm(), sb.Dense(1)])  # reached W1, b1 or gamma1


@pytest.mark.parametrize("layers, says", [
    ([sb.BatchNorm, sb.Dense(1)], r"BatchNorm is a class; give a layer, BatchNorm\(...\)"),
    (sb.Dense(1), "layers must be a list, e.g. layers=\\[sb.Dense\\(1\\)\\], got Dense"),
])
def test_layers_that_are_not_a_list_of_layers(layers, says):
    with pytest.raises(sb.SymbackError, match=says):  # before: TypeError about width() or iteration
        sb.Network(4, layers)


def test_softmax_before_the_softmax_loss_is_refused():
    with pytest.raises(sb.SymbackError, match="would apply softmax twice"):  # before: trained a double softmax
        sb.Network(4, [sb.Dense(3), sb.Softmax()], loss="softmax_cross_entropy")
    sb.Network(4, [sb.Dense(3), sb.Softmax()], loss="mse")  # probabilities regressed: fine


def test_nested_sum_b_in_a_hand_file_is_evaluated_once_per_sum(tmp_path):
    hand = (ROOT / "examples/hand/cs231n_batchnorm.txt").read_text()
    nested = "sum_b(" * 14 + "dJ/dbn1" + ")" * 14  # before: batch**14 evaluations (12 levels took 77 s)
    path = tmp_path / "nested.txt"
    path.write_text(hand.replace("dJ/dbeta1 = dJ/dbn1", f"dJ/dbeta1 = dJ/dbn1 + 0*{nested}"))
    code, out, err = run("check", str(ROOT / "examples/cs231n_batchnorm.py"), "--hand", str(path),
                         "--notation", "cs229", "--timeout", "60")
    assert code == 0, err
    assert "equal      line 9" in out


@pytest.fixture(scope="module")
def seeding(tmp_path_factory):
    """The generated modules' seed_dropout, alone in a file (one tiny Numba compile)."""
    path = tmp_path_factory.mktemp("seed") / "seeding.py"
    path.write_text("import numpy as np\nfrom numba import njit\n" + dropout_source({"m1": 0.5}))
    spec = importlib.util.spec_from_file_location("seeding", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("seed", ["x", 1.5, None, True, -1, 2**32, 2**70])
def test_seed_dropout_refuses_what_is_not_a_seed(seeding, seed):
    with pytest.raises(ValueError, match="seed: expected an integer in") as exc:  # before: a Numba TypingError
        seeding.seed_dropout(seed)  # traceback, an OverflowError, or -1 accepted
    one_line(exc)


def test_seed_dropout_seeds_numba_generator(seeding):
    seeding.seed_dropout(np.int64(5))
    seeding.seed_dropout(5)


def test_layernorm_of_features_far_from_zero_matches_pytorch():
    d = sb.Network(4, [sb.LayerNorm(), sb.Dense(1)]).derive()
    rng = np.random.default_rng(0)
    params = {p: rng.standard_normal(d.graph[p].shape) for p in d.params}
    X, Y = 1e6 + rng.standard_normal((4, 4)), rng.standard_normal((4, 1))
    ours = float(evaluate_batch(d.graph, params, X, Y)["l"].mean())
    t = {k: torch.tensor(v) for k, v in params.items()}
    out = torch.nn.functional.layer_norm(torch.tensor(X), (4,), t["gamma0"], t["beta0"], eps=1e-5) @ t["W1"].T + t["b1"]
    assert ours == pytest.approx(float(((out - torch.tensor(Y)) ** 2).sum(1).mean()), rel=1e-9)


def _conv_case():
    rng = np.random.default_rng(0)
    return (sb.Conv2D(2, 3, in_channels=1), rng.standard_normal((2, 1, 5, 5)),
            {"W": rng.standard_normal((2, 1, 3, 3)), "b": rng.standard_normal(2)}, rng.standard_normal((2, 2, 3, 3)))


@pytest.mark.parametrize("change, says", [
    (lambda c: {**c, "layer": sb.Dense(2)}, "layer must be a conv or pool layer"),  # before: AttributeError
    (lambda c: {**c, "layer": "conv"}, "layer must be a conv or pool layer"),
    (lambda c: {**c, "theirs": [1]}, "params and theirs are dicts"),  # before: AttributeError
    (lambda c: {**c, "params": {}}, r"params\['W'\] has shape \(\), expected \(2, 1, 3, 3\)"),  # before: KeyError
    (lambda c: {**c, "params": {**c["params"], "b": np.ones(5)}}, r"params\['b'\] has shape \(5,\)"),
    (lambda c: {**c, "x": "x"}, "x must be an array of numbers"),
    (lambda c: {**c, "x": np.ones(5)}, "x must be N x C x L or N x C x H x W"),  # before: "its input is  (-1-D)"
    (lambda c: {**c, "x": np.ones((0, 1, 5, 5))}, "with N >= 1"),
    (lambda c: {**c, "dout": np.full((2, 2, 3, 3), np.nan)}, "dout contains NaN"),  # before: "different (nan)"
    (lambda c: {**c, "theirs": {"x": np.ones(3)}}, r"their dx has shape \(3,\), expected \(2, 1, 5, 5\)"),
    (lambda c: {**c, "theirs": {"W": "abc"}}, "their dW must be an array of numbers"),
])
def test_check_layer_refuses_bad_arrays_in_one_line(change, says):
    layer, x, params, dout = _conv_case()
    case = change({"layer": layer, "x": x, "params": params, "dout": dout, "theirs": {"b": dout.sum(axis=(0, 2, 3))}})
    with pytest.raises(sb.SymbackError, match=says) as exc:
        sb.check_layer(case["layer"], case["x"], case["params"], case["dout"], case["theirs"])
    one_line(exc)


def test_check_layer_still_accepts_a_right_answer():
    layer, x, params, dout = _conv_case()
    assert sb.check_layer(layer, x, params, dout, {"b": dout.sum(axis=(0, 2, 3))}).equal
