"""Front end for scalar expressions: a SymPy expression -> an IR `Graph`.

Two ways in:

- one expression, ``(x + y)*z``: every operation becomes a node named
  ``v1, v2, ...`` in evaluation order and the root is named ``f``; identical
  subexpressions become one node with several consumers;
- named steps, ``[("q", x + y), ("f", q*z)]``: each step is one node with
  the user's name (as the lecture writes ``f_k = beta_k + omega_k h_k``).

A factor like ``-y`` or ``y**2`` or ``1/y`` that merely scales one variable
inside a sum or product stays inline (``x - y`` is one node, ``x/y`` one
node), which keeps the table as short as a person would write it.

The walk is iterative, so a chain thousands of levels deep does not hit
Python's recursion limit.
"""

from __future__ import annotations

import re
from typing import Sequence

import sympy as sp
from sympy.core.function import AppliedUndef

from ..errors import SymbackError
from ..ir import Graph, Namer, Node, combine, make, sym
from ..parse import to_expr

Steps = Sequence[tuple[str, sp.Expr]]


def _check_scalar(expr, where: str) -> sp.Expr:
    if isinstance(expr, (sp.MatrixBase, sp.MatrixExpr)) or getattr(expr, "is_Matrix", False):
        raise SymbackError(f"{where} is a matrix; symback grad needs a scalar expression (use Network for layers)")
    if isinstance(expr, (list, tuple, dict, set)):
        raise SymbackError(f"{where} is a {type(expr).__name__}; symback grad needs one scalar expression")
    expr = to_expr(expr, where, evaluate=False)  # text is read by the safe parser, never run
    if not isinstance(expr, sp.Expr):
        raise SymbackError(f"{where} {expr} is not a scalar expression (a {type(expr).__name__})")
    refused = expr.atoms(sp.Derivative, sp.Integral, AppliedUndef)  # one walk for both checks
    if any(isinstance(a, (sp.Derivative, sp.Integral)) for a in refused):
        raise SymbackError(f"{where} {expr} contains an unevaluated derivative or integral")
    if refused:
        f = sorted(str(a.func) for a in refused)[0]
        raise SymbackError(f"{where} uses the undefined function {f!r}; define it as an expression")
    return expr


def free_symbols(expr: sp.Expr) -> set:
    """``expr.free_symbols`` (not to be changed), found once for the last expression asked: `build_graph` and then
    `grad` ask for the same expression's (the walk of a 10^5-term sum of functions takes 0.6 s)."""
    global _last_free
    held, free = _last_free
    if held is not expr:
        free = expr.free_symbols
        _last_free = (expr, free)
    return free


_last_free: tuple = (None, set())  # (expression, its free symbols), replaced whole: threads see one or the other


def _real(expr: sp.Expr) -> sp.Expr:
    """Replace the user's symbols by real ones of the same name (|x|' = sign(x))."""
    return expr.xreplace({s: sym(s.name) for s in expr.free_symbols if isinstance(s, sp.Symbol)})


def _inline(expr: sp.Expr) -> bool:
    """True for ``c*x``, ``x**c`` with c a number and x a symbol: kept inside its parent."""
    if expr.is_Mul and len(expr.args) == 2:
        a, b = expr.args
        return (a.is_Number and b.is_Symbol) or (b.is_Number and a.is_Symbol)
    if expr.is_Pow:
        return expr.base.is_Symbol and expr.exp.is_Number
    return False


def _add_inputs(graph: Graph, names: set[str], order: Sequence[str] = ()) -> None:
    """Input leaves in the order the user wrote them (`order`), else in natural order."""
    rank = {n: i for i, n in enumerate(order)}
    key = (lambda n: (rank.get(n, len(rank)), natural_key(n))) if rank else natural_key  # the API gives no order
    for name in sorted(names, key=key):
        graph.add(Node(name, "input", shape=()))


def natural_key(name: str) -> str:
    """Sort ``w2`` before ``w10``: the name with each run of digits written as its length, then its digits.

    A string, so the sort compares in C: a list of text and numbers per name made sorting the 2 * 10^5 names of a
    10^5-term sum cost more than linear (0.5 s).
    """
    return _DIGITS.sub(_number_key, name)


def _number_key(match: re.Match) -> str:
    """A run of digits as a NUL (before any letter: ``x1`` before ``x_1``), its length and its digits (``007`` is 7)."""
    digits = match.group()
    digits = (digits if digits.isascii() else str(int(digits))).lstrip("0")
    return f"\0{chr(len(digits) + 1)}{digits}"


_DIGITS = re.compile(r"(\d+)")


def operands(e: sp.Expr) -> tuple:
    """The subexpressions of `e` that become nodes: a Piecewise's branch values, but no condition
    or other argument that is not a number (``Indicator(x > 0)``), which stays inside its node."""
    if isinstance(e, sp.Piecewise):
        return tuple(pair.expr for pair in e.args)
    return e.args if all(isinstance(a, sp.Expr) for a in e.args) else ()


def rebuild(e: sp.Expr, memo: dict, ops: tuple | None = None) -> sp.Expr:
    """`e` over its operands' nodes (`ops`: its `operands`, when known)."""
    if isinstance(e, sp.Piecewise):
        return sp.Piecewise(*[(memo.get(p.expr, p.expr), p.cond.xreplace(memo)) for p in e.args])
    if not (operands(e) if ops is None else ops):
        return e.xreplace(memo)
    args = [memo.get(a, a) for a in e.args]
    return combine(e.func, *args) if e.is_Add or e.is_Mul else make(e.func, args)


def _decompose(expr: sp.Expr, graph: Graph, namer: Namer, memo: dict, root_name: str | None) -> sp.Expr:
    """Add one node per operation of `expr` (post-order, iterative); return the root's stand-in."""
    stack = [(expr, None)]  # (expression, its operands once its operands are on the stack)
    while stack:
        e, ops = stack.pop()
        if e in memo or e.is_Atom:
            continue
        if ops is None:
            ops = operands(e)
            stack.append((e, ops))
            stack.extend((a, None) for a in reversed(ops) if not a.is_Atom and a not in memo)
            continue
        if _inline(e) and e is not expr:
            memo[e] = e.xreplace(memo)
            continue
        body = rebuild(e, memo, ops)
        name = root_name if e is expr and root_name else namer.fresh()
        memo[e] = graph.add(Node(name, "scalar", args=graph.uses(body), expr=body)).symbol
    return memo.get(expr, expr)


def build_graph(source: sp.Expr | Steps, atomize: bool | None = None, order: Sequence[str] = ()) -> tuple[Graph, str]:
    """IR graph of a scalar expression or of named steps; returns (graph, output name).

    With named steps each step is one node unless ``atomize=True``.
    """
    graph = Graph()
    if isinstance(source, (list, tuple)) and source and all(
        isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], (str, sp.Symbol)) for s in source
    ):
        steps = [(str(n), _real(_check_scalar(e, f"step {str(n)!r}"))) for n, e in source]
        step_names = [n for n, _ in steps]
        defined: set[str] = set()
        for n, e in steps:
            if not n.isidentifier():
                raise SymbackError(f"step name {n!r} is not a Python identifier")
            if n in defined:
                raise SymbackError(f"step {n!r} is defined twice; give each intermediate its own name")
            later = {s.name for s in e.free_symbols} & (set(step_names) - defined)
            if later:
                raise SymbackError(f"step {n!r} uses {sorted(later)[0]!r} before it is defined")
            defined.add(n)
        _add_inputs(graph, {s.name for _, e in steps for s in e.free_symbols} - set(step_names), order)
        namer = Namer(graph.names + step_names)
        for n, e in steps:
            if atomize:
                out = _decompose(e, graph, namer, {}, n)
                if n not in graph:  # the step is a bare symbol or number
                    graph.add(Node(n, "scalar", args=tuple(s.name for s in out.free_symbols), expr=out))
            else:
                args = tuple(sorted({s.name for s in e.free_symbols}, key=graph.position))
                graph.add(Node(n, "scalar", args=args, expr=e))
        return graph, steps[-1][0]

    expr = _check_scalar(source, "expression")
    free = free_symbols(expr)
    _add_inputs(graph, {s.name for s in free}, order)
    namer = Namer(graph.names)
    out_name = namer.claim("f")
    if expr.is_Atom or _inline(expr):
        expr = _real(expr)
        graph.add(Node(out_name, "scalar", args=tuple(sorted(s.name for s in expr.free_symbols)), expr=expr))
    else:
        # map the user's symbols to real ones node by node: rebuilding the whole
        # tree at once re-evaluates every Max/Min and is quadratic in depth
        memo = {s: graph[s.name].symbol for s in free}
        _decompose(expr, graph, namer, memo, out_name)
    return graph, out_name
