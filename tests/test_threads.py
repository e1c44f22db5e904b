"""Generated modules shared by threads: concurrent calls give what the same calls give serially, with kernels
that hold the GIL (as generated) and with kernels that release it; and every scalar argument of the module
API is validated, naming it, before anything is updated."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.codegen_support import CACHE, compiled, example_specs

THREADS, CALLS = 4, 1000
SIZES = (1, 3, 64)  # both loop layouts of udl_toy (sample up to 4 rows, small beyond), and a long kernel call


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _toy_file():
    """examples/udl_toy.py's module, the file the other tests compile (so its kernels compile once per run)."""
    return compiled("udl_toy", dict(example_specs())["udl_toy"])[0].__file__


@pytest.fixture(scope="module")
def toy():
    return _load(_toy_file(), "threads_udl_toy")  # a module object of its own: nothing shared with other tests


@pytest.fixture(scope="module")
def toy_nogil():
    """udl_toy's module with every kernel compiled nogil=True, so threads really run kernels at once."""
    text = Path(_toy_file()).read_text(encoding="utf-8")
    jit = "@njit(cache=True, fastmath=_FASTMATH"
    assert text.count(jit) >= 3  # the layouts' kernels and the runtime's checks
    text = text.replace(jit, "@njit(cache=True, nogil=True, fastmath=_FASTMATH")
    text, n = re.subn(r"symback_kernels_[0-9a-f]{16}", lambda m: m[0] + "_nogil", text)
    assert n == 1
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "udl_toy_nogil.py"
    if not path.exists() or path.read_text() != text:  # unchanged text keeps Numba's on-disk cache valid
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)  # whole, for a concurrent run of this test
    mod = _load(path, "threads_udl_toy_nogil")
    assert all(kernel.targetoptions.get("nogil") for kernel, _, _ in mod._LAYOUTS.values())
    return mod


def _batches(k):
    """Thread k's CALLS batches, sizes cycling through SIZES."""
    rng = np.random.default_rng(100 + k)
    return [(rng.standard_normal((B, 1)), rng.standard_normal((B, 1)))
            for B in (SIZES[i % len(SIZES)] for i in range(CALLS))]


def _train(mod, params, batches):
    return [mod.sgd_step(params, X, Y, 1e-3) for X, Y in batches]


def _concurrently(work):
    """Run work(k) for k in 0..THREADS-1, one thread each, started together; their results in order."""
    results, errors = [None] * THREADS, []
    start = threading.Barrier(THREADS)

    def run(k):
        try:
            start.wait()
            results[k] = work(k)
        except BaseException as e:  # noqa: BLE001 (re-raised in the main thread below)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _params(mod, k, plain):
    p = mod.init_params(seed=k)
    return {n: np.array(a) for n, a in p.items()} if plain else p


@pytest.mark.parametrize("plain", [False, True], ids=["Params", "plain dict"])
@pytest.mark.parametrize("which", ["toy", "toy_nogil"])
def test_threads_training_their_own_parameters_match_the_serial_run(which, plain, request):
    """4 threads x 1,000 sgd_step calls on one module, each thread on its own parameters: the same
    parameters and losses, bit for bit, as the same calls made one thread after another."""
    mod = request.getfixturevalue(which)
    batches = [_batches(k) for k in range(THREADS)]
    serial = []
    for k in range(THREADS):
        p = _params(mod, k, plain)
        serial.append((_train(mod, p, batches[k]), p))

    def work(k):
        p = _params(mod, k, plain)
        return _train(mod, p, batches[k]), p

    for (losses, p), (want_losses, want) in zip(_concurrently(work), serial):
        assert losses == want_losses
        for n in mod.PARAMS:
            np.testing.assert_array_equal(p[n], want[n])


@pytest.mark.parametrize("which", ["toy", "toy_nogil"])
def test_threads_sharing_parameters_read_what_a_serial_call_reads(which, request):
    """forward and loss_and_grad from several threads on one Params: each result equals the serial one."""
    mod = request.getfixturevalue(which)
    p = mod.init_params(seed=3)
    batches = [_batches(k)[:150] for k in range(THREADS)]

    def work(k):
        return [(mod.forward(p, X), mod.loss_and_grad(p, X, Y)) for X, Y in batches[k]]

    serial = [work(k) for k in range(THREADS)]
    for got, want in zip(_concurrently(work), serial):
        for (out, (loss, grads)), (want_out, (want_loss, want_grads)) in zip(got, want):
            np.testing.assert_array_equal(out, want_out)
            assert loss == want_loss
            for n in mod.PARAMS:
                np.testing.assert_array_equal(grads[n], want_grads[n])


# -- scalar arguments ----------------------------------------------------------------------------------------

BAD_RATES = [True, False, np.True_, None, "0.1", b"0.1", 0.1 + 0j, [0.1], np.array(0.1), float("nan"),
             float("inf"), -math.inf, np.float32("nan"), np.float64("inf")]


@pytest.mark.parametrize("plain", [False, True], ids=["Params", "plain dict"])
@pytest.mark.parametrize("lr", BAD_RATES, ids=repr)
def test_a_bad_learning_rate_is_refused_by_name_before_any_update(toy, lr, plain):
    p = _params(toy, 0, plain)
    X, Y = np.ones((2, 1)), np.ones((2, 1))
    toy.sgd_step(p, X, Y, 0.1)  # the fast path is warm for this batch size
    before = {n: np.array(p[n]) for n in toy.PARAMS}
    with pytest.raises(ValueError, match=r"^lr: expected a finite real number, got "):
        toy.sgd_step(p, X, Y, lr)
    for n in toy.PARAMS:
        np.testing.assert_array_equal(p[n], before[n])


@pytest.mark.parametrize("lr", [1, np.int64(1), np.float32(0.25), np.float64(0.25)], ids=repr)
def test_a_real_learning_rate_of_any_numeric_type_steps_like_the_float(toy, lr):
    X, Y = np.full((2, 1), 0.5), np.ones((2, 1))
    p, q = toy.init_params(), toy.init_params()
    assert toy.sgd_step(p, X, Y, lr) == toy.sgd_step(q, X, Y, float(lr))
    np.testing.assert_array_equal(p.flat, q.flat)


@pytest.mark.parametrize("seed", [-1, -5, True, np.True_, None, 1.5, 2.0, "3", np.float64(3)], ids=repr)
def test_a_bad_seed_is_refused_by_name(toy, seed):
    with pytest.raises(ValueError, match=r"^seed: expected a non-negative integer, got "):
        toy.init_params(seed)


def test_a_seed_is_any_non_negative_integer(toy):
    np.testing.assert_array_equal(toy.init_params(np.int64(7)).flat, toy.init_params(7).flat)
    assert toy.init_params(2**70).flat.shape == (toy.N_PARAMS,)
