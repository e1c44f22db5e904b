"""Text to SymPy: expressions, ``name = expr`` programs, points and name lists.

Bare names become symbols (so ``beta``, ``gamma``, ``I``, ``S`` and
``N`` are variables, as in a lecture, not SymPy's special objects); a name
followed by ``(`` must be a known function: SymPy's elementary functions,
``Max``/``Min``/``Abs``, or a named activation (``relu``, ``sigmoid``, ...,
plus any registered with `register_activation`). ``pi`` and ``E`` are the
constants.
"""

from __future__ import annotations

import io
import keyword
import tokenize

import sympy as sp
from sympy.parsing.sympy_parser import parse_expr

from . import library
from .errors import SymbackError
from .nonsmooth import Indicator

_SYMPY_FUNCTIONS = (
    "exp log sqrt sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh erf "
    "Abs Max Min sign Heaviside Piecewise floor ceiling atan2 cbrt"
).split()

FUNCTIONS: dict[str, object] = {name: getattr(sp, name) for name in _SYMPY_FUNCTIONS}
FUNCTIONS.update({"abs": sp.Abs, "max": sp.Max, "min": sp.Min, "ln": sp.log, "Indicator": Indicator,
                  "Matrix": sp.Matrix})  # parsed so that it can be refused with a clear message
CONSTANTS = {"pi": sp.pi, "E": sp.E}
# what parse_expr's generated code calls (numbers, and Add/Mul/Pow when evaluate=False)
_GLOBALS = {n: getattr(sp, n) for n in ("Integer", "Float", "Rational", "Symbol", "Add", "Mul", "Pow")}


def _unevaluated(fn):
    """`fn` called with evaluate=False where it is a SymPy class that accepts it."""
    if isinstance(fn, type) and issubclass(fn, sp.Basic) and fn is not Indicator:
        return lambda *args, **kw: fn(*args, **{**kw, "evaluate": False})
    return fn


def _namespace(text: str, evaluate: bool = True) -> dict:
    """Map every identifier in `text` to a symbol, function or constant."""
    names: dict[str, object] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError) as exc:
        raise SymbackError(f"could not parse {text!r}: {exc.args[0]}") from None
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME or keyword.iskeyword(tok.string):
            continue
        name = tok.string
        is_call = i + 1 < len(tokens) and tokens[i + 1].string == "("
        if is_call:
            names[name] = _function(name, text) if evaluate else _unevaluated(_function(name, text))
        elif name in CONSTANTS:
            names[name] = CONSTANTS[name]
        else:
            names[name] = sp.Symbol(name)
    return names


def _function(name: str, text: str):
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    if name in library.ACTIVATIONS:
        return library.ACTIVATIONS[name]
    known = list(FUNCTIONS) + list(library.ACTIVATIONS)
    raise SymbackError(f"unknown function {name!r} in {text!r}{library.suggest(name, known)}")


def parse_expression(text: str, where: str = "expression", evaluate: bool = True) -> sp.Expr:
    """Parse one SymPy-syntax expression; ``^`` means power, as on paper.

    ``evaluate=False`` leaves the tree as written; the scalar front end
    evaluates it node by node, which keeps deep ``Max`` chains linear (SymPy
    compares each new ``Max`` with its whole subtree).
    """
    if not text.strip():
        raise SymbackError(f"{where} is empty")
    src = text.replace("^", "**")
    try:
        expr = parse_expr(src, local_dict=_namespace(src, evaluate), global_dict=_GLOBALS,
                          evaluate=evaluate)
    except SymbackError:
        raise
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise SymbackError(f"could not parse {where} {text!r}: invalid syntax{col}") from None
    except Exception as exc:  # SymPy raises many types on malformed input
        raise SymbackError(f"could not parse {where} {text!r}: {type(exc).__name__}: {exc}") from None
    if isinstance(expr, (tuple, list, sp.MatrixBase)) or not isinstance(expr, sp.Expr):
        raise SymbackError(f"{where} {text!r} is not a scalar expression (got {type(expr).__name__})")
    return expr


def parse_program(text: str) -> sp.Expr | list[tuple[str, sp.Expr]]:
    """``"(x + y)*z"`` -> an expression; ``"q = x + y; f = q*z"`` -> named steps."""
    parts = [p.strip() for p in text.replace("\n", ";").split(";") if p.strip()]
    if not parts:
        raise SymbackError("expression is empty")
    if not any(_assignment(p) for p in parts):
        if len(parts) > 1:
            raise SymbackError(f"expected one expression or 'name = expr' steps separated by ';', got {text!r}")
        return parse_expression(parts[0], evaluate=False)
    steps = []
    for i, part in enumerate(parts, 1):
        split = _assignment(part)
        if not split:
            raise SymbackError(f"step {i} {part!r}: expected 'name = expression'")
        name, rhs = split
        steps.append((name, parse_expression(rhs, where=f"step {i} ({name})", evaluate=False)))
    return steps


def _assignment(part: str):
    if "=" not in part:
        return None
    name, _, rhs = part.partition("=")
    name = name.strip()
    if rhs.startswith("=") or name.endswith(("<", ">", "!")):
        return None
    if not name.isidentifier() or keyword.iskeyword(name):
        raise SymbackError(f"{name!r} in {part!r} is not a valid name for a step (use a Python identifier)")
    return name, rhs.strip()


def names_in_order(text: str) -> list[str]:
    """Identifiers of `text` in order of first appearance (function names excluded)."""
    return [n for n, v in _namespace(text).items() if isinstance(v, sp.Symbol)]


def parse_names(text: str, option: str = "--wrt") -> list[str]:
    """``"x,y"`` -> ``["x", "y"]``, each a valid identifier."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise SymbackError(f"{option} is empty: give names separated by commas, e.g. {option} x,y")
    for n in names:
        if not n.isidentifier():
            raise SymbackError(f"{option}: {n!r} is not a variable name")
    return names


def parse_point(text: str, option: str = "--at") -> dict[str, sp.Expr]:
    """``"x=-2,y=5,z=1/2"`` -> exact SymPy numbers (integers and fractions stay exact)."""
    point: dict[str, sp.Expr] = {}
    for item in [i.strip() for i in text.split(",") if i.strip()]:
        name, eq, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise SymbackError(f"{option}: {item!r} should look like name=number, e.g. {option} x=-2,y=5")
        if not name.isidentifier():
            raise SymbackError(f"{option}: {name!r} is not a variable name")
        if name in point:
            raise SymbackError(f"{option}: {name!r} is given twice")
        point[name] = number(value, f"{option} {name}")
    if not point:
        raise SymbackError(f"{option} is empty: give values like {option} x=-2,y=5")
    return point


def number(value, where: str) -> sp.Expr:
    """A real number from text or Python: ints and fractions exact, floats as floats."""
    if isinstance(value, bool):
        raise SymbackError(f"{where}: {value!r} is not a number")
    if isinstance(value, str):
        try:
            v = parse_expr(value.replace("^", "**"), local_dict=dict(CONSTANTS), evaluate=True)
        except Exception:
            raise SymbackError(f"{where}: {value!r} is not a number") from None
    else:
        try:
            v = sp.sympify(value)
        except (sp.SympifyError, TypeError):
            raise SymbackError(f"{where}: {value!r} is not a number") from None
    if not isinstance(v, sp.Expr) or v.free_symbols or not v.is_number:
        raise SymbackError(f"{where}: {value!r} is not a number")
    if v.is_real is False or v.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise SymbackError(f"{where}: {value!r} is not a finite real number")
    return v
