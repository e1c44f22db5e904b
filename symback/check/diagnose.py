"""Likely causes: which classic mistake turns the student's formula into the derived one.

Input: a `Trial` (the student's AST, the quantity it should equal, and the
instances it is compared on). Output: the first `Cause` whose repair makes
the formula equal the derived value on every instance, or None.

Each candidate is one small edit of the student's formula (or of how it is
read), tried in this order:

==========================  ====================================================
kind                        the edit that makes it match
==========================  ====================================================
``transpose``               read in the other layout; the whole result
                            transposed; one factor's transpose added or removed
``sign``                    the negative
``factor_2``                twice or half the value
``reduction``               B times or 1/B times (batch formulas: sum vs mean)
``index``                   one name's layer index shifted by one, or every index
``activation_derivative``   a missing ⊙ a'(f_k); a(f_k) where a'(f_k) belongs;
                            an extra derivative factor dropped
``activation``              a named activation (sigma, tanh, relu) replaced by
                            the layer's declared one
``product``                 a matrix product where ⊙ belongs, or the reverse
==========================  ====================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from .formula import Call, Name, Num, Op, names, replace, show, walk
from .matrix import dims
from .names import capital


@dataclass(frozen=True)
class Cause:
    kind: str
    message: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message}


ACTIVATION_FNS = ("act", "sigmoid", "tanh", "relu")


def _shifted(node, ns, mapping: dict):
    """`node` with names replaced per `mapping` (None if a name has no counterpart)."""
    out = node
    for path, sub in list(walk(node)):
        if isinstance(sub, Name) and sub.text in mapping:
            if mapping[sub.text] is None:
                return None
            out = replace(out, path, Name(mapping[sub.text]))
    return out


def candidates(t):
    """(Cause, formula, namespace or None) in order of how telling the repair is."""
    ns, lhs, S = t.ns, t.lhs, t.formula
    n = ns.notation
    E = t.expected_shape
    of = ns.get(lhs)
    what = _variable(ns, of)
    where = f"{n.name} uses the {ns.layout} layout, where {lhs} " + (
        f"has the shape of {what} ({dims(E)})" if ns.layout == "denominator" or not what
        else f"is laid out as {what}^T ({dims(E)})")
    whole = Cause("transpose", f"missing transpose: your value is the transpose of {lhs} ({where})")
    layout = Cause("transpose", f"written in the {t.other.layout} layout: {where}")
    shapes = t.shapes
    toggles = []  # one factor's transpose added or removed
    for path, sub in walk(S):
        if isinstance(sub, Op) and sub.op == "T" and isinstance(sub.args[0], Name):
            toggles.append((replace(S, path, sub.args[0]),
                            f"extra transpose: with {sub.args[0].text} in place of {show(sub)} it matches"))
        elif isinstance(sub, Name) and shapes.get(path, (1, 1)) != (1, 1) and not _under_T(S, path):
            toggles.append((replace(S, path, Op("T", (sub,))), f"missing transpose on {sub.text}: with {sub.text}^T it matches"))
    for new, msg in toggles:
        yield Cause("transpose", msg), new, None
    if t.layout_dependent:
        yield layout, S, t.other
    yield whole, Op("T", (S,)), None
    for new, msg in toggles:
        yield Cause("transpose", msg + ", transposed as a whole"), Op("T", (new,)), None
    yield Cause("sign", f"sign flip: your value is the negative of {lhs}"), Op("neg", (S,)), None
    if t.batch:
        B = Name("B")
        if ns.summary.reduction == "mean":
            msg = f"sum vs mean: your value is B times {lhs}; the batch loss is the mean over the B samples, so 1/B belongs in front"
        else:
            msg = f"sum vs mean: your value is 1/B times {lhs}; the batch loss is the sum over the samples (reduction='sum'), with no 1/B"
        yield Cause("reduction", msg), Op("/", (S, B)), None
        yield Cause("reduction", msg), Op("matmul", (B, S)), None
    two = Num(2.0, "2")
    hint = t.loss_hint
    yield Cause("factor_2", f"factor 2: your value is half of {lhs}{hint}"), Op("matmul", (two, S)), None
    yield Cause("factor_2", f"factor 2: your value is twice {lhs}{hint}"), Op("/", (S, two)), None
    # off-by-one layer indices
    rule = t.forward_rule
    used = list(dict.fromkeys(names(S)))
    for name in used:
        for d in (-1, 1):
            new_name = ns.shift(name, d)
            if new_name is None:
                continue
            q = ns.get(name)
            new = _shifted(S, ns, {name: new_name})
            label = "the activation of the wrong layer" if q.kind in ("act", "input") and not q.deriv \
                else "off-by-one layer index"
            yield Cause("index", f"{label}: {name} where {new_name} belongs ({rule})"), new, None
    for path, sub in walk(S):
        inner = list(dict.fromkeys(names(sub)))
        if not isinstance(sub, Op) or len(inner) < 2:
            continue
        for d in (-1, 1):
            new = _shifted(sub, ns, {name: ns.shift(name, d) for name in inner if ns.get(name).layer is not None})
            if new is None or new == sub:
                continue
            if not path:
                msg = f"off-by-one layer indices: every index shifted by {d:+d} matches ({rule})"
            else:
                msg = f"off-by-one layer indices: {show(new)} in place of {show(sub)} matches ({rule})"
            yield Cause("index", msg), replace(S, path, new), None
    # activation derivatives
    act = n.activation_fn
    for path, sub in walk(S):
        if isinstance(sub, Call) and sub.fn in ACTIVATION_FNS and not sub.prime:
            fixed = Call(sub.fn, sub.args, True, sub.shown)
            yield (Cause("activation_derivative", f"{show(sub)} where its derivative {show(fixed)} belongs"),
                   replace(S, path, fixed), None)
    for path, sub in walk(S):
        shape = shapes.get(path)
        if shape is None:
            continue
        for k in t.activated_layers:
            pre = n.symbol("pre", k)
            base = Name(capital(pre) if t.batch else pre)
            cols = (t.width(k), t.batch_size if t.batch else 1)
            for arg, fits in ((base, cols), (Op("T", (base,)), cols[::-1])):
                if shape != fits:
                    continue
                factor = Call("act", (arg,), True, act)
                new = Op("had", (sub, factor))
                yield (Cause("activation_derivative", f"missing activation-derivative factor: with {show(new)} it matches"),
                       replace(S, path, new), None)
    for path, sub in walk(S):
        if isinstance(sub, Op) and sub.op == "had":
            for keep, drop in ((0, 1), (1, 0)):
                if _is_derivative(sub.args[drop]):
                    yield (Cause("activation_derivative", f"extra factor: without ⊙ {show(sub.args[drop])} it matches"
                                                          + t.linear_note(sub.args[drop])),
                           replace(S, path, sub.args[keep]), None)
    for path, sub in walk(S):
        if isinstance(sub, Call) and sub.fn in ("sigmoid", "tanh", "relu") and sub.args:
            fixed = Call("act", sub.args, sub.prime, act)
            yield (Cause("activation", f"{sub.shown}{chr(39) if sub.prime else ''} is not this layer's activation"
                                       f"{t.activation_note(sub.args[0])}: with {show(fixed)} it matches"),
                   replace(S, path, fixed), None)
    for path, sub in walk(S):
        if isinstance(sub, Op) and sub.op in ("matmul", "had") and not any(isinstance(a, Num) for a in sub.args):
            other = "had" if sub.op == "matmul" else "matmul"
            new = replace(S, path, Op(other, sub.args))
            msg = ("a matrix product where the elementwise product ⊙ belongs" if other == "had"
                   else "an elementwise product where a matrix product belongs")
            yield Cause("product", f"{msg}: {show(new)} matches"), new, None


def _under_T(root, path) -> bool:
    parent = path[:-1]
    for p, node in walk(root):
        if p == parent and path:
            return isinstance(node, Op) and node.op == "T"
    return False


def _is_derivative(node) -> bool:
    return any((isinstance(s, Call) and s.prime) or (isinstance(s, Op) and s.op in (">", ">=", "<", "<="))
               or (isinstance(s, Call) and s.fn == "ind") for _, s in walk(node))


def _variable(ns, q) -> str:
    """For dl/dW the symbol W (what the derivative is taken with respect to)."""
    if q is None or not q.deriv:
        return ""
    return q.name.partition("/d")[2] if "/d" in q.name else ns.notation.symbol("pre", q.layer)


def likely_cause(t) -> Cause | None:
    """The first candidate repair that makes the formula equal the derived value everywhere."""
    for cause, formula, namespace in candidates(t):
        if formula is not None and t.matches(formula, namespace):
            return cause
    return None
