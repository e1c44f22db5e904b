"""SymPy -> Numba source for elementwise expressions, with rewrites for numerical stability.

Stage: codegen. Input: a scalar SymPy expression in component symbols
(one component of each vector, ``KroneckerDelta(i, y)``, ``Indicator(f > 0)``,
``Piecewise``) and a map from symbols to the source text that reads them.
Output: one Python expression that Numba compiles (``math.exp``, ``max``,
conditional expressions; numbers as float literals).

Before printing, `stabilize` applies the rows of `derive.simplify.REWRITES` tagged
``stable``: each replaces a form that overflows or cancels in floating point
by an equal one that does not (``Softplus`` and ``Sigmoid`` are printed here).
The reductions (``log(Sum(exp(f[j])))`` and softmax) need loops, so their max
subtraction lives in the emitters; their identities are rows of the table too.

>>> import sympy as sp
>>> from symback.derive.simplify import stabilize
>>> f = sp.Symbol("f", real=True)
>>> NumbaPrinter({f: "F[s, i]"}).doprint(stabilize(sp.log(1 + sp.exp(f))))
'(max(F[s, i], 0.0) + math.log1p(math.exp(-abs(F[s, i]))))'
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.str import StrPrinter

from ..errors import SymbackError
from ..ops import expand_ops

#: SymPy function name -> the Numba-compiled function that computes it (cf. pycode's _known_functions_math)
KNOWN_FUNCTIONS = {name: f"math.{name}" for name in ("exp", "log", "log1p", "expm1", "sqrt", "tanh", "sinh", "cosh",
                                                     "asinh", "atan", "sin", "cos", "erf", "erfc")} | {"Abs": "abs"}


def number(value) -> str:
    """A float literal that round-trips (``0.01``, ``1.4142135623730951``; ``math.inf``, ``math.nan``)."""
    text = repr(float(value))
    return {"inf": "math.inf", "-inf": "-math.inf", "nan": "math.nan"}.get(text, text)


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

    _print_Integer = _print_Rational = _print_Float = _print_NumberSymbol = _print_Pi = _print_Exp1 = _number

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
        return self._number(expr) if expr.is_number else super()._print_Mul(expr)

    def _print_Add(self, expr, order=None):
        return self._number(expr) if expr.is_number else super()._print_Add(expr, order=order)

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

    def _print_MinMaxBase(self, expr):  # Max and Min: numbers first, nested two at a time
        args = sorted(expr.args, key=lambda a: (not a.is_number, sp.default_sort_key(a)))
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{'max' if isinstance(expr, sp.Max) else 'min'}({out}, {self._print(a)})"
        return out

    _print_Max = _print_Min = _print_MinMaxBase

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
        return f"{self.parenthesize(expr.lhs, 40)} {expr.rel_op} {self.parenthesize(expr.rhs, 40)}"

    def _print_And(self, expr):
        return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(not {self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):  # its value at 0 is its second argument (SymPy's default 1/2), as SymPy says
        u, h0 = self._print(expr.args[0]), float(expr.args[1]) if len(expr.args) > 1 else 0.5
        return f"(1.0 if {u} > 0.0 else ({h0!r} if {u} == 0.0 else 0.0))"

    def emptyPrinter(self, expr):
        raise SymbackError(f"codegen: cannot print {type(expr).__name__} {expr} for Numba")


def to_numba(expr: sp.Expr, names: dict) -> str:
    """Source text of `expr`; `names` maps each free symbol to the code that reads it."""
    return NumbaPrinter(names).doprint(expr)
