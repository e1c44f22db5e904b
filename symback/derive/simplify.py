"""Simplify a derivation the way a good textbook writes it: one table of tagged rewrites.

The reverse sweep (`derive`) writes each local derivative exactly as SymPy
gives it; every rewrite lives here, as one row of `REWRITES`, never inside a
VJP rule, so ``derive(simplify=False)`` shows SymPy's own derivative. A row
is tagged ``textbook`` (a form the lectures write: sigma' -> h(1 - h),
softmax + cross-entropy -> p - e_y) or ``stable`` (an equal form that does
not overflow or cancel in floating point, selected by the code generator).
Each row is an algebraic fact checked on the expressions at hand, never a
table keyed by activation or loss name; the identity is in its comment.

`fuse` then substitutes a single-use elementwise adjoint into its consumer
where the algebra collapses (sigmoid + BCE -> h - y), and `prune` drops what
no parameter gradient needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import mpmath
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from ..ir import LEAF_OPS, Graph, Meta, Node, sym
from ..nonsmooth import Indicator
from ..ops import Term, expand_ops
from . import compact
from .batchnorm import name_statistics

_POINTS = ("-1.7", "-0.6", "0.3", "1.1", "2.3", "-2.9", "0.8", "1.9")


def _values(expr: sp.Expr, u: sp.Symbol) -> list | None:
    f = sp.lambdify(u, expand_ops(expr), modules="mpmath")
    with mpmath.workdps(50):
        try:
            vals = [mpmath.mpf(f(mpmath.mpf(p))) for p in _POINTS]
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return None
    return vals


_U, _H = sp.Symbol("_u", real=True), sp.Symbol("_h", real=True)
_FOUND: dict[tuple, sp.Expr] = {}  # (activation, derivative) in _u -> the form in _h: every layer asks again


def in_terms_of_output(node: Node, arg: str, local: sp.Expr) -> sp.Expr:
    """`local` = da/df written as a polynomial (degree <= 2) in h = a(f), if it is one."""
    u, h = sym(arg), sym(node.name)
    if node.args != (arg,) or local.free_symbols != {u} or node.expr.free_symbols != {u}:
        return local
    key = (node.expr.xreplace({u: _U}), local.xreplace({u: _U}))
    if key not in _FOUND:
        _FOUND[key] = _polynomial_in_output(key[0], key[1], _U, _H)
    return _FOUND[key].xreplace({_U: u, _H: h})


def _polynomial_in_output(body: sp.Expr, local: sp.Expr, u: sp.Symbol, h: sp.Symbol) -> sp.Expr:
    """The search behind `in_terms_of_output`, on canonical symbols."""
    body = expand_ops(body)  # a registered op is checked through its definition
    if local.has(Indicator, sp.Piecewise, sp.Heaviside, sp.sign, sp.Abs):
        return local  # kinks: I[f > 0] reads better than any rewrite in h
    lv, hv = _values(local, u), _values(body, u)
    if lv is None or hv is None:
        return local
    with mpmath.workdps(50):
        for degree in (1, 2):
            n = degree + 1
            A = mpmath.matrix([[hv[k] ** d for d in range(n)] for k in range(n)])
            try:
                c = mpmath.lu_solve(A, mpmath.matrix(lv[:n]))
            except ZeroDivisionError:
                continue
            coeffs = [sp.nsimplify(sp.Float(str(c[d]), 50), rational=True, tolerance=1e-30) for d in range(n)]
            if any(sp.denom(q) > 1000 for q in coeffs):
                continue
            poly = sum(q * h**d for d, q in enumerate(coeffs))
            fits = all(abs(sum(q * hv[k] ** d for d, q in enumerate(coeffs)) - lv[k]) < mpmath.mpf(10) ** -35
                       for k in range(len(_POINTS)))
            if fits and sp.simplify(poly.xreplace({h: body}) - local) == 0:
                return sp.factor_terms(poly)  # h*(1 - h), 1 - h**2: as the textbooks write them
    return local


@dataclass(frozen=True)
class Rewrite:
    """One row of the table: `apply(graph)` returns the graph with the rewrite done where it matches.

    `tags` say what the row is for: ``textbook`` (the lectures' forms, applied
    by `apply_rewrites`) or ``stable`` (numerically safe forms, for the code
    generator). `identity` is the algebra, as a person would write it.
    """

    name: str
    tags: frozenset
    identity: str
    apply: Callable[[Graph], Graph]
    rule: Callable[[sp.Expr], sp.Expr] | None = None  # an expression-level row (the stable forms)


# -- rows that rewrite a local derivative (an adjoint's terms) ----------------------------------------

def _rewrite_locals(graph: Graph, new_local: Callable[[Node, str, Term], sp.Expr]) -> Graph:
    """Replace each consumer's local derivative ``t.local`` by ``new_local(consumer, arg, t)``.

    The adjoint's expression is rebuilt from its terms (upstream x local)
    when it is their sum, which is how `derive` wrote it.
    """
    for node in graph.backward():
        if not node.terms or node.of is None:
            continue
        terms = []
        for t in node.terms:
            local = new_local(graph[t.consumer], node.of, t) if t.consumer in graph else t.local
            if local is not t.local and local != t.local:
                value = local if t.upstream is None else local * t.upstream
                t = replace(t, local=local, value=value)
            terms.append(t)
        if all(a is b for a, b in zip(terms, node.terms)):
            continue
        if node.expr == sp.Add(*[t.value for t in node.terms]):
            node.expr = sp.Add(*[t.value for t in terms])
            node.args = graph.uses(node.expr)
        node.terms = tuple(terms)
    return graph


def _output_form(consumer: Node, arg: str, t: Term) -> sp.Expr:
    if consumer.op != "ew" or consumer.role != "forward":
        return t.local
    return in_terms_of_output(consumer, arg, t.local)


def _shortest_loss_gradient(consumer: Node, arg: str, t: Term) -> sp.Expr:
    return smallest(t.local) if consumer.op == "loss" else t.local


def _softmax(expr: sp.Expr):
    """exp(f) / Sum(exp(f[j]), (j, 0, n - 1)) with f a vector node -> p."""
    for s in expr.atoms(sp.Sum):
        body, (j, _, hi) = s.function, s.limits[0]
        if isinstance(body, sp.exp) and isinstance(body.args[0], sp.Indexed) and body.args[0].indices == (j,):
            arg = body.args[0].base.name
            pattern = sp.exp(sym(arg)) / s
            if expr.has(pattern):
                node = Node("p", "ew", args=(arg,), expr=pattern, shape=(hi + 1,), meta=Meta(kind="softmax"))
                return expr.subs(pattern, sym("p")), node
    return None


def _sigmoid(expr: sp.Expr):
    """An expression in exp(f) that is rational in sigma(f) = 1/(1 + exp(-f)) -> written in sigma."""
    for e in expr.atoms(sp.exp):
        u = e.args[0]
        if not (u.is_Symbol or (-u).is_Symbol):
            continue
        f = u if u.is_Symbol else -u
        s = sp.Dummy("sigma")
        trial = expr.subs(sp.exp(f), s / (1 - s)).subs(sp.exp(-f), (1 - s) / s)
        if trial.has(f):
            continue
        trial = smallest(sp.cancel(trial))
        if sp.count_ops(trial) < sp.count_ops(expr):
            node = Node("sigma", "ew", args=(f.name,), expr=1 / (1 + sp.exp(-f)), shape=None,
                        meta=Meta(kind="sigmoid"))
            return trial.xreplace({s: sym("sigma")}), node
    return None


def _hoisting(match: Callable[[sp.Expr], tuple[sp.Expr, Node] | None]) -> Callable[[Graph], Graph]:
    """A row that finds a pattern in elementwise adjoints and hoists it into one forward node.

    `match(expr)` returns ``(new_expr, forward_node)``: the forward node (named
    after the pattern) is computed once in the forward pass; `new_expr` uses
    its name.
    """

    def apply(graph: Graph) -> Graph:
        nodes = list(graph)
        for node in list(nodes):
            if node.role != "adjoint" or node.op != "ew":
                continue
            hit = match(node.expr)
            if hit is None:
                continue
            new_expr, new = hit
            names = [n.name for n in nodes]
            same = next((n for n in nodes if n.name == new.name), None)
            if same is not None and (same.expr != new.expr or same.args != new.args):
                k = 2
                while f"{new.name}{k}" in names:
                    k += 1
                new_expr = new_expr.xreplace({sym(new.name): sym(f"{new.name}{k}")})
                new.name = f"{new.name}{k}"
            if new.name not in names:
                new.shape = new.shape or next(n.shape for n in nodes if n.name == new.args[0])
                nodes.insert(max(names.index(a) for a in new.args) + 1, new)
                names = [n.name for n in nodes]
            node.expr = new_expr
            node.args = tuple(sorted({s.name for s in new_expr.free_symbols if s.name in names}, key=names.index))
        return Graph(nodes)

    return apply


TEXTBOOK, STABLE = "textbook", "stable"



# -- stable rows: forms that overflow or cancel in floating point -> equal ones that do not -----------
# (in the spirit of sympy.codegen.rewriting; the code generator applies them with `stabilize`)

class Softplus(sp.Function):
    """softplus(u) = log(1 + exp(u)), printed as max(u, 0) + log1p(exp(-|u|)): never overflows."""

    nargs = 1


class Sigmoid(sp.Function):
    """sigma(u) = 1 / (1 + exp(-u)); exp(-u) = inf gives 0, never NaN."""

    nargs = 1


def _exp_base(e: sp.exp) -> sp.Expr:
    """u with exp(+-u) = e, sign-normalized so that exp(u) and exp(-u) share one u."""
    a = e.args[0]
    return -a if a.could_extract_minus_sign() else a


def _in_t(expr: sp.Expr, u: sp.Expr, t: sp.Symbol) -> sp.Expr:
    return expr.xreplace({sp.exp(u): t, sp.exp(-u): 1 / t})


def _log_of_exp(arg: sp.Expr) -> sp.Expr | None:
    """log(arg) without overflow, when arg is one of t+1, 1/(t+1), t/(t+1) in t = exp(u)."""
    exps = sorted({_exp_base(e) for e in arg.atoms(sp.exp)}, key=sp.default_sort_key)
    if len(exps) != 1:
        return None
    u = exps[0]
    t = sp.Dummy("t", positive=True)
    a = _in_t(arg, u, t)
    if a.has(u) or (u.free_symbols and a.free_symbols & u.free_symbols):
        return None
    a = sp.cancel(a)
    num, den = sp.fraction(a)
    forms = {
        (t + 1, sp.Integer(1)): Softplus(u),  # log(1 + e^u)
        (sp.Integer(1), t + 1): -Softplus(u),  # log(1 / (1 + e^u))
        (t, t + 1): -Softplus(-u),  # log(e^u / (1 + e^u)) = log sigma(u)
        (sp.Integer(1), t): -u,
        (t, sp.Integer(1)): u,
    }
    return forms.get((sp.expand(num), sp.expand(den)))


def _stable_logs(expr: sp.Expr) -> sp.Expr:
    def fix(arg):
        if arg.has(sp.exp):
            better = _log_of_exp(arg)
            if better is not None:
                return better
        if isinstance(arg, sp.Add) and sp.Integer(1) in arg.args:  # log(1 - x) -> log1p(-x)
            return log1p(arg - 1)
        return sp.log(arg)

    return expr.replace(lambda e: isinstance(e, sp.log), lambda e: fix(e.args[0]))


def _sigmoids(expr: sp.Expr) -> sp.Expr:
    """Rational functions of exp(u) that are rational in sigma(u): e^-u/(1 + e^-u)^2 -> sigma(1 - sigma)."""
    for e in sorted(expr.atoms(sp.exp), key=sp.default_sort_key):
        if not e.args[0].free_symbols:
            continue
        u = _exp_base(e)
        t, s = sp.Dummy("t", positive=True), sp.Dummy("s", positive=True)
        in_t = _in_t(expr, u, t)
        if in_t.has(sp.exp(u)) or in_t.has(sp.exp(-u)):
            continue
        trial = sp.factor_terms(sp.cancel(in_t.xreplace({t: s / (1 - s)})))
        if trial.has(t) or trial.has(sp.log):
            continue
        # accept only a polynomial in sigma: 1/(1 - sigma) would overflow just like exp(u)
        if any(p.exp.is_negative and p.base.has(s) for p in trial.atoms(sp.Pow)):
            continue
        expr = trial.xreplace({s: Sigmoid(u)})
    return expr


def _expm1(expr: sp.Expr) -> sp.Expr:
    def fix(add):
        exps = [a for a in add.args if isinstance(a, sp.exp)]
        if sp.Integer(-1) in add.args and exps:
            rest = [a for a in add.args if a is not exps[0] and a != -1]
            return sp.Add(expm1(exps[0].args[0]), *rest)
        return add

    return expr.replace(lambda e: isinstance(e, sp.Add), fix)


def _expression_row(name: str, identity: str, rule: Callable[[sp.Expr], sp.Expr]) -> Rewrite:
    """A ``stable`` row that rewrites every node's expression by `rule` (and offers `rule` alone)."""

    def apply(graph: Graph) -> Graph:
        for node in graph:
            if node.expr is not None and not isinstance(node.expr, sp.MatrixExpr):
                node.expr = rule(node.expr)
        return graph

    return Rewrite(name, frozenset({STABLE}), identity, apply, rule)


STABLE_ROWS = [
    # Sum_j exp(f_j) = e^m Sum_j exp(f_j - m), m = max_j f_j: log-sum-exp and softmax (loops, in emit)
    _expression_row("logsumexp", "log(sum_j exp(f_j)) -> m + log(sum_j exp(f_j - m))", lambda e: e),
    _expression_row("softmax", "exp(f_i) / sum_j exp(f_j) -> exp(f_i - m) / sum_j exp(f_j - m)", lambda e: e),
    # log(1 + e^u) = max(u, 0) + log1p(e^-|u|); log sigma(u) = -softplus(-u); log(1 - sigma(u)) = -softplus(u)
    _expression_row("log_sigmoid", "log(1/(1 + exp(-u))) -> -softplus(-u), log(1 + exp(u)) -> softplus(u)", _stable_logs),
    # exp(u) - 1 loses every digit near u = 0
    _expression_row("expm1", "exp(u) - 1 -> expm1(u)", _expm1),
    # exp(-u)/(1 + exp(-u)) = 1 - sigma(u): no inf/inf at u = -1000
    _expression_row("sigmoid", "rational in exp(u) -> polynomial in sigma(u)", _sigmoids),
]


REWRITES: list[Rewrite] = [
    # a'(f) = P(a(f)) for a polynomial P of degree <= 2, found by solving and verified:
    # sigma' -> h(1 - h), tanh' -> 1 - h^2
    Rewrite("output_form", frozenset({TEXTBOOK}), "a'(f) -> P(h), h = a(f)",
            lambda g: _rewrite_locals(g, _output_form)),
    # the shortest of a few normal forms of a loss gradient: 2*(f - y), not 2*f - 2*y
    Rewrite("loss_gradient", frozenset({TEXTBOOK}), "dl/df_i -> its shortest normal form",
            lambda g: _rewrite_locals(g, _shortest_loss_gradient)),
    # a softmax module's VJP in its output p, a layer normalisation's in xhat and sigma (derive/compact.py)
    Rewrite("softmax_module", frozenset({TEXTBOOK}), "sum_k u_k dp_k/dx_i -> p_i (u_i - sum_k u_k p_k)", compact.softmax),
    Rewrite("layernorm", frozenset({TEXTBOOK}), "dx -> (n u - sum_k u_k - xhat sum_k u_k xhat_k) / (n sigma)",
            compact.layernorm),
    # exp(f_i) / sum_j exp(f_j) = softmax(f)_i: softmax + cross-entropy reads p - onehot(y)
    Rewrite("softmax", frozenset({TEXTBOOK}), "exp(f_i) / sum_j exp(f_j) -> p_i", _hoisting(_softmax)),
    # exp(f) = sigma / (1 - sigma): sigmoid + BCE on logits reads sigma - y
    Rewrite("sigmoid", frozenset({TEXTBOOK}), "exp(f) -> sigma(f) / (1 - sigma(f))", _hoisting(_sigmoid)),
    # batch normalisation in mu, sigma, xhat; sum_b f_b = B mu: dx = gamma/(B sigma) (B g - sum g - xhat sum g xhat)
    Rewrite("batchnorm", frozenset({TEXTBOOK}), "sum_b (f_b - mu) = 0 -> the compact input gradient", name_statistics),
    *STABLE_ROWS,
]


def stabilize(expr: sp.Expr) -> sp.Expr:
    """Registered ops as their definitions, then every ``stable`` row in table order (for the code generator)."""
    expr = expand_ops(expr)
    for row in rows(STABLE):
        expr = row.rule(expr)
    return expr


def rows(tag: str) -> list[Rewrite]:
    """The rows of `REWRITES` carrying `tag`, in table order."""
    return [r for r in REWRITES if tag in r.tags]


def apply_rewrites(graph: Graph, tags: Iterable[str] = (TEXTBOOK,)) -> Graph:
    """Apply, in table order, every row that carries one of `tags` (by default the textbook forms)."""
    wanted = set(tags)
    for row in REWRITES:
        if row.tags & wanted:
            graph = row.apply(graph)
    return graph


def fuse(graph: Graph, keep: set[str]) -> Graph:
    """Substitute single-use elementwise adjoints into their consumer where that shrinks the algebra."""
    for node in graph:
        if node.role != "adjoint" or node.op != "ew":
            continue
        for arg in node.args:
            up = graph[arg]
            if up.role != "adjoint" or up.op != "ew" or arg in keep or graph.consumers(arg) != [node.name]:
                continue
            if up.meta.sum_of_paths:  # its `_via_` paths are named after it: the total stays a node
                continue
            if any(e.base.name == arg for e in node.expr.atoms(sp.Indexed)):  # read across components (u[k])
                continue
            combined = node.expr.xreplace({up.symbol: up.expr})
            if sp.count_ops(combined) > 60:
                continue
            candidate = smallest(combined)
            # fuse only when the algebra collapses: the result is no bigger than either part
            if sp.count_ops(candidate) <= min(sp.count_ops(node.expr), sp.count_ops(up.expr)):
                node.expr = candidate
                node.args = tuple(a for a in graph.names if a in {s.name for s in candidate.free_symbols}
                                  and a != node.name)
                node.meta = replace(node.meta, fused=up.name)
    return Graph(graph)


_SMALLEST: dict[sp.Expr, sp.Expr] = {}


def smallest(expr: sp.Expr) -> sp.Expr:
    """The shortest of a few normal forms of a small elementwise expression (memoised).

    `sympy.simplify` is tried only where the cheap forms leave more than a
    handful of operations (it is the slow one).
    """
    if expr in _SMALLEST:
        return _SMALLEST[expr]
    key = lambda e: (sp.count_ops(e), len(str(e)))
    best = min([expr, sp.factor_terms(expr)], key=key)
    if sp.count_ops(best) > 6 and sp.count_ops(expr) <= 80:
        best = min([best, sp.factor_terms(sp.cancel(sp.together(expr))), sp.simplify(expr)], key=key)
    _SMALLEST[expr] = best
    return best


def prune(graph: Graph, wanted: list[str]) -> Graph:
    """Keep only the nodes the `wanted` ones need (plus every leaf, which the kernels take as input)."""
    live = set(wanted)
    for node in reversed(list(graph)):
        if node.name in live:
            live.update(node.args)
    kept = [n for n in graph if n.name in live or n.op in LEAF_OPS]
    return graph if len(kept) == len(graph) else Graph(kept)  # nothing to drop (a large sum): no copy
