"""The Python side of every generated module: parameters, validation, and the calls into the kernels.

Stage: codegen. This file is ordinary, linted Python that imports nothing from symback; `module.copy_runtime`
copies the part between the two ``# -- runtime`` marker lines into each generated module, leaving out the
functions that module never reaches. The names it reads but does not define are the module's: its constants
(``PARAMS``, ``SHAPES``, ...) before the copy, its wiring (``_LAYOUTS``, ``_ON_ARRAYS``, ``_INTO``, ``_INNER``,
``_layout``, ``_targets``) after it; stand-ins for both (a one-weight network), outside the markers, let tests
import this file alone. The njit helpers the kernels call are `compiled`'s.

A call packs the parameters into one flat buffer (a `Params` is one already), checks X, Y and lr, and runs
the kernel for its batch size on a workspace reused per batch size and thread (a `threading.local`; a lock
would cost more and serialise kernels that release the GIL); results are fresh arrays, never views of it
(loss_and_grad's gradients: views of one fresh flat buffer, training's `Gradients`), or the caller's own
(`out=`: a kernel's `_INTO` wrapper copies its result there in the same compiled call, allocating nothing).
So calls from several threads give what the same calls give serially. Every entry point has a fast path:
one cache lookup and one call of compiled code (for a plain dict, a wrapper that copies its arrays in and out).
The kernels run `compiled._check_batch` first; the fast path calls a kernel's compiled entry point only for arguments
whose Numba fingerprint (dtype, dimensions, layout, writeability of every array) is one the checked path ran it
with (only `_run` compiles); any failure falls back to the checked path, which raises ValueError naming the
argument, before anything is updated.
"""

# ruff: noqa: TRY004 (the contract of DESIGN.md: bad input is a ValueError naming the argument)

from __future__ import annotations

import functools
import math
import operator
import sys
import threading
import types

import numpy as np
from numba import config, literal_unroll, njit, typeof

# -- stand-ins for the constants a generated module defines above its kernels (a one-weight network) --

PARAMS = ("w",)
SHAPES = {"w": (1, 1)}
INPUTS = (("x", 1),)
REDUCTION = "mean"
N_PARAMS = 1
N_IN = 1
IMAGE = None
N_OUT = 1
_INIT = (("w", 1),)
_ONES = ()
_FASTMATH = {"reassoc", "contract", "nsz"}

# -- runtime: copied from here into each generated module ------------------------------------------

try:  # Numba's own type key of arguments (private): the fast path's check that a call's types ran before
    from numba._dispatcher import compute_fingerprint as _fingerprint
except ImportError:  # a Numba without it: every call takes the checked path (slower, the same results)
    def _fingerprint(args):
        raise KeyError("no argument fingerprints in this Numba")

FORWARD, GRADIENT, SGD = 0, 1, 2  # run modes: the forward pass; and loss and gradient; and the SGD update
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_SHARED = {}  # dtype -> threading.local holding each thread's workspaces, for a plain dict of parameters
_COMPILING = threading.Lock()  # held by `_run` while the kernels may compile
# the fast path leaves these to the checks (NotImplementedError: a value Numba has no type for)
_MISSES = (AttributeError, KeyError, TypeError, IndexError, ValueError, NotImplementedError)
_RECORDS = {t: np.dtype([(name, t, SHAPES[name]) for name in PARAMS]) for t in _FLOATS}  # one field per parameter
_DIMS = np.array([n for name in PARAMS for n in SHAPES[name]], dtype=np.int64)  # every parameter's shape, in a row
_ARRAYS = operator.itemgetter(*PARAMS) if len(PARAMS) > 1 else lambda params: (params[PARAMS[0]],)


def _fields(flat):
    """(name, array) pairs, each parameter's view into the flat buffer (a field of one record: cheaper than slicing)."""
    return zip(PARAMS, _ARRAYS(np.frombuffer(flat, _RECORDS[flat.dtype]).reshape(())))


class Params(dict):
    """Parameters by name, views into one flat buffer `flat` (`Params(flat)` shares a buffer, e.g. another module's
    `params.flat` for the same network). Assigning an entry clears `packed`: the next call re-packs the dict (hold
    the dict, not the arrays). Rebinding `flat` (`params.flat = params.flat - lr * g`) moves the parameters to that
    buffer, its values (`-=` writes in place and keeps it). `_batch.cache` holds this thread's `_batch()` entries.
    Pickled and copied as the plain dict it holds, deep-copied as a Params on a copy of its buffer."""

    __slots__ = ("_batch", "flat", "packed")

    def __init__(self, flat):
        if not (isinstance(flat, np.ndarray) and flat.shape == (N_PARAMS,) and flat.dtype in _FLOATS
                and flat.flags.c_contiguous and flat.flags.writeable):
            raise ValueError(f"flat: expected a writeable, C-contiguous float32 or float64 array of shape "
                             f"({N_PARAMS},), got {getattr(flat, 'shape', type(flat).__name__)}")
        dict.clear(self)
        dict.update(self, _fields(flat))
        for name, value in zip(Params.__slots__, (threading.local(), flat, True)):  # a new buffer: new workspaces
            dict.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        if name == "flat" and value is not getattr(self, "flat", None):  # else the kernels run on the old buffer
            Params.__init__(self, value)
        else:
            dict.__setattr__(self, name, value)

    def __reduce__(self):  # pickle, copy.copy: loadable where this module cannot be imported by name
        return dict, (dict(self),)

    def __deepcopy__(self, memo):
        return Params(np.array(_flat(self)[0]))


def _unpacks(method):
    def changed(self, *args, **kwargs):
        self.packed = False
        return method(self, *args, **kwargs)

    changed.__name__ = method.__name__
    return changed


_MUTATORS = ("__setitem__", "__delitem__", "__ior__", "update", "pop", "popitem", "clear", "setdefault")
for _name in _MUTATORS:
    setattr(Params, _name, _unpacks(getattr(dict, _name)))


def init_params(seed=0, dtype=np.float64):
    """Seeded initial parameters as a `Params`: each matrix of `_INIT` normal with std sqrt(2 / fan), the scales of
    `_ONES` 1, the rest 0."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r:.40}")
    if np.dtype(dtype) not in _FLOATS:
        raise ValueError(f"dtype: float32 or float64 expected, got {np.dtype(dtype)}")
    rng, params = np.random.default_rng(seed), Params(np.zeros(N_PARAMS, dtype=dtype))
    for name, fan in _INIT:
        params[name][...] = rng.standard_normal(SHAPES[name]) * math.sqrt(2.0 / fan)
    for name in _ONES:
        params[name][...] = 1.0
    return params


def _flat(params):
    """(flat buffer, plain dict to write back into or None), checking names, shapes and dtypes."""
    if isinstance(params, Params) and params.packed:
        return params.flat, None
    if type(params).__name__ == "Params" and hasattr(params, "flat") and not isinstance(params, Params):
        same = list(params) == list(PARAMS) and getattr(params.flat, "shape", None) == (N_PARAMS,)
        raise ValueError("params: a Params made by another generated module (its kernels and layouts); pass "
                         f"{'Params(params.flat) (the same buffer)' if same else 'one of this module (init_params)'}"
                         " or dict(params)")
    if not isinstance(params, dict):
        raise ValueError(f"params: expected a dict of arrays (from init_params), got {type(params).__name__}")
    expected = ", ".join(PARAMS)
    for n in PARAMS:
        if n not in params:
            raise ValueError(f"params: missing {n!r} (expected shape {SHAPES[n]}); expected keys {expected}")
    extra = sorted(str(n) for n in params if n not in SHAPES)
    if extra:
        raise ValueError(f"params: unexpected {extra[0]!r}; expected keys {expected}")
    for n in PARAMS:
        a = params[n]
        if not isinstance(a, np.ndarray):
            raise ValueError(f"params[{n!r}]: expected a NumPy array of shape {SHAPES[n]}, got {type(a).__name__}")
        if a.shape != SHAPES[n]:
            raise ValueError(f"params[{n!r}]: expected shape {SHAPES[n]}, got {a.shape}")
        if a.dtype not in _FLOATS:
            raise ValueError(f"params[{n!r}]: dtype {a.dtype}; expected float32 or float64")
        if a.dtype != params[PARAMS[0]].dtype:
            raise ValueError(f"params[{n!r}]: dtype {a.dtype} differs from params[{PARAMS[0]!r}] "
                             f"({params[PARAMS[0]].dtype})")
    flat = np.empty(N_PARAMS, dtype=params[PARAMS[0]].dtype)
    _pack(flat, _ARRAYS(params))  # checked arrays: it compiles freely, as the fast path calls only kernels
    if not isinstance(params, Params):
        return flat, params
    Params.__init__(params, flat)  # re-pack: the dict's entries become views of the new buffer
    return flat, None


def _array(a, name, dtype, shape_text):
    """`a` as a C-contiguous, writeable array of `dtype` (copied if it is not one; not a masked array, whose mask the
    kernels would ignore: Numba cannot type one, and the fast path would read the values under its mask)."""
    if not isinstance(a, np.ndarray) or isinstance(a, np.ma.MaskedArray):
        raise ValueError(f"{name}: expected a NumPy array of shape {shape_text}, got {type(a).__name__}")
    if a.dtype != dtype:
        raise ValueError(f"{name}: dtype {a.dtype}; expected {dtype} like the parameters "
                         f"(convert with {name}.astype(np.{dtype}))")
    return a if a.flags.c_contiguous and a.flags.writeable else np.ascontiguousarray(a).copy()


def _inputs(X, dtype):
    """X as one (batch, n_in) array; a dict {input name: (batch, size) array} is stacked by columns."""
    if isinstance(X, dict):
        for name, k in INPUTS:
            if name not in X:
                raise ValueError(f"X: missing input {name!r} of shape (batch, {k})")
        X = np.concatenate([_array(X[name], f"X[{name!r}]", dtype, f"(batch, {k})") for name, k in INPUTS], axis=1)
    shape = f"(batch, {N_IN})" + (f" or (batch, {', '.join(map(str, IMAGE))})" if IMAGE else "")
    X = _array(X, "X", dtype, shape)
    if IMAGE and X.shape[1:] == IMAGE:  # images as PyTorch holds them: each row flattened, C order (a view)
        X = X.reshape(len(X), N_IN)
    if X.ndim != 2 or X.shape[1] != N_IN or X.shape[0] < 1:
        raise ValueError(f"X: expected shape {shape} with batch >= 1, got {X.shape}")
    return X


def _class_labels(Y, B, dtype):
    """Y as int64 class labels of shape (B,), each in 0..N_OUT-1 (none for a forward pass)."""
    if Y is None:
        return np.zeros((0,), np.int64)
    if not isinstance(Y, np.ndarray) or isinstance(Y, np.ma.MaskedArray):
        raise ValueError(f"Y: expected a NumPy array of class labels, shape (batch,), got {type(Y).__name__}")
    if Y.dtype.kind not in "iu":
        raise ValueError(f"Y: class labels must be integers, got dtype {Y.dtype}")
    if Y.shape != (B,):
        raise ValueError(f"Y: expected shape ({B},), one label per row of X, got {Y.shape}")
    if Y.min() < 0 or Y.max() >= N_OUT:
        raise ValueError(f"Y: class labels must lie in 0..{N_OUT - 1}, got {Y.min()}..{Y.max()}")
    ready = Y.dtype == np.int64 and Y.flags.c_contiguous and Y.flags.writeable
    return Y if ready else np.ascontiguousarray(Y, dtype=np.int64).copy()


def _float_targets(Y, B, dtype):
    """Y as targets of shape (B, n_out) in the parameters' dtype (none for a forward pass)."""
    if Y is None:
        return np.zeros((0, N_OUT), dtype)
    Y = _array(Y, "Y", dtype, f"(batch, {N_OUT})")
    if Y.shape != (B, N_OUT):
        raise ValueError(f"Y: expected shape ({B}, {N_OUT}), one target row per row of X, got {Y.shape}")
    if not np.isfinite(Y).all():  # the kernels check it too, but input_grad runs them as a forward pass
        raise ValueError("Y: contains NaN or infinity")
    return Y


@njit(cache=True, fastmath=_FASTMATH, _nrt=False)
def _pack(P, arrays):
    """Copy a plain dict's arrays (in the order of PARAMS) into the flat buffer P, each once its shape is checked
    (so nothing is written past the end of P; a refused dict leaves P half written, and the checked path packs)."""
    d = k = 0
    for a in literal_unroll(arrays):
        for j in range(a.ndim):
            if a.shape[j] != _DIMS[d + j]:
                raise ValueError("params: an array has the wrong shape")
        d += a.ndim
        for x in a.flat:
            P[k] = x
            k += 1


def _batch(params, B, dtype):
    """This thread's `_entry` for batch size B, allocated once and reused by every entry point, whose results never
    alias it: a Params keeps its own (on its flat buffer), plain dicts share one per dtype."""
    packed = isinstance(params, Params) and params.packed
    cache = vars(params._batch if packed else _SHARED.setdefault(dtype, threading.local())).setdefault("cache", {})
    if B not in cache:
        cache[B] = _entry(B, dtype, params.flat if packed else None)
    return cache[B]


def _workspace(size, dtype):
    """`size` zeros of `dtype` whose element N_PARAMS, where the kernels' rows begin (after the gradient block), starts
    a 64-byte cache line: rows of a multiple of 8 samples then split none in vector loads and stores (where np.zeros
    lands would otherwise make the toy network's step at batch 256 1.5x slower three times in four)."""
    lanes = 64 // np.dtype(dtype).itemsize
    raw = np.zeros(size + lanes, dtype)
    skip = -(raw.__array_interface__["data"][0] // raw.itemsize + N_PARAMS) % lanes
    return raw[skip:skip + size]


def _entry(B, dtype, flat=None):
    """(kernel, workspace, output, empty targets, gradient, flat buffer, calls, into) for batch size B, on the flat
    buffer `flat`; without one, the kernel is its `_ON_ARRAYS` wrapper, which packs a plain dict's arrays into a
    buffer of the entry's own. `output()` and `gradient()` return fresh copies of the output rows and of the gradient
    block (scaled for a mean over the batch; the scale, in the dtype as NumPy multiplies by it, is the workspace's
    last element, past what the kernel uses, for `_write_out`: one argument fewer to unbox). `calls`, filled by
    `_checked`: the fingerprint (Numba's key for the types) of the caller's arguments (X; X and Y; a plain dict's
    arrays first) -> the kernel's compiled entry point; `into` the same for its `_INTO` wrapper (X and out; X, Y and
    out's flat buffer), which writes the result into the caller's `out`."""
    kernel, size, output = _LAYOUTS[_layout(B)]
    work = _workspace(size(B) + 1, dtype)
    work[-1] = 1.0 / B if REDUCTION == "mean" else 1.0
    kernel, flat = (kernel, flat) if flat is not None else (_ON_ARRAYS[kernel], np.zeros(N_PARAMS, dtype=dtype))
    gradient = work[:N_PARAMS]
    gradient = functools.partial(np.multiply, gradient, 1.0 / B) if REDUCTION == "mean" and B > 1 else gradient.copy
    return kernel, work, output(work, B).copy, _targets(None, B, dtype), gradient, flat, {}, {}


def _check_out(out, dtype, shape, name="out"):
    """`out` (named `name`) as a buffer to write a result of `shape` into: a C-contiguous, writeable `dtype` array."""
    if not isinstance(out, np.ndarray) or isinstance(out, np.ma.MaskedArray):  # a mask the kernels would ignore
        raise TypeError(f"{name}: expected a NumPy array of shape {shape} to write into, got {type(out).__name__}")
    if out.dtype != dtype:
        raise ValueError(f"{name}: dtype {out.dtype}; expected {dtype} like the parameters")
    if out.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {out.shape}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"{name}: expected a C-contiguous, writeable array (np.empty({shape}, np.{dtype}))")
    return out


def _on_dict(params, X, Y, lr, mode, out=None):
    """The fast path for a plain dict, unchecked: (value, this thread's `_batch` entry); with `out` (an array), the
    result written there. Anything unusual raises one of _MISSES: no entry yet, missing or other names, argument
    types the checked path never ran (`_run`)."""
    arrays = _ARRAYS(params)
    _, work, _, no_targets, _, flat, calls, into = entry = _SHARED[arrays[0].dtype].cache[len(X)]
    if len(params) != len(PARAMS):
        raise KeyError("other names than PARAMS")
    if out is not None:
        key = (arrays, X, out) if Y is None else (arrays, X, Y, out)
        Y = no_targets if Y is None else Y
        return into[_fingerprint(key)](flat, arrays, X, Y, work, out, mode), entry
    if Y is None:
        return calls[_fingerprint((arrays, X))](flat, arrays, X, no_targets, work, lr, mode), entry
    return calls[_fingerprint((arrays, X, Y))](flat, arrays, X, Y, work, lr, mode), entry


def _run(kernel, *args, lead=()):
    """Call a kernel on checked arguments (P, X, Y, ws, lr, mode), a wrapper with `lead` after P (a plain dict's
    arrays) and `out` for lr (an `_INTO` wrapper): the only place they compile (the fast path's types are the ones run
    here), one thread at a time (as generated, the kernels hold the GIL anyway; Numba's typeof, to skip the lock when
    nothing compiles, costs 24 us); a wrapper compiles with what it calls (`_INNER`). The njit helpers compile freely:
    the fast path calls only kernels and wrappers."""
    if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: the kernels are Python functions, nothing compiles
        return kernel(args[0], *lead, *args[1:])
    kernels = [kernel]
    while kernels[-1] in _INNER:
        kernels.append(_INNER[kernels[-1]])
    with _COMPILING:  # else another thread could disable compiling while this one waits for Numba's lock to compile
        for k in kernels:
            k.disable_compile(False)
        try:
            if len(kernels) > 1:  # Numba fails to type a BLAS kernel's np.dot(a, b, out) first compiled in a wrapper
                kernels[-1].compile(tuple(typeof(a) for a in (*args[:4], 0.0, args[5])))
            return kernel(args[0], *lead, *args[1:])
        finally:
            for k in kernels:
                if k.signatures:
                    k.disable_compile(True)


def _rate(lr):
    """The learning rate as a finite float: a real number (int, float, NumPy scalar), not a bool or a string."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise ValueError(f"lr: expected a finite real number, got {lr!r:.40}")
    if not math.isfinite(float(lr)):
        raise ValueError(f"lr: expected a finite real number, got {float(lr)}")
    return float(lr)


def _read_only(back, updater=None):
    """A plain dict's read-only arrays; refused (ValueError, before anything is updated) if `updater`, the entry
    point that would write them in place, is named."""
    frozen = [n for n in PARAMS if back is not None and not back[n].flags.writeable]
    if frozen and updater:
        raise ValueError(f"params[{frozen[0]!r}]: a read-only array; {updater} updates the parameters in place")
    return frozen


def _checked(params, X, Y, lr, mode, out=None, fits=None):
    """Check everything, then run the kernel as the fast path does: (value, the `_entry` it ran on); with `out`,
    its `_INTO` wrapper on `fits(out, dtype, shape of the output rows)`, the array it writes into."""
    P, back = _flat(params)
    X = _inputs(X, P.dtype)
    B = X.shape[0]
    Y = _targets(Y if mode != FORWARD else None, B, P.dtype)
    lr = _rate(lr)
    frozen = _read_only(back, "sgd_step" if mode == SGD else None)
    # read-only arrays are only read, by the kernel on a workspace of their own: their wrapper, which writes an SGD
    # step back, never compiles (so the fast path never runs it for them)
    kernel, work, output, _, _, flat, calls, into = entry = _entry(B, P.dtype, P) if frozen else _batch(params, B,
                                                                                                        P.dtype)
    lead = (_ARRAYS(back),) if back is not None and not frozen else ()  # the wrapper packs them, writes SGD back
    keys = [(*lead, X) if lead else X, (*lead, X, Y)]
    if out is not None:  # the wrapper takes the array to write into for lr; its keys: (X, out), (X, Y, out)
        lr = fits(out, P.dtype, output.__self__.shape)
        kernel, calls, keys = _INTO[kernel], into, [(*lead, X, *(Y,) * (mode != FORWARD), lr)]
    value = _run(kernel, flat, X, Y, work, lr, mode, lead=lead)
    # the fast path calls the compiled code for these types directly, on arguments of the same fingerprints (Numba's
    # dispatcher would check those too, and cost as much again as the call at batch 1)
    types = tuple(typeof(a) for a in (flat, *lead, X, Y, work, lr, mode))
    point = getattr(getattr(kernel, "overloads", {}).get(types), "entry_point", kernel)  # NUMBA_DISABLE_JIT: none
    try:
        for key in keys:
            calls[_fingerprint(key)] = point
    except KeyError:
        pass  # no fingerprints: the next call is checked again
    return value, entry


def forward(params, X, out=None):
    """The network output for a batch (rows of X), shape (batch, n_out): a fresh array, or written into `out` (a
    C-contiguous array of that shape in the parameters' dtype), which is returned: nothing is allocated."""
    try:
        kind = type(params)
        if out is None:
            if kind is dict:
                return _on_dict(params, X, None, 0.0, FORWARD)[1][2]()
            if kind is Params and params.packed:
                _, work, output, no_targets, _, P, calls, _ = params._batch.cache[len(X)]
                calls[_fingerprint(X)](P, X, no_targets, work, 0.0, FORWARD)
                return output()
        elif kind is Params and params.packed:
            _, work, _, no_targets, _, P, _, into = params._batch.cache[len(X)]
            into[_fingerprint((X, out))](P, X, no_targets, work, out, FORWARD)
            return out
        elif kind is dict:
            _on_dict(params, X, None, 0.0, FORWARD, out)
            return out
    except _MISSES:
        pass  # the checked path below says what is wrong
    if out is not None:
        _checked(params, X, None, 0.0, FORWARD, out, _check_out)
        return out
    return _checked(params, X, None, 0.0, FORWARD)[1][2]()


def sgd_step(params, X, Y, lr):
    """One SGD step in place, params -= lr * gradient; returns the loss before the step."""
    try:
        if isinstance(lr, float):  # a bool or an int would pass the dispatcher as a float
            kind = type(params)
            if kind is dict:  # `_on_dict`, inline: a call costs a seventh of the toy network's step
                arrays = _ARRAYS(params)
                _, work, _, _, _, flat, calls, _ = _SHARED[arrays[0].dtype].cache[len(X)]
                if len(params) == len(PARAMS):
                    return calls[_fingerprint((arrays, X, Y))](flat, arrays, X, Y, work, lr, SGD)
            elif kind is Params and params.packed:
                _, work, _, _, _, P, calls, _ = params._batch.cache[len(X)]
                return calls[_fingerprint((X, Y))](P, X, Y, work, lr, SGD)
    except _MISSES:
        pass  # the checked path below says what is wrong
    return _checked(params, X, Y, lr, SGD)[0]


def _register_kernels(canonical):
    """Numba's cache re-imports a kernel's module by name: name a stand-in holding these globals, however imported."""
    if canonical not in sys.modules:
        standin = types.ModuleType(canonical)
        standin.__dict__.update({k: v for k, v in globals().items() if not k.startswith("__")})
        sys.modules[canonical] = standin
    for kernel in [v for v in globals().values() if hasattr(v, "py_func")]:  # every njit function
        kernel.py_func.__module__ = canonical


def predict(params, X):
    """Each row's class, counted from 0: the index of its largest output (a classifier's module)."""
    return np.argmax(forward(params, X), axis=1)


# -- runtime: copied up to here; below, stand-ins for the wiring a generated module defines at its end --

_LAYOUTS: dict = {}
_ON_ARRAYS: dict = {}
_INTO: dict = {}  # kernel or its plain-dict wrapper -> its wrapper that writes into the caller's `out` (`_write_out`)
_INNER: dict = {}  # wrapper -> the function it calls
_targets = _float_targets


def _layout(B):
    return "none"
