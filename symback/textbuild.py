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

import sympy as sp

from .errors import SymbackError
from .nonsmooth import Indicator
from .textparse import MAX_DIGITS, MAX_EXPONENT, MAX_FLOAT_EXPONENT, Node, ParseError, abbreviate, parse_tree

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
FUNCTIONS.update({"abs": sp.Abs, "max": sp.Max, "min": sp.Min, "ln": sp.log, "Indicator": Indicator})
# JAX's names (lax.expm1, lax.rsqrt, ...) for functions SymPy spells otherwise: read as SymPy's own forms,
# so a gradient printed back reads with plain sympify
FUNCTIONS.update({
    "expm1": lambda u: sp.exp(u) - 1, "log1p": lambda u: sp.log(1 + u), "rsqrt": lambda u: 1 / sp.sqrt(u),
    "exp2": lambda u: 2**u, "logistic": lambda u: 1 / (1 + sp.exp(-u)), "lgamma": sp.loggamma,
})
CONSTANTS = {"pi": sp.pi, "E": sp.E}
BOOLEANS = {"True": sp.true, "False": sp.false}
REFUSED_CALLS = {"Matrix": "is not a scalar expression (Matrix); symback grad needs a scalar expression "
                           "(use Network for layers)"}
# the calls parse_expr(..., evaluate=False) gave evaluate=False by name (functions, not classes)
_UNEVALUATED_BY_NAME = ("sqrt", "cbrt")

_PYTHON_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
               "**": operator.pow, "^": operator.pow, "%": operator.mod, "//": operator.floordiv,
               "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
               "==": sp.Eq, "!=": sp.Ne}
_RELATIONS = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq, "!=": sp.Ne}


class _Built:
    """A node's result: a SymPy value, or the flat argument list of an Add/Mul not yet built."""

    __slots__ = ("digits", "exact_int", "factors", "flat", "floats", "kind", "value")

    def __init__(self, value=None, flat=None, kind=None, digits=None, exact_int=False, floats=False):
        self.value, self.flat, self.kind = value, flat, kind
        self.digits = digits  # size estimate in decimal digits when the subtree is a number, else None
        self.exact_int = exact_int
        self.floats = floats  # holds a decimal number (Float sums depend on the order of additions)
        self.factors = 1  # factors of the product this is, written as a*b/c...


def _number(node: Node) -> _Built:
    text = node.text
    if "." in text or "e" in text or "E" in text:
        mantissa = text.lower().split("e")[0].replace(".", "").lstrip("0")
        if len(mantissa) > MAX_DIGITS:
            raise ParseError(f"the number {abbreviate(text, 30)} has {len(mantissa):,} digits "
                             f"(limit {MAX_DIGITS:,})", node.col)
        f = float(text)
        if math.isinf(f) or (f == 0 and mantissa):
            raise ParseError(f"the number {abbreviate(text, 30)} is out of range "
                             f"(limit 1e-{MAX_FLOAT_EXPONENT} to 1e{MAX_FLOAT_EXPONENT})", node.col)
        return _Built(sp.Float(text), digits=1, floats=True)
    digits = len(text.lstrip("0")) or 1
    if digits > MAX_DIGITS:
        raise ParseError(f"the number {abbreviate(text, 30)} has {digits:,} digits (limit {MAX_DIGITS:,})",
                         node.col)
    return _Built(sp.Integer(int(text)), digits=digits, exact_int=True)


def _magnitude(value) -> float:
    """|value| of a numeric SymPy expression as a float (inf when it cannot be told)."""
    try:
        if value.is_Number:
            return abs(float(value))
        return abs(complex(sp.N(value, 15)))
    except (OverflowError, TypeError, ValueError):
        return math.inf


def _too_big(digits: float, col: int) -> ParseError:
    return ParseError(f"a number here would have about {min(digits, 1e18):,.0f} digits (limit {MAX_DIGITS:,})",
                      col)


class Builder:
    """Build SymPy objects from a syntax tree, evaluated or as written."""

    def __init__(self, evaluate: bool, resolve: Callable[[str], object]):
        self.evaluate, self.resolve = evaluate, resolve

    def value(self, b: _Built):
        if b.flat is not None:
            if b.kind == "Add=":  # a sum evaluated at once: SymPy's Add is associative, a+b+c == Add(a, b, c)
                b.value = sp.Add(*b.flat)
            else:
                b.value = (sp.Add if b.kind == "Add" else sp.Mul)(*b.flat, evaluate=False)
            b.flat = None
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
            raise ParseError(f"{type(exc).__name__}: {abbreviate(detail, 100)[1:-1]}", node.col) from None
        built.floats = built.floats or any(a.floats for a in args)
        return built

    def _make(self, node: Node, args: list[_Built]) -> _Built:
        kind = node.kind
        if kind == "num":
            return _number(node)
        if kind == "name":
            if node.text in CONSTANTS:
                return _Built(CONSTANTS[node.text], digits=1)
            if node.text in BOOLEANS:
                return _Built(BOOLEANS[node.text])
            if node.text == "None":
                raise ParseError("None is not a value", node.col)
            return _Built(sp.Symbol(node.text))
        numeric = all(a.digits is not None for a in args)
        if kind == "un":
            x = self.value(args[0])
            return _Built(-x if node.text == "-" else +x, digits=args[0].digits, exact_int=args[0].exact_int)
        if kind == "tuple":
            return _Built(tuple(self.value(a) for a in args))
        if kind == "call":
            return self._call(node, args, numeric)
        left, right = args
        if kind == "cmp":
            if self.evaluate:
                return _Built(_PYTHON_OPS[node.text](self.value(left), self.value(right)))
            return _Built(_RELATIONS[node.text](self.value(left), self.value(right), evaluate=False))
        op = node.text
        if op in ("**", "^"):
            return self._power(node, left, right)
        digits = None
        if numeric:
            both_int = left.exact_int and right.exact_int and op != "/"
            digits = max(left.digits, right.digits) + 1 if both_int and op in "+-" else left.digits + right.digits
            if digits > MAX_DIGITS:
                raise _too_big(digits, node.col)
            exact_int = both_int
        else:
            exact_int = False
        if self.evaluate and op in ("+", "-") and not left.floats and not right.floats:
            # one Add of all terms instead of n growing ones (quadratic): exact sums are associative, so
            # this is the sum Python's a + b + c built; products stay pairwise, because SymPy distributes
            # a number over a sum only in a two-factor product, and decimals keep their order of addition
            flat = self._flat(left, "Add=")
            flat.append(self.value(right) if op == "+" else -self.value(right))
            return _Built(flat=flat, kind="Add=", digits=digits, exact_int=exact_int)
        if self.evaluate and op in ("*", "/"):
            factors = left.factors + right.factors
            if factors > MAX_FACTORS:
                raise ParseError(f"a product of more than {MAX_FACTORS} factors (limit {MAX_FACTORS} here; "
                                 "name partial products as steps)", node.col)
            built = _Built(_PYTHON_OPS[op](self.value(left), self.value(right)), digits=digits, exact_int=exact_int)
            built.factors = factors
            return built
        if self.evaluate or op in ("%", "//"):
            return _Built(_PYTHON_OPS[op](self.value(left), self.value(right)), digits=digits, exact_int=exact_int)
        if op in ("+", "-"):
            flat = self._flat(left, "Add")
            if op == "+":
                flat.extend(self._flat(right, "Add"))
            else:
                flat.append(sp.Mul(-1, self.value(right), evaluate=False))
            return _Built(flat=flat, kind="Add", digits=digits, exact_int=exact_int)
        flat = self._flat(left, "Mul")
        if op == "*":
            flat.extend(self._flat(right, "Mul"))
        else:
            flat.append(sp.Pow(self.value(right), -1, evaluate=False))
        return _Built(flat=flat, kind="Mul", digits=digits, exact_int=exact_int)

    def _power(self, node: Node, left: _Built, right: _Built) -> _Built:
        base, exp = self.value(left), self.value(right)
        digits = None
        if right.digits is not None:
            size = _magnitude(exp)
            if size > MAX_EXPONENT:
                raise ParseError(f"the exponent is about {size:.3g} (limit {MAX_EXPONENT:,} in absolute value)",
                                 node.col)
            if left.digits is not None:
                if base.is_Rational and base.p != 0:  # log10 of the larger of numerator and denominator
                    size_base = max(math.log10(abs(base.p)), math.log10(base.q))
                else:
                    size_base = max(left.digits, 1)
                digits = math.ceil(size * size_base) + 1
                if digits > MAX_DIGITS:
                    raise _too_big(digits, node.col)
        exact_int = bool(left.exact_int and right.exact_int and exp.is_nonnegative)
        if self.evaluate:
            return _Built(base ** exp, digits=digits, exact_int=exact_int)
        return _Built(sp.Pow(base, exp, evaluate=False), digits=digits, exact_int=exact_int)

    def _call(self, node: Node, args: list[_Built], numeric: bool) -> _Built:
        fn = self.resolve(node.text)
        values = [self.value(a) for a in args]
        kwargs = {}
        if not self.evaluate and (node.text in _UNEVALUATED_BY_NAME or (
                isinstance(fn, type) and issubclass(fn, sp.Basic) and fn is not Indicator)):
            kwargs["evaluate"] = False
        try:
            out = fn(*values, **kwargs)
        except (SymbackError, RecursionError):
            raise
        except Exception as exc:  # noqa: BLE001 - SymPy raises many types on wrong arguments
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise ParseError(f"{node.text}(...): {type(exc).__name__}: {abbreviate(detail, 100)[1:-1]}",
                             node.col) from None
        digits = sum(a.digits for a in args) if numeric and args else None
        return _Built(out, digits=digits)


def to_sympy(text: str, evaluate: bool, functions: Mapping[str, object],
             unknown: Callable[[str], SymbackError]):
    """`text` -> a SymPy object (or tuple); ParseError for text outside the grammar.

    `functions` maps each callable name to its SymPy callable; `unknown(name)`
    is the error for any other ``name(``.
    """
    def is_function(name: str, col: int) -> None:
        if name in REFUSED_CALLS:
            raise ParseError(f"{name}(...) {REFUSED_CALLS[name]}", col)
        if name not in functions:
            raise unknown(name)

    tree = parse_tree(text, is_function)
    return Builder(evaluate, functions.__getitem__).build(tree)


def read_expr(value, where: str = "expression", evaluate: bool = True, functions: Mapping[str, object] = FUNCTIONS):
    """A SymPy expression from text (read by the allow-list parser, never run) or from a SymPy/Python value.

    The safe replacement for ``sympy.sympify`` on anything a user may pass as text: sympify evaluates
    strings as Python, and with ``strict=True`` (used here for non-text) it no longer turns arbitrary
    objects into strings to evaluate. `functions` are the names callable in the text.
    """
    if isinstance(value, str):
        if not value.strip():
            raise SymbackError(f"{where} is empty")

        def unknown(name: str) -> SymbackError:
            return SymbackError(f"unknown function {name[:40]!r} in {where} {abbreviate(value)}")

        try:
            out = to_sympy(value, evaluate, functions, unknown)
        except ParseError as exc:
            raise SymbackError(f"could not parse {where} {abbreviate(value)}: {exc.detail}") from None
        if not isinstance(out, sp.Expr):
            raise SymbackError(f"{where} {abbreviate(value)} is not a scalar expression (got {type(out).__name__})")
        return out
    try:
        return sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError, ValueError):
        raise SymbackError(f"{where} {abbreviate(repr(value))} is not a SymPy expression") from None
