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

import math

import numpy as np
from numba import njit

#: Widest non-input layer up to which plain loops beat BLAS at any batch
#: size (see choose_kernel for the measured thresholds).
SMALL_MAX = 8

_FM = {"reassoc", "contract", "nsz"}

MSE = "mse"
CE = "softmax_cross_entropy"


# --------------------------------------------------------------------------
# layout helpers (Python side)
# --------------------------------------------------------------------------

def param_names(sizes):
    names = []
    for k in range(1, len(sizes)):
        names += [f"W{k}", f"b{k}"]
    return tuple(names)


def n_params(sizes):
    return sum(sizes[k + 1] * sizes[k] + sizes[k + 1] for k in range(len(sizes) - 1))


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


# --------------------------------------------------------------------------
# kernels.  Each is a closure built per (sizes, loss): the layer sizes and
# the loss kind are closure constants, which Numba freezes into the compiled
# code (and keys its on-disk cache on), so LLVM sees literal trip counts:
# it fully unrolls the tiny loops and proves every index non-negative.
# (Same loop nest with runtime sizes: 7x slower on the 3-wide toy net.)
# --------------------------------------------------------------------------

def _build_small(sizes, loss):
    """Layer-outer, batch-innermost loop kernel for tiny layers (no BLAS).

    Activations/deltas are stored transposed, one row of B samples per unit
    (A_k^T: n_k x B), so every innermost loop runs over the batch with unit
    stride: forward  z[i,:] = b_i + sum_j W_ij a[j,:]  (axpy over s),
    backward dW_ij = sum_s g[i,s] a[j,s] (dot over s), gprev[j,:] += W_ij g[i,:].
    Loop overhead is paid per (i, j) pair, not per sample, and the s-loops
    vectorise.  Rows are addressed through 1-D slices indexed by the bare
    range variable (no reshape: Numba's reshape is a helper call, ~50 ns)."""
    SZ = tuple(int(n) for n in sizes)
    L = len(SZ) - 1
    N0 = SZ[0]
    NL = SZ[L]
    NP = n_params(SZ)
    SUMN = sum(SZ)                     # rows of X^T, A_1^T .. A_L^T
    IS_CE = loss == CE

    @njit(cache=True, fastmath=_FM)
    def small_step(P, X, Y, ws, lr):
        B = X.shape[0]
        if X.shape[1] != N0 or Y.shape[0] != B or B == 0 or P.shape[0] != NP:
            raise ValueError("bad shapes: X (B, n0), Y (B, nL) or (B,), B > 0")
        if not IS_CE:
            if Y.shape[1] != NL:
                raise ValueError("bad shapes: Y.shape[1] != sizes[-1]")
        # ws layout: [X^T, A_1^T, ..., A_L^T] (SUMN rows of B), then the
        # deltas D_1^T..D_L^T at the same row positions + SUMN*B, then G.
        DOFF = SUMN * B
        G = ws[2 * DOFF:2 * DOFF + NP]
        for j in range(N0):
            xt = ws[j * B:(j + 1) * B]
            for s in range(B):
                xt[s] = X[s, j]
        # ---- forward
        po = 0
        ap = 0                         # row offset (in units of B) of A_{k-1}^T
        for k in range(L):
            nin = SZ[k]
            nout = SZ[k + 1]
            ao = ap + nin
            relu = k < L - 1
            for i in range(nout):
                z = ws[(ao + i) * B:(ao + i + 1) * B]
                bi = P[po + nout * nin + i]
                for s in range(B):
                    z[s] = bi
                for j in range(nin):
                    w = P[po + i * nin + j]
                    a = ws[(ap + j) * B:(ap + j + 1) * B]
                    for s in range(B):
                        z[s] += w * a[s]
                if relu:
                    for s in range(B):
                        if z[s] < 0.0:
                            z[s] = 0.0
            po += nout * nin + nout
            ap = ao
        # ---- loss and dL/df (divided by B) into D_L^T
        fo = ap                        # row offset of f^T
        loss = 0.0
        if IS_CE:
            for s in range(B):
                y = Y[s]
                if y < 0 or y >= NL:
                    raise ValueError("label out of range")
                m = ws[fo * B + s]
                for j in range(1, NL):
                    v = ws[(fo + j) * B + s]
                    if v > m:
                        m = v
                se = 0.0
                for j in range(NL):
                    e = math.exp(ws[(fo + j) * B + s] - m)
                    ws[DOFF + (fo + j) * B + s] = e
                    se += e
                loss += m + math.log(se) - ws[(fo + y) * B + s]
                r = 1.0 / (se * B)
                for j in range(NL):
                    ws[DOFF + (fo + j) * B + s] *= r
                ws[DOFF + (fo + y) * B + s] -= 1.0 / B
        else:
            for j in range(NL):
                f = ws[(fo + j) * B:(fo + j + 1) * B]
                g = ws[DOFF + (fo + j) * B:DOFF + (fo + j + 1) * B]
                for s in range(B):
                    d = f[s] - Y[s, j]
                    loss += d * d
                    g[s] = (2.0 / B) * d
        # ---- backward: per layer, per output unit i:
        #      db_i = sum_s g[i,s]; dW_ij = sum_s g[i,s] a[j,s];
        #      gprev[j,:] += W_ij g[i,:]  (then the ReLU mask a[j,:] > 0)
        po = NP
        ao = fo
        for k in range(L, 0, -1):
            nin = SZ[k - 1]
            nout = SZ[k]
            po -= nout * nin + nout
            ap = ao - nin
            back = k > 1
            if back:
                for j in range(nin):
                    gp = ws[DOFF + (ap + j) * B:DOFF + (ap + j + 1) * B]
                    for s in range(B):
                        gp[s] = 0.0
            for i in range(nout):
                g = ws[DOFF + (ao + i) * B:DOFF + (ao + i + 1) * B]
                acc = 0.0
                for s in range(B):
                    acc += g[s]
                G[po + nout * nin + i] = acc
                for j in range(nin):
                    a = ws[(ap + j) * B:(ap + j + 1) * B]
                    acc = 0.0
                    for s in range(B):
                        acc += g[s] * a[s]
                    G[po + i * nin + j] = acc
                    if back:
                        w = P[po + i * nin + j]
                        gp = ws[DOFF + (ap + j) * B:DOFF + (ap + j + 1) * B]
                        for s in range(B):
                            gp[s] += w * g[s]
            if back:
                for j in range(nin):
                    a = ws[(ap + j) * B:(ap + j + 1) * B]
                    gp = ws[DOFF + (ap + j) * B:DOFF + (ap + j + 1) * B]
                    for s in range(B):
                        if a[s] <= 0.0:
                            gp[s] = 0.0
            ao = ap
        # ---- SGD on the flat buffer
        for i in range(NP):
            P[i] -= lr * G[i]
        return loss / B

    return small_step


def _build_sample(sizes, loss):
    """Sample-outer fused-loop kernel (best for batch 1-2 on tiny layers).

    For each sample: forward through all layers with per-sample activation
    vectors, loss + output delta, then one fused pass over the rows of each
    W_k (db_i += g_i; dW_ij += g_i a_j; gprev_j += g_i W_ij) and the ReLU
    mask; the gradient is accumulated in G and applied once at the end."""
    SZ = tuple(int(n) for n in sizes)
    L = len(SZ) - 1
    N0 = SZ[0]
    NL = SZ[L]
    NACT = sum(SZ[1:])
    NP = n_params(SZ)
    FO = NACT - NL                     # offset of f in act
    IS_CE = loss == CE

    @njit(cache=True, fastmath=_FM)
    def sample_step(P, X, Y, ws, lr):
        B = X.shape[0]
        if X.shape[1] != N0 or Y.shape[0] != B or B == 0 or P.shape[0] != NP:
            raise ValueError("bad shapes: X (B, n0), Y (B, nL) or (B,), B > 0")
        if not IS_CE:
            if Y.shape[1] != NL:
                raise ValueError("bad shapes: Y.shape[1] != sizes[-1]")
        act = ws[:NACT]                # A_1 .. A_L of the current sample
        dlt = ws[NACT:2 * NACT]        # dL/dZ_1 .. dL/dZ_L of the current sample
        G = ws[2 * NACT:2 * NACT + NP]  # gradient accumulator, layout of P
        for i in range(NP):
            G[i] = 0.0
        loss = 0.0
        for s in range(B):
            # ---- forward: z_i = b_i + sum_j W_ij a_j ; ReLU on hidden layers
            po = 0
            ao_prev = 0
            ao = 0
            for k in range(L):
                nin = SZ[k]
                nout = SZ[k + 1]
                bo = po + nout * nin
                for i in range(nout):
                    acc = P[bo + i]
                    for j in range(nin):
                        if k == 0:
                            acc += P[po + i * nin + j] * X[s, j]
                        else:
                            acc += P[po + i * nin + j] * act[ao_prev + j]
                    if k < L - 1 and acc < 0.0:
                        acc = 0.0
                    act[ao + i] = acc
                po = bo + nout
                ao_prev = ao
                ao += nout
            # ---- loss and output delta dL/df (already divided by B)
            if IS_CE:
                y = Y[s]
                if y < 0 or y >= NL:
                    raise ValueError("label out of range")
                m = act[FO]
                for j in range(1, NL):
                    if act[FO + j] > m:
                        m = act[FO + j]
                se = 0.0
                for j in range(NL):
                    e = math.exp(act[FO + j] - m)
                    dlt[FO + j] = e
                    se += e
                loss += m + math.log(se) - act[FO + y]
                r = 1.0 / (se * B)
                for j in range(NL):
                    dlt[FO + j] *= r
                dlt[FO + y] -= 1.0 / B
            else:
                for j in range(NL):
                    d = act[FO + j] - Y[s, j]
                    loss += d * d
                    dlt[FO + j] = (2.0 / B) * d
            # ---- backward
            po = NP
            ao = FO
            for k in range(L, 0, -1):
                nin = SZ[k - 1]
                nout = SZ[k]
                po -= nout * nin + nout
                bo = po + nout * nin
                ap = ao - nin
                if k > 1:
                    for j in range(nin):
                        dlt[ap + j] = 0.0
                for i in range(nout):
                    gi = dlt[ao + i]
                    G[bo + i] += gi
                    for j in range(nin):
                        if k == 1:
                            G[po + i * nin + j] += gi * X[s, j]
                        else:
                            G[po + i * nin + j] += gi * act[ap + j]
                            dlt[ap + j] += gi * P[po + i * nin + j]
                if k > 1:
                    for j in range(nin):
                        if act[ap + j] <= 0.0:
                            dlt[ap + j] = 0.0
                ao = ap
        # ---- SGD on the flat buffer
        for i in range(NP):
            P[i] -= lr * G[i]
        return loss / B

    return sample_step


def _build_blas(sizes, loss):
    """Layer-outer kernel: np.dot (BLAS gemm) + fused elementwise loops."""
    SZ = tuple(int(n) for n in sizes)
    L = len(SZ) - 1
    N0 = SZ[0]
    NL = SZ[L]
    NP = n_params(SZ)
    SUMN = sum(SZ[1:])
    SUMH = sum(SZ[1:L])
    IS_CE = loss == CE

    @njit(cache=True, fastmath=_FM)
    def blas_step(P, X, Y, ws, lr):
        B = X.shape[0]
        if X.shape[1] != N0 or Y.shape[0] != B or B == 0 or P.shape[0] != NP:
            raise ValueError("bad shapes: X (B, n0), Y (B, nL) or (B,), B > 0")
        if not IS_CE:
            if Y.shape[1] != NL:
                raise ValueError("bad shapes: Y.shape[1] != sizes[-1]")
        # ws layout: A_1..A_L (B x n_k each; A_L = f, later dL/df),
        #            D_1..D_{L-1} (B x n_k deltas), G (gradient, layout of P)
        nA = B * SUMN
        G = ws[nA + B * SUMH:nA + B * SUMH + NP]
        # ---- forward
        po = 0
        ao_prev = 0
        ao = 0
        for k in range(L):
            nin = SZ[k]
            nout = SZ[k + 1]
            W = P[po:po + nout * nin].reshape((nout, nin))
            b = P[po + nout * nin:po + nout * nin + nout]
            A = ws[ao:ao + B * nout].reshape((B, nout))
            if k == 0:
                np.dot(X, W.T, A)
            else:
                np.dot(ws[ao_prev:ao_prev + B * nin].reshape((B, nin)), W.T, A)
            if k < L - 1:
                for s in range(B):
                    for i in range(nout):
                        z = A[s, i] + b[i]
                        A[s, i] = z if z > 0.0 else 0.0
            else:
                for s in range(B):
                    for i in range(nout):
                        A[s, i] += b[i]
            po += nout * nin + nout
            ao_prev = ao
            ao += B * nout
        # ---- loss; f is overwritten by dL/df (divided by B)
        F = ws[ao_prev:ao_prev + B * NL].reshape((B, NL))
        loss = 0.0
        if IS_CE:
            for s in range(B):
                y = Y[s]
                if y < 0 or y >= NL:
                    raise ValueError("label out of range")
                m = F[s, 0]
                for j in range(1, NL):
                    if F[s, j] > m:
                        m = F[s, j]
                fy = F[s, y]
                se = 0.0
                for j in range(NL):
                    e = math.exp(F[s, j] - m)
                    F[s, j] = e
                    se += e
                loss += m + math.log(se) - fy
                r = 1.0 / (se * B)
                for j in range(NL):
                    F[s, j] *= r
                F[s, y] -= 1.0 / B
        else:
            for s in range(B):
                for j in range(NL):
                    d = F[s, j] - Y[s, j]
                    loss += d * d
                    F[s, j] = (2.0 / B) * d
        # ---- backward
        po = NP
        ao = ao_prev                   # offset of A_L / delta_L
        go = ao                        # offset of the current delta
        do = nA + B * SUMH             # end of the delta buffers
        for k in range(L, 0, -1):
            nin = SZ[k - 1]
            nout = SZ[k]
            po -= nout * nin + nout
            D = ws[go:go + B * nout].reshape((B, nout))
            dW = G[po:po + nout * nin].reshape((nout, nin))
            db = G[po + nout * nin:po + nout * nin + nout]
            ap = ao - B * nin
            if k == 1:
                np.dot(D.T, X, dW)                              # dW_1 = D^T X
            else:
                np.dot(D.T, ws[ap:ap + B * nin].reshape((B, nin)), dW)
            for i in range(nout):
                db[i] = 0.0
            for s in range(B):
                for i in range(nout):
                    db[i] += D[s, i]
            if k > 1:
                # delta_{k-1} = (D W_k) * (A_{k-1} > 0), with the *old* W_k
                do -= B * nin
                Dp = ws[do:do + B * nin].reshape((B, nin))
                np.dot(D, P[po:po + nout * nin].reshape((nout, nin)), Dp)
                Ap = ws[ap:ap + B * nin].reshape((B, nin))
                for s in range(B):
                    for j in range(nin):
                        if Ap[s, j] <= 0.0:
                            Dp[s, j] = 0.0
                go = do
                ao = ap
        # ---- SGD on the flat buffer
        for i in range(NP):
            P[i] -= lr * G[i]
        return loss / B

    return blas_step


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
