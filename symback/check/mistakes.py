"""Which repairs a space tries, in order, and the mistakes that need the namespace's activations and paths.

Stage: check. Like `diagnose`, each repair is one small edit of the student's
formula, found by perturbing it (never by matching its text): a cause is named
only when the edited formula equals the derived value on every point.

==================  ====================================================================
kind                the edit that makes it match
==================  ====================================================================
``twice``           the activation applied to an activation: tanh(a^[1]) -> tanh(z^[1])
``pre_vs_act``      a pre-activation where the activation belongs (z^[1] -> a^[1]), or
                    the reverse
``wrong_activation_derivative``
                    a part whose value is another activation's derivative (sigma'(z) for
                    a tanh layer, written out or not) replaced by the layer's a'(z)
``missing_path``    a DAG: a per-path share added, or a share replaced by the whole sum
``yhat``            ``yhat`` read as the logits (softmax cross-entropy: yhat is p)
``local_factor``    an expression: the value times a missing local factor dq/dx
``missing_decay``   weight decay: a weight's gradient with its lambda W added
``missing_mean_term``, ``missing_variance_term``
                    batch normalisation's input gradient with the term of the batch mean,
                    -gamma sum_b g[b] / (B sigma), or of the variance,
                    -gamma xhat sum_b g[b] xhat[b] / (B sigma), put back
``missing_mean_and_variance_terms``
                    both put back (the gradient as if mu and sigma were constants)
``missing_1_over_B``
                    batch normalisation: the batch sums, or the whole gradient, divided by B
``dropout_scale``,  inverted dropout: the backward times 1/(1 - p), or ⊙ the mask, or both
``dropout_mask``    (`check.dropout`)
(normforms)         layer norm's mean, variance or 1/n term, softmax's sum term (check/normforms.py)
==================  ====================================================================
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..notation import totals
from ..ops import decay_rate
from .diagnose import (
    ACTIVATION_FNS,
    Cause,
    Repair,
    _shifted,
    activation_derivatives,
    activations,
    expression_variables,
    factor_2,
    indices,
    products,
    reduction,
    sign,
    subvalues,
    transposes,
)
from .dropout import dropout
from .formula import Call, Name, Num, Op, function_name, names, replace, show, walk
from .matrix import SCALAR, ShapeError, entrywise
from .normforms import repairs as norm_repairs
from .trial import close

#: activations whose derivative a student may write for another layer's
OTHER_ACTIVATIONS = ("sigmoid", "tanh", "relu")


def _pairs(t):
    """(pre-activation, activation, activation's name, its formula) of every activation, as the formula's batch."""
    return t.space.ns.activated(t.batch)


def _node(ns, name: str):
    q = ns.get(name)
    return None if q is None or q.deriv or q.rows is not None else q.node


def twice(t):
    """An activation function applied to what already is an activation."""
    ns, S = t.space.ns, t.formula
    for path, sub in walk(S):
        if isinstance(sub, Call) and sub.fn in ACTIVATION_FNS and isinstance(sub.args[0], Name):
            for pre, act, label, _ in _pairs(t):
                if _node(ns, sub.args[0].text) == _node(ns, act):
                    fixed = Call(sub.fn, (Name(pre),), sub.prime, sub.shown)
                    yield Repair(Cause("twice", f"the activation applied twice: {act} = {label}({pre}) already is "
                                                f"the activation, so {show(sub)} applies it again; with {show(fixed)} "
                                                "it matches"), replace(S, path, fixed))


def pre_vs_act(t):
    """A pre-activation where the activation belongs (z^[1] for a^[1]), or the activation where z belongs."""
    ns, S = t.space.ns, t.formula
    for path, sub in walk(S):
        if not isinstance(sub, Name):
            continue
        for pre, act, label, _ in _pairs(t):
            if _node(ns, sub.text) == _node(ns, pre):
                msg = f"the pre-activation {sub.text} where the activation {act} = {label}({pre}) belongs"
                yield Repair(Cause("pre_vs_act", f"{msg}: with {act} it matches"), replace(S, path, Name(act)))
            elif _node(ns, sub.text) == _node(ns, act) and act != pre:
                msg = f"the activation {sub.text} where the pre-activation {pre} belongs ({act} = {label}({pre}))"
                yield Repair(Cause("pre_vs_act", f"{msg}: with {pre} it matches"), replace(S, path, Name(pre)))


def wrong_derivative(t):
    """A part whose value is another activation's derivative at a layer's pre-activation, or that derivative
    written with the layer's activation a (1 - a^2 is tanh's, a (1 - a) the sigmoid's)."""
    ns, S = t.space.ns, t.formula
    point = t.points[t.finite[0]]
    parts = list(_parts(S, subvalues(t), lambda node: t.space.evaluate(node, point)))
    for pre, act, label, body in _pairs(t):
        z, a = t.space.evaluate(Name(pre), point), t.space.evaluate(Name(act), point)
        with np.errstate(all="ignore"):
            own = entrywise(body, False)(z)
            candidates = [(f"{o}'({pre})", entrywise(SCALAR[o], False)(z), entrywise(SCALAR[o], True)(z))
                          for o in OTHER_ACTIVATIONS]
            candidates += [(f"{o}'s derivative written with the activation, {form.format(a=act)}", None, value(a))
                           for o, (form, value) in IN_ACTIVATION.items()]
        fn = function_name(label) or "act"
        fixed = Call(fn, (Name(pre),), True, label if fn != "act" else ns.notation.activation_fn)
        for what, value, derivative in candidates:
            if (value is not None and close(value, own)) or close(entrywise(body, True)(z), derivative):
                continue  # the layer's own activation, or its own derivative
            for part, v, edit in parts:
                if v.shape == derivative.shape and close(v, derivative):
                    yield Repair(Cause("wrong_activation_derivative",
                                       f"the wrong activation's derivative: {show(part)} is {what}, but {pre} goes "
                                       f"through {label}; with {show(fixed)} it matches"), edit(fixed))


def _parts(S, values: dict, evaluate):
    """(part, its value at the first point, part -> the formula with it replaced) for every part that is no
    single name: each subterm, and each run of factors of an elementwise product ``a ⊙ b ⊙ c`` (``b ⊙ c`` too)."""
    nodes = dict(walk(S))
    for path, v in values.items():
        if not isinstance(nodes[path], Name):
            yield nodes[path], v, lambda new, path=path: replace(S, path, new)
    for path, sub in nodes.items():
        if not _is_had(sub) or (path and _is_had(nodes[path[:-1]])):
            continue
        factors = _factors(sub)
        for i in range(1, len(factors) - 1):  # the runs a subterm is not already: not starting at the first
            for j in range(i + 2, len(factors) + 1):
                run = _chain(factors[i:j])
                try:
                    with np.errstate(all="ignore"):
                        v = evaluate(run)
                except (ShapeError, SymbackError, KeyError, ValueError, TypeError):
                    continue
                yield run, v, lambda new, i=i, j=j, path=path, factors=factors: replace(
                    S, path, _chain(factors[:i] + [new] + factors[j:]))


def _is_had(node) -> bool:
    return isinstance(node, Op) and node.op == "had"


def _factors(node) -> list:
    """The factors of a left-nested elementwise product, in order."""
    return _factors(node.args[0]) + [node.args[1]] if _is_had(node) else [node]


def _chain(factors: list):
    out = factors[0]
    for f in factors[1:]:
        out = Op("had", (out, f))
    return out


#: another activation's derivative as students write it with the layer's output a
IN_ACTIVATION = {"tanh": ("1 - {a}^2", lambda a: 1 - a ** 2), "sigmoid": ("{a} ⊙ (1 - {a})", lambda a: a * (1 - a))}


def missing_paths(t):
    """A DAG: a gradient that sums one share per use, with a share left out, or one share where the sum belongs."""
    ns, S, q = t.space.ns, t.formula, t.q
    shares = ns.shares(q)
    equations = ns.derivation.equations(ns.notation) if shares or any("(via" in n for n in names(S)) else {}
    listed, uses = " + ".join(s.name for s in shares), [s.name.rpartition("(via ")[2][:-1] for s in shares]
    what = t.lhs.partition("/d")[2]
    for s in shares:
        yield Repair(Cause("missing_path", f"a missing path: {what} is used {len(shares)} times (by "
                                           f"{', '.join(uses)}), so {t.lhs} = {listed}; yours leaves out "
                                           f"{equations.get(s.held, s.name)}"), Op("+", (S, Name(s.name))))
    for path, sub in walk(S):
        share = ns.get(sub.text) if isinstance(sub, Name) else None
        if share is not None and "(via" in share.name:
            whole = next((w for w in ns.quantities.values() if w.deriv and share.held.startswith(w.held + "_via_")),
                         None)
            if whole is not None:
                yield Repair(Cause("missing_path", f"only one path: {share.name} is one use's share; the whole "
                                                   f"{whole.name} belongs ({equations.get(whole.held, '')})"),
                             replace(S, path, Name(whole.name)))


def yhat(t):
    """``yhat`` read as the logits, where it is the probabilities the loss computes from them."""
    ns, S = t.space.ns, t.formula
    logits = ns.logits(t.batch)
    if logits is not None and {"yhat", "Yhat"} & set(names(S)):
        yield Repair(Cause("yhat", f"{ns.yhat_note()}: with {logits} in place of yhat it matches"),
                     _shifted(S, {"yhat": logits, "Yhat": logits}))


def local_factor(t):
    """An expression: one factor of the chain rule's product left out, the local dq/dx or the upstream df/dq."""
    space = t.space
    graph, adjoint = space.derivation.graph, totals(space.derivation.graph)
    var = graph[space.quantity(t.lhs, False)].of
    seeds = {n.name for n in graph.backward() if n.of == space.out}
    for node in graph.forward():
        if var in node.args and node.name in adjoint:
            plain = {s: sp.Symbol(s.name) for s in node.expr.free_symbols}  # the names `space.evaluate` values
            local = sp.diff(node.expr.xreplace(plain), sp.Symbol(var))
            up, upstream = f"d{space.out}/d{node.name}", sp.Symbol(adjoint[node.name])
            expr = graph[adjoint[node.name]].expr
            written = expr.xreplace({s: 1 for s in expr.free_symbols if s.name in seeds})
            if local not in (0, 1):
                yield Repair(Cause("local_factor", f"missing the local factor d{node.name}/d{var} = {local} "
                                                   f"(of {node.name} = {node.expr})"), t.formula * local)
            if written != 1:
                yield Repair(Cause("local_factor", f"missing the upstream factor {up} = {written}: d{space.out}/d{var}"
                                                   f" = {up} × d{node.name}/d{var}"), t.formula * upstream)


def missing_decay(t):
    """Weight decay: a weight's gradient without the lambda W that the penalty lambda/2 ||W||^2 adds."""
    lam = decay_rate(t.space.ns.derivation.graph)
    if lam is not None and lam.is_number and t.q.deriv and t.q.kind == "weight":
        W = t.lhs.partition("/d")[2]
        yield Repair(Cause("missing_decay", f"missing the weight-decay term {lam} {W}: the objective adds {lam / 2} "
                                            f"||{W}||^2, so {t.lhs} gains {lam} {W}"),
                     Op("+", (t.formula, Op("matmul", (Num(float(lam), str(lam)), Name(W))))))


def _batchnorm(ns, q):
    """(gamma, sigma, xhat, upstream) as the namespace names them, if `q` is the input gradient of a batch
    normalisation (``gamma xhat + beta``, xhat = (x - mu) / sigma), else None."""
    g = ns.derivation.graph
    node = g[q.held] if q.deriv and q.held in g else None
    if node is None or node.op != "batch" or len(node.terms) != 1 or node.terms[0].consumer not in g:
        return None
    bn = g[node.terms[0].consumer]
    xhat = next((g[a] for a in bn.args if g[a].meta.kind == "normalized"), None)
    written = {v.held: v.name for v in ns.quantities.values() if not v.alias}
    up = next((v.name for v in ns.quantities.values() if v.deriv and v.held == totals(g).get(bn.name)), None)
    held = [bn.args[0], xhat.args[2], xhat.name] if xhat is not None and up else []
    return [written[h] for h in held] + [up] if held and all(h in written for h in held) else None


def batchnorm_terms(t):
    """Batch normalisation's input gradient gamma / (B sigma) (B g - sum_b g[b] - xhat sum_b g[b] xhat[b]) with
    the mean's term or the variance's left out, or without the 1/B of the batch statistics."""
    names = _batchnorm(t.space.ns, t.q)
    if names is None:
        return
    gamma, sigma, xhat, up = (Name(n) for n in names)
    S, B = t.formula, Name("B")
    scale = Op("matmul", (B, sigma))

    def total(body):
        return Op("/", (Op("had", (gamma, body)), scale))

    mean = total(Call("sum_b", (up,), False, "sum_b"))
    variance = total(Op("had", (xhat, Call("sum_b", (Op("had", (up, xhat)),), False, "sum_b"))))
    yield Repair(Cause("missing_mean_term", f"missing the batch mean's term -{show(mean)}: mu = 1/B sum_b x[b] "
                                            "depends on every sample, this one too"), Op("-", (S, mean)))
    yield Repair(Cause("missing_variance_term", f"missing the batch variance's term -{show(variance)}: sigma "
                                                "depends on every sample, this one too"), Op("-", (S, variance)))
    yield Repair(Cause("missing_mean_and_variance_terms", "missing both terms of the batch statistics: the gradient "
                                                          f"through gamma xhat alone; -{show(mean)} and "
                                                          f"-{show(variance)} belong too"),
                 Op("-", (Op("-", (S, mean)), variance)))
    sums = [path for path, sub in walk(S) if isinstance(sub, Call) and sub.fn == "sum_b"]
    fixed = S
    for path in reversed(sums):  # inner ones first: an edit moves only what lies below its own path
        fixed = replace(fixed, path, Op("/", (dict(walk(fixed))[path], B)))
    why = "the batch mean and variance are 1/B sum_b over the B samples"
    if sums:
        yield Repair(Cause("missing_1_over_B", f"missing 1/B: {why}, so each sum_b carries 1/B"), fixed)
    yield Repair(Cause("missing_1_over_B", f"missing 1/B: {why}; with the whole divided by B it matches"),
                 Op("/", (S, B)))


def network_repairs(t):
    for repairs in (missing_decay, transposes, sign, reduction, factor_2, indices, twice, pre_vs_act,
                    activation_derivatives, activations, wrong_derivative, products, yhat):
        yield from repairs(t)


def dag_repairs(t):
    for repairs in (dropout, batchnorm_terms, transposes, sign, factor_2, missing_paths, norm_repairs, twice, pre_vs_act,
                    activation_derivatives, activations, wrong_derivative, products, yhat):
        yield from repairs(t)


def expression_repairs(t):
    for repairs in (sign, factor_2, local_factor, expression_variables):  # a missing factor explains more
        yield from repairs(t)
