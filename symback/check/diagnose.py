"""Likely causes: which classic mistake turns the student's formula into the derived one.

Input: a `Trial` (the student's formula, the quantity it should equal, the
points it is compared on, and its `space`). Output: the first `Cause` whose
`Repair` makes the formula equal the derived value on every point, or None.

Each repair is one small edit: of the formula, of its value (a scale), of
how it is read (the other layout) or of what it is compared with (another
quantity). A space lists its repairs in order of how telling they are
(`mistakes.network_repairs`, `dag_repairs`, `expression_repairs`); sign
flips and factors of 2 are shared by every kind of derivation. The repairs
that need a layer's activation or a DAG's paths are in `mistakes`.

Networks and DAGs, on the formula's matrix AST:

==========================  ====================================================
kind                        the edit that makes it match
==========================  ====================================================
``transpose``               read in the other layout; the whole result
                            transposed (an outer product written the wrong way
                            round); one factor's transpose added or removed
``sign``                    the negative
``reduction``               B times or 1/B times (batch formulas: sum vs mean)
``factor_2``                twice or half the value
``index``                   one name's layer index shifted by one, or every index
``activation_derivative``   a missing ⊙ a'(f_k); a(f_k) where a'(f_k) belongs;
                            an extra derivative factor dropped
``activation``              a named activation (sigma, tanh, relu) replaced by
                            the layer's declared one
``product``                 a matrix product where ⊙ belongs, or the reverse
==========================  ====================================================

Scalar expressions: ``sign``, ``factor_2``, ``local_factor`` (`mistakes`),
then ``variable`` (the derivative with respect to another variable) and
``value`` (the expression's value instead of its derivative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SymbackError
from .formula import Call, Name, Num, Op, names, replace, show, walk
from .matrix import ShapeError, dims
from .names import capital
from .trial import close


@dataclass(frozen=True)
class Cause:
    kind: str
    message: str


@dataclass(frozen=True)
class Repair:
    """One small edit that may explain a mistake, and the cause it names when it makes the formula match."""

    cause: Cause
    formula: object  # the edited formula
    space: object = None  # read the formula in this space instead (the other layout)
    lhs: str | None = None  # compare with this quantity instead of the left side's
    scale: float = 1.0  # the formula's value times this


def likely_cause(t) -> Cause | None:
    """The first repair in the space's list that makes the formula equal the derived value everywhere."""
    return next((r.cause for r in t.space.repairs(t) if t.matches(r.formula, r.space, r.lhs, r.scale)), None)


def shape_cause(message: str) -> Cause:
    return Cause("shape", f"the sizes do not fit: {message}")


# -- shared by every kind of derivation ----------------------------------------------------------

def sign(t):
    yield Repair(Cause("sign", f"sign flip: your value is the negative of {t.lhs}"), t.formula, scale=-1.0)


def factor_2(t):
    hint = _loss_hint(t) if t.space.kind == "network" else ""
    yield Repair(Cause("factor_2", f"factor 2: your value is half of {t.lhs}{hint}"), t.formula, scale=2.0)
    yield Repair(Cause("factor_2", f"factor 2: your value is twice {t.lhs}{hint}"), t.formula, scale=0.5)


# -- scalar expressions ---------------------------------------------------------------------------

def expression_variables(t):
    for other in t.space.derivs:
        if other != t.lhs:
            yield Repair(Cause("variable", f"your value is {other}, the derivative with respect to another variable"),
                         t.formula, lhs=other)
    out = t.space.out
    yield Repair(Cause("value", f"your value is {out} itself, not its derivative"), t.formula, lhs=out)


# -- networks -------------------------------------------------------------------------------------

ACTIVATION_FNS = ("act", "sigmoid", "tanh", "relu")


def transposes(t):
    ns, lhs, S, E = t.space.ns, t.lhs, t.formula, t.expected_shape
    what = _variable(ns, ns.get(lhs))
    where = f"{ns.notation.name} uses the {ns.layout} layout, where {lhs} " + (
        f"has the shape of {what} ({dims(E)})" if ns.layout == "denominator" or not what
        else f"is laid out as {what}^T ({dims(E)})")
    whole = Cause("transpose", f"missing transpose: your value is the transpose of {lhs} ({where})")
    other = t.space.other
    layout = Cause("transpose", f"written in the {other.ns.layout} layout: {where}")
    shapes, nodes = _shapes(t), dict(walk(S))
    toggles = []  # one factor's transpose added or removed
    for path, sub in nodes.items():
        if isinstance(sub, Op) and sub.op == "T" and isinstance(sub.args[0], Name):
            toggles.append((replace(S, path, sub.args[0]),
                            f"extra transpose: with {sub.args[0].text} in place of {show(sub)} it matches"))
        elif isinstance(sub, Name) and shapes.get(path, (1, 1)) != (1, 1) and not (
                path and isinstance(nodes[path[:-1]], Op) and nodes[path[:-1]].op == "T"):
            toggles.append((replace(S, path, Op("T", (sub,))), f"missing transpose on {sub.text}: with {sub.text}^T it matches"))
    for new, msg in toggles:
        yield Repair(Cause("transpose", msg), new)
    if _layout_dependent(t):
        yield Repair(layout, S, space=other)
    outer = _outer(S, shapes)
    if outer is not None:
        yield Repair(Cause("transpose", f"transposed outer product: {show(S)} is the transpose of {show(outer)}, "
                                        f"which matches ({where})"), outer)
    yield Repair(whole, Op("T", (S,)))
    for new, msg in toggles:
        yield Repair(Cause("transpose", msg + ", transposed as a whole"), Op("T", (new,)))


def reduction(t):
    if not t.batch:
        return
    lhs, S, B = t.lhs, t.formula, Name("B")
    if t.space.ns.summary.reduction == "mean":
        msg = f"sum vs mean: your value is B times {lhs}; the batch loss is the mean over the B samples, so 1/B belongs in front"
    else:
        msg = f"sum vs mean: your value is 1/B times {lhs}; the batch loss is the sum over the samples (reduction='sum'), with no 1/B"
    yield Repair(Cause("reduction", msg), Op("/", (S, B)))
    yield Repair(Cause("reduction", msg), Op("matmul", (B, S)))


def indices(t):
    """Off-by-one layer indices: one name's, or every name's in a subterm."""
    ns, S = t.space.ns, t.formula
    rule = _forward_rule(t)
    for name in dict.fromkeys(names(S)):
        q = ns.get(name)
        label = "the activation of the wrong layer" if q and q.kind in ("act", "input") and not q.deriv \
            else "off-by-one layer index"
        for new_name in filter(None, (ns.shift(name, -1), ns.shift(name, 1))):
            cause = Cause("index", f"{label}: {name} where {new_name} belongs ({rule})")
            yield Repair(cause, _shifted(S, {name: new_name}))
    for path, sub in walk(S):
        inner = list(dict.fromkeys(names(sub)))
        if not isinstance(sub, Op) or len(inner) < 2:
            continue
        for d in (-1, 1):  # a name with no layer (e, Euler's number; B) stays
            new = _shifted(sub, {n: ns.shift(n, d) for n in inner if getattr(ns.get(n), "layer", None) is not None})
            if new is None or new == sub:
                continue
            what = f"{show(new)} in place of {show(sub)}" if path else f"every index shifted by {d:+d}"
            yield Repair(Cause("index", f"off-by-one layer indices: {what} matches ({rule})"), replace(S, path, new))


def activation_derivatives(t):
    """a(f_k) where a'(f_k) belongs; a missing ⊙ a'(f_k) factor; an extra one."""
    S, n = t.formula, t.space.ns.notation
    for path, sub in walk(S):
        if isinstance(sub, Call) and sub.fn in ACTIVATION_FNS and not sub.prime:
            fixed = Call(sub.fn, sub.args, True, sub.shown)
            yield Repair(Cause("activation_derivative", f"{show(sub)} where its derivative {show(fixed)} belongs"),
                         replace(S, path, fixed))
    shapes = _shapes(t)
    for path, sub in walk(S):
        shape = shapes.get(path)  # None where the part does not fit: it matches no size
        for k in (k for k, layer in enumerate(t.space.ns.summary.layers, 1) if not layer.is_identity):
            pre = n.symbol("pre", k)
            base = Name(capital(pre) if t.batch else pre)
            cols = (t.space.width(k), t.space.batch_size if t.batch else 1)
            for arg, fits in ((base, cols), (Op("T", (base,)), cols[::-1])):
                if shape != fits:
                    continue
                new = Op("had", (sub, Call("act", (arg,), True, n.activation_fn)))
                yield Repair(Cause("activation_derivative", f"missing activation-derivative factor: with {show(new)} it matches"),
                             replace(S, path, new))
    for path, sub in walk(S):
        if isinstance(sub, Op) and sub.op == "had":
            for keep, drop in ((0, 1), (1, 0)):
                if _is_derivative(sub.args[drop]):
                    yield Repair(Cause("activation_derivative", f"extra factor: without ⊙ {show(sub.args[drop])} it matches"
                                                                + _linear_note(t, sub.args[drop])),
                                 replace(S, path, sub.args[keep]))


def activations(t):
    S, act = t.formula, t.space.ns.notation.activation_fn
    for path, sub in walk(S):
        if isinstance(sub, Call) and sub.fn in ("sigmoid", "tanh", "relu") and sub.args:
            fixed = Call("act", sub.args, sub.prime, act)
            yield Repair(Cause("activation", f"{sub.shown}{chr(39) if sub.prime else ''} is not this layer's activation"
                                             f"{_activation_note(t, sub.args[0])}: with {show(fixed)} it matches"),
                         replace(S, path, fixed))


def products(t):
    S = t.formula
    for path, sub in walk(S):
        if isinstance(sub, Op) and sub.op in ("matmul", "had") and not any(isinstance(a, Num) for a in sub.args):
            other = "had" if sub.op == "matmul" else "matmul"
            new = replace(S, path, Op(other, sub.args))
            msg = ("a matrix product where the elementwise product ⊙ belongs" if other == "had"
                   else "an elementwise product where a matrix product belongs")
            yield Repair(Cause("product", f"{msg}: {show(new)} matches"), new)


# -- what the network repairs ask of a trial --------------------------------------------------------

def _shapes(t) -> dict:
    """Shape of every subterm of the formula at the first point (where it can be evaluated)."""
    return {path: v.shape for path, v in subvalues(t).items()}


def subvalues(t) -> dict:
    """Value of every subterm of the formula at the first point (where it can be evaluated), by path."""
    if "values" not in t.notes:
        values = t.notes["values"] = {}
        point = t.points[t.finite[0]]
        for path, sub in walk(t.formula):
            try:
                with np.errstate(all="ignore"):
                    values[path] = t.space.evaluate(sub, point)
            except (ShapeError, SymbackError, KeyError, ValueError, TypeError):
                pass  # a part that does not fit: no value to offer
    return t.notes["values"]


def _outer(S, shapes: dict):
    """For an outer product u v^T written the wrong way round (v u^T), the right one; else None."""
    if not (isinstance(S, Op) and S.op == "matmul" and shapes.get((0,), (0, 0))[1] == 1
            and shapes.get((1,), (0, 0))[0] == 1):
        return None
    flip = [a.args[0] if isinstance(a, Op) and a.op == "T" else Op("T", (a,)) for a in S.args]
    return Op("matmul", (flip[1], flip[0]))


def _layout_dependent(t) -> bool:
    """Whether the formula reads differently in the other layout (it names a derivative bigger than 1x1)."""
    mine, theirs = _safe(t, t.space), _safe(t, t.space.other)
    if mine is None or theirs is None:
        return (mine is None) != (theirs is None)
    return not all(close(a, b) for a, b in zip(mine, theirs))


def _safe(t, space) -> list | None:
    try:
        return t.values(t.formula, space)
    except (ShapeError, SymbackError):
        return None


def _forward_rule(t) -> str:
    ns = t.space.ns
    layer = t.q.layer or next((ns.get(n).layer for n in names(t.formula) if ns.get(n) and ns.get(n).layer), 1)
    layer = min(max(layer, 1), ns.K)
    return f"{ns.notation.name}: {ns.forward_rule(layer)}"


def _loss_hint(t) -> str:
    loss = t.space.ns.summary.loss
    if loss.name == "mse":
        return " (the squared loss sum_j (f_j - y_j)^2 has no 1/2, so its derivative is 2(f - y))"
    if loss.kind == "separable":
        return f" (the per-sample loss here is the sum over outputs of {loss.expr})"
    return ""


def _layer_of(t, node):
    """The pre-activation a subterm names, if any (which layer's activation is meant)."""
    qs = (t.space.ns.get(sub.text) for _, sub in walk(node) if isinstance(sub, Name))
    return next((q for q in qs if q is not None and q.kind == "pre" and not q.deriv), None)


def _linear_note(t, factor) -> str:
    q = _layer_of(t, factor)
    if q is not None and t.space.ns.summary.layers[q.layer - 1].is_identity:
        return f" ({q.name} goes through no activation, so no derivative factor belongs here)"
    return ""


def _activation_note(t, arg) -> str:
    q = _layer_of(t, arg)
    return "" if q is None else f" ({q.name} goes through {t.space.ns.summary.layers[q.layer - 1].activation})"


def _shifted(node, mapping: dict):
    """`node` with names replaced per `mapping` (None if a name has no counterpart)."""
    out = node
    for path, sub in list(walk(node)):
        if isinstance(sub, Name) and sub.text in mapping:
            if mapping[sub.text] is None:
                return None
            out = replace(out, path, Name(mapping[sub.text]))
    return out


def _is_derivative(node) -> bool:
    return any((isinstance(s, Call) and s.prime) or (isinstance(s, Op) and s.op in (">", ">=", "<", "<="))
               or (isinstance(s, Call) and s.fn == "ind") for _, s in walk(node))


def _variable(ns, q) -> str:
    """For dl/dW the symbol W (what the derivative is taken with respect to)."""
    if q is None or not q.deriv:
        return ""
    return q.name.partition("/d")[2] if "/d" in q.name else ns.notation.symbol("pre", q.layer)
