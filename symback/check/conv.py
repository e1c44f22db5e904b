"""Checking a hand-written conv or pool backward (CS231n's ``conv_backward_naive``) against the derivation.

Stage: check. Input: a conv or pool layer (any object with ``geometry(shape)``, as `sb.Conv2D` or `sb.MaxPool`),
the forward's input and parameters, the upstream delta ``dout`` and the student's gradients, all batched as the
frameworks lay them out (N x C x H x W). Output: a `ConvReport`, one line per gradient: equal (CS231n's relative
error max |a - b| / max(1e-8, |a| + |b|) below 1e-8) or different, and then the likely cause: a classic mistake
written as one edit of the derived index form (never by reading the student's code) whose numbers equal the
student's. The edits: the kernel not flipped, the stride ignored in the input gradient, the padding off by one,
the gradient sent to every pooled input instead of the argmax, a tie sent to none, to every tied entry or to the last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..ir import Meta, Node, sym
from ..nonsmooth import Indicator
from ..ops import conv, pool, tensor
from ..ops.conv import TAPS, grad_indices
from ..ops.tensor import IndexForm, index

TOL = 1e-8


def relative_error(a, b) -> float:
    """CS231n's metric: max |a - b| / max(1e-8, |a| + |b|)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


@dataclass
class ConvReport:
    lines: list[str]
    equal: bool

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _mistakes(geometry, arg: str, form: IndexForm, names: dict) -> list[tuple[str, sp.Expr]]:
    """(cause, the edited body) for the classic mistakes that apply to `arg`'s gradient."""
    body, out = form.body, []
    taps = [index(t, bound) for t in TAPS[:geometry.dims] for bound in (True, False)]  # summed (dx), free (dW)
    if arg == names["x"] and geometry.kind == "conv":
        w = next(b for b in body.atoms(sp.IndexedBase) if b.name == names["W"])
        flip = {e: w[e.indices[:2] + tuple(k - 1 - t for k, t in zip(geometry.kernel, e.indices[2:]))]
                for e in body.atoms(sp.Indexed) if e.base == w}
        out.append(("kernel not flipped: the input gradient correlates the delta with W, it must convolve "
                    "(W rotated by 180 degrees)", body.xreplace(flip)))
    if arg == names["x"] and set(geometry.stride) != {1}:
        out.append(("stride ignored in the input gradient: the delta's entries sit s apart, at (m + P - d u)/s",
                    body.replace(sp.Indexed, lambda b, *i: sp.Indexed(b, *[sp.numer(sp.together(j)) for j in i]))))
    if geometry.kind != "maxpool" and set(geometry.padding) != {0}:
        for shift in (1, -1):
            moved = body.replace(sp.Indexed, lambda b, *i, shift=shift: b[tuple(
                j if b.name == names["W"] else j.xreplace({t: t + shift for t in taps}) for j in i)])
            out.append((f"padding off by one: the taps read {'one further' if shift > 0 else 'one earlier'} "
                        "than the padded window", moved))
    if geometry.kind == "maxpool":
        out.append(("gradient sent to every pooled input: max-pooling routes each window's delta to its argmax "
                    "alone (the max gate)", body.replace(Indicator, lambda c: sp.Integer(1))))
        tie = ("at a tie (equal entries in a window: padding, blank background, ReLU zeros) the delta goes to the "
               "first of them in row-major order, as PyTorch's max_pool; yours sends it to ")
        # each tie factor's relation rewritten: > the earlier taps, >= the later ones, is the first's rule
        for to, op in (("none of them", {">": ">", ">=": ">"}), ("every one of them", {">": ">=", ">=": ">="}),
                       ("the last of them (a scan keeping the max by >=)", {">": ">=", ">=": ">"})):
            out.append((tie + to, body.replace(Indicator, lambda c, op=op: Indicator(sp.Rel(*c.args, op[c.rel_op])))))
    return out


def _numbers(value, what: str, shape: tuple | None = None, finite: bool = True) -> np.ndarray:
    """`value` as a float array of `shape`, finite unless told: a one-line error naming `what` otherwise."""
    try:
        out = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise SymbackError(f"check_layer: {what} must be an array of numbers, got {type(value).__name__}") from None
    if shape is not None and out.shape != tuple(shape):
        raise SymbackError(f"check_layer: {what} has shape {out.shape}, expected {tuple(shape)}")
    if finite and not np.all(np.isfinite(out)):
        raise SymbackError(f"check_layer: {what} contains NaN or infinity")
    return out


def check_layer(layer, x, params: dict, dout, theirs: dict) -> ConvReport:
    """Compare the student's gradients (``{"x": dx, "W": dw, "b": db}``, any of them) of `layer` at input `x`
    (N x C x H x W), parameters ``{"W": w, "b": b}`` (w as C_out x C_in x kh x kw) and upstream `dout`."""
    if not callable(getattr(layer, "geometry", None)) or isinstance(layer, type):
        raise SymbackError(f"check_layer: layer must be a conv or pool layer (sb.Conv2D(...), sb.MaxPool(...)), "
                           f"got {type(layer).__name__}")
    if not isinstance(theirs, dict) or not isinstance(params, dict):
        raise SymbackError("check_layer: params and theirs are dicts, e.g. {'W': w, 'b': b} and {'x': dx, 'W': dw}")
    x = _numbers(x, "x")
    if x.ndim not in (3, 4) or len(x) < 1:
        raise SymbackError(f"check_layer: x must be N x C x L or N x C x H x W with N >= 1, got shape {x.shape}")
    geometry = layer.geometry(tuple(x.shape[1:]))
    dout = _numbers(dout, "dout", (len(x), *geometry.shape_out))
    names = {"x": "x", "W": "W", "b": "b"}
    has_w = geometry.kind == "conv"
    shapes = {"x": x.shape}
    if has_w:
        shapes |= {"W": (geometry.shape_out[0], geometry.shape_in[0], *geometry.kernel), "b": (geometry.shape_out[0],)}
        params = {k: _numbers(params.get(k), f"params[{k!r}]", shapes[k]) for k in ("W", "b")}
    theirs = {k: _numbers(v, f"their d{k}", shapes[k], finite=False) if k in shapes else v for k, v in theirs.items()}
    geometry = geometry.__class__(**{**geometry.__dict__, "grad_indices": grad_indices(
        geometry.dims, "x", *(("W", "b") if has_w else ()))})
    form = conv.build(geometry, "x", "W", "b") if has_w else pool.build(geometry, "x")
    node = Node("out", "conv" if has_w else "pool", ("x", "W", "b") if has_w else ("x",), form,
                (math.prod(geometry.shape_out),), meta=Meta(geometry=geometry))
    n = len(x)
    values = {"x": x.reshape(n, -1).T, "dout": dout.reshape(n, -1).T, "y": np.zeros(n)}
    if has_w:
        values["W"] = np.broadcast_to(np.asarray(params["W"], float).reshape(geometry.shape_out[0], -1)[..., None],
                                      (geometry.shape_out[0], math.prod(geometry.kernel) * geometry.shape_in[0], n))
        values["b"] = np.broadcast_to(np.asarray(params["b"], float)[:, None], (geometry.shape_out[0], n))
    lines, equal = [], True
    for arg, given in theirs.items():
        if arg not in node.args:
            raise SymbackError(f"{layer!r} has no gradient {arg!r}; it has {', '.join(node.args)}")
        form_arg = tensor.vjp(node, arg, sym("dout")).value

        def value(body, form_arg=form_arg, arg=arg):
            grad = Node(f"d{arg}", "index", expr=IndexForm(body, form_arg.axes), shape=(math.prod(form_arg.shape),))
            per_sample = tensor.value(grad, values, n)
            return per_sample.sum(axis=-1) if arg != "x" else per_sample.T
        want = value(form_arg.body).reshape(np.shape(given))
        err = relative_error(given, want)
        if err < TOL:
            lines.append(f"d{arg}: equal (relative error {err:.1e})")
            continue
        equal = False
        lines.append(f"d{arg}: different (relative error {err:.1e})")
        for cause, body in _mistakes(geometry, arg, form_arg, names):
            if relative_error(given, value(body).reshape(np.shape(given))) < TOL:
                lines.append(f"  likely cause: {cause}")
    return ConvReport(lines, equal)
