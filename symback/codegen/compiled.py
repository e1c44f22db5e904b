"""The compiled side of every generated module's runtime: the njit helpers its kernels and their wrappers call.

Stage: codegen. Like `runtime` (whose constants and stand-ins it reads), ordinary linted Python; `module.copy_runtime`
copies the part between the ``# -- runtime`` markers into each generated module after runtime's, keeping what the
module's kernels reach: `_view` (a reshape without checks), `_check_batch` and the target checks every kernel runs
first, `_unpack` (a plain dict's SGD step written back) and `_write_out` (a result into the caller's `out=`).
"""

from __future__ import annotations

from numba import config, njit
from numba import types as nbtypes
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic

from .runtime import _FASTMATH, FORWARD, N_IN, N_OUT, N_PARAMS, SGD

# -- runtime: copied from here into each generated module ------------------------------------------

@intrinsic
def _view(typingctx, a, shape):
    """The C-contiguous array `a` viewed in `shape` (a tuple of sizes whose product is a.size, as the kernels' slices
    are by construction), C order: NumPy's reshape without its checks and C call (9 ns each, most of a tiny kernel's
    step). The kernels bind each weight matrix and its gradient through it; run as Python (NUMBA_DISABLE_JIT=1, or a
    kernel's py_func with `_view = _reshape`), it is `_reshape`."""
    if not isinstance(a, nbtypes.Array) or a.layout != "C" or not isinstance(shape, nbtypes.BaseTuple):
        return None
    view = nbtypes.Array(a.dtype, len(shape), "C", readonly=not a.mutable)

    def codegen(context, builder, sig, args):
        src, out = context.make_array(a)(context, builder, args[0]), context.make_array(view)(context, builder)
        given = cgutils.unpack_tuple(builder, args[1])
        dims = [context.cast(builder, d, t, nbtypes.intp) for d, t in zip(given, shape)]
        strides = [src.itemsize]
        for d in dims[:0:-1]:
            strides.insert(0, builder.mul(strides[0], d))
        for field in ("data", "meminfo", "parent", "itemsize", "nitems"):  # nitems: the product of `shape`
            setattr(out, field, getattr(src, field))
        out.shape, out.strides = cgutils.pack_array(builder, dims), cgutils.pack_array(builder, strides)
        return impl_ret_borrowed(context, builder, view, out._getvalue())

    return view(a, shape), codegen


def _reshape(a, shape):
    """`_view` run as Python: NumPy's reshape."""
    return a.reshape(shape)


if config.DISABLE_JIT:  # the kernels are plain Python functions: an intrinsic cannot run there
    _view = _reshape


@njit(cache=True, fastmath=_FASTMATH, _nrt=False)
def _check_batch(P, X, Y, lr, mode):
    """Run first by every kernel: a bad batch on the fast path updates nothing and reads nothing out of bounds."""
    if X.shape[0] < 1 or X.shape[1] != N_IN:
        raise ValueError("X: wrong shape for this network")
    if P.shape[0] != N_PARAMS:
        raise ValueError("params: wrong size of the flat buffer")
    if mode == SGD and not lr * 0.0 == 0.0:
        raise ValueError("lr: expected a finite number")
    chk = 0.0
    for s in range(X.shape[0]):
        for j in range(N_IN):
            chk += X[s, j] * 0.0  # NaN or inf makes this NaN (x - x would be folded to 0)
    if not chk == 0.0:
        raise ValueError("X: contains NaN or infinity")
    for k in range(N_PARAMS):  # one pass over the flat buffer: the kernel reads every parameter anyway
        chk += P[k] * 0.0
    if not chk == 0.0:
        raise ValueError("params: contain NaN or infinity (a diverged training run?)")
    if mode != FORWARD:
        _check_targets(X, Y)


@njit(cache=True, fastmath=_FASTMATH, _nrt=False)
def _labels_in_range(X, Y):
    """One class label per row of X, each in 0..N_OUT-1."""
    if Y.shape[0] != X.shape[0]:
        raise ValueError("Y: expected one class label per row of X")
    for s in range(Y.shape[0]):
        if Y[s] < 0 or Y[s] >= N_OUT:
            raise ValueError("Y: class label out of range")


@njit(cache=True, fastmath=_FASTMATH, _nrt=False)
def _finite_targets(X, Y):
    """One finite target row of N_OUT values per row of X."""
    if Y.shape[0] != X.shape[0] or Y.shape[1] != N_OUT:
        raise ValueError("Y: expected shape (batch, n_out), one target row per row of X")
    chk = 0.0
    for s in range(Y.shape[0]):
        for j in range(N_OUT):
            chk += Y[s, j] * 0.0
    if not chk == 0.0:
        raise ValueError("Y: contains NaN or infinity")


@njit(cache=True, fastmath=_FASTMATH, _nrt=False)
def _unpack(P, arrays):
    """Copy the flat buffer P back into a plain dict's arrays, `_pack` the other way round."""
    k = 0
    for a in literal_unroll(arrays):
        flat = a.flat
        for i in range(a.size):
            flat[i] = P[k]
            k += 1


@njit(cache=True, fastmath=_FASTMATH, _nrt=False)
def _write_out(out, ws, rows, mode):
    """Run by each `_INTO` wrapper after its kernel: copy the output rows (a forward pass) or the gradient block times
    the scale in the workspace's last element (bit for bit what `runtime._entry`'s `gradient()` computes: read from
    memory, x * (1/B) cannot become x / B) into the caller's C-contiguous `out`; a ValueError, nothing written, if
    its shape is not theirs (the fast path leaves the message to the checks)."""
    o = _view(out, (out.size,))
    if mode == FORWARD:
        if out.shape[0] != rows.shape[0] or out.size != rows.size:
            raise ValueError("out: wrong shape")
        n = rows.shape[1]
        for j in range(n):  # the batch innermost: the batch-inner layouts' rows are columns, one output one run
            for s in range(rows.shape[0]):
                o[s * n + j] = rows[s, j]
    else:
        if out.size != N_PARAMS:
            raise ValueError("out: wrong size")
        scale = ws[ws.shape[0] - 1]
        for k in range(N_PARAMS):
            o[k] = ws[k] * scale


# -- runtime: copied up to here; below, the stand-in for the target check a generated module names at its end --

_check_targets = _finite_targets
