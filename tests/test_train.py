"""`train`, `step`, `save` and `load` of a generated module: whole epochs in one compiled call give, bit for bit,
what a Python loop of `step` gives over the same permutations; bad input is refused before anything changes."""

from __future__ import annotations

import pickle
import runpy

import numpy as np
import pytest

from tests.codegen_support import ROOT, compiled, perturbed


def example(name):
    return compiled(name, runpy.run_path(str(ROOT / "examples" / f"{name}.py"))["net"])[0]


@pytest.fixture(scope="module")
def toy():
    return example("udl_toy")


@pytest.fixture(scope="module")
def digits():
    return example("train_digits")


def data(mod, n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, mod.N_IN))
    Y = rng.integers(0, mod.N_OUT, n) if mod.LOSS == "softmax_cross_entropy" else np.sin(X[:, :1])
    return X, Y


def python_loop(mod, params, state, X, Y, epochs, batch_size, seed):
    """What `train` does, as a Python loop of `step` over its permutations."""
    n, order, history = len(X), np.empty(len(X), np.int64), []
    for epoch in range(epochs):
        mod._shuffle(order, seed, epoch)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            total += mod.step(params, state, X[rows], Y[rows]) * len(rows)
        history.append(total / n)
    return np.array(history)


# (module, rows, batch size): the toy's last batch of 2 rows runs another loop layout than its full ones
@pytest.mark.parametrize(("name", "n", "batch_size", "optimizer", "options"), [
    ("udl_toy", 34, 8, "adam", {"weight_decay": 0.01}),
    ("udl_toy", 32, 8, "sgd", {"momentum": 0.9, "nesterov": True}),
    ("train_digits", 101, 16, "adamw", {}),
    ("train_digits", 48, 48, "sgd", {}),
])
def test_train_is_a_python_loop_of_step_to_the_last_bit(name, n, batch_size, optimizer, options):
    mod = example(name)
    X, Y = data(mod, n)
    params = perturbed(mod, np.random.default_rng(1))
    twin = mod.init_params()
    twin.flat[...] = params.flat
    state, twin_state = (mod.init_state(p, optimizer, lr=0.01, **options) for p in (params, twin))
    history = mod.train(params, X, Y, epochs=4, batch_size=batch_size, seed=5, optimizer=state)
    want = python_loop(mod, twin, twin_state, X, Y, 4, batch_size, seed=5)
    np.testing.assert_array_equal(history, want)
    np.testing.assert_array_equal(params.flat, twin.flat)
    np.testing.assert_array_equal(state.m, twin_state.m)
    np.testing.assert_array_equal(state.v, twin_state.v)
    assert state.steps == twin_state.steps == 4 * -(-n // batch_size)


def test_plain_sgd_is_a_loop_of_sgd_step(toy):
    """No momentum, no weight decay: each batch is the kernel's fused update, the very step sgd_step takes."""
    X, Y = data(toy, 20)
    params, twin, order = toy.init_params(seed=6), toy.init_params(seed=6), np.empty(20, np.int64)
    history = toy.train(params, X, Y, 0.05, epochs=2, batch_size=8, seed=2)
    for epoch in range(2):
        toy._shuffle(order, 2, epoch)
        for start in range(0, 20, 8):
            toy.sgd_step(twin, X[order[start:start + 8]], Y[order[start:start + 8]], 0.05)
    np.testing.assert_array_equal(params.flat, twin.flat)
    assert history.shape == (2,)


def test_callbacks_split_the_run_without_changing_it(toy):
    X, Y = data(toy, 40)
    whole, split = toy.init_params(seed=2), toy.init_params(seed=2)
    want = toy.train(whole, X, Y, 0.05, epochs=5, batch_size=16, seed=1)
    calls = []
    got = toy.train(split, X, Y, 0.05, epochs=5, batch_size=16, seed=1, every=2,
                    callback=lambda epoch, losses: calls.append((epoch, losses.copy())))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(split.flat, whole.flat)
    assert [epoch for epoch, _ in calls] == [2, 4, 5]
    np.testing.assert_array_equal(calls[1][1], want[:4])
    stopped = toy.train(toy.init_params(seed=2), X, Y, 0.05, epochs=5, batch_size=16, seed=1,
                        callback=lambda epoch, losses: epoch == 3)
    np.testing.assert_array_equal(stopped, want[:3])


def test_a_plain_dict_float32_and_the_loss_falls(toy):
    X, Y = data(toy, 64)
    params = perturbed(toy, np.random.default_rng(3))
    plain = {k: v.copy() for k, v in params.items()}
    single = toy.init_params(dtype=np.float32)
    single.flat[...] = params.flat
    history = toy.train(params, X, Y, 0.01, epochs=30, batch_size=8, optimizer="adam")
    np.testing.assert_array_equal(toy.train(plain, X, Y, 0.01, epochs=30, batch_size=8, optimizer="adam"), history)
    for k in toy.PARAMS:
        np.testing.assert_array_equal(plain[k], params[k])
    assert history[-1] < history[0] / 2
    losses = toy.train(single, X.astype(np.float32), Y.astype(np.float32), 0.01, epochs=30, batch_size=8,
                        optimizer="adam")
    assert single.flat.dtype == np.float32 and losses[-1] < losses[0] / 2


def test_save_and_load_carry_on_where_training_stopped(digits, tmp_path):
    X, Y = data(digits, 50)
    params = digits.init_params(seed=4)
    state = digits.init_state(params, "adam", lr=0.003, weight_decay=0.01)
    digits.train(params, X, Y, epochs=2, batch_size=16, optimizer=state)
    digits.save(tmp_path / "run.npz", params, state)
    loaded, restored = digits.load(tmp_path / "run.npz")
    assert repr(restored) == repr(state) and restored.steps == state.steps == 8
    np.testing.assert_array_equal(loaded.flat, params.flat)
    for p, s in ((params, state), (loaded, restored)):
        digits.train(p, X, Y, epochs=2, batch_size=16, seed=9, optimizer=s)
    np.testing.assert_array_equal(loaded.flat, params.flat)
    digits.save(tmp_path / "weights.npz", params)
    assert digits.load(tmp_path / "weights.npz")[1] is None


def refused(call, *match):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and all(m in message for m in match), message


def test_bad_input_is_refused_before_anything_changes(toy, digits, tmp_path):
    X, Y = data(toy, 20)
    params = toy.init_params(seed=5)
    state = toy.init_state(params, "sgd", lr=0.1, momentum=0.5)
    toy.step(params, state, X[:4], Y[:4])
    before, moments = params.flat.copy(), state.m.copy()
    bad_X = X.copy()
    bad_X[-1, 0] = np.nan
    train = {"optimizer": state}
    refused(lambda: toy.train(params, bad_X, Y, **train), "X", "NaN")
    refused(lambda: toy.step(params, state, bad_X, Y), "X", "NaN")
    refused(lambda: toy.train(params, X, Y[:5], **train), "Y")
    refused(lambda: toy.train(params, X, Y, **train, lr=0.0), "lr")
    refused(lambda: toy.train(params, X, Y, **train, lr=float("nan")), "lr")
    refused(lambda: toy.train(params, X, Y, 0.1, optimizer="adma"), "optimizer", "did you mean 'adam'")
    refused(lambda: toy.train(params, X, Y, None, optimizer="adam"), "lr")
    for arg, value in (("epochs", 0), ("batch_size", 1.5), ("batch_size", True), ("seed", -1), ("every", 0)):
        refused(lambda arg=arg, value=value: toy.train(params, X, Y, **train, **{arg: value}), arg)
    refused(lambda: toy.train(params, X, Y, **train, callback="print"), "callback")
    refused(lambda: toy.init_state(params, "adam", betas=(0.9, 1.0)), "betas[1]")
    refused(lambda: toy.init_state(params, "adam", betas=0.9), "betas")
    refused(lambda: toy.init_state(params, "adam", eps=0), "eps")
    refused(lambda: toy.init_state(params, "adam", momentum=0.9), "momentum", "sgd")
    refused(lambda: toy.init_state(params, "sgd", nesterov=True), "nesterov", "momentum")
    refused(lambda: toy.init_state(params, "sgd", weight_decay=-1.0), "weight_decay")
    refused(lambda: toy.step(params, digits.init_state(digits.init_params()), X, Y), "state", "another module")
    refused(lambda: toy.step(params, toy.init_state(toy.init_params(dtype=np.float32)), X, Y), "state", "float32")
    refused(lambda: toy.train(params, X, Y, optimizer={"lr": 0.1}), "state", "Optimizer")
    np.testing.assert_array_equal(params.flat, before)
    np.testing.assert_array_equal(state.m, moments)
    assert state.steps == 1 and state.lr == 0.1

    digits.save(tmp_path / "digits.npz", digits.init_params())
    refused(lambda: toy.load(tmp_path / "digits.npz"), "path", "this network")
    (tmp_path / "text.npz").write_text("W1 = __import__('os')")
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps({"W1": np.zeros((3, 1))}))
    for name in ("text.npz", "pickle.npz", "missing.npz"):
        refused(lambda name=name: toy.load(tmp_path / name), "path", "save()")
    toy.save(tmp_path / "toy.npz", params, state)
    with np.load(tmp_path / "toy.npz") as f:
        arrays = dict(f)
    np.savez(tmp_path / "extra.npz", **arrays, extra=np.zeros(1))
    refused(lambda: toy.load(tmp_path / "extra.npz"), "path", "unexpected entry 'extra'")
    np.savez(tmp_path / "short.npz", **{**arrays, "optimizer.m": arrays["optimizer.m"][:3]})
    refused(lambda: toy.load(tmp_path / "short.npz"), "optimizer.m")


def test_read_only_arrays_are_refused_before_anything_is_written(toy):
    """A plain dict whose last array is read-only: step and train say so in one line, and the writable arrays
    before it keep their values (the write-back used to update them, then fail in NumPy)."""
    X, Y = data(toy, 8)
    plain = {k: np.array(v) for k, v in perturbed(toy, np.random.default_rng(4)).items()}
    plain[toy.PARAMS[-1]].flags.writeable = False
    before = {k: v.copy() for k, v in plain.items()}
    state = toy.init_state(plain, "adam")
    for call in (lambda: toy.step(plain, state, X, Y), lambda: toy.train(plain, X, Y, 0.01, optimizer="sgd")):
        with pytest.raises(ValueError, match=rf"params\['{toy.PARAMS[-1]}'\]: a read-only array; (step|train) updates"):
            call()
        assert all(np.array_equal(plain[k], before[k]) for k in plain) and state.steps == 0
