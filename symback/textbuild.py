"""Syntax tree (`textparse`) -> SymPy objects, the trees SymPy's ``parse_expr`` built, without eval.

With ``evaluate=True`` every operator is Python's operator on SymPy objects,
exactly what ``parse_expr``'s generated code did. With ``evaluate=False`` the
tree is kept as written the way ``parse_expr(..., evaluate=False)`` keeps it:
``a + b - c`` is one ``Add(a, b, Mul(-1, c))``, ``a*b/c`` one ``Mul(a, b,
Pow(c, -1))``, calls get ``evaluate=False``. Numbers are checked on the way:
a power whose result or exponent would be enormous is refused before SymPy
computes it. The walk is iterative, so tree depth costs no recursion.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import sympy as sp

from .errors import SymbackError
from .nonsmooth import Indicator
from .textparse import FLAT, MAX_DIGITS, MAX_EXPONENT, MAX_FLOAT_EXPONENT, Node, ParseError, abbreviate, parse_tree

#: Factors of one product evaluated at once: SymPy's Mul costs more than linear in them (500 take
#: 0.6 s, 4,000 take 80 s), and a product is not reassociated, as a sum is, because a number times a
#: sum distributes only in a two-factor product. Unevaluated (``symback grad``) products have no limit.
MAX_FACTORS = 500

# by name when called, so a variable named gamma or beta stays a variable
_SYMPY_FUNCTIONS = [
    "exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
    "asinh", "acosh", "atanh", "erf", "Abs", "Max", "Min", "sign", "Heaviside", "Piecewise", "floor",
    "ceiling", "atan2", "cbrt",
    # every other elementwise function SymPy differentiates (issue 16)
    "cot", "sec", "csc", "acot", "asec", "acsc", "coth", "sech", "csch", "acoth", "asech", "acsch",
    "erfc", "erfi", "erfinv", "erfcinv", "gamma", "loggamma", "digamma", "trigamma", "polygamma",
    "sinc", "besseli", "besselj", "besselk", "bessely", "Mod",
]

FUNCTIONS: dict[str, object] = {name: getattr(sp, name) for name in _SYMPY_FUNCTIONS}
_SLOW_EXACT = (sp.polygamma, sp.digamma, sp.trigamma)
FUNCTIONS.update({"abs": sp.Abs, "max": sp.Max, "min": sp.Min, "ln": sp.log, "Indicator": Indicator})
# JAX's names (lax.expm1, lax.rsqrt, ...) for functions SymPy spells otherwise: read as SymPy's own forms,
# so a gradient printed back reads with plain sympify
FUNCTIONS.update({
    "expm1": lambda u: sp.exp(u) - 1, "log1p": lambda u: sp.log(1 + u), "rsqrt": lambda u: 1 / sp.sqrt(u),
    "exp2": lambda u: 2**u, "logistic": lambda u: 1 / (1 + sp.exp(-u)), "lgamma": sp.loggamma,
})


def _bound(value, index, what: str):
    """A Sum's `what` bound: an integer (made exact) or an expression of other names (``n``, ``n - 1``)."""
    if not isinstance(value, sp.Expr) or value.has(index):
        raise ParseError(f"Sum's {what} bound for {index} must be an integer or a size such as n, not {value}")
    if value.free_symbols:
        return value
    if not value.is_integer:
        raise ParseError(f"Sum's {what} bound for {index} is {value}, not an integer")
    return sp.Integer(int(value))


def _sum(term, *limits):
    """``Sum(term, (j, 1, n), ...)``, each limit checked: one index name and two integer (or symbolic) bounds."""
    if not isinstance(term, sp.Expr) or not limits:
        raise ParseError("Sum takes a term then (index, first, last) tuples, as in Sum(x[j], (j, 1, n))")
    checked = []
    for lim in limits:
        if not (isinstance(lim, tuple) and len(lim) == 3 and isinstance(lim[0], sp.Symbol)):
            raise ParseError(f"Sum's limit {lim} should be (index, first, last), as in (j, 1, n)")
        checked.append((lim[0], _bound(lim[1], lim[0], "first"), _bound(lim[2], lim[0], "last")))
    return sp.Sum(term, *checked)


FUNCTIONS["Sum"] = _sum
CONSTANTS = {"pi": sp.pi, "E": sp.E}
BOOLEANS = {"True": sp.true, "False": sp.false}
REFUSED_CALLS = {"Matrix": "is not a scalar expression (Matrix); symback grad needs a scalar expression "
                           "(use Network for layers)"}
# the calls parse_expr(..., evaluate=False) gave evaluate=False by name (functions, not classes)
_UNEVALUATED_BY_NAME = ("sqrt", "cbrt")

_PYTHON_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
               "**": operator.pow, "^": operator.pow, "%": operator.mod, "//": operator.floordiv}
# Python's a < b on SymPy values is Lt(a, b); unevaluated, the relation is kept as written
_RELATIONS = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq, "!=": sp.Ne}


def _as_written(cls, *args):
    """``cls(*args, evaluate=False)``; for Expr arguments (no Relational, nothing to sympify) what it makes, without
    the constructor's cache, which hashes every argument again (a fifth of reading a 10^5-term sum)."""
    if all(isinstance(a, sp.Expr) for a in args):
        return cls._exec_constructor_postprocessors(cls._from_args(args))
    return cls(*args, evaluate=False)


# how a flat argument list is built: "Add=" a sum evaluated at once, "Add"/"Mul" kept as written
_FLAT_BUILD = {"Add=": sp.Add, "Add": partial(_as_written, sp.Add), "Mul": partial(_as_written, sp.Mul)}


@dataclass(slots=True)
class _Built:
    """A node's result: a SymPy value, or the flat argument list of an Add/Mul not yet built."""

    value: object = None
    flat: list | None = None
    kind: str | None = None  # a key of _FLAT_BUILD while `flat` is pending
    digits: float | None = None  # size estimate in decimal digits when the subtree is a number, else None
    exact_int: bool = False
    floats: bool = False  # holds a decimal number (Float sums depend on the order of additions)
    factors: int = 1  # factors of the product this is, written as a*b/c...


def _number(node: Node) -> _Built:
    text = node.text
    mantissa = text.lower().split("e")[0].replace(".", "").lstrip("0")  # the significant digits
    if len(mantissa) > MAX_DIGITS:
        raise ParseError(f"the number {abbreviate(text, 30)} has {len(mantissa):,} digits (limit {MAX_DIGITS:,})",
                         node.col)
    if not any(c in text for c in ".eE"):
        return _Built(sp.Integer(int(text)), digits=len(mantissa) or 1, exact_int=True)
    f = float(text)
    if math.isinf(f) or (f == 0 and mantissa):
        raise ParseError(f"the number {abbreviate(text, 30)} is out of range "
                         f"(limit 1e-{MAX_FLOAT_EXPONENT} to 1e{MAX_FLOAT_EXPONENT})", node.col)
    return _Built(sp.Float(text), digits=1, floats=True)


def _magnitude(value) -> float:
    """|value| of a numeric SymPy expression as a float (inf when it cannot be told)."""
    try:
        if value.is_Number:
            return abs(float(value))
        return abs(complex(sp.N(value, 15)))
    except (OverflowError, TypeError, ValueError):
        return math.inf


def _real(value, col: int) -> None:
    """A constant part of an expression is a finite real number: erfinv(3), cbrt(-1), log(0) are refused here,
    where SymPy would go on with an error deep in the derivation, a complex number or zoo."""
    try:
        z = complex(sp.N(value, 15))
    except (ArithmeticError, TypeError, ValueError):
        z = complex(math.nan)
    if not (math.isfinite(z.real) and z.imag == 0):
        raise ParseError(f"the constant {abbreviate(str(value), 60)} is not a real number in float64's range", col)


def slow_exact(value) -> bool:
    """An exact number SymPy's polygamma (digamma, trigamma) would expand term by term: polygamma(0, n) is a harmonic
    number of n terms (1,000 take 0.1 s; 10^6 ran for minutes)."""
    return isinstance(value, sp.Expr) and value.is_Rational and max(abs(value.p), value.q) > 1000


def _known_zero(value, constant: bool, evaluated: bool = True) -> bool:
    """A divisor SymPy knows is zero: ``0``, ``sin(pi)``, and ``y - y`` also when kept as written (unevaluated).
    Structural for symbolic divisors: SymPy's assumption queries cost ~5 ms for each ``y*z - 3``."""
    if not isinstance(value, sp.Expr):
        return False
    if constant:
        return bool(value.is_zero)
    return value == 0 if evaluated else zero_as_written(value)


def zero_as_written(e) -> bool:
    """Whether `e`, kept as written, is 0 once its sums, products and powers are evaluated (``y - y``, ``2*0``)."""
    return isinstance(e, sp.Expr) and _may_cancel(e) and _rebuilt(e) == 0


def _may_cancel(e) -> bool:
    """Whether evaluating `e` could give 0: a literal 0, or a sum with two terms in the same names (y and -y)."""
    for a in sp.preorder_traversal(e):
        if a == 0 or isinstance(a, sp.Add) and len({frozenset(t.free_symbols) for t in a.args}) < len(a.args):
            return True
    return False


def _rebuilt(e):
    """`e` with its sums, products and powers evaluated, bottom-up (y - y as written -> 0)."""
    if e.is_Atom or not isinstance(e, (sp.Add, sp.Mul, sp.Pow)):
        return e
    return e.func(*[_rebuilt(a) for a in e.args])


def _check_digits(digits: float | None, col: int) -> None:
    if digits is not None and digits > MAX_DIGITS:
        raise ParseError(f"a number here would have about {min(digits, 1e18):,.0f} digits (limit {MAX_DIGITS:,})",
                         col)


class Builder:
    """Build SymPy objects from a syntax tree, evaluated or as written."""

    def __init__(self, evaluate: bool, resolve: Callable[[str], object]):
        self.evaluate, self.resolve = evaluate, resolve

    @staticmethod
    def value(b: _Built):
        if b.flat is not None:
            b.value, b.flat = _FLAT_BUILD[b.kind](*b.flat), None
        return b.value

    def _flat(self, b: _Built, kind: str) -> list:
        if b.flat is not None and b.kind == kind:
            flat, b.flat = b.flat, None  # the parent takes the list over: a long sum stays linear
            return flat
        return [self.value(b)]

    def build(self, root: Node):
        done: dict[int, _Built] = {}
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if not expanded and node.args:
                stack.append((node, True))
                stack.extend((a, False) for a in reversed(node.args))
                continue
            done[id(node)] = self._node(node, [done.pop(id(a)) for a in node.args])
        return self.value(done[id(root)])

    def _node(self, node: Node, args: list[_Built]) -> _Built:
        try:
            built = self._make(node, args)
        except (SymbackError, RecursionError):
            raise
        except Exception as exc:  # noqa: BLE001 - SymPy refuses combinations with many exception types
            detail = str(exc).splitlines()[0] if str(exc) else ""
            call = f"{node.text}(...): " if node.kind == "call" else ""
            raise ParseError(f"{call}{type(exc).__name__}: {abbreviate(detail, 100)[1:-1]}", node.col) from None
        built.floats = built.floats or any(a.floats for a in args)
        return built

    def _make(self, node: Node, args: list[_Built]) -> _Built:
        kind, op = node.kind, node.text
        if kind == "num":
            return _number(node)
        if kind == "name":
            if op == "None":
                raise ParseError("None is not a value", node.col)
            return _Built(CONSTANTS[op], digits=1) if op in CONSTANTS else _Built(BOOLEANS.get(op, sp.Symbol(op)))
        numeric = all(a.digits is not None for a in args)
        if kind == "bin" and op not in ("**", "^"):
            return self._arithmetic(node, *args, numeric)
        values = [self.value(a) for a in args]
        if kind == "un":
            return _Built(-values[0] if op == "-" else +values[0], digits=args[0].digits, exact_int=args[0].exact_int)
        if kind == "tuple":
            return _Built(tuple(values))
        if kind == "index":
            return _Built(_indexed(node, values))
        if kind == "call":
            return self._call(node, values, sum(a.digits for a in args) if numeric and args else None)
        if kind == "cmp":
            return _Built(_RELATIONS[op](*values, evaluate=self.evaluate))
        return self._power(node, *args, *values)

    def _arithmetic(self, node: Node, left: _Built, right: _Built, numeric: bool) -> _Built:
        """+ - * / % // : Python's operators when evaluating, else flat Add/Mul lists kept as written."""
        op = node.text
        if op in ("/", "%", "//") and _known_zero(self.value(right), right.digits is not None, self.evaluate):
            raise ParseError(f"division by zero ({op} 0)", node.col)  # SymPy would go on with zoo or nan
        exact_int = numeric and left.exact_int and right.exact_int and op != "/"
        digits = None
        if numeric:
            digits = max(left.digits, right.digits) + 1 if exact_int and op in "+-" else left.digits + right.digits
            _check_digits(digits, node.col)
        if self.evaluate and op in ("+", "-") and not left.floats and not right.floats:
            # one Add of all terms instead of n growing ones (quadratic): exact sums are associative, so
            # this is the sum Python's a + b + c built; products stay pairwise, because SymPy distributes
            # a number over a sum only in a two-factor product, and decimals keep their order of addition
            flat = self._flat(left, "Add=")
            flat.append(self.value(right) if op == "+" else -self.value(right))
            return _Built(flat=flat, kind="Add=", digits=digits, exact_int=exact_int)
        if self.evaluate or op in ("%", "//"):
            factors = left.factors + right.factors if op in ("*", "/") else 1
            if factors > MAX_FACTORS:
                raise ParseError(f"a product of more than {MAX_FACTORS} factors (limit {MAX_FACTORS} here; "
                                 "name partial products as steps)", node.col)
            return _Built(_PYTHON_OPS[op](self.value(left), self.value(right)), digits=digits, exact_int=exact_int,
                          factors=factors)
        kind = FLAT[op]
        flat = self._flat(left, kind)
        if op in ("+", "*"):
            flat.extend(self._flat(right, kind))
        elif op == "-":
            flat.append(sp.Mul(-1, self.value(right), evaluate=False))
        else:
            flat.append(sp.Pow(self.value(right), -1, evaluate=False))
        return _Built(flat=flat, kind=kind, digits=digits, exact_int=exact_int)

    def _power(self, node: Node, left: _Built, right: _Built, base, exp) -> _Built:
        digits = None
        if right.digits is not None:
            size = _magnitude(exp)
            if size > MAX_EXPONENT:
                raise ParseError(f"the exponent is about {size:.3g} (limit {MAX_EXPONENT:,} in absolute value)",
                                 node.col)
            if left.digits is not None:
                rational = base.is_Rational and base.p != 0  # log10 of the larger of numerator and denominator
                size_base = max(math.log10(abs(base.p)), math.log10(base.q)) if rational else max(left.digits, 1)
                digits = math.ceil(size * size_base) + 1
                _check_digits(digits, node.col)
                if base.is_zero and exp.is_negative:
                    raise ParseError("division by zero (0 to a negative power)", node.col)
        if left.digits is None and exp.is_negative and _known_zero(base, False, self.evaluate):
            raise ParseError("division by zero (0 to a negative power)", node.col)
        exact_int = bool(left.exact_int and right.exact_int and exp.is_nonnegative)
        power = base ** exp if self.evaluate else sp.Pow(base, exp, evaluate=False)
        if digits is not None:  # a constant: (-1)^(1/2) is not real
            _real(power if self.evaluate else base ** exp, node.col)
        return _Built(power, digits=digits, exact_int=exact_int)

    def _call(self, node: Node, values: list, digits: float | None) -> _Built:
        fn = self.resolve(node.text)
        if fn in _SLOW_EXACT and values and slow_exact(values[-1]):  # the argument, after polygamma's order
            values = [*values[:-1], sp.Float(values[-1], 30)]  # a decimal instead
        unevaluated = node.text in _UNEVALUATED_BY_NAME or (
            isinstance(fn, type) and issubclass(fn, sp.Basic) and fn is not Indicator)
        kept = unevaluated and not self.evaluate
        value = fn(*values, evaluate=False) if kept else fn(*values)
        if digits is not None:  # a constant: erfinv(3), cbrt(-1), log(0) are not real numbers
            _real(fn(*values) if kept else value, node.col)
        return _Built(value, digits=digits)


def _indexed(node: Node, indices: list) -> sp.Indexed:
    """``W[i, j]``: a component of the array named W, each index a name or a whole number counted from 1."""
    for i in indices:
        if not (isinstance(i, sp.Symbol) or (isinstance(i, sp.Integer) and i >= 1)):
            raise ParseError(f"an index of {node.text} must be a name or a whole number counted from 1 "
                             f"(the first component is {node.text}[1]), not {i}", node.col)
    return sp.IndexedBase(node.text)[tuple(indices)]


def to_sympy(text: str, evaluate: bool, functions: Mapping[str, object],
             unknown: Callable[[str], SymbackError], implicit: bool = False):
    """`text` -> a SymPy object (or tuple); ParseError for text outside the grammar.

    `functions` maps each callable name to its SymPy callable; `unknown(name)`
    is the error for any other ``name(``.
    """
    def is_function(name: str, col: int) -> None:
        if name in REFUSED_CALLS:
            raise ParseError(f"{name}(...) {REFUSED_CALLS[name]}", col)
        if name not in functions:
            raise unknown(name)

    return Builder(evaluate, functions.__getitem__).build(parse_tree(text, is_function, implicit))


def read_expr(value, where: str = "expression", evaluate: bool = True, functions: Mapping[str, object] = FUNCTIONS,
              unknown: Callable[[str], SymbackError] | None = None, implicit: bool = False):
    """A SymPy expression from text (read by the allow-list parser, never run) or from a SymPy/Python value.

    The safe replacement for ``sympy.sympify`` on anything a user may pass as text: sympify evaluates
    strings as Python, and with ``strict=True`` (used here for non-text) it no longer turns arbitrary
    objects into strings to evaluate. `functions` are the names callable in the text; `unknown(name)`
    is the error for any other call (by default naming `where`). ``implicit=True`` reads juxtaposition as a
    product (``2 (x + y)``, ``x y``, and a name that is no function before a bracket), as in hand formulas.
    """
    if isinstance(value, str):
        if not value.strip():
            raise SymbackError(f"{where} is empty")
        unknown = unknown or (lambda name: SymbackError(
            f"unknown function {name[:40]!r} in {where} {abbreviate(value)}"))
        try:
            out = to_sympy(value, evaluate, functions, unknown, implicit)
        except ParseError as exc:
            raise SymbackError(f"could not parse {where} {abbreviate(value)}: {exc.detail}") from None
        if not isinstance(out, sp.Expr):
            raise SymbackError(f"{where} {abbreviate(value)} is not a scalar expression (got {type(out).__name__})")
        return out
    try:
        return sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError, ValueError):
        raise SymbackError(f"{where} {abbreviate(repr(value))} is not a SymPy expression") from None
