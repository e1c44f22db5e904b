"""Gradient check: a compiled module's gradients against central differences.

The lecture's gradient check ("derive the analytic gradient, check your
implementation with the numerical gradient"): for every parameter entry,
``(L(p + h) - L(p - h)) / 2h`` in float64, compared with the module's
``loss_and_grad``. Per parameter the report gives the worst relative error
``|analytic - numeric| / max(|analytic|, |numeric|, floor)``, the index of
that entry and both values, so a failure says where and by how much. The
default batch and the sample of entries of a large parameter come from
`randomdata`, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SymbackError
from . import randomdata

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

    def to_dict(self) -> dict:
        return {"param": self.name, "worst_relative_error": self.worst, "index": list(self.index),
                "analytic": self.analytic, "numeric": self.numeric, "entries_checked": self.checked,
                "entries": self.size}


@dataclass
class GradcheckReport:
    params: list[ParamCheck]
    tolerance: float
    loss: float

    @property
    def ok(self) -> bool:
        return all(p.worst <= self.tolerance for p in self.params)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict:
        return {"ok": self.ok, "tolerance": self.tolerance, "loss": self.loss,
                "params": [p.to_dict() for p in self.params]}

    def __str__(self) -> str:
        head = f"gradient check: central differences in float64, tolerance {self.tolerance:g} (relative)"
        rows = [head, f"{'param':<10} {'worst rel. error':>16}  {'at':<12} {'analytic':>14} {'numeric':>14}  checked"]
        for p in self.params:
            flag = "" if p.worst <= self.tolerance else "   <-- MISMATCH"
            at = "[" + ", ".join(str(i) for i in p.index) + "]"
            rows.append(f"{p.name:<10} {p.worst:>16.3e}  {at:<12} {p.analytic:>14.8g} {p.numeric:>14.8g}  "
                        f"{p.checked}/{p.size}{flag}")
        rows.append("PASSED" if self.ok else "FAILED: the analytic gradient disagrees with central differences")
        return "\n".join(rows) + "\n"


def gradcheck(module, params: dict | None = None, X=None, Y=None, *, h: float = 1e-6,
              tolerance: float = DEFAULT_TOLERANCE, max_entries: int = 200, seed: int = 0) -> GradcheckReport:
    """Check `module.loss_and_grad` against central differences; see the module docstring.

    `params` default to ``module.init_params(seed)``; `X`, `Y` to a small
    random batch when the module tells its sizes (``SIZES``, ``LOSS``).
    Parameters with more than `max_entries` entries are checked on a seeded
    random sample of that many entries.
    """
    for fn in ("loss_and_grad", "init_params", "PARAMS"):
        if not hasattr(module, fn):
            raise SymbackError(f"gradcheck: the module has no {fn}; pass a module made by symback compile")
    rng = randomdata.generator(seed)
    if params is None:
        params = module.init_params(seed=seed)
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
        flat_idx = np.arange(p.size)
        if p.size > max_entries:
            flat_idx = np.sort(rng.choice(p.size, size=max_entries, replace=False))
        worst = (-1.0, (), 0.0, 0.0)
        for t in flat_idx:
            idx = np.unravel_index(t, p.shape)
            old = p[idx]
            step = h * max(1.0, abs(old))
            p[idx] = old + step
            plus = module.loss_and_grad(params, X, Y)[0]
            p[idx] = old - step
            minus = module.loss_and_grad(params, X, Y)[0]
            p[idx] = old
            numeric = (plus - minus) / (2 * step)
            analytic = float(g[idx])
            err = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-8)
            if err > worst[0]:
                worst = (err, tuple(int(i) for i in idx), analytic, float(numeric))
        report.append(ParamCheck(name, worst[0], worst[1], worst[2], worst[3], len(flat_idx), p.size))
    return GradcheckReport(report, tolerance, float(loss))


def _batch(module, rng):
    """A random batch that fits a module which says its sizes (``SIZES``) and loss (``LOSS``)."""
    sizes = getattr(module, "SIZES", None)
    if sizes is None:
        raise SymbackError("gradcheck: give X and Y (the module does not say its sizes)")
    loss = getattr(module, "LOSS", "mse")
    labels = loss == "softmax_cross_entropy" or getattr(module, "TARGET", "") == "labels"
    return randomdata.batch(rng, sizes[0], sizes[-1], randomdata.target_kind(loss, labels))
