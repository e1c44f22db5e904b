"""Generated Numba kernels: agreement with the IR's reference evaluator and central differences,
float32, stability, standalone import, bad input and the CLI (their text: tests/test_codegen_source.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import symback as sb
from symback.cli import main as cli
from symback.codegen.write import state
from tests.codegen_support import (
    ALL,
    ROOT,
    batch,
    compiled,
    example_specs,
    layout_modules,
    perturbed,
    reference,
    rel,
    with_layout,
)

# a module with dropout draws new masks per call: tests/test_dropout_kernels.py replays its masks instead
EXAMPLES = [(k, n) for k, n in example_specs()
            if not any(v.meta.rate is not None for v in n.graph()[0].leaves("input"))]
IDS = [k for k, _ in EXAMPLES]
# every layout is cheap to compile; batch statistics have no sample layout (tests/test_batchnorm_codegen.py); the
# layers of digits_cnn and layernorm_mlp are checked against the oracle in each layout by their own files
# (tests/test_conv_compiled.py: conv and pooling, one net per layout; tests/test_layernorm_codegen.py: layer norm
# and softmax in sample and blas, and as a DAG in small), so their examples compile only the layout they use
OWN_FILES = ("deep_mlp", "cs231n_batchnorm", "digits_cnn", "layernorm_mlp")
SMALL = [(k, n) for k, n in EXAMPLES if not k.startswith(OWN_FILES)]


@pytest.fixture(scope="module", params=SMALL, ids=[k for k, _ in SMALL])
def every_layout(request):
    return layout_modules(*request.param)


@pytest.fixture(scope="module", params=EXAMPLES, ids=IDS)
def default(request):
    key, net = request.param
    return compiled(key, net)


def test_every_layout_matches_the_reference(every_layout):
    modules, d, plan = every_layout
    rng = np.random.default_rng(0)
    for layout in ALL:
        mod = modules[layout]
        with with_layout(mod, layout):
            for B in (1, 5):
                params = perturbed(mod, rng)
                X, Y = batch(plan, B, rng)
                loss, grads = mod.loss_and_grad(params, X, Y)
                want, wgrads = reference(d, plan, params, X, Y)
                assert rel(loss, want) < 1e-10, (layout, B)
                for p in mod.PARAMS:
                    assert rel(grads[p], wgrads[p]) < 1e-10, (layout, B, p)
                out = mod.forward(params, X)
                assert out.shape == (B, plan.sizes[plan.prediction])


def _shifted(mod, params, v, h):
    """params + h v, a Params of `mod`."""
    out = mod.init_params()
    for p in mod.PARAMS:
        out[p][...] = params[p] + h * v[p]
    return out


def test_central_differences(default):
    """The float64 gradient against central differences of the kernel's own loss, along random directions
    (Richardson-extrapolated, so the deep nets' curvature does not swamp the comparison). The parameters are
    Params: a plain dict's results are a Params' bit for bit (tests/test_entry_points.py, in every layout), and
    its wrapper would compile the kernel's code once more."""
    mod, d, plan = default
    rng = np.random.default_rng(1)
    params = perturbed(mod, rng)
    X, Y = batch(plan, 6, rng)
    loss, grads = mod.loss_and_grad(params, X, Y)
    for _ in range(2):
        v = {p: rng.standard_normal(plan.shapes[p]) for p in mod.PARAMS}

        def central(h):
            plus, minus = _shifted(mod, params, v, h), _shifted(mod, params, v, -h)
            return (mod.loss_and_grad(plus, X, Y)[0] - mod.loss_and_grad(minus, X, Y)[0]) / (2 * h)

        fd = (4 * central(1e-6) - central(2e-6)) / 3
        an = sum(float(np.sum(grads[p] * v[p])) for p in mod.PARAMS)
        assert abs(fd - an) <= 1e-7 * max(1.0, abs(an)), (fd, an)


@pytest.mark.parametrize("key", ["udl_toy", "two_inputs", "foml_dag", "cs7643_softmax:softmax_classifier"])
def test_float32(key):
    mod, d, plan = compiled(key, dict(EXAMPLES)[key])
    rng = np.random.default_rng(2)
    p64 = perturbed(mod, rng)
    p32 = mod.init_params(dtype=np.float32)
    for k in mod.PARAMS:
        p32[k][...] = p64[k]
    X, Y = batch(plan, 7, rng)
    X32 = X.astype(np.float32)
    Y32 = Y if plan.labels else Y.astype(np.float32)
    loss, grads = mod.loss_and_grad(p32, X32, Y32)
    want, wgrads = reference(d, plan, {k: v.astype(np.float64) for k, v in p32.items()}, X32, Y32)
    assert rel(loss, want) < 1e-3
    for k in mod.PARAMS:
        assert grads[k].dtype == np.float32
        assert rel(grads[k], wgrads[k]) < 1e-3, k


def test_sgd_step_is_one_gradient_step(default):
    mod, d, plan = default
    rng = np.random.default_rng(3)
    params = perturbed(mod, rng)
    X, Y = batch(plan, 3, rng)
    loss, grads = mod.loss_and_grad(params, X, Y)
    before = {k: v.copy() for k, v in params.items()}
    got = mod.sgd_step(params, X, Y, 0.05)
    assert got == pytest.approx(loss, rel=1e-12)
    for k in mod.PARAMS:
        np.testing.assert_allclose(params[k], before[k] - 0.05 * grads[k], rtol=1e-12, atol=1e-14)


# -- stability ----------------------------------------------------------------------------------------

STABLE = {
    "ce": sb.Network(3, [sb.Dense(4, "relu"), sb.Dense(3)], loss="softmax_cross_entropy"),
    "bce_logits": sb.Network(3, [sb.Dense(4, "tanh"), sb.Dense(2)], loss="bce_with_logits"),
    "bce_sigmoid": sb.Network(3, [sb.Dense(4, "softplus"), sb.Dense(2, "sigmoid")], loss="bce"),
    "acts": sb.Network(3, [sb.Dense(4, "swish"), sb.Dense(4, "elu"), sb.Dense(3, "softplus"), sb.Dense(2)],
                       loss="huber"),
}


@pytest.mark.parametrize("key", sorted(STABLE))
def test_stable_at_extreme_logits_and_inputs(key):
    mod, d, plan = compiled("stable-" + key, STABLE[key])
    rng = np.random.default_rng(4)
    last_b = [p for p in mod.PARAMS if p.startswith("b")][-1]
    for sign in (1.0, -1.0):
        params = mod.init_params()
        params[last_b][...] = sign * 1000.0  # logits of +-1000
        X, Y = batch(plan, 4, rng)
        for Xs in (X, X * 1e6):
            loss, grads = mod.loss_and_grad(params, Xs, Y)
            assert np.isfinite(loss), (key, sign)
            for k in mod.PARAMS:
                assert np.all(np.isfinite(grads[k])), (key, sign, k)


def test_softmax_cross_entropy_at_1000_is_exact():
    mod, d, plan = compiled("stable-ce", STABLE["ce"])
    params = mod.init_params()
    for k in mod.PARAMS:
        params[k][...] = 0.0
    params["b2"][...] = [1000.0, -1000.0, 0.0]
    X = np.zeros((1, 3))
    loss, grads = mod.loss_and_grad(params, X, np.array([1]))
    assert loss == pytest.approx(2000.0)
    np.testing.assert_allclose(grads["b2"], [1.0, -1.0, 0.0], atol=1e-12)


# -- the module on its own ---------------------------------------------------------------------------------

def test_runs_without_symback(tmp_path):
    """A generated file copied elsewhere imports and trains in a Python where symback cannot be imported."""
    shutil.copy(ROOT / "generated" / "udl_toy.py", tmp_path / "toy_kernels.py")
    site = os.path.dirname(os.path.dirname(np.__file__))  # NumPy's and Numba's site-packages, no .pth files
    script = textwrap.dedent("""
        import importlib.util, sys
        sys.path = [sys.argv[1], sys.argv[2]] + [p for p in sys.path if p.endswith(('.zip', 'lib-dynload'))
                                                 or p.rstrip('/').endswith('python3.11')]
        assert importlib.util.find_spec('symback') is None, 'symback is importable'
        import numpy as np
        import toy_kernels as m
        p = m.init_params(seed=0)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((16, 1)); Y = np.sin(X)
        first = m.sgd_step(p, X, Y, 0.05)
        for _ in range(200):
            last = m.sgd_step(p, X, Y, 0.05)
        assert last < first, (first, last)
        print('ok', first, last)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-S", "-c", script, str(tmp_path), site], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("ok")


# -- bad input ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy():
    return compiled("udl_toy", dict(EXAMPLES)["udl_toy"])


@pytest.fixture(scope="module")
def labels():
    return compiled("two_inputs", dict(EXAMPLES)["two_inputs"])


def raises(fn, *words):
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    for w in words:
        assert w in msg, msg
    return msg


def test_bad_shapes_and_dtypes(toy):
    mod, _, _ = toy
    p = mod.init_params()
    X, Y = np.ones((4, 1)), np.ones((4, 1))
    raises(lambda: mod.sgd_step(p, np.ones((4, 2)), Y, 0.1), "X", "(batch, 1)")
    raises(lambda: mod.sgd_step(p, np.ones(4), Y, 0.1), "X", "(batch, 1)")
    raises(lambda: mod.sgd_step(p, X, np.ones((3, 1)), 0.1), "Y", "(4, 1)")
    raises(lambda: mod.sgd_step(p, X, np.ones((4, 2)), 0.1), "Y", "(4, 1)")
    raises(lambda: mod.sgd_step(p, X.astype(np.float32), Y, 0.1), "X", "float32", "float64")
    raises(lambda: mod.sgd_step(p, np.ones((4, 1), dtype=np.int64), Y, 0.1), "X", "int64")
    raises(lambda: mod.loss_and_grad(p, [[1.0]], [[1.0]]), "X", "NumPy array")
    mod.sgd_step(p, X, Y, 0.1)  # the fast path after a good call still checks shapes
    raises(lambda: mod.sgd_step(p, np.ones((4, 3)), Y, 0.1), "X", "(batch, 1)")
    raises(lambda: mod.sgd_step(p, X, np.ones((4, 3)), 0.1), "Y")
    raises(lambda: mod.sgd_step(p, X.astype(np.float32), Y, 0.1), "X", "float32")


def test_nan_inputs_are_refused_before_any_update(toy):
    mod, _, _ = toy
    p = mod.init_params()
    before = p.flat.copy()
    X, Y = np.ones((4, 1)), np.ones((4, 1))
    X[2, 0] = np.nan
    raises(lambda: mod.sgd_step(p, X, Y, 0.1), "X", "NaN")
    Y[1, 0] = np.inf
    raises(lambda: mod.sgd_step(p, np.ones((4, 1)), Y, 0.1), "Y", "NaN or infinity")
    raises(lambda: mod.forward(p, X), "X", "NaN")
    np.testing.assert_array_equal(p.flat, before)


def test_non_contiguous_inputs_are_copied(toy):
    mod, _, _ = toy
    p = mod.init_params()
    X = np.arange(16.0).reshape(8, 2)[:, :1] / 10
    Y = np.ones((8, 2))[:, 1:]
    a = mod.loss_and_grad(p, X, Y)[0]
    b = mod.loss_and_grad(p, np.ascontiguousarray(X), np.ascontiguousarray(Y))[0]
    assert a == b
    Xr = np.ascontiguousarray(X)
    Xr.setflags(write=False)
    assert mod.sgd_step(p, Xr, np.ascontiguousarray(Y), 0.0) == a


def test_params_missing_extra_and_wrong(toy):
    mod, _, _ = toy
    X, Y = np.ones((2, 1)), np.ones((2, 1))
    good = {k: v.copy() for k, v in mod.init_params().items()}
    missing = dict(good)
    del missing["b2"]
    raises(lambda: mod.sgd_step(missing, X, Y, 0.1), "params", "'b2'", "(3,)")
    raises(lambda: mod.sgd_step({**good, "W9": np.ones(2)}, X, Y, 0.1), "params", "'W9'")
    raises(lambda: mod.sgd_step({**good, "W2": np.ones((2, 3))}, X, Y, 0.1), "params['W2']", "(3, 3)")
    raises(lambda: mod.sgd_step({**good, "b1": good["b1"].astype(np.float32)}, X, Y, 0.1), "params['b1']", "dtype")
    raises(lambda: mod.init_params(dtype=np.int32), "dtype")


def test_labels(labels):
    mod, _, plan = labels
    p = mod.init_params()
    X = np.ones((3, plan.n_in))
    raises(lambda: mod.sgd_step(p, X, np.array([0, 1, 3]), 0.1), "Y", "0..2")
    raises(lambda: mod.sgd_step(p, X, np.array([0, -1, 1]), 0.1), "Y", "0..2")
    raises(lambda: mod.sgd_step(p, X, np.array([0.0, 1.0, 1.0]), 0.1), "Y", "integers")
    raises(lambda: mod.sgd_step(p, X, np.array([[0, 1, 1]]), 0.1), "Y", "(3,)")
    a = mod.loss_and_grad(p, X, np.array([0, 1, 2], dtype=np.int32))[0]
    assert a == mod.loss_and_grad(p, X, np.array([0, 1, 2]))[0]


def test_named_inputs(labels):
    mod, _, plan = labels
    p = mod.init_params()
    rng = np.random.default_rng(5)
    X = rng.standard_normal((4, 5))
    Y = np.array([0, 2, 1, 1])
    a = mod.loss_and_grad(p, X, Y)[0]
    b = mod.loss_and_grad(p, {"xa": X[:, :3], "xb": X[:, 3:]}, Y)[0]
    assert a == b
    raises(lambda: mod.forward(p, {"xa": X[:, :3]}), "X", "'xb'")


def test_plain_dicts_and_reassigned_entries(toy):
    mod, _, _ = toy
    rng = np.random.default_rng(6)
    p = mod.init_params()
    X, Y = rng.standard_normal((5, 1)), rng.standard_normal((5, 1))
    plain = {k: v.copy() for k, v in p.items()}
    W1 = plain["W1"]
    mod.sgd_step(plain, X, Y, 0.1)
    mod.sgd_step(p, X, Y, 0.1)
    assert plain["W1"] is W1  # written back into the caller's arrays
    for k in mod.PARAMS:
        np.testing.assert_array_equal(plain[k], p[k])
    p["W2"] = np.zeros((3, 3))  # an assigned entry: re-packed on the next call
    mod.sgd_step(p, X, Y, 0.1)
    assert p.packed and np.shares_memory(p["W2"], p.flat)


def test_sgd_step_allocates_nothing_after_the_first_call(toy):
    mod, _, _ = toy
    p = mod.init_params()
    rng = np.random.default_rng(7)
    for B in (2, 64):  # sample-outer and batch-inner layouts
        X, Y = rng.standard_normal((B, 1)), rng.standard_normal((B, 1))
        mod.sgd_step(p, X, Y, 0.01)
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for _ in range(50):
            mod.sgd_step(p, X, Y, 0.01)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
        assert grown < 1024, grown


# -- the command line, determinism, generated/ ----------------------------------------------------------------

def test_cli_refuses_hand_edits_and_unwritable_targets(tmp_path, capsys):
    out = tmp_path / "toy.py"
    spec = str(ROOT / "examples" / "udl_toy.py")
    assert cli(["compile", spec, "-o", str(out)]) == 0
    assert state(out) == "generated"
    assert cli(["compile", spec, "-o", str(out), "--json"]) == 0
    assert '"status": "unchanged"' in capsys.readouterr().out
    edited = out.read_text() + "# my change\n"
    out.write_text(edited)
    assert cli(["compile", spec, "-o", str(out)]) == 2
    assert "edited by hand" in capsys.readouterr().err
    assert out.read_text() == edited  # nothing lost
    assert cli(["compile", spec, "-o", str(out), "--force"]) == 0
    assert state(out) == "generated"
    assert (tmp_path / "toy.py.bak").read_text() == edited
    foreign = tmp_path / "mine.py"
    foreign.write_text("x = 1\n")
    assert cli(["compile", spec, "-o", str(foreign)]) == 2
    assert foreign.read_text() == "x = 1\n"
    assert cli(["compile", spec, "-o", str(tmp_path / "missing" / "toy.py")]) == 2
    assert cli(["compile", spec, "-o", str(tmp_path)]) == 2
    assert "symback: error:" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*.tmp"))


def test_bad_learning_rates_are_refused_before_any_update(toy):
    mod, _, _ = toy
    p = mod.init_params()
    X, Y = np.ones((4, 1)), np.ones((4, 1))
    mod.sgd_step(p, X, Y, 0.1)  # the fast path is warm
    before = p.flat.copy()
    for lr in (float("nan"), float("inf"), "0.1x", None):
        raises(lambda lr=lr: mod.sgd_step(p, X, Y, lr), "lr")
    np.testing.assert_array_equal(p.flat, before)


def test_a_call_between_kernel_and_read_back_does_not_change_the_result(toy):
    """forward and loss_and_grad read the workspace after their kernel returns; another thread's call in
    that window (simulated here by wrapping the call) must not change what they read."""
    mod, _, _ = toy
    rng = np.random.default_rng(8)
    p = mod.init_params()
    X1, Y1 = rng.standard_normal((5, 1)), rng.standard_normal((5, 1))
    X2, Y2 = rng.standard_normal((5, 1)), rng.standard_normal((5, 1))
    want_out, (want_loss, want_grads) = mod.forward(p, X1), mod.loss_and_grad(p, X1, Y1)
    run = mod._run
    busy = []

    def interleaved(kernel, *args):
        value = run(kernel, *args)
        if not busy:  # "another thread": same parameters, same batch size, before this call reads back
            busy.append(1)
            mod.loss_and_grad(p, X2, Y2)
            busy.pop()
        return value

    mod._run = interleaved
    try:
        out, (loss, grads) = mod.forward(p, X1), mod.loss_and_grad(p, X1, Y1)
    finally:
        mod._run = run
    np.testing.assert_array_equal(out, want_out)
    assert loss == want_loss
    for k in mod.PARAMS:
        np.testing.assert_array_equal(grads[k], want_grads[k])
