"""Text to SymPy: expressions, ``name = expr`` programs, points and name lists.

Bare names become symbols (so ``beta``, ``gamma``, ``I``, ``S``, ``N`` and
even ``lambda`` are variables, as in a lecture, not SymPy's special objects);
a name followed by ``(`` must be a known function: SymPy's elementary
functions, ``Max``/``Min``/``Abs``, or a named activation (``relu``,
``sigmoid``, ..., plus any registered with `register_activation`). ``pi``
and ``E`` are the constants. No text is ever evaluated as Python: `textparse`
reads it against an allow-list grammar and `textbuild` builds the SymPy tree.
"""

from __future__ import annotations

import keyword
import re
from collections import ChainMap

import sympy as sp

from . import library
from .errors import SymbackError
from .textbuild import CONSTANTS, FUNCTIONS, read_expr, to_sympy, zero_as_written
from .textparse import MAX_DIGITS, ParseError, abbreviate, scan_names

__all__ = ["CONSTANTS", "FUNCTIONS", "abbreviate", "names_in_order", "number", "parse_expression",
           "parse_names", "parse_point", "parse_program", "to_expr"]

# FUNCTIONS, then the activations as registered at the time of the lookup
_CALLABLE = ChainMap(FUNCTIONS, library.ACTIVATIONS)


def _unknown(text: str):
    def error(name: str) -> SymbackError:
        hint = library.suggest(name, _CALLABLE)
        if len(hint) > 150:  # the whole list: shortened, the README lists them all
            hint = hint[:140].rsplit(",", 1)[0] + f", ... ({len(_CALLABLE)} functions)"
        return SymbackError(f"unknown function {name[:40]!r} in {abbreviate(text)}{hint}")
    return error


def parse_expression(text: str, where: str = "expression", evaluate: bool = True, implicit: bool = False) -> sp.Expr:
    """Parse one expression; ``^`` means power, as on paper.

    ``evaluate=False`` leaves the tree as written; the scalar front end
    evaluates it node by node, which keeps deep ``Max`` chains linear (SymPy
    compares each new ``Max`` with its whole subtree). ``implicit=True``: juxtaposition is a product.
    """
    if not isinstance(text, str):
        raise SymbackError(f"{where} must be text, got {type(text).__name__}")
    return to_expr(text, where, evaluate, implicit)


def to_expr(value, where: str = "expression", evaluate: bool = True, implicit: bool = False) -> sp.Expr:
    """A SymPy expression from text (read safely, never evaluated as Python) or from a Python/SymPy object.

    For callers that accept either: use it instead of ``sympy.sympify``, which runs text as code.
    Text may call the activations too; `textbuild.read_expr` is the same without them, for `library`.
    """
    return read_expr(value, where, evaluate, _CALLABLE, _unknown(value), implicit)


def parse_program(text: str) -> sp.Expr | list[tuple[str, sp.Expr]]:
    """``"(x + y)*z"`` -> an expression; ``"q = x + y; f = q*z"`` -> named steps."""
    parts = [p.strip() for p in text.replace("\n", ";").split(";") if p.strip()]
    if not parts:
        raise SymbackError("expression is empty")
    splits = [_assignment(p) for p in parts]
    if not any(splits):
        if len(parts) > 1:
            raise SymbackError(f"expected one expression or 'name = expr' steps separated by ';', "
                               f"got {abbreviate(text)}")
        return parse_expression(parts[0], evaluate=False)
    steps = []
    first = {s[0]: k for k, s in reversed(list(enumerate(splits))) if s}  # a step name -> the step first defining it
    for i, (part, split) in enumerate(zip(parts, splits), 1):
        if not split:
            raise SymbackError(f"step {i} {abbreviate(part)}: expected 'name = expression'")
        name, rhs = split
        steps.append((name, parse_expression(rhs, where=f"step {i} ({name})", evaluate=False)))
        # read in the text: SymPy cancels y in y = y - y + x, which then passed the graph's own check
        if later := {n for n in names_in_order(rhs) if first.get(n, -1) >= i - 1}:
            raise SymbackError(f"step {name!r} uses {sorted(later)[0]!r} before it is defined")
    _refuse_zero_divisors(steps, parts)
    return steps


def _refuse_zero_divisors(steps: list, parts: list) -> None:
    """A division (or % and //) by an earlier step that is 0 as written (q = y - y; f = x/q), refused as x/(y - y)
    is (SymPy would go on with zoo); steps' zero-ness is worked out, in order, only once a step divides by one."""
    index = {sp.Symbol(name): k for k, (name, _) in enumerate(steps)}
    zero: set = set()  # the steps before `done` that are 0 as written
    done = 0
    for k, (name, value) in enumerate(steps):
        for node in sp.preorder_traversal(value):
            divisor = (node.base if isinstance(node, sp.Pow) and node.exp.is_negative
                       else node.args[1] if isinstance(node, sp.Mod) else None)
            if divisor is None or not divisor.free_symbols & index.keys():
                continue
            for earlier, step in steps[done:k]:  # in order, no recursion: a chain of 10^4 steps is fine
                if zero_as_written(step.xreplace(dict.fromkeys(step.free_symbols & zero, sp.S.Zero))):
                    zero.add(sp.Symbol(earlier))
            done = max(done, k)
            used = sorted(divisor.free_symbols & zero, key=str)
            if used and zero_as_written(divisor.xreplace(dict.fromkeys(used, sp.S.Zero))):
                raise SymbackError(f"step {k + 1} ({name}): division by zero: {used[0]} is 0 (step "
                                   f"{index[used[0]] + 1} {abbreviate(parts[index[used[0]]], 60)}); "
                                   "divide by something else")


def _assignment(part: str):
    if "=" not in part:
        return None
    name, _, rhs = part.partition("=")
    name = name.strip()
    if rhs.startswith("=") or name.endswith(("<", ">", "!")):
        return None
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
        raise SymbackError(f"{abbreviate(name, 40)} in {abbreviate(part)} is not a valid name for a step "
                           "(use a Python identifier, not a keyword)")
    return name, rhs.strip()


def names_in_order(text: str) -> list[str]:
    """Identifiers of `text` in order of first appearance (function names, constants excluded)."""
    return [n for n in scan_names(text) if n not in CONSTANTS and n not in ("True", "False", "None")]


_COMPONENT = re.compile(r"([^\W\d]\w*)\s*\[\s*(\d+(?:\s*,\s*\d+)*)\s*\]")


def _items(text: str) -> list[str]:
    """`text` split at the commas outside square brackets: ``W[1,2]=3,x=1`` -> ``W[1,2]=3``, ``x=1``."""
    items, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            items.append(text[start:k])
            start = k + 1
    return [i.strip() for i in [*items, text[start:]] if i.strip()]


def _name(text: str, option: str) -> str:
    """A variable name, or a component such as ``W[1, 2]`` written as its leaf name ``W[1,2]``."""
    m = _COMPONENT.fullmatch(text)
    if m:
        return f"{m[1]}[{','.join(i.strip() for i in m[2].split(','))}]"
    if not text.isidentifier():
        raise SymbackError(f"{option}: {abbreviate(text, 40)} is not a variable name")
    return text


def parse_names(text: str, option: str = "--wrt") -> list[str]:
    """``"x,y"`` -> ``["x", "y"]``, each a valid identifier or a component such as ``W[1,2]``."""
    names = _items(text)
    if not names:
        raise SymbackError(f"{option} is empty: give names separated by commas, e.g. {option} x,y")
    return [_name(n, option) for n in names]


#: characters of one point (``--at``): thousands of components fit; a longer text is refused before any parsing
MAX_POINT = 100_000


def point_length(text: str, option: str = "--at") -> None:
    """Refuse a point's text on its length alone (600,000 characters took 7 s of parsing before failing)."""
    if len(text) > MAX_POINT:
        raise SymbackError(f"{option} has {len(text):,} characters (limit {MAX_POINT:,}); give one number per variable")


def parse_point(text: str, option: str = "--at") -> dict[str, sp.Expr]:
    """``"x=-2,y=5,z=1/2"`` -> exact SymPy numbers (integers and fractions stay exact); ``W[1,2]=3`` names a component."""
    point_length(text, option)
    point: dict[str, sp.Expr] = {}
    for item in _items(text):
        name, eq, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise SymbackError(f"{option}: {abbreviate(item, 40)} should look like name=number, "
                               f"e.g. {option} x=-2,y=5")
        name = _name(name, option)
        if name in point:
            raise SymbackError(f"{option}: {name!r} is given twice")
        point[name] = number(value, f"{option} {name}")
    if not point:
        raise SymbackError(f"{option} is empty: give values like {option} x=-2,y=5")
    return point


def number(value, where: str) -> sp.Expr:
    """A real number from text or Python: ints and fractions exact, floats as floats."""
    if isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        raise SymbackError(f"{where}: {value!r} is not a number")
    if isinstance(value, str):
        bad = f"{where}: {abbreviate(value, 40)} is not a number"
        try:
            v = to_sympy(value, True, _CALLABLE, lambda _: SymbackError(f"{bad} (unknown function)"))
        except ParseError as exc:
            raise SymbackError(f"{bad} ({exc.detail})") from None
    else:
        try:
            v = sp.sympify(value, strict=True)
        except (sp.SympifyError, TypeError, ValueError):
            raise SymbackError(f"{where}: {_shown(value)} is not a number") from None
    if not isinstance(v, sp.Expr) or v.free_symbols or not v.is_number:
        raise SymbackError(f"{where}: {_shown(value)} is not a number")
    if v.is_real is False or v.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise SymbackError(f"{where}: {_shown(value)} is not a finite real number")
    size = max(abs(v.p), v.q) if v.is_Rational else abs(v) if v.is_Float else 0
    if size >= _HUGE:  # Python prints at most 4,300 digits: refused here, not when the table is printed
        raise SymbackError(f"{where}: a number of more than {MAX_DIGITS:,} digits (limit {MAX_DIGITS:,})")
    return v


_HUGE = 10**MAX_DIGITS


def _shown(value) -> str:
    """`value` for a message: text quoted and shortened, other values as their repr, shortened."""
    if isinstance(value, str):
        return abbreviate(value, 40)
    try:
        r = repr(value)
    except ValueError:  # an int past Python's 4,300 printable digits
        return f"a {type(value).__name__} too long to print"
    return r if len(r) <= 40 else abbreviate(r, 40)[1:-1]
