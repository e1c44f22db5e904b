"""The entry points against careless callers (issue 16): a Params whose `flat` is rebound (an optimizer of one's own
writing `params.flat = params.flat - lr * grads.flat`) runs on the new buffer, never silently on the old one; a Params
survives pickle (as a plain dict) and deepcopy; a Gradients whose `flat` is rebound, or made by hand, is written whole
or refused in one line; threads making the first calls of a fresh module all run; masked arrays are refused."""

from __future__ import annotations

import copy
import importlib.util
import pickle
import threading

import numpy as np
import pytest

from tests.codegen_support import batch, compiled, example_specs, perturbed, same_bits

EXAMPLES = dict(example_specs())


@pytest.fixture(scope="module", params=["udl_toy", "train_digits"])
def module(request):
    mod, _, plan = compiled(request.param, EXAMPLES[request.param])
    return mod, plan


def _views(params):
    return all(np.shares_memory(params[n], params.flat) for n in params)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_rebinding_params_flat_moves_the_parameters_there(module, dtype):
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(0), dtype)
    params = perturbed(mod, np.random.default_rng(0), dtype)
    grads = mod.new_gradients(params)
    for _ in range(3):  # warm: the fast path runs on the buffer it cached
        mod.loss_and_grad(params, X, Y, out=grads)
        new = params.flat - dtype(0.5) * grads.flat
        params.flat = new  # not in place: the parameters now live in `new`
        assert params.flat is new and _views(params) and params.packed
        want = mod.Params(new.copy())
        assert same_bits(mod.forward(params, X), mod.forward(want, X))
        assert same_bits(mod.loss_and_grad(params, X, Y)[0], mod.loss_and_grad(want, X, Y)[0])
    cache = params._batch
    params.flat -= dtype(0.5) * grads.flat  # in place: the same buffer, its workspaces kept
    assert params._batch is cache and _views(params)
    before = params.flat
    for bad in (params.flat[:-1], params.flat.astype(np.int64), None):
        with pytest.raises(ValueError, match=r"^flat: expected a writeable, C-contiguous"):
            params.flat = bad
        assert params.flat is before and _views(params)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_params_survive_pickle_and_deepcopy(module, dtype):
    mod, plan = module
    X, _ = batch(plan, 2, np.random.default_rng(1), dtype)
    params = perturbed(mod, np.random.default_rng(1), dtype)
    want = mod.forward(params, X)
    twins = pickle.loads(pickle.dumps(params)), copy.deepcopy(params)
    assert type(twins[0]) is dict and type(twins[1]) is mod.Params and _views(twins[1])  # a dict loads anywhere
    for twin in twins:
        assert sorted(twin) == sorted(mod.PARAMS) and same_bits(mod.forward(twin, X), want)
        assert not any(np.shares_memory(twin[n], params.flat) for n in mod.PARAMS)  # a copy, not the buffer
    best = copy.deepcopy(params)
    params.flat[...] = 0
    assert same_bits(mod.forward(best, X), want)


def test_a_rebound_or_hand_made_gradients_is_written_whole_or_refused(module):
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(2))
    params = perturbed(mod, np.random.default_rng(2))
    _, want = mod.loss_and_grad(params, X, Y)
    grads = mod.new_gradients(params)
    mod.loss_and_grad(params, X, Y, out=grads)  # warm
    grads.flat = np.zeros(mod.N_PARAMS)
    for _ in range(2):
        assert mod.loss_and_grad(params, X, Y, out=grads)[1] is grads
        assert same_bits(grads.flat, want.flat) and _views(grads)
        for n in mod.PARAMS:
            assert same_bits(grads[n], want[n])
    kind = type(grads)
    bare = kind()
    bare.flat = np.zeros(mod.N_PARAMS)
    assert same_bits(mod.loss_and_grad(params, X, Y, out=bare)[1].flat, want.flat) and _views(bare)
    with pytest.raises(TypeError, match=r"^out.flat: expected a NumPy array") as e:
        mod.loss_and_grad(params, X, Y, out=kind())
    assert "\n" not in str(e.value)


def test_threads_making_the_first_calls_of_a_fresh_module_all_run():
    """Threads whose first calls meet kernels not yet compiled (or loaded from Numba's cache) in a freshly imported
    module: each call runs and gives what a serial call gives (one thread re-disabling compilation while another
    waited to compile made it raise RuntimeError('compilation disabled'))."""
    path = compiled("udl_toy", EXAMPLES["udl_toy"])[0].__file__
    for attempt in range(3):
        spec = importlib.util.spec_from_file_location(f"hostile_fresh_toy_{attempt}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        params = [mod.init_params(seed=k, dtype=(np.float32, np.float64)[k % 2]) for k in range(4)]
        start, results = threading.Barrier(4), [None] * 4

        def run(k, mod=mod, start=start, results=results, params=params):
            p, dtype = params[k], params[k].flat.dtype
            X, Y = np.full((3, 1), 0.5, dtype), np.full((3, 1), 0.25, dtype)
            start.wait()
            try:
                results[k] = (mod.forward(p, X, out=np.empty((3, 1), dtype)).copy(),
                              mod.loss_and_grad(p, X, Y, out=mod.new_gradients(p))[1].flat.copy())
            except Exception as e:  # noqa: BLE001 (the test reports it)
                results[k] = e

        threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k, got in enumerate(results):
            assert not isinstance(got, Exception), (attempt, k, got)
            p, dtype = params[k], params[k].flat.dtype
            X, Y = np.full((3, 1), 0.5, dtype), np.full((3, 1), 0.25, dtype)
            assert same_bits(got[0], mod.forward(p, X)) and same_bits(got[1], mod.loss_and_grad(p, X, Y)[1].flat)


def test_masked_arrays_are_refused_in_one_line(module):
    """A masked array (numpy.ma) as X, Y or out: its mask means nothing to a kernel (it read the values under it, or
    Numba's typing failed with a traceback), so it is refused by name, nothing written."""
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(3))
    params = mod.init_params(seed=3)  # a fresh Params: its first call takes the checked path
    masked = np.ma.masked_array(X, mask=np.zeros_like(X, bool))
    out, Y_masked = np.ma.masked_array(np.full((3, plan.sizes[plan.prediction]), 7.0)), np.ma.masked_array(Y)
    calls = [("X", lambda: mod.forward(params, masked)), ("X", lambda: mod.loss_and_grad(params, masked, Y)),
             ("out", lambda: mod.forward(params, X, out=out)), ("Y", lambda: mod.loss_and_grad(params, X, Y_masked))]
    for name, call in calls:
        with pytest.raises(TypeError if name == "out" else ValueError, match=rf"^{name}: .*got MaskedArray$") as e:
            call()
        assert "\n" not in str(e.value)
    assert np.all(out.data == 7.0)
