"""``batch``: an elementwise expression that sums over the samples of the batch (batch normalisation).

The IR is per sample; an op that couples the samples writes, beside this
sample's component symbols (``f1``), the values of every sample ``b`` as
``f1[b]`` inside sums over the batch index, ``Sum(f1[b], (b, 0, B - 1))``,
``B`` the batch size. Batch normalisation in training mode is its one
declared instance (`build`)::

    bn = gamma * (f - mu) / sqrt(var + eps) + beta,
    mu = 1/B sum_b f[b],   var = 1/B sum_b (f[b] - mu)^2      (eps inside the root, as CS231n and PyTorch)

or, with ``eps_at="std"``, ``gamma * (f - mu) / (sqrt(var) + eps) + beta`` (eps added to the standard
deviation, as UDL writes it).

Its VJP (`vjp`) differentiates the definition by SymPy in index form: the
gradient by sample a's ``f[a]`` is ``sum_s g[s] d bn[s] / d f[a]``, whose
Kronecker deltas `distribute` collapses; an arg used without an index (gamma,
beta: one value per batch) gets the per-sample contribution ``g d bn / d gamma``,
summed over the batch as every parameter's is. The compact textbook form is a
rewrite (`derive.batchnorm`), not this rule. One sample alone has no batch
statistic: `numeric` refuses; `batched` evaluates the sums over the batch axis.
"""

from __future__ import annotations

import math
import numbers
from functools import lru_cache

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..ir import Node, sym
from .arrays import MODULES, _real
from .base import Op, Term, local_derivative, register

#: the batch size, the batch indices of the definition (b, c), and the samples of the VJP (a: this one, s: any)
B = sp.Symbol("B", integer=True, positive=True)
INDEX_B, INDEX_C, SAMPLE, OTHER = (sp.Symbol(n, integer=True, nonnegative=True) for n in "bcas")


def samples(name: str) -> sp.IndexedBase:
    """The values of node `name` for every sample of the batch: ``f1[b]`` (its label is not the node's symbol)."""
    return sp.IndexedBase(sp.Symbol(name))


def batch_sum(body: sp.Expr, index: sp.Symbol = INDEX_B) -> sp.Sum:
    return sp.Sum(body, (index, 0, B - 1))


def statistics(x: str) -> tuple[sp.Expr, sp.Expr]:
    """The batch mean and (biased) variance of `x`, per feature: ``1/B sum_c x[c]``, ``1/B sum_b (x[b] - mu)^2``."""
    X = samples(x)
    mu = batch_sum(X[INDEX_C], INDEX_C) / B
    return mu, batch_sum((X[INDEX_B] - mu) ** 2) / B


def real(value) -> float | None:
    """`value` as a float when it is a real number (not a bool) that is finite also as a float (10**400 is not);
    None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, sp.Rational)):
        return None
    try:
        out = float(value)
    except (OverflowError, TypeError):
        return None
    return out if math.isfinite(out) else None


def epsilon(eps, where: str) -> sp.Expr:
    """eps: a positive finite number, also as a float (exact, so 1e-5 prints as 1/100000)."""
    value = real(eps)
    if value is None or not value > 0:
        raise SymbackError(f"{where}: eps must be a positive number (it keeps the division finite), got {eps!r:.40}")
    return sp.nsimplify(eps, rational=True)


#: where eps goes: added to the variance inside the root (CS231n, PyTorch), or to the standard deviation (UDL)
PLACEMENTS = {"variance": lambda var, eps: sp.sqrt(var + eps), "std": lambda var, eps: sp.sqrt(var) + eps}


def placement(eps_at, where: str) -> str:
    if eps_at not in PLACEMENTS:
        raise SymbackError(f"{where}: eps_at must be 'variance' (sqrt(var + eps), as CS231n and PyTorch) or 'std' "
                           f"(sqrt(var) + eps, as UDL), got {eps_at!r:.40}")
    return eps_at


def build(name: str, x: str, gamma: str, beta: str, eps: sp.Expr, shapes: dict, ops: dict,
          eps_at: str = "variance") -> tuple[sp.Expr, tuple]:
    """``gamma * (x - mu) / sqrt(var + eps) + beta`` (or ``/ (sqrt(var) + eps)``) over the batch, and its shape;
    one-line errors for the rest."""
    for p in (gamma, beta):
        if ops[p] != "param":
            raise SymbackError(f"module {name}: {p} must be a parameter (one value per batch), not a computed value")
    if len(shapes[x]) != 1:
        raise SymbackError(f"module {name}: batch normalisation takes a vector, {x} has shape {shapes[x]}")
    for p in (gamma, beta):
        if shapes[p] != shapes[x]:
            raise SymbackError(f"module {name}: {p} has shape {shapes[p]}, expected {shapes[x]} "
                               f"(one per feature of {x})")
    mu, var = statistics(x)
    return sym(gamma) * (sym(x) - mu) / PLACEMENTS[eps_at](var, eps) + sym(beta), shapes[x]


# -- sums over the batch ------------------------------------------------------------------------------

def _collapse(s: sp.Sum) -> sp.Expr:
    """One sum over a batch index, term by term: a factor free of the index moves out, a Kronecker delta
    picks its sample (the index ranges over the whole batch), a sum of a constant is B times it."""
    (k, lo, hi), out = s.limits[0], []
    for term in sp.Add.make_args(sp.expand(s.function)):
        inside = [f for f in sp.Mul.make_args(term) if f.has(k)]
        outside = sp.Mul(*[f for f in sp.Mul.make_args(term) if not f.has(k)])
        delta = next((f for f in inside if isinstance(f, sp.KroneckerDelta)), None)
        if delta is not None:
            other = delta.args[0] if delta.args[1] == k else delta.args[1]
            out.append(outside * sp.Mul(*[f for f in inside if f is not delta]).xreplace({k: other}))
        else:
            out.append(outside * (sp.Sum(sp.Mul(*inside), (k, lo, hi)) if inside else hi - lo + 1))
    return sp.Add(*out)


def distribute(expr: sp.Expr, keep=()) -> sp.Expr:
    """Every batch sum of `expr` distributed over its terms with its Kronecker deltas collapsed (innermost first).
    A sum or power free of the symbols `keep` that holds a sum is a batch constant (the variance and its roots):
    left whole, as expanding it would only grow it."""
    whole: dict = {}

    def protect(e):
        if isinstance(e, (sp.Sum, sp.Pow)) and e.has(sp.Sum) and not e.has(*keep):
            return whole.setdefault(e, sp.Dummy("c"))
        return e.func(*[protect(a) for a in e.args]) if e.args and e.has(sp.Sum) else e

    out = (protect(expr) if keep else expr).replace(lambda e: isinstance(e, sp.Sum), _collapse)
    return out.xreplace({d: s for s, d in whole.items()})


def has_batch_sum(expr) -> bool:
    return any(s.limits[0][2] == B - 1 for s in expr.atoms(sp.Sum))


# -- the op's rules --------------------------------------------------------------------------------

def vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    X = samples(arg)
    if not any(e.base == X for e in node.expr.atoms(sp.Indexed)):  # one value per batch, or this sample's alone
        local = local_derivative(node.expr, sym(arg), lambda: f"node {node.name} = {node.expr}")
        op = "batch" if has_batch_sum(local) else "ew"
        return Term(node.name, local, local * upstream, op=op, upstream=upstream)
    G = samples(upstream.name)
    here = node.expr.xreplace({sym(arg): X[SAMPLE]})
    d = sp.diff(here.xreplace({SAMPLE: OTHER}), X[SAMPLE])  # d node[s] / d arg[a], Kronecker deltas and all
    total = distribute(batch_sum(G[OTHER] * d, OTHER), keep=(SAMPLE, OTHER))
    total = total.xreplace({X[SAMPLE]: sym(arg), G[SAMPLE]: upstream})
    if total.has(SAMPLE) or total.has(sp.Derivative):
        raise SymbackError(f"node {node.name}: cannot write d{node.name}/d{arg} over the batch: {total}")
    return Term(node.name, total, total, op="batch")


def _one_sample(node: Node, values: dict):
    raise SymbackError(f"node {node.name}: a batch statistic needs the whole batch, not one sample; "
                       "evaluate the batch (numeric.evaluate_batch, sb.gradcheck, symback check)")


@lru_cache(maxsize=256)
def _plan(expr: sp.Expr):
    """`expr` as innermost-first batch sums, each a function of its body's values, then the outer function."""
    sums = []
    while True:
        inner = [s for s in expr.atoms(sp.Sum) if not s.function.has(sp.Sum)]
        if not inner:
            break
        s = inner[0]
        (k, _, _), body = s.limits[0], s.function
        if not (s.limits[0][2] == B - 1 and s.limits[0][1] == 0):
            raise SymbackError(f"cannot evaluate {s}: not a sum over the batch")
        picks = {e: sp.Dummy(e.base.label.name) for e in body.atoms(sp.Indexed)}
        if any(e.indices != (k,) for e in picks):
            raise SymbackError(f"cannot evaluate {s}: it reads another sample than its own index's")
        body = body.xreplace(picks)
        plain = sorted(body.free_symbols - set(picks.values()) - {B}, key=str)
        fn = sp.lambdify([B, *picks.values(), *plain], body, MODULES)
        out = sp.Dummy("sum")
        sums.append((out, fn, [e.base.label.name for e in picks], plain))
        expr = expr.xreplace({s: out})
    plain = sorted(expr.free_symbols - {B}, key=str)
    return sums, plain, sp.lambdify([B, *plain], expr, MODULES)


def batch_value(expr: sp.Expr, values: dict, size, batch: int) -> np.ndarray:
    """`expr` for every sample, ``(size, B)``: this sample's values run along axis 1, the summed sample's along
    axis 2 (a sum is over that axis), so a sum holding this sample's values is still one array operation."""
    sums, plain, fn = _plan(expr)
    known: dict = {}

    def value(s, axis: int):
        if s in known:
            return known[s]
        v = np.asarray(values[s.name], dtype=float)
        v = v.reshape((1,) * (2 - v.ndim) + v.shape)
        return v[:, :, None] if axis == 1 else v[:, None, :]

    for out, body, picked, free in sums:
        args = [value(sp.Symbol(p), 2) for p in picked] + [value(s, 1) for s in free]
        known[out] = np.sum(np.broadcast_to(_real(body(batch, *args)), (int(size), batch, batch)), axis=2,
                            keepdims=True)
    out = _real(fn(batch, *[value(s, 1) for s in plain]))
    return np.broadcast_to(out, (int(size), batch, 1))[:, :, 0].copy()


def batched(node: Node, values: dict) -> np.ndarray:
    batch = int(np.shape(values["y"])[-1])
    if batch < 2:  # its own mean: the output is beta whatever the input, and no gradient flows back (PyTorch refuses)
        raise SymbackError(f"node {node.name}: batch statistics need at least 2 samples, got a batch of {batch}")
    return batch_value(node.expr, values, node.shape[0], batch)


register(Op("batch", "an elementwise expression with sums over the batch (batch statistics)", vjp=vjp,
            numeric=_one_sample, batched=batched))
