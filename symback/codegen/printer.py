"""SymPy -> Numba source for elementwise expressions, with rewrites for numerical stability.

Stage: codegen. Input: a scalar SymPy expression in component symbols
(one component of each vector, ``KroneckerDelta(i, y)``, ``Indicator(f > 0)``,
``Piecewise``) and a map from symbols to the source text that reads them.
Output: one Python expression that Numba compiles (``math.exp``, ``max``,
conditional expressions; numbers as float literals).

Before printing, `stabilize` applies `REWRITES`, a table of (name, identity,
rule) rows in the spirit of ``sympy.codegen.rewriting``: each row replaces a
form that overflows or cancels in floating point by an equal one that does
not. The reductions (``log(Sum(exp(f[j])))`` and softmax) need loops, so
their max subtraction lives in `emit`; the identities are listed here too.

>>> import sympy as sp
>>> f = sp.Symbol("f", real=True)
>>> NumbaPrinter({f: "F[s, i]"}).doprint(stabilize(sp.log(1 + sp.exp(f))))
'(max(F[s, i], 0.0) + math.log1p(math.exp(-abs(F[s, i]))))'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.printing.str import StrPrinter

from ..errors import SymbackError
from ..nonsmooth import Indicator
from ..ops import expand_ops

#: SymPy function name -> the Numba-compiled function that computes it (cf. pycode's _known_functions_math)
KNOWN_FUNCTIONS = {
    "exp": "math.exp",
    "log": "math.log",
    "log1p": "math.log1p",
    "expm1": "math.expm1",
    "sqrt": "math.sqrt",
    "tanh": "math.tanh",
    "sinh": "math.sinh",
    "cosh": "math.cosh",
    "asinh": "math.asinh",
    "atan": "math.atan",
    "sin": "math.sin",
    "cos": "math.cos",
    "erf": "math.erf",
    "erfc": "math.erfc",
    "Abs": "abs",
}


class Softplus(sp.Function):
    """softplus(u) = log(1 + exp(u)), printed as max(u, 0) + log1p(exp(-|u|)): never overflows."""

    nargs = 1


class Sigmoid(sp.Function):
    """sigma(u) = 1 / (1 + exp(-u)); exp(-u) = inf gives 0, never NaN."""

    nargs = 1


@dataclass(frozen=True)
class Rewrite:
    """One stabilizing rewrite: `rule(expr)` returns the rewritten expression (unchanged if no match)."""

    name: str
    identity: str
    rule: Callable[[sp.Expr], sp.Expr]


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


REWRITES: list[Rewrite] = [
    # Sum_j exp(f_j) = e^m Sum_j exp(f_j - m), m = max_j f_j: log-sum-exp and softmax (loops, in emit)
    Rewrite("logsumexp", "log(sum_j exp(f_j)) -> m + log(sum_j exp(f_j - m))", lambda e: e),
    Rewrite("softmax", "exp(f_i) / sum_j exp(f_j) -> exp(f_i - m) / sum_j exp(f_j - m)", lambda e: e),
    # log(1 + e^u) = max(u, 0) + log1p(e^-|u|); log sigma(u) = -softplus(-u); log(1 - sigma(u)) = -softplus(u)
    Rewrite("log_sigmoid", "log(1/(1 + exp(-u))) -> -softplus(-u), log(1 + exp(u)) -> softplus(u)", _stable_logs),
    # exp(u) - 1 loses every digit near u = 0
    Rewrite("expm1", "exp(u) - 1 -> expm1(u)", _expm1),
    # exp(-u)/(1 + exp(-u)) = 1 - sigma(u): no inf/inf at u = -1000
    Rewrite("sigmoid", "rational in exp(u) -> polynomial in sigma(u)", _sigmoids),
]


def stabilize(expr: sp.Expr) -> sp.Expr:
    """Registered ops as their definitions, then every rewrite of `REWRITES` in order."""
    expr = expand_ops(expr)
    for rw in REWRITES:
        expr = rw.rule(expr)
    return expr


def number(value) -> str:
    """A float literal that round-trips (``0.01``, ``1.4142135623730951``)."""
    v = float(value)
    text = repr(v)
    if text in ("inf", "-inf", "nan"):
        return {"inf": "math.inf", "-inf": "-math.inf", "nan": "math.nan"}[text]
    return text


class NumbaPrinter(StrPrinter):
    """Python source of a scalar expression, for Numba; `names` says how each symbol is read."""

    printmethod = "_numbacode"

    def __init__(self, names: dict, settings=None):
        super().__init__(settings or {})
        self.names = names

    def _print_Symbol(self, expr):
        if expr in self.names:
            return self.names[expr]
        raise KeyError(f"codegen: no source for symbol {expr.name!r}")

    _print_Dummy = _print_Symbol

    def _print_DefinedOp(self, expr):  # a user's registered op (sb.register_op): its definition
        return self._print(expand_ops(expr))

    def _number(self, expr):
        return number(expr)

    def _print_Integer(self, expr):
        return self._number(expr)

    def _print_Rational(self, expr):
        return self._number(expr)

    def _print_Float(self, expr):
        return self._number(expr)

    def _print_NumberSymbol(self, expr):
        return self._number(expr)

    _print_Pi = _print_Exp1 = _print_NumberSymbol

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    def _print_Pow(self, expr, rational=False):
        base, e = expr.args
        if base.is_number and e.is_number:
            return self._number(expr)
        b = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Pow"])
        if e == sp.Rational(1, 2):
            return f"math.sqrt({self._print(base)})"
        if e == -sp.Rational(1, 2):
            return f"(1.0/math.sqrt({self._print(base)}))"
        if e.is_Integer and 1 <= e <= 4:
            return "(" + "*".join([b] * int(e)) + ")"
        if e.is_Integer and -4 <= e <= -1:
            return "(1.0/(" + "*".join([b] * int(-e)) + "))"
        return f"({b}**{self._print(e)})"

    def _print_Mul(self, expr):
        if expr.is_number:
            return self._number(expr)
        return super()._print_Mul(expr)

    def _print_Add(self, expr, order=None):
        if expr.is_number:
            return self._number(expr)
        return super()._print_Add(expr, order=order)

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in KNOWN_FUNCTIONS:
            return f"{KNOWN_FUNCTIONS[name]}({', '.join(self._print(a) for a in expr.args)})"
        raise SymbackError(f"codegen: no Numba function for {name}() in {expr}; write the activation with "
                           "elementary functions (exp, log, tanh, erf, ...)")

    def _print_Softplus(self, expr):
        u = self._print(expr.args[0])
        return f"(max({u}, 0.0) + math.log1p(math.exp(-abs({u}))))"

    def _print_Sigmoid(self, expr):
        return f"(1.0/(1.0 + math.exp(-{self.parenthesize(expr.args[0], 60)})))"

    def _minmax(self, fn, args):
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{fn}({out}, {self._print(a)})"
        return out

    def _print_Max(self, expr):
        args = sorted(expr.args, key=lambda a: (not a.is_number, sp.default_sort_key(a)))
        return self._minmax("max", args)

    def _print_Min(self, expr):
        args = sorted(expr.args, key=lambda a: (not a.is_number, sp.default_sort_key(a)))
        return self._minmax("min", args)

    def _print_sign(self, expr):
        u = self._print(expr.args[0])
        return f"(1.0 if {u} > 0.0 else (-1.0 if {u} < 0.0 else 0.0))"

    def _print_Indicator(self, expr):
        return f"(1.0 if {self._print(expr.args[0])} else 0.0)"

    def _print_KroneckerDelta(self, expr):
        a, b = expr.args
        return f"(1.0 if {self._print(a)} == {self._print(b)} else 0.0)"

    def _print_Piecewise(self, expr):
        out = None
        for value, cond in reversed(expr.args):
            v = self._print(value)
            if out is None:
                out = v if cond == sp.true else f"({v} if {self._print(cond)} else math.nan)"
            else:
                out = f"({v} if {self._print(cond)} else {out})"
        return out

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return f"{self.parenthesize(expr.lhs, 40)} {op} {self.parenthesize(expr.rhs, 40)}"

    def _print_And(self, expr):
        return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(not {self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):
        return f"(1.0 if {self._print(expr.args[0])} > 0.0 else 0.0)"

    def emptyPrinter(self, expr):
        raise SymbackError(f"codegen: cannot print {type(expr).__name__} {expr} for Numba")


def to_numba(expr: sp.Expr, names: dict) -> str:
    """Source text of `expr`; `names` maps each free symbol to the code that reads it."""
    return NumbaPrinter(names).doprint(expr)


__all__ = ["KNOWN_FUNCTIONS", "REWRITES", "Indicator", "NumbaPrinter", "Rewrite", "Sigmoid", "Softplus",
           "stabilize", "to_numba"]
