"""Gradient check: a compiled module's gradients against central differences.

The lecture's gradient check ("derive the analytic gradient, check your
implementation with the numerical gradient"): for every parameter entry,
``(L(p + h) - L(p - h)) / 2h`` in float64, compared with the module's
``loss_and_grad``. Per parameter the report gives the worst relative error
``|analytic - numeric| / max(|analytic|, |numeric|, floor)``, the entry
(counted from 1 in the text, NumPy's index from 0 in JSON) and both values,
so a failure says where and by how much. An entry fails when it is off by
more than the tolerance times that scale plus the differences' own rounding
noise (`NOISE` times the loss over the step), so a small entry is not failed
for the last digits of a float64 loss. A NaN
or infinite loss, gradient entry or difference fails the check, named: a
comparison with NaN is never a pass. The default batch and the sample of
entries of a large parameter come from `randomdata`, seeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..errors import SymbackError
from . import randomdata
from .report import num as _number  # NaN and infinity become null; `problems` says what they were

#: float64 central differences with h = 1e-6 * max(1, |p|) agree to ~1e-9 where the loss is smooth
DEFAULT_TOLERANCE = 1e-6


@dataclass
class ParamCheck:
    name: str
    worst: float  # worst relative error over the checked entries
    index: tuple  # where it occurs
    analytic: float
    numeric: float
    checked: int  # entries checked (all, or a seeded sample of large parameters)
    size: int
    bad_analytic: int = 0  # NaN or infinite entries of the analytic gradient (all entries)
    bad_numeric: int = 0  # checked entries whose central difference is NaN or infinite
    fails: int = 0  # entries off by more than the tolerance plus the differences' rounding noise
    kinks: int = 0  # entries on a kink, where the analytic value is one of the one-sided derivatives (`_kink`)

    def nonfinite(self) -> str:
        """'W1 (6 in the gradient, 2 in central differences)' if this parameter met NaN or inf, else ''."""
        counts = f"{self.bad_analytic} in the gradient, {self.bad_numeric} in central differences"
        return f"{self.name} ({counts})" if self.bad_analytic or self.bad_numeric else ""

    def to_dict(self) -> dict:
        return {"param": self.name, "worst_relative_error": _number(self.worst), "index": list(self.index),
                "analytic": _number(self.analytic), "numeric": _number(self.numeric), "entries_checked": self.checked,
                "entries": self.size, "nonfinite_analytic": self.bad_analytic, "nonfinite_numeric": self.bad_numeric,
                "entries_at_kinks": self.kinks}


@dataclass
class GradcheckReport:
    params: list[ParamCheck]
    tolerance: float
    loss: float
    noise: float = 0.0  # the differences' rounding noise allowed on top of the tolerance, at the step h

    @property
    def problems(self) -> list[str]:
        """What is NaN or infinite (the loss, gradient entries, central differences): each one fails."""
        out = [] if math.isfinite(self.loss) else [f"the loss is {'NaN' if math.isnan(self.loss) else 'infinite'}"]
        bad = ", ".join(filter(None, (p.nonfinite() for p in self.params)))
        return out + ([f"NaN or infinite values in {bad}"] if bad else [])

    @property
    def ok(self) -> bool:
        return not self.problems and not any(p.fails for p in self.params)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict:
        return {"ok": self.ok, "tolerance": self.tolerance, "noise": _number(self.noise), "loss": _number(self.loss), "problems": self.problems,
                "params": [p.to_dict() for p in self.params]}

    def __str__(self) -> str:
        head = (f"gradient check: central differences in float64, tolerance {self.tolerance:g} (relative) plus "
                f"{self.noise:.1e} (their rounding noise)")
        rows = [head, f"{'param':<10} {'worst rel. error':>16}  {'entry':<12} {'analytic':>14} {'numeric':>14}  checked"]
        for p in self.params:
            flag = ("   <-- NOT FINITE" if p.nonfinite() else "   <-- MISMATCH" if p.fails
                    else "   (kink)" if p.kinks else "")
            at = "(" + ", ".join(str(i + 1) for i in p.index) + ")"  # counted from 1, as every message does
            rows.append(f"{p.name:<10} {p.worst:>16.3e}  {at:<12} {p.analytic:>14.8g} {p.numeric:>14.8g}  "
                        f"{p.checked}/{p.size}{flag}")
        problems = "; ".join(self.problems) or "the analytic gradient disagrees with central differences"
        if kinks := sum(p.kinks for p in self.params):
            rows.append(f"{kinks} entr{'y sits' if kinks == 1 else 'ies sit'} on a kink (a ReLU's input exactly 0, "
                        "as a zero bias into a dead unit makes): the analytic value is a one-sided derivative there")
        rows.append("PASSED" if self.ok else f"FAILED: {problems}")
        return "\n".join(rows) + "\n"


def positive(value, name: str) -> float:
    """`value` as a positive, finite float, or a SymbackError naming `name` (a bool is no number)."""
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (real and math.isfinite(value) and value > 0):
        raise SymbackError(f"{name} must be a positive, finite number, got {value!r}")
    return float(value)


#: float64 rounding of a loss evaluation, in units of |loss|: 64 eps leaves a margin of about 30 over what the
#: examples show (a mean loss of 2.3 at h = 1e-6 puts 3e-10 of noise on its differences, where this allows 3e-8)
NOISE = 64 * np.finfo(np.float64).eps


def whole(value, name: str, least: int = 0) -> int:
    """`value` as an int >= `least`, or a SymbackError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise SymbackError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def gradcheck(module, params: dict | None = None, X=None, Y=None, *, h: float = 1e-6,
              tolerance: float = DEFAULT_TOLERANCE, max_entries: int = 200, seed: int = 0) -> GradcheckReport:
    """Check `module.loss_and_grad` against central differences; see the module docstring.

    `params` default to ``module.init_params(seed)``; `X`, `Y` to a small
    random batch when the module tells its sizes (``SIZES``, ``LOSS``).
    Parameters with more than `max_entries` entries are checked on a seeded
    random sample of that many entries.
    """
    h, tolerance, max_entries, seed = (positive(h, "h"), positive(tolerance, "tolerance"),
                                       whole(max_entries, "max_entries", 1), whole(seed, "seed"))
    for fn in ("loss_and_grad", "init_params", "PARAMS"):
        if not hasattr(module, fn):
            raise SymbackError(f"gradcheck: the module has no {fn}; pass a module made by symback compile")
    rng = randomdata.generator(seed)
    params = module.init_params(seed=seed) if params is None else params
    params = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    if X is None or Y is None:
        X, Y = _batch(module, rng)
    X = np.asarray(X, dtype=np.float64)
    if np.asarray(Y).dtype.kind == "f":
        Y = np.asarray(Y, dtype=np.float64)
    loss, grads = module.loss_and_grad(params, X, Y)
    report = []
    for name in module.PARAMS:
        p, g = params[name], np.asarray(grads[name], dtype=np.float64)
        sample = p.size > max_entries
        flat_idx = np.sort(rng.choice(p.size, size=max_entries, replace=False)) if sample else np.arange(p.size)
        worst, worst_fails, bad_numeric, fails, kinks = (-1.0, (), 0.0, 0.0), False, 0, 0, 0
        for t in flat_idx:
            idx = np.unravel_index(t, p.shape)
            old = p[idx]
            step = h * max(1.0, abs(old))
            p[idx] = old + step
            plus = module.loss_and_grad(params, X, Y)[0]
            p[idx] = old - step
            minus = module.loss_and_grad(params, X, Y)[0]
            p[idx] = old
            numeric, analytic = float((plus - minus) / (2 * step)), float(g[idx])
            bad_numeric += not math.isfinite(numeric)
            noise = NOISE * max(1.0, abs(float(loss))) / step  # the rounding of plus - minus, divided by 2 step
            scale = max(abs(analytic), abs(numeric), 1e-8)
            err = abs(analytic - numeric) / scale
            err = err if math.isfinite(err) else math.inf  # NaN compares False with everything: it would pass
            fail = not abs(analytic - numeric) <= tolerance * scale + noise
            if fail and _kink(partial(_loss_at, module, params, X, Y, p, idx), old, step,
                              (float(loss), float(plus), float(minus)), analytic, tolerance, noise):
                fail, kinks = False, kinks + 1
            fails += fail
            if (fail, err) > (worst_fails, worst[0]):
                worst, worst_fails = (err, tuple(int(i) for i in idx), analytic, numeric), fail
        bad_analytic = int(np.count_nonzero(~np.isfinite(g)))
        report.append(ParamCheck(name, *worst, len(flat_idx), p.size, bad_analytic, bad_numeric, fails, kinks))
    return GradcheckReport(report, tolerance, float(loss), NOISE * max(1.0, abs(float(loss))) / h)


def _loss_at(module, params, X, Y, p, idx, value) -> float:
    """The loss with the entry ``p[idx]`` set to `value` (restored after)."""
    old, p[idx] = p[idx], value
    try:
        return float(module.loss_and_grad(params, X, Y)[0])
    finally:
        p[idx] = old


def _kink(loss_at, old: float, step: float, losses: tuple, analytic: float, tolerance: float, noise: float) -> bool:
    """Whether the loss has a kink at `old` (its one-sided slopes differ by far more than their own O(step) error,
    told apart by halving the step) and `analytic` is one of those slopes: a right gradient at a non-smooth point,
    where central differences average the two sides."""
    loss, plus, minus = losses
    right = ((plus - loss) / step, (loss_at(old + step / 2) - loss) / (step / 2))
    left = ((loss - minus) / step, (loss - loss_at(old - step / 2)) / (step / 2))
    error = [abs(a - b) for a, b in (right, left)]  # each side's truncation error, about
    if not abs(right[1] - left[1]) > 10 * sum(error) + 4 * noise:
        return False
    return any(abs(analytic - side[1]) <= tolerance * max(abs(analytic), abs(side[1]), 1e-8) + 2 * e + 4 * noise
               for side, e in zip((right, left), error))


def _batch(module, rng):
    """A random batch that fits a module which says its sizes (``SIZES``) and loss (``LOSS``)."""
    sizes = getattr(module, "SIZES", None)
    if sizes is None:
        raise SymbackError("gradcheck: give X and Y (the module does not say its sizes)")
    loss = getattr(module, "LOSS", "mse")
    labels = loss == "softmax_cross_entropy" or getattr(module, "TARGET", "") == "labels"
    return randomdata.batch(rng, sizes[0], sizes[-1], randomdata.target_kind(loss, labels))
