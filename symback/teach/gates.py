"""A scalar circuit's gates: the symbol of a one-operation node, and what each gate does to a gradient.

Stage: teaching views. Input: a node's SymPy expression. Output: the gate
symbol drawn in the picture (``+``, ``×``, ``max(0, ·)``) and, for the
common gates, the CS 7643 pattern the narrative names.
"""

from __future__ import annotations

import sympy as sp

from ..evaluate import show

#: SymPy head -> gate symbol, for a node that is one operation of its arguments.
GATES = {sp.Add: "+", sp.Mul: "×", sp.Max: "max", sp.Min: "min", sp.Abs: "|·|", sp.exp: "exp", sp.log: "log"}

#: The CS 7643 patterns in backward flow, keyed by gate symbol.
PATTERNS = {
    "+": "add gate: distributes the upstream gradient unchanged",
    "−": "subtract gate: distributes the upstream gradient, negated for the subtracted input",
    "×": "mul gate: the local gradient is the other input (switcher)",
    "÷": "div gate: the local gradients are 1/b for the numerator a and -a/b² for the denominator b",
    "max": "max gate: routes the upstream gradient to the larger input",
    "max(0, ·)": "ReLU: passes the upstream gradient where the input is positive, else 0",
}


def gate_label(expr: sp.Expr) -> str | None:
    """The gate symbol of a one-operation expression (``+``, ``×``, ``max(0, ·)``), else None."""
    if expr.is_Symbol:
        return "="
    parts = expr.args
    if isinstance(expr, sp.Add) and len(parts) == 2 and sum(p.could_extract_minus_sign() for p in parts) == 1:
        neg = next(p for p in parts if p.could_extract_minus_sign())
        if (-neg).is_Symbol and all(p.is_Symbol for p in parts if p is not neg):
            return "−"
        if (-neg).is_Symbol and all(p.is_Number for p in parts if p is not neg):  # 1 - x
            return f"{show(sum(p for p in parts if p is not neg))} − ·"
    if isinstance(expr, sp.Mul) and len(parts) == 2 and any(p.is_Pow and p.exp == -1 for p in parts) and all(
            p.is_Symbol or p.is_Number or (p.is_Pow and p.exp == -1 and p.base.is_Symbol) for p in parts):
        return "÷"  # a/b, 2/b
    if isinstance(expr, sp.Pow) and expr.base.is_Symbol and expr.exp.is_Number:
        return {-1: "1/·", sp.Rational(1, 2): "√"}.get(expr.exp, f"^{expr.exp}")
    if not all(p.is_Symbol or p.is_Number for p in parts) or not any(p.is_Symbol for p in parts):
        return None
    head = GATES.get(expr.func) or (expr.func.__name__.lower() if isinstance(expr, sp.Function) else None)
    if head is None:
        return None
    consts = [p for p in parts if p.is_Number]  # a constant operand stays visible: + 1, × 2, max(0, ·)
    if not consts:
        return head
    if isinstance(expr, sp.Add):
        c = sp.Add(*consts)
        return f"+ {show(c)}" if c >= 0 else f"− {show(-c)}"
    if isinstance(expr, sp.Mul):
        return f"× {show(sp.Mul(*consts))}"
    return f"{head}(" + ", ".join(show(p) if p.is_Number else "·" for p in parts) + ")"
