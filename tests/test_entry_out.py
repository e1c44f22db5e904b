"""Entry points that write into the caller's buffers (issue 14): `forward(params, X, out=)` and
`loss_and_grad(params, X, Y, out=new_gradients(params))` give bit for bit what the calls without `out` give (float32
and float64, every layout's batch sizes, a Params or a plain dict, checked and fast path), allocate nothing, refuse a
bad `out` with one line before writing anything, and a Params of another generated module is refused."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from tests.codegen_support import batch, compiled, example_specs, perturbed, same_bits
from tests.test_inference import inference

EXAMPLES = dict(example_specs())
# udl_toy: sample-outer loops up to 4 rows, batch-innermost beyond; train_digits: BLAS (sample-outer in its
# inference module at 1 and 2 rows), integer labels
SIZES = (1, 2, 3, 7, 32)


@pytest.fixture(scope="module", params=["udl_toy", "train_digits"])
def module(request):
    mod, _, plan = compiled(request.param, EXAMPLES[request.param])
    return mod, plan


def _width(plan):
    return plan.sizes[plan.prediction]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("plain", [False, True], ids=["Params", "plain dict"])
def test_out_gives_bit_for_bit_what_a_fresh_result_gives(module, plain, dtype):
    mod, plan = module
    for B in SIZES:
        X, Y = batch(plan, B, np.random.default_rng(B), dtype)
        params = perturbed(mod, np.random.default_rng(B), dtype)
        params = {n: np.array(a) for n, a in params.items()} if plain else params
        want_out, (want_loss, want_grads) = mod.forward(params, X), mod.loss_and_grad(params, X, Y)
        out, grads = np.full((B, _width(plan)), np.nan, dtype), mod.new_gradients(params)
        assert grads.flat.dtype == dtype and grads.flat.shape == (mod.N_PARAMS,) and not grads.flat.any()
        for _ in range(3):  # the checked path, then the fast path (twice)
            assert mod.forward(params, X, out=out) is out and same_bits(out, want_out), B
            loss, got = mod.loss_and_grad(params, X, Y, out=grads)
            assert got is grads and same_bits(loss, want_loss) and same_bits(grads.flat, want_grads.flat), B
            for n in mod.PARAMS:
                assert same_bits(grads[n], want_grads[n]) and np.shares_memory(grads[n], grads.flat), (B, n)
            out[...], grads.flat[...] = np.nan, np.nan  # every element is written again
        assert same_bits(mod.forward(params, X), want_out)  # and the calls without out still give the same


def test_inference_modules_write_into_out_too():
    key = "train_digits"
    inf, (full, _, plan) = inference(key, EXAMPLES[key]), compiled(key, EXAMPLES[key])
    params = perturbed(inf, np.random.default_rng(0))
    for B in (1, 2, 3):  # sample-outer loops at 1 and 2, BLAS beyond
        X, _ = batch(plan, B, np.random.default_rng(B))
        out = np.empty((B, _width(plan)))
        for _ in range(2):
            assert inf.forward(params, X, out=out) is out and same_bits(out, inf.forward(params, X))


def _allocated(fn, calls=200):
    """The most memory (bytes) held at once by NumPy's and Python's allocators during `calls` warm calls of fn."""
    fn()
    fn()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(calls):
            fn()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("plain", [False, True], ids=["Params", "plain dict"])
def test_warm_calls_with_out_allocate_nothing(module, plain):
    """Without out= each call holds a fresh result (forward's rows, the gradients' flat buffer and views); with it,
    only the call's own small Python objects (a key, a tuple), far below the smallest of those results."""
    mod, plan = module
    B = 64
    X, Y = batch(plan, B, np.random.default_rng(1))
    params = mod.init_params(seed=1)
    params = {n: np.array(a) for n, a in params.items()} if plain else params
    out, grads = np.empty((B, _width(plan))), mod.new_gradients(params)
    fresh = min(_allocated(lambda: mod.forward(params, X)), _allocated(lambda: mod.loss_and_grad(params, X, Y)))
    assert fresh >= out.nbytes  # the measure sees an allocated result
    used = max(_allocated(lambda: mod.forward(params, X, out=out)),
               _allocated(lambda: mod.loss_and_grad(params, X, Y, out=grads)))
    assert used < min(out.nbytes, 512), used
    flat, views = grads.flat, [grads[n] for n in mod.PARAMS]
    mod.loss_and_grad(params, X, Y, out=grads)
    assert grads.flat is flat and all(grads[n] is v for n, v in zip(mod.PARAMS, views))  # the same objects


def _bad_outs(mod, plan, B):
    """(what, bad out for forward, error type, words)."""
    w, f = _width(plan), np.empty((B, _width(plan) * 2))
    return [("a list", [[0.0] * w] * B, TypeError, "out: expected a NumPy array"),
            ("float32", np.empty((B, w), np.float32), ValueError, "out: dtype float32"),
            ("one more row", np.empty((B + 1, w)), ValueError, r"out: expected shape \(3, "),
            ("transposed", np.empty((w, B)), ValueError, "out: expected shape"),
            ("flat", np.empty(B * w), ValueError, "out: expected shape"),
            ("strided", f[:, ::2], ValueError, "C-contiguous, writeable"),
            ("read-only", np.empty((B, w)), ValueError, "C-contiguous, writeable")] + [
            ("Fortran order", np.asfortranarray(np.empty((B, w))), ValueError, "C-contiguous, writeable")] * (w > 1)


@pytest.mark.parametrize("plain", [False, True], ids=["Params", "plain dict"])
def test_a_bad_out_for_forward_gets_one_line_and_is_left_alone(module, plain):
    mod, plan = module
    B = 3
    X, _ = batch(plan, B, np.random.default_rng(2))
    params = mod.init_params(seed=2)
    params = {n: np.array(a) for n, a in params.items()} if plain else params
    mod.forward(params, X, out=np.empty((B, _width(plan))))  # warm: the fast path is tried first
    for what, bad, error, words in _bad_outs(mod, plan, B):
        if isinstance(bad, np.ndarray):
            bad[...] = 7
            bad.flags.writeable = what != "read-only"
        with pytest.raises(error, match=words) as e:
            mod.forward(params, X, out=bad)
        assert "\n" not in str(e.value), what
        if isinstance(bad, np.ndarray):
            assert np.all(bad == 7), what  # refused before anything is written


def test_a_bad_out_for_loss_and_grad_gets_one_line(module):
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(3))
    params = mod.init_params(seed=3)
    good = mod.new_gradients(params)
    mod.loss_and_grad(params, X, Y, out=good)  # warm
    other = compiled("udl_toy" if plan.n_in != 1 else "train_digits",
                     EXAMPLES["udl_toy" if plan.n_in != 1 else "train_digits"])[0]
    single = mod.new_gradients(mod.init_params(dtype=np.float32))
    cases = [("a plain dict", dict(good), TypeError, "out: expected a Gradients from new_gradients"),
             ("an array", good.flat, TypeError, "out: expected a Gradients"),
             ("another module's", other.new_gradients(other.init_params()), ValueError, "another generated module"),
             ("float32", single, ValueError, "out.flat: dtype float32")]
    for what, flat, words in (("short", np.zeros(mod.N_PARAMS - 1), r"out.flat: expected shape \("),
                              ("not an array", list(range(mod.N_PARAMS)), "out.flat: expected a NumPy array"),
                              ("read-only", np.zeros(mod.N_PARAMS), "C-contiguous, writeable")):
        g = mod.new_gradients(params)
        g.flat = flat
        if what == "read-only":
            flat.flags.writeable = False
        cases.append((what, g, TypeError if what == "not an array" else ValueError, words))
    for what, bad, error, words in cases:
        with pytest.raises(error, match=words) as e:
            mod.loss_and_grad(params, X, Y, out=bad)
        assert "\n" not in str(e.value), what


def test_an_assigned_entry_is_a_view_of_out_again(module):
    """Assigning an entry of a Gradients clears its `packed`; used as out= again, its entries view `flat` again."""
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(4))
    params = mod.init_params(seed=4)
    grads = mod.new_gradients(params)
    mod.loss_and_grad(params, X, Y, out=grads)
    first = mod.PARAMS[0]
    grads[first] = np.zeros_like(grads[first])
    assert not grads.packed
    _, want = mod.loss_and_grad(params, X, Y)
    mod.loss_and_grad(params, X, Y, out=grads)
    assert grads.packed and np.shares_memory(grads[first], grads.flat) and same_bits(grads[first], want[first])


def test_a_params_of_another_module_is_refused_even_warm():
    """A Params keeps its module's workspaces and compiled entry points: another module refuses it (it once ran the
    first module's kernels), on the fast path too, and says how to share its buffer when the network is the same."""
    key = "udl_toy"
    full, _, plan = compiled(key, EXAMPLES[key])
    inf = inference(key, EXAMPLES[key])
    digits = compiled("train_digits", EXAMPLES["train_digits"])[0]
    params = perturbed(full, np.random.default_rng(5))
    X, Y = batch(plan, 1, np.random.default_rng(5))
    want = full.forward(params, X)
    full.forward(params, X)  # warm in the training module
    for call in (lambda: inf.forward(params, X), lambda: inf.forward(params, X, out=np.empty((1, 1)))):
        with pytest.raises(ValueError, match=r"^params: a Params made by another generated module.*"
                                             r"Params\(params.flat\)"):
            call()
    assert same_bits(inf.forward(inf.Params(params.flat), X), want)  # the same buffer, this module's Params
    for bad in (params.flat[:-1], params.flat.astype(np.int64), [0.0] * full.N_PARAMS, params.flat[::-1]):
        with pytest.raises(ValueError, match=r"^flat: expected a writeable, C-contiguous float32 or float64 array"):
            inf.Params(bad)
    for call in (lambda: digits.forward(params, np.zeros((1, 64))), lambda: digits.sgd_step(params, X, Y, 0.1),
                 lambda: digits.loss_and_grad(params, X, Y), lambda: digits.init_state(params)):
        with pytest.raises(ValueError, match="another generated module.*one of this module"):
            call()
    other = digits.init_params()
    digits.forward(other, np.zeros((1, 64)))  # warm in its own module
    with pytest.raises(ValueError, match="another generated module"):
        full.loss_and_grad(other, X, Y, out=full.new_gradients(params))


def test_out_with_read_only_parameters_and_unusual_inputs(module):
    """Read-only arrays in a plain dict (run on a packed copy of their own) and a Fortran-ordered or strided X (copied
    by the checks) take the checked path with out= too, and give what the calls without it give."""
    mod, plan = module
    B = 3
    X, Y = batch(plan, B, np.random.default_rng(6))
    plain = {n: np.array(a) for n, a in perturbed(mod, np.random.default_rng(6)).items()}
    for a in plain.values():
        a.flags.writeable = False
    for x in (X, np.asfortranarray(X), np.repeat(X, 2, axis=0)[::2]):
        out, grads = np.empty((B, _width(plan))), mod.new_gradients(plain)
        for _ in range(2):
            assert same_bits(mod.forward(plain, x, out=out), mod.forward(plain, X))
            loss, _ = mod.loss_and_grad(plain, x, Y, out=grads)
            want_loss, want = mod.loss_and_grad(plain, X, Y)
            assert same_bits(loss, want_loss) and same_bits(grads.flat, want.flat)
