"""Index notation for `grad`: ``Sum`` over ``Indexed`` components, checked, then lowered or kept symbolic.

A loss written the way a course writes it, ``Sum((Sum(W[i,j]*x[j], (j, 1, 3)) - y[i])**2, (i, 1, 2))/2``:

- with integer bounds every Sum is expanded and each component ``W[1, 2]``
  becomes a scalar leaf named ``W[1,2]`` (its indices as written, 1-based
  in the course's sums), so `grad` derives it like any scalar expression:
  one gradient per component, and no gradient for the array name itself;
- with a symbolic bound (``(j, 1, n)``) nothing can be expanded:
  `IndexGradient` lets SymPy differentiate the Sum by a component
  ``W[k, l]`` and collapses the Kronecker deltas, giving the index form
  ``dL/dW[k,l] = (Sum(W[k, j]*x[j], (j, 1, n)) - y[k])*x[l]``.

Expansion is bounded (`MAX_TERMS`): ``(j, 1, 10**9)`` is refused before any term is made.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from ..derivation import Displayed, _provided, as_document
from ..errors import SymbackError
from ..textparse import abbreviate

#: Terms all the Sums of one expression may expand to (a scalar graph of that many nodes derives in seconds).
MAX_TERMS = 2_000
MAX_SYMBOLIC_OPS = 400  # operations of an expression whose index form SymPy differentiates and simplifies
_FRESH = "klpqrstuvabcdegh"  # names for the index of a component in a symbolic gradient, first unused


def component(base, indices) -> str:
    """The leaf name of one component: ``W[1,2]``."""
    return f"{base}[{','.join(str(i) for i in indices)}]"


def uses_indices(expr) -> bool:
    return isinstance(expr, sp.Basic) and expr.has(sp.Sum, sp.Indexed)


def _limits(expr):
    """(index, first, last) of every Sum of `expr`."""
    return [lim for s in expr.atoms(sp.Sum) for lim in s.limits]


def check(expr: sp.Expr) -> dict[str, int]:
    """Refuse index notation that does not mean one scalar; return each array's number of indices.

    Every index of a component is summed over by an enclosing Sum, no Sum reuses an index of one
    around it, an array keeps its number of indices, and no name is both an index or array and a variable.
    """
    ranks: dict[str, int] = {}
    plain: set[str] = set()
    stack = [(expr, frozenset())]
    while stack:
        e, bound = stack.pop()
        if isinstance(e, sp.Indexed):
            name = e.base.label.name
            if ranks.setdefault(name, len(e.indices)) != len(e.indices):
                raise SymbackError(f"{name} is used with {ranks[name]} and with {len(e.indices)} indices ({e}); "
                                   "give each array one number of indices")
            free = [i for i in e.indices if isinstance(i, sp.Symbol) and i not in bound]
            if free:
                raise SymbackError(f"index {free[0]} of {e} is not summed over: the expression must be one number, "
                                   f"so wrap it in Sum(..., ({free[0]}, first, last))")
            continue
        if isinstance(e, sp.Sum):
            inner = bound
            for v, lo, hi in reversed(e.limits):  # the last limit is the outermost
                if v in inner:
                    raise SymbackError(f"index {v} is summed twice in {e}; give the inner Sum its own index")
                stack += [(lo, inner), (hi, inner)]
                inner = inner | {v}
            stack.append((e.function, inner))
            continue
        if isinstance(e, sp.Symbol):
            if e not in bound:
                plain.add(e.name)
            continue
        stack += [(a, bound) for a in e.args]
    indices = {v.name for v, _, _ in _limits(expr)}
    for name in sorted((set(ranks) | indices) & plain):
        what = "an array" if name in ranks else "a Sum's index"
        raise SymbackError(f"{name} is {what} and also a variable of the expression; give them different names")
    for name in sorted(set(ranks) & indices):
        raise SymbackError(f"{name} is an array and also a Sum's index; give them different names")
    return ranks


def free_indices_ok(expr: sp.Expr) -> bool:
    """Whether `expr` alone is one scalar (no index left free, as in the step ``h = Sum(W[i,j]*x[j], ...)``)."""
    try:
        check(expr)
    except SymbackError:
        return False
    return True


def symbolic(expr: sp.Expr) -> list[str]:
    """The sizes (names in Sum bounds that are no index) of `expr`: empty when every bound is an integer."""
    indices = {v for v, _, _ in _limits(expr)}
    return sorted({s.name for _, lo, hi in _limits(expr) for s in (lo - hi).free_symbols} - {v.name for v in indices})


def _terms(expr: sp.Expr) -> int:
    """Terms the expansion of `expr` makes, counting a bound that depends on an outer index as 1."""
    total, stack = 0, [(expr, 1)]
    while stack:
        e, times = stack.pop()
        if isinstance(e, sp.Sum):
            for _, lo, hi in e.limits:
                times *= max(int(hi - lo + 1), 1) if (hi - lo).is_Integer else 1
            total += times
            stack.append((e.function, times))
        elif e.has(sp.Sum):
            stack += [(a, times) for a in e.args]
    return total


def lower(expr: sp.Expr) -> tuple[sp.Expr, dict[str, sp.Indexed]]:
    """`expr` with integer-bounded Sums expanded and components as leaves; and leaf name -> component.

    Sums and the operations around them are built unevaluated, as the text parser builds them
    (`expression` evaluates node by node: evaluating each term's square here cost seconds).
    """
    budget = [MAX_TERMS]
    leaves: dict[str, sp.Indexed] = {}
    if _terms(expr) > MAX_TERMS:
        raise SymbackError(f"the Sums of {abbreviate(sp.sstr(expr), 60)} expand to {_terms(expr):,} terms "
                           f"(limit {MAX_TERMS:,}); write symbolic bounds such as (j, 1, n) for the index form")

    def expand(s: sp.Sum, env: dict) -> sp.Expr:
        *inner, (v, lo, hi) = s.limits
        lo, hi = lo.xreplace(env), hi.xreplace(env)
        if not (lo.is_Integer and hi.is_Integer):
            raise SymbackError(f"Sum over {v} from {lo} to {hi}: the bounds must be integers here")
        if hi < lo:
            raise SymbackError(f"Sum over {v} from {lo} to {hi} has no terms")
        if lo < 1:
            raise SymbackError(f"Sum over {v} from {lo}: components are counted from 1, so start at ({v}, 1, ...)")
        budget[0] -= int(hi - lo + 1)
        if budget[0] < 0:
            raise SymbackError(f"Sum over {v} from {lo} to {hi} makes more than {MAX_TERMS:,} terms in all; "
                               f"write a symbolic bound such as ({v}, {lo}, n) for the index form")
        body = sp.Sum(s.function, *inner) if inner else s.function
        return sp.Add(*[walk(body, {**env, v: sp.Integer(k)}) for k in range(int(lo), int(hi) + 1)], evaluate=False)

    def walk(e, env: dict):
        """`e` with the indices in `env` set, its Sums expanded and components made leaves."""
        if isinstance(e, sp.Sum):
            return expand(e, env)
        if isinstance(e, sp.Indexed):
            at = tuple(env.get(i, i) for i in e.indices)
            if any(i < 1 for i in at):
                raise SymbackError(f"{e.base[at]}: components are counted from 1 (the first is {e.base[(1,) * len(at)]})")
            name = component(e.base.label, at)
            leaves.setdefault(name, e.base[at])
            return sp.Symbol(name)
        if e in env:
            return env[e]
        if not e.has(sp.Sum, sp.Indexed, *env):
            return e
        args = [walk(a, env) for a in e.args]
        return e.func(*args, evaluate=False) if isinstance(e, (sp.Add, sp.Mul, sp.Pow)) else e.func(*args)

    return walk(expr, {}), leaves


def _in_range(rel, k: sp.Symbol, lo, hi) -> bool:
    """Whether the relation `rel`, linear in `k`, holds at both ends of lo <= k <= hi (so all along)."""
    diff = rel.lhs - rel.rhs
    if not isinstance(rel, (sp.Ge, sp.Le, sp.Gt, sp.Lt)) or not diff.is_polynomial(k) or sp.degree(diff, k) > 1:
        return False
    return all(rel.xreplace({k: end}) is sp.true for end in (lo, hi))


@lru_cache(maxsize=256)
def _derivative(expr: sp.Expr, c: sp.Expr) -> sp.Expr:
    """d expr / d c, the sums done and simplified: SymPy's slowest step, made once for an expression (the CLI's
    --wrt, a page and the API derive the same sum again)."""
    return sp.simplify(sp.diff(expr, c).doit())


class IndexGradient(Displayed):
    """The gradient of a Sum with symbolic bounds by each array (``dL/dW[k,l]``) and scalar variable, in index form.

    `wrt` names arrays and variables (default: all, in `order`, the order the text names them).
    """

    def __init__(self, expr: sp.Expr, output: str, source: str, wrt: list[str] | None = None, order=()):
        check(expr)
        if sp.count_ops(expr) > MAX_SYMBOLIC_OPS:
            raise SymbackError(f"the expression has {sp.count_ops(expr):,} operations; the index form with "
                               f"symbolic bounds is derived for at most {MAX_SYMBOLIC_OPS}")
        self.output, self.source, self.sizes = output, source, symbolic(expr)
        # integer indices and positive integer sizes: SymPy then decides k <= n at k = n
        names = {s.name for s in expr.free_symbols} | {b.label.name for b in expr.atoms(sp.IndexedBase)}
        idx = {v for v, _, _ in _limits(expr)}
        ints = {v: sp.Symbol(v.name, integer=True) for v in idx}
        ints.update({s: sp.Symbol(s.name, integer=True, positive=True) for s in expr.free_symbols
                     if s.name in self.sizes})
        self.expr = expr.xreplace(ints)
        bases = {i.base.label.name: len(i.indices) for i in self.expr.atoms(sp.Indexed)}
        scalars = {s.name: s for s in self.expr.free_symbols if isinstance(s, sp.Symbol)
                   and s.name not in bases and s.name not in self.sizes}
        known = sorted([*bases, *scalars], key=lambda n: (order.index(n) if n in order else len(order), n))
        for w in wrt or ():
            if w not in known:
                raise SymbackError(f"--wrt: {w!r} is not an array or variable of the expression "
                                   f"(its arrays and variables: {', '.join(known)})")
        fresh = [sp.Symbol(c, integer=True) for c in _FRESH if c not in names | {v.name for v in idx}]
        self.gradient: dict[str, sp.Expr] = {}
        self.components: dict[str, sp.Expr] = {}  # "W[k,l]" -> W[k, l]; "lam" -> lam
        for name in wrt or known:
            ks = fresh[:bases.get(name, 0)]
            c = sp.IndexedBase(name)[tuple(ks)] if ks else scalars[name]
            key = component(name, ks) if ks else name
            self.components[key] = c
            self.gradient[key] = self._within(_derivative(self.expr, c), name, ks)
        self.wrt = list(self.gradient)

    def _within(self, d: sp.Expr, base: str, ks) -> sp.Expr:
        """`d` with the conditions that only say a component index is inside its array's range made True."""
        ranges: dict[int, set] = {}  # position -> the (first, last) of every index used there
        for i in self.expr.atoms(sp.Indexed):  # a component named by number (x[1]) is a range of its own
            for p, v in enumerate(i.indices if i.base.label.name == base else ()):
                ranges.setdefault(p, set()).update([(v, v)] if v.is_Integer else [])
        for s in self.expr.atoms(sp.Sum):
            for i in s.function.atoms(sp.Indexed):
                for p, v in enumerate(i.indices if i.base.label.name == base else ()):
                    ranges.setdefault(p, set()).update((lo, hi) for u, lo, hi in s.limits if u == v)
        true = {}
        for rel in d.atoms(sp.Ge, sp.Le, sp.Gt, sp.Lt):
            for p, k in enumerate(ks):
                if rel.free_symbols & set(ks) == {k} and len(ranges.get(p, ())) == 1:
                    lo, hi = next(iter(ranges[p]))
                    if _in_range(rel, k, lo, hi):
                        true[rel] = sp.true
        return d.xreplace(true)

    def at(self, point=None, **values):
        raise SymbackError(f"--at: the Sums have symbolic bounds ({', '.join(self.sizes)}); to evaluate at a point, "
                           "write the sizes as numbers, e.g. (j, 1, 3), and give each component, e.g. W[1,2]=0.5")

    def to_dict(self, expand: bool = False) -> dict:
        """The JSON object of ``symback grad --json`` for index form: each gradient as SymPy text."""
        return {"expr": self.source, "wrt": self.wrt, "sizes": self.sizes,
                "gradient": {w: sp.sstr(e) for w, e in self.gradient.items()}}

    def render(self, format: str = "text", expand: bool = False, standalone: bool = False) -> str:
        """The gradient in index form in `format` (text, unicode, markdown, latex)."""
        return as_document(_provided("render_index_gradient")(self, format), format, standalone)

    def __repr__(self) -> str:
        return f"<IndexGradient of {self.source} with respect to {', '.join(self.wrt)}>"
