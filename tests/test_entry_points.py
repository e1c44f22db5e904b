"""The fast paths of a generated module's entry points (issue 14, item 1): forward, loss_and_grad and sgd_step on a
packed Params or on a plain dict of arrays give bit for bit what the checked path gives; their results are fresh
arrays that later calls leave alone; and bad input after a warm call (the fast path tried first) still gets the
checked path's one-line ValueError, with nothing updated."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import types

import numpy as np
import pytest

from tests.codegen_support import batch, compiled, example_specs

EXAMPLES = dict(example_specs())
# udl_toy: sample-outer loops up to 4 rows, batch-innermost beyond; train_digits: BLAS, integer labels
SIZES = (1, 3, 7)


@pytest.fixture(scope="module", params=["udl_toy", "train_digits"])
def module(request):
    mod, _, plan = compiled(request.param, EXAMPLES[request.param])
    return mod, plan


def _params(mod, plain, dtype=np.float64, seed=0):
    p = mod.init_params(seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    p.flat[...] += (0.1 * rng.standard_normal(p.flat.shape)).astype(dtype)  # nonzero biases
    return {n: np.array(a) for n, a in p.items()} if plain else p


def _state(params):
    return {n: np.array(a) for n, a in params.items()}


def _restore(params, state):
    for n, a in state.items():
        params[n][...] = a  # in place: a Params stays packed, its workspace cache stays warm


def _same(a, b):
    """Bit for bit: dtype, shape and bytes (NaN, -0.0 and all)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _all_calls(mod, params, X, Y, cold=False):
    """forward, loss_and_grad, then sgd_step (which changes params), and the parameters after it; `cold`: each
    call finds no workspace (so takes the checked path)."""
    results = []
    for entry, args in (("forward", (X,)), ("loss_and_grad", (X, Y)), ("sgd_step", (X, Y, 0.05))):
        if cold:
            mod._SHARED.clear()  # the plain dicts' workspaces
            if isinstance(params, mod.Params):
                params._batch = threading.local()
        results.append(getattr(mod, entry)(params, *args))
    out, (loss, grads), step = results
    return out, loss, grads, step, _state(params)


def _counted(fn, calls):
    def counting(*args, **kwargs):
        calls.append(args)
        return fn(*args, **kwargs)

    return counting


def _no_checks(*_):
    raise AssertionError("the checked path ran")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("plain", [False, True], ids=["Params", "plain dict"])
@pytest.mark.parametrize("B", SIZES)
def test_the_fast_path_gives_bit_for_bit_what_the_checked_path_gives(module, B, plain, dtype, monkeypatch):
    mod, plan = module
    X, Y = batch(plan, B, np.random.default_rng(B), dtype)
    params = _params(mod, plain, dtype)
    start = _state(params)
    with monkeypatch.context() as m:
        m.setattr(mod, "_run", _counted(mod._run, calls := []))
        want = _all_calls(mod, params, X, Y, cold=True)
    assert len(calls) >= 3  # the checked path ran each time
    _restore(params, start)
    with monkeypatch.context() as m:
        m.setattr(mod, "_checked", _no_checks)  # the workspace is warm: every call takes the fast path
        got = _all_calls(mod, params, X, Y)
    out, loss, grads, step, after = got
    assert _same(out, want[0]) and out.shape == (B, plan.sizes[plan.prediction])
    assert _same(loss, want[1]) and _same(step, want[3]) and step == loss
    for n in mod.PARAMS:
        assert _same(grads[n], want[2][n]) and _same(after[n], want[4][n]), n
        assert grads[n].flags.writeable and grads[n].flags.c_contiguous


@pytest.mark.parametrize("plain", [False, True], ids=["Params", "plain dict"])
def test_without_numbas_private_fingerprints_every_call_is_checked_and_gives_the_same(module, plain, monkeypatch):
    """The fast path keys compiled entry points by numba._dispatcher.compute_fingerprint (private); a Numba
    without it makes every call take the checked path, with the same results."""
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(3))
    params = _params(mod, plain)
    start = _state(params)
    want = _all_calls(mod, params, X, Y, cold=True)
    _restore(params, start)

    def missing(_):
        raise KeyError("no argument fingerprints in this Numba")

    with monkeypatch.context() as m:
        m.setattr(mod, "_fingerprint", missing)
        m.setattr(mod, "_run", _counted(mod._run, calls := []))
        got = _all_calls(mod, params, X, Y, cold=True)
        got_warm = _all_calls(mod, params, X, Y)
    assert len(calls) == 6  # every call checked, warm ones too
    for a, b in zip(got, want):
        if isinstance(a, dict):
            assert all(_same(a[n], b[n]) for n in mod.PARAMS)
        else:
            assert _same(a, b)
    assert np.isfinite(got_warm[1])


def test_a_module_runs_as_python_under_numba_disable_jit(module):
    """NUMBA_DISABLE_JIT=1 (debugging a kernel line by line) runs the module as plain Python: the same numbers."""
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(5))
    params = _params(mod, False)
    loss, grads = mod.loss_and_grad(params, X, Y)
    script = (f"import importlib.util, numpy as np; s = importlib.util.spec_from_file_location('m', {mod.__file__!r}); "
              "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); a = np.load({path!r}); "
              "p = m.Params(a['flat']); l, g = m.loss_and_grad(p, a['X'], a['Y']); "
              "print(repr(float(l)), *(repr(float(abs(g[n]).sum())) for n in m.PARAMS))")
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/args.npz"
        np.savez(path, flat=params.flat, X=X, Y=Y)
        out = subprocess.run([sys.executable, "-c", script.replace("{path!r}", repr(path))], capture_output=True,
                             text=True, env={**os.environ, "NUMBA_DISABLE_JIT": "1"}, timeout=120, check=True)
    got = [float(v) for v in out.stdout.split()]
    want = [loss, *(float(abs(grads[n]).sum()) for n in mod.PARAMS)]
    assert np.allclose(got, want, rtol=1e-12, atol=0), (got, want)


def test_results_are_fresh_arrays_that_later_calls_leave_alone(module):
    mod, plan = module
    rng = np.random.default_rng(1)
    for plain in (False, True):
        params = _params(mod, plain)
        (X, Y), (X2, Y2) = batch(plan, 3, rng), batch(plan, 3, rng)
        _all_calls(mod, params, X, Y)  # warm
        out = mod.forward(params, X)
        _, grads = mod.loss_and_grad(params, X, Y)
        kept = out.copy(), {n: g.copy() for n, g in grads.items()}
        _all_calls(mod, params, X2, Y2)  # the same workspace, other numbers
        assert out.flags.owndata and out.flags.c_contiguous and _same(out, kept[0])
        for n in mod.PARAMS:
            assert _same(grads[n], kept[1][n])
            assert not any(np.shares_memory(grads[n], a) for a in params.values())


def _bad_cases(mod, plan, B):
    """(name, entry points, params change, X, Y, lr, the checked path's message) for a batch of B rows."""
    X, Y = batch(plan, B, np.random.default_rng(2))
    nan_X = X.copy()
    nan_X[B - 1, 0] = np.nan
    wide = np.ones((B, plan.n_in + 1))
    if plan.labels:
        bad_Y = [("Y out of range", Y + mod.N_OUT, r"^Y: class labels must lie in 0\.\.\d+, got "),
                 ("Y shape", Y[:-1] if B > 1 else Y[:, None], r"^Y: expected shape \(\d+,\), one label per row")]
    else:
        inf_Y = Y.copy()
        inf_Y[0, 0] = np.inf
        bad_Y = [("Y infinite", inf_Y, r"^Y: contains NaN or infinity$"),
                 ("Y shape", Y[:, :0], r"^Y: expected shape \(\d+, \d+\), one target row per row of X")]
    first, second = mod.PARAMS[0], mod.PARAMS[2]
    shape = mod.SHAPES[second]
    reshaped = (shape[1], shape[0]) if shape[0] != shape[1] else (shape[0] + 1, shape[1])
    all3, learn = ("forward", "loss_and_grad", "sgd_step"), ("loss_and_grad", "sgd_step")
    return [
        ("X width", all3, {}, wide, Y, 0.1, rf"^X: expected shape \(batch, {plan.n_in}\) with batch >= 1, got "),
        ("X NaN", all3, {}, nan_X, Y, 0.1, r"^X: contains NaN or infinity$"),
        ("X dtype", all3, {}, X.astype(np.float32), Y, 0.1, r"^X: dtype float32; expected float64 like the param"),
        ("X list", all3, {}, X.tolist(), Y, 0.1, r"^X: expected a NumPy array of shape \(batch, \d+\), got list$"),
        *[(name, learn, {}, X, y, 0.1, message) for name, y, message in bad_Y],
        ("lr NaN", ("sgd_step",), {}, X, Y, float("nan"), r"^lr: expected a finite real number, got nan$"),
        ("param shape", all3, {second: np.ones(reshaped)}, X, Y, 0.1,
         rf"^params\['{second}'\]: expected shape \({shape[0]}, {shape[1]}\), got "),
        ("param dtype", all3, {second: np.ones(shape, np.float32)}, X, Y, 0.1,
         rf"^params\['{second}'\]: dtype float32 differs from params\['{first}'\] \(float64\)$"),
        ("param missing", all3, {first: None}, X, Y, 0.1, rf"^params: missing '{first}' \(expected shape "),
        ("param extra", all3, {"W99": np.ones(2)}, X, Y, 0.1, r"^params: unexpected 'W99'; expected keys "),
        ("param read-only", ("sgd_step",), {second: "read-only"}, X, Y, 0.1,
         rf"^params\['{second}'\]: a read-only array; sgd_step updates the parameters in place$"),
    ]


def _call(mod, entry, params, X, Y, lr):
    args = {"forward": (params, X), "loss_and_grad": (params, X, Y), "sgd_step": (params, X, Y, lr)}[entry]
    return getattr(mod, entry)(*args)


def _changed(params, change):
    """A plain dict with `change` applied: None deletes a name, "read-only" makes that entry a read-only copy."""
    out = dict(params)
    for n, a in change.items():
        if a is None:
            del out[n]
        elif isinstance(a, str):
            out[n] = np.array(out[n])
            out[n].setflags(write=False)
        else:
            out[n] = a
    return out


@pytest.mark.parametrize("B", SIZES)
def test_bad_input_after_a_warm_call_is_refused_in_one_line_with_nothing_updated(module, B):
    mod, plan = module
    good_X, good_Y = batch(plan, B, np.random.default_rng(3))
    for name, entries, change, X, Y, lr, message in _bad_cases(mod, plan, B):
        for plain in (False, True) if not change else (True,):  # a changed Params is re-packed: checked anyway
            for entry in entries:
                params = _params(mod, plain)
                _call(mod, entry, params, good_X, good_Y, 0.1)  # this thread's workspace for B is warm
                params = _changed(params, change)
                before = _state(params)
                with pytest.raises(ValueError, match=message) as info:
                    _call(mod, entry, params, X, Y, lr)
                assert "\n" not in str(info.value), (name, entry)
                for n, a in before.items():
                    assert _same(params[n], a), (name, entry, n)


def test_read_only_plain_dicts_are_read(module):
    """forward and loss_and_grad only read the parameters: read-only arrays give the numbers writeable ones give."""
    mod, plan = module
    X, Y = batch(plan, 2, np.random.default_rng(4))
    params = _params(mod, True)
    frozen = _changed(params, dict.fromkeys(mod.PARAMS, "read-only"))
    for _ in range(2):  # checked, then fast (a writeable dict's workspace is warm)
        assert _same(mod.forward(frozen, X), mod.forward(params, X))
        (loss, grads), (want, wgrads) = mod.loss_and_grad(frozen, X, Y), mod.loss_and_grad(params, X, Y)
        assert _same(loss, want) and all(_same(grads[n], wgrads[n]) for n in mod.PARAMS)
    before = _state(frozen)
    with pytest.raises(ValueError, match=r"^params\['\w+'\]: a read-only array; sgd_step updates the param"):
        mod.sgd_step(frozen, X, Y, 0.1)  # after reads on the fast path too
    assert all(_same(frozen[n], before[n]) for n in mod.PARAMS)


def test_weights_in_a_plain_dict_reach_params_speed_by_one_update(module):
    """The README's advice: `params = init_params(); params.update(weights)` packs the dict's values on the next call,
    gives bit for bit what the plain dict gives from then on, and takes the packed fast path."""
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(5))
    weights = _params(mod, True, seed=3)
    params = mod.init_params()
    params.update(weights)
    assert not params.packed
    for _ in range(2):
        assert _same(mod.forward(params, X), mod.forward(weights, X))
        assert _same(mod.sgd_step(params, X, Y, 0.05), mod.sgd_step(weights, X, Y, 0.05))
        assert params.packed and all(_same(params[n], weights[n]) for n in mod.PARAMS)
    assert all(params[n].base is not None and weights[n] is not params[n] for n in mod.PARAMS)  # views of one buffer


def test_a_fresh_module_compiles_for_plain_dicts_of_either_dtype(tmp_path):
    """In a fresh copy of the digits module (BLAS kernels, nothing compiled, no Numba cache) the very first calls
    are on a plain dict: Numba cannot type a kernel's np.dot(a, b, out) when it first compiles it inside the
    plain-dict wrapper, so the checked path compiles the kernel on its own first. The float64 step turns the
    kernels' compiling off; a float32 plain dict then compiles its wrapper, and with it the kernel, for float32."""
    mod, _, plan = compiled("train_digits", EXAMPLES["train_digits"])
    shutil.copy(mod.__file__, tmp_path / "fresh_digits.py")
    spec = importlib.util.spec_from_file_location("entry_points_fresh_digits", tmp_path / "fresh_digits.py")
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    rng = np.random.default_rng(8)
    X, Y = batch(plan, 1, rng)
    params = _params(fresh, True)
    assert _same(fresh.forward(params, X), mod.forward(_params(mod, False), X))
    assert np.isfinite(fresh.sgd_step(params, X, Y, 0.1))
    X, Y = batch(plan, 2, rng, np.float32)
    params = _params(fresh, True, np.float32)
    for _ in range(2):  # checked, then fast
        assert np.isfinite(fresh.sgd_step(params, X, Y, 0.1))


def test_threads_sharing_a_plain_dict_read_what_a_serial_call_reads(module):
    """forward and loss_and_grad from 4 threads on one plain dict (each thread packs into its own buffer)."""
    mod, plan = module
    params = _params(mod, True, seed=5)
    rng = np.random.default_rng(6)
    batches = [[batch(plan, B, rng) for B in SIZES * 40] for _ in range(4)]

    def work(k):
        return [(mod.forward(params, X), mod.loss_and_grad(params, X, Y)) for X, Y in batches[k]]

    serial = [work(k) for k in range(4)]
    results, start = [None] * 4, threading.Barrier(4)

    def run(k):
        start.wait()
        results[k] = work(k)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial):
        for (out, (loss, grads)), (want_out, (want_loss, want_grads)) in zip(got, want):
            assert _same(out, want_out) and _same(loss, want_loss)
            assert all(_same(grads[n], want_grads[n]) for n in mod.PARAMS)


def _layouts(a):
    """`a` as arrays of other types to Numba (same values unless broadcast): read-only, Fortran-ordered, reversed
    (negative strides), every other element of a wider array, broadcast rows (zero strides), int32 labels."""
    frozen = a.copy()
    frozen.setflags(write=False)
    wide = np.repeat(a, 2, axis=-1)
    out = [frozen, np.asfortranarray(a), a[::-1].copy()[::-1], wide[..., ::2], np.broadcast_to(a[:1], a.shape)]
    return out + ([a.astype(np.int32)] if a.dtype.kind == "i" else [])


def test_arguments_of_any_layout_after_a_warm_call_give_what_contiguous_copies_give(module):
    """The fast path calls a kernel's compiled code only for argument types the checked path ran it with (Numba's
    fingerprint): X, Y or a plain dict's arrays of another layout, writeability or integer width give, bit for bit,
    what C-contiguous copies give; an X of the wrong dimension is refused in the checked path's one line."""
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(9))
    for plain in (False, True):
        params = _params(mod, plain)
        _all_calls(mod, params, X, Y)  # warm: this thread's workspace for 3 rows, and its compiled entry points
        start = _state(params)
        for x in _layouts(X):
            assert _same(mod.forward(params, x), mod.forward(params, np.ascontiguousarray(x)))
        for y in _layouts(Y):
            (loss, grads), (want, wgrads) = mod.loss_and_grad(params, X, y), mod.loss_and_grad(params, X, y.copy())
            assert _same(loss, want) and all(_same(grads[n], wgrads[n]) for n in mod.PARAMS)
        one_d = rf"^X: expected shape \(batch, {plan.n_in}\) with batch >= 1, got \(3,\)$"
        with pytest.raises(ValueError, match=one_d):
            mod.sgd_step(params, X[:, 0], Y, 0.1)
        assert all(_same(params[n], start[n]) for n in mod.PARAMS)
    params = _params(mod, True)
    want = mod.forward(params, X)
    for k in range(4):  # a plain dict whose arrays are of another layout, after one of C-contiguous arrays
        assert _same(mod.forward({n: _layouts(a)[k] for n, a in params.items()}, X), want)


def test_warm_calls_reach_compiled_entry_points_without_the_dispatcher(module):
    """The checked path records, per cache entry, the compiled entry point of the kernel (or a plain dict's wrapper)
    for the fingerprints of X and of (X, Y), and of its `_INTO` wrapper for those with `out`: the fast path's one
    call of compiled code (Numba's dispatcher would cost as much again as that call at batch 1)."""
    mod, plan = module
    X, Y = batch(plan, 2, np.random.default_rng(10))
    for plain in (False, True):
        params = _params(mod, plain)
        _all_calls(mod, params, X, Y)
        mod.forward(params, X, out=np.empty((2, plan.sizes[plan.prediction])))
        mod.loss_and_grad(params, X, Y, out=mod.new_gradients(params))
        _, _, _, _, _, _, calls, into = (mod._SHARED[X.dtype] if plain else params._batch).cache[2]
        assert len(calls) >= 2 and len(into) == 2  # into: (X, out) and (X, Y, out.flat), a plain dict's arrays first
        assert all(type(f).__name__ == "builtin_function_or_method" for f in [*calls.values(), *into.values()])


def _value(a):
    """`a` with arrays as (dtype, shape, bytes) and dicts as plain dicts, to compare two uses bit for bit."""
    if isinstance(a, np.ndarray):
        return a.dtype, a.shape, a.tobytes()
    if isinstance(a, dict):
        return type(a) is dict, {k: _value(v) for k, v in a.items()}
    if isinstance(a, (list, tuple)):
        return [_value(v) for v in a]
    return a


def _keywords(**kw):
    return kw


#: what one does with a dict first; each runs on a fresh loss_and_grad result and on a plain dict of its arrays
USES = {
    "getitem": lambda g: g["b1"], "get": lambda g: g.get("b1"), "in": lambda g: "b1" in g,
    "len": len, "bool": bool, "list": list, "reversed": lambda g: list(reversed(g)), "keys": lambda g: list(g.keys()),
    "values": lambda g: list(g.values()), "items": lambda g: list(g.items()), "dict": dict, "unpack": lambda g: {**g},
    "kwargs": lambda g: _keywords(**g), "copy": lambda g: g.copy(), "copy.copy": copy.copy,
    "deepcopy": copy.deepcopy, "pickle": lambda g: pickle.loads(pickle.dumps(g)), "repr": repr, "format": "{}".format,
    "== {}": lambda g: g == {}, "{} ==": lambda g: {} == g, "!= {}": lambda g: g != {},
    "== its copy": lambda g: g == {k: v.copy() for k, v in dict(g).items()}, "or": lambda g: g | {"x": 1},
    "ror": lambda g: {"x": 1} | g, "mappingproxy": lambda g: dict(types.MappingProxyType(g)),
    "setitem": lambda g: g.__setitem__("b1", 0), "delitem": lambda g: g.__delitem__("b1"),
    "pop": lambda g: g.pop("b1"), "popitem": lambda g: g.popitem(), "setdefault": lambda g: g.setdefault("x", 1),
    "update": lambda g: g.update(x=1), "ior": lambda g: len(g.__ior__({"x": 1})), "clear": lambda g: g.clear(),
    "json": lambda g: json.dumps(g, default=lambda a: a.tolist()), "dict.__len__": dict.__len__,
}


@pytest.mark.parametrize("use", USES)
def test_gradients_behave_as_the_plain_dict_of_their_arrays(module, use):
    """loss_and_grad's gradients are a dict subclass (with `.flat`): every use gives what it gives on a plain dict of
    the same arrays, and leaves the same (json's C encoder, which reads a dict's table, included)."""
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(4))
    params = _params(mod, False)
    mod.loss_and_grad(params, X, Y)  # warm: the fast path
    fresh, plain = mod.loss_and_grad(params, X, Y)[1], dict(mod.loss_and_grad(params, X, Y)[1])
    outcomes = []
    for g in (fresh, plain):
        try:
            outcomes.append((_value(USES[use](g)), _value(dict(g))))
        except ValueError as e:  # == on arrays of more than one element, as for any dict of arrays
            outcomes.append(str(e))
    assert outcomes[0] == outcomes[1]
    assert type(fresh) is mod.Gradients and isinstance(fresh, dict)


def test_gradients_view_one_fresh_flat_buffer_laid_out_as_the_parameters(module):
    mod, plan = module
    X, Y = batch(plan, 3, np.random.default_rng(5))
    for plain in (False, True):
        params = _params(mod, plain)
        _, grads = mod.loss_and_grad(params, X, Y)
        _, again = mod.loss_and_grad(params, X, Y)
        flat = mod.Params(grads.flat)
        assert grads.flat.shape == (mod.N_PARAMS,) and grads.flat.flags.owndata
        assert not np.shares_memory(grads.flat, again.flat) and not np.shares_memory(grads.flat, params[mod.PARAMS[0]])
        for n in mod.PARAMS:
            assert _same(grads[n], flat[n]) and np.shares_memory(grads[n], grads.flat), n
    g1, g2 = mod.loss_and_grad(params, X, Y)[1], mod.loss_and_grad(params, X, Y)[1]
    with pytest.raises(ValueError, match="truth value of an array"):  # as for any two dicts of equal arrays
        assert g1 == g2
    assert [g1, g1] == [g1, dict(g1)]


def test_workspaces_start_the_kernels_rows_on_a_cache_line(module):
    """Element N_PARAMS of a workspace (where the rows begin) starts a 64-byte line, wherever np.zeros lands."""
    mod, plan = module
    for dtype in (np.float64, np.float32):
        for size in (1, 47, 3618):
            w = mod._workspace(size, dtype)
            assert w.shape == (size,) and w.dtype == dtype and not w.any() and w.flags.c_contiguous, (dtype, size)
            assert (w.__array_interface__["data"][0] + mod.N_PARAMS * w.itemsize) % 64 == 0, (dtype, size)
    X, Y = batch(plan, 8, np.random.default_rng(6))
    for plain in (False, True):
        params = _params(mod, plain)
        mod.sgd_step(params, X, Y, 0.1)
        work = (mod._SHARED[X.dtype] if plain else params._batch).cache[8][1]
        assert (work.__array_interface__["data"][0] + mod.N_PARAMS * work.itemsize) % 64 == 0
