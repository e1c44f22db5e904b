"""Hand-written Numba training step for a ReLU MLP (the blueprint for symback's codegen).

Model: sizes = [n0, n1, ..., nL]; hidden layers ReLU, output identity.
    Z_k = A_{k-1} W_k^T + b_k      (W_k: (n_k, n_{k-1}), one sample per row of A)
    A_k = relu(Z_k) (k < L),  f = Z_L
Loss (batch mean):
    "mse":                   (1/B) sum_s sum_j (f_sj - y_sj)^2          Y: (B, nL) float
    "softmax_cross_entropy": (1/B) sum_s logsumexp(f_s) - f_s[y_s]       Y: (B,) int labels
One step = forward + backward + in-place SGD (P -= lr * grad), returns the loss
evaluated at the parameters *before* the update.

Design (what makes it fast)
---------------------------
* Sizes and loss are compile-time constants: each kernel is a closure built
  per (sizes, loss) by ``get_kernel``; Numba freezes closure ints/tuples into
  the compiled code and keys its on-disk cache (``cache=True``) on them, so
  one cache entry exists per architecture.  LLVM then sees literal trip
  counts (full unrolling of 3-wide loops; forward of the toy net 15 us ->
  2 us at B=256 in a micro-benchmark).  A code generator gets this for free
  by emitting literals.
* All parameters live in ONE flat contiguous buffer ``P`` laid out as
  [W1 (row-major n1*n0), b1, W2, b2, ..., WL, bL]; the ``params`` dict handed
  out holds views into it.  The kernel takes 5 arguments (P, X, Y, ws, lr)
  instead of 2L+4: Numba's dispatcher costs ~250 ns + ~60-80 ns per array
  argument here (measured), a large part of a batch-1 toy step.  The flat
  layout also makes the SGD update one vectorised loop ``P -= lr * G``.
* All scratch memory (activations, deltas, gradient G) is one flat ``ws``
  buffer allocated once per batch size and cached by the wrapper together
  with the kernel chosen for that batch size: no allocation after the first
  call with a given batch size.
* Validation: shape and label-range checks are done *inside* the kernel
  (integer compares, ``raise ValueError``); dtype/ndim/layout are checked by
  Numba's dispatch itself (a different dtype selects or compiles another
  specialisation; it can never misread memory).  The Python wrapper is one
  dict lookup + one call (``NumbaMLP.step``).
* Index hygiene: innermost loops index arrays with the bare ``range``
  variable (or constant-folded offsets).  ``P[wo + j]`` with a runtime
  signed offset keeps Numba's negative-index wraparound select inside the
  loop and blocks vectorisation (3.5x slower); ``arr.reshape`` inside a hot
  loop calls a C helper (~50 ns each, 4x slower toy forward): reshape only
  outside per-sample loops (the BLAS kernel reshapes ~4 times per layer).
* ``fastmath`` only {reassoc, contract, nsz}: reductions vectorise, no
  'nnan'/'ninf', so NaN/inf propagate normally.

Three kernels, chosen per batch size by ``choose_kernel``:

``sample`` (tiny layers, batch <= 4): sample-outer, everything fused.  Per
  sample: forward through all layers with per-sample activation vectors;
  loss + output delta; backward with ONE pass over the rows of each W_k:
  ``db_i += g_i; dW_ij += g_i a_j; gprev_j += g_i W_ij`` then the ReLU mask
  ``gprev_j = 0 if a_j <= 0``; gradient accumulated into G, ``P -= lr G``
  once after the batch loop (gradients must use the old W).
``small`` (tiny layers, batch > 4): layer-outer, batch-innermost loops, no
  BLAS.  Activations and deltas stored transposed (A_k^T: n_k rows of B) so
  every innermost loop is a unit-stride loop over the batch:
  forward ``z[i,:] = b_i; z[i,:] += W_ij a[j,:]`` (axpy per (i,j)), ReLU;
  backward per output unit i: ``db_i = sum_s g[i,s]``,
  ``dW_ij = sum_s g[i,s] a[j,s]`` (dot), ``gprev[j,:] += W_ij g[i,:]`` (axpy),
  then the mask.  Loop overhead is paid per (i,j) pair, not per sample.
``blas`` (wider layers): layer-outer with ``np.dot(a, b, out)`` (BLAS gemm,
  2 threads) and fused single-pass elementwise loops:
  forward  ``np.dot(A_{k-1}, W_k.T, out=A_k)`` (W_k.T is a free F-order
  view) then one loop ``A_k = relu(A_k + b_k)`` in place; output: one loop
  per row computes the loss and overwrites f with dL/df (softmax: max,
  exp, sum, log in three passes over the row);
  backward for k = L..1: ``np.dot(D_k.T, A_{k-1}, out=dW_k)`` straight into
  the flat gradient buffer, ``db_k`` by a row-sum loop,
  ``np.dot(D_k, W_k, out=D_{k-1})`` (old W_k) then the in-place ReLU mask
  ``D_{k-1}[A_{k-1} <= 0] = 0``; dL/dX (k = 1) is never computed;
  finally one ``P -= lr * G`` loop.
"""
from __future__ import annotations


import numpy as np
from numba_mlp_kernels import CE, MSE, _build_blas, _build_sample, _build_small, n_params

#: Widest non-input layer up to which plain loops beat BLAS at any batch
#: size (see choose_kernel for the measured thresholds).
SMALL_MAX = 8

# --------------------------------------------------------------------------
# layout helpers (Python side)
# --------------------------------------------------------------------------

def param_names(sizes):
    names = []
    for k in range(1, len(sizes)):
        names += [f"W{k}", f"b{k}"]
    return tuple(names)


def flat_views(P, sizes):
    """Dict of views {"W1": (n1, n0), "b1": (n1,), ...} into the flat buffer P."""
    out, o = {}, 0
    for k in range(1, len(sizes)):
        nin, nout = sizes[k - 1], sizes[k]
        out[f"W{k}"] = P[o:o + nout * nin].reshape(nout, nin)
        o += nout * nin
        out[f"b{k}"] = P[o:o + nout]
        o += nout
    return out


def ws_size(sizes, batch, kernel):
    L = len(sizes) - 1
    if kernel == "sample":
        # per-sample activations and deltas for layers 1..L, gradient acc
        return 2 * sum(sizes[1:]) + n_params(sizes)
    if kernel == "small":
        # X^T, A_k^T (n_k x B) and deltas of the same shape, gradient acc
        return 2 * batch * sum(sizes) + n_params(sizes)
    # blas: A_k (B x n_k) for k=1..L, G_k for k=1..L-1, gradient acc
    return batch * sum(sizes[1:]) + batch * sum(sizes[1:L]) + n_params(sizes)


_BUILDERS = {"sample": _build_sample, "small": _build_small, "blas": _build_blas}
_KERNEL_CACHE = {}


def get_kernel(sizes, loss, kind):
    key = (tuple(int(n) for n in sizes), loss, kind)
    k = _KERNEL_CACHE.get(key)
    if k is None:
        k = _KERNEL_CACHE[key] = _BUILDERS[kind](*key[:2])
    return k


def choose_kernel(sizes, batch):
    """Loops vs BLAS, measured on this 2-core Zen3 box (median us per step):
    width <= 8: sample-outer loops for batch <= 4, batch-inner loops above
    (toy [1,3,3,3,1] B=256: batch-inner 6-9 us, np.dot 21-29 us, sample-outer
    49 us); width 16: sample-outer for batch <= 2, BLAS above; width >= 32:
    BLAS (B=32: 12 us vs 24 us batch-inner loops)."""
    w = max(sizes[1:])
    if w <= SMALL_MAX:
        return "sample" if batch <= 4 else "small"
    if w <= 2 * SMALL_MAX and batch <= 2:
        return "sample"
    return "blas"


class NumbaMLP:
    """Owns the flat parameter buffer; ``step(X, Y, lr)`` is the thin wrapper.

    ``self.params`` is a dict of views into the flat buffer ``self.P``.  The
    kernel and its workspace are chosen/allocated on the first call with a
    given batch size and cached; later calls are one dict lookup + one call.
    """

    def __init__(self, sizes, loss, dtype=np.float64, params=None, kernel=None):
        if loss not in (MSE, CE):
            raise ValueError(f"unknown loss {loss!r}")
        self.sizes = tuple(int(n) for n in sizes)
        self.loss = loss
        self.dtype = np.dtype(dtype)
        self.force_kernel = kernel
        self.P = np.zeros(n_params(self.sizes), dtype=self.dtype)
        self.params = flat_views(self.P, self.sizes)
        if params is not None:
            self.set_params(params)
        self._per_batch = {}

    def set_params(self, params):
        for name, view in self.params.items():
            src = np.asarray(params[name])
            if src.shape != view.shape:
                raise ValueError(f"{name}: shape {src.shape} != {view.shape}")
            view[...] = src

    def setup(self, batch):
        """(kernel, workspace) for this batch size; allocated once."""
        e = self._per_batch.get(batch)
        if e is None:
            kind = self.force_kernel or choose_kernel(self.sizes, batch)
            ws = np.zeros(ws_size(self.sizes, batch, kind), dtype=self.dtype)
            e = self._per_batch[batch] = (get_kernel(self.sizes, self.loss, kind), ws, kind)
        return e

    def kernel_name(self, batch):
        return self.setup(batch)[2]

    def step(self, X, Y, lr):
        e = self._per_batch.get(X.shape[0])
        if e is None:
            e = self.setup(X.shape[0])
        return e[0](self.P, X, Y, e[1], lr)


class ContractModule:
    """The hand kernel behind the generated-module contract (PARAMS,
    init_params, forward, loss_and_grad, sgd_step), so the benchmark's
    module hook can be tested before symback emits real modules.

    ``sgd_step`` is fast when ``params`` is the dict returned by
    ``init_params`` (views into the flat buffer); any other dict is copied
    in and out (correct, slower)."""

    def __init__(self, sizes, loss, dtype=np.float64):
        self.SIZES = tuple(sizes)
        self.LOSS = loss
        self.DTYPE = np.dtype(dtype)
        self.PARAMS = param_names(self.SIZES)
        self.__name__ = f"numba_mlp.ContractModule{self.SIZES}"
        self._net = NumbaMLP(self.SIZES, loss, dtype)

    def init_params(self, seed=0):
        rng = np.random.default_rng(seed)
        for k in range(1, len(self.SIZES)):
            nin = self.SIZES[k - 1]
            W = self._net.params[f"W{k}"]
            W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / nin)
            self._net.params[f"b{k}"][...] = 0.0
        return self._net.params

    def forward(self, params, X):
        A = X
        L = len(self.SIZES) - 1
        for k in range(1, L + 1):
            A = A @ params[f"W{k}"].T + params[f"b{k}"]
            if k < L:
                A = np.maximum(A, 0)
        return A

    def _run(self, params, X, Y, lr):
        net = self._net
        own = params is net.params
        if not own:
            net.set_params(params)
        val = net.step(X, Y, lr)
        if not own:
            for n, v in net.params.items():
                params[n][...] = v
        return val

    def sgd_step(self, params, X, Y, lr):
        return self._run(params, X, Y, lr)

    def loss_and_grad(self, params, X, Y):
        net = self._net
        saved = net.P.copy()
        if params is not net.params:
            net.set_params(params)
        val = net.step(X, Y, 0.0)
        ws = net.setup(X.shape[0])[1]
        G = ws[ws.shape[0] - net.P.shape[0]:]
        grads = {n: v.copy() for n, v in flat_views(G, self.SIZES).items()}
        net.P[...] = saved
        return val, grads
