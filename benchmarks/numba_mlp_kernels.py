"""The kernels of numba_mlp (the hand-written Numba training step for a ReLU MLP): one closure per layout, built per
(sizes, loss) by `numba_mlp.get_kernel`; numba_mlp's docstring describes each layout and why it is fast."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_FM = {"reassoc", "contract", "nsz"}

MSE = "mse"
CE = "softmax_cross_entropy"


def n_params(sizes):
    return sum(sizes[k + 1] * sizes[k] + sizes[k + 1] for k in range(len(sizes) - 1))


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
