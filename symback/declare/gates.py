"""Gates on demand: named steps rewritten into more named steps, one elementary gate each.

``L = (x*y + z - t)^2`` becomes the lecture's circuit (CS231n lecture 4)
``q = x*y; r = q + z; s = r - t; L = s^2``: a gate per SymPy operation,
with sums and products of several operands folded left into two-input
gates, a subtracted term as one sub gate (``r - t``, not ``r + (-1)·t``),
a division as one div gate (``a/b``, ``1/b`` for a reciprocal), a constant
factor or term as its own gate (``× 2``, ``+ 1``) and a negated sum (SymPy
distributes ``-(a + b)`` into ``-a - b``) as the sum then a ``× -1`` gate.
Every function application (``exp``, ``log``, ``Max``, ...) is one gate of
its operands. Each step's last gate keeps the step's name, so every consumer
(table, narrative, picture, JSON, check) reads the result as ordinary steps.

Generated names are the lecture's letters ``q, r, s, t, u, v, w, a, b, c,
d, g, h, p`` (CS231n's ``q = x + y``): one letter reads as on the slide,
where ``v7`` reads as bookkeeping. A letter is skipped where the program
uses it or a name starting with it (``w`` beside weights ``w0, w1``), and
letters that read as something else are left out (``e`` Euler's number,
``f`` the output, ``i``–``o`` indices and sizes, ``x``–``z`` inputs).
A circuit with more gates than free letters is named ``v1, v2, ...``
throughout, as unnamed intermediates are elsewhere in symback, rather than
mixing two schemes. The walks are iterative, so depth costs no recursion.
"""

from __future__ import annotations

import sympy as sp

from ..ir import Namer
from .expression import operands, rebuild

LETTERS = tuple("qrstuvwabcdghp")


def _symbolic(root: sp.Basic) -> dict:
    """Each subexpression of `root` -> whether it holds a symbol (constants such as ``2*pi`` do not)."""
    has: dict = {}
    stack = [(root, False)]
    while stack:
        e, done = stack.pop()
        if e in has:
            continue
        if done or not e.args:
            has[e] = e.is_Symbol or any(has[a] for a in e.args)
        else:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if a not in has)
    return has


class _Circuit:
    """The gates of one program: each operation's plan, its gates, and the value standing for it."""

    def __init__(self, namer: Namer):
        self.namer, self.gates, self.generated = namer, [], []

    def split(self, name: str, expr: sp.Expr) -> list:
        """The gates of step ``name = expr``, ``(name, expr)`` pairs; the last one is named `name`."""
        self.has, self.gates, memo = _symbolic(expr), [], {}
        stack = [(expr, None)]
        while stack:
            e, plan = stack.pop()
            if e in memo or e.is_Atom or not self.symbolic(e):
                continue
            if plan is None:
                plan = self.plan(e)
                stack.append((e, plan))
                stack.extend((o, None) for o in reversed(plan[1]) if o not in memo)
                continue
            memo[e] = self.emit(e, plan, memo)
        value = memo.get(expr, expr)
        if self.gates and value == sp.Symbol(self.gates[-1][0]):
            self.generated.remove(self.gates[-1][0])
            self.gates[-1] = (name, self.gates[-1][1])  # the step's own gate: the user's name
        else:  # the step is a variable, a constant or an earlier gate (x*1): one node, as written
            self.gates.append((name, value))
        return self.gates

    def symbolic(self, e) -> bool:
        if e not in self.has:  # a term's magnitude, built here: its arguments are known
            self.has[e] = any(self.symbolic(a) for a in e.args)
        return self.has[e]

    def gate(self, expr: sp.Expr) -> sp.Expr:
        """A new gate computing `expr` (operands already gates); an atom (``q*1``) is no gate."""
        if expr.is_Atom:
            return expr
        name = self.namer.fresh()
        self.generated.append(name)
        self.gates.append((name, expr))
        return sp.Symbol(name)

    def fold(self, op, values: list) -> sp.Expr:
        acc = values[0]
        for v in values[1:]:
            acc = self.gate(op(acc, v))
        return acc

    def plan(self, e: sp.Expr) -> tuple:
        """(Add, Mul or None, non-constant operands in the order they are gated, (count of direct ones, constant)).

        A sum's operands are its terms, then the terms it subtracts (``t`` of
        ``-t``); a product's its factors, then the ones it divides by.
        """
        if not (e.is_Add or e.is_Mul):
            return None, [o for o in operands(e) if self.symbolic(o)], None
        split = [(a, self.inverse(e, a)) for a in e.args if self.symbolic(a)]
        top, bottom = [a for a, m in split if m is None], [m for _, m in split if m is not None]
        if e.is_Add and not top:  # -(a + b) as SymPy distributed it: products first, as written
            bottom.sort(key=lambda m: m.is_Atom)
        return e.func, top + bottom, (len(top), e.func(*[a for a in e.args if not self.symbolic(a)]))

    @staticmethod
    def inverse(e: sp.Expr, a: sp.Expr) -> sp.Expr | None:
        """``m`` where the operand `a` of `e` is ``-m`` in a sum (``-t``, ``-2*x*y``) or ``1/m`` in a product."""
        if e.is_Mul:
            return a.base if a.is_Pow and a.exp == -1 else None
        c, rest = a.as_coeff_Mul()
        return None if not c.is_negative else rest if c == -1 else sp.Mul(-c, rest, evaluate=False)

    def emit(self, e: sp.Expr, plan: tuple, memo: dict) -> sp.Expr:
        """The gates computing `e` from its operands' values in `memo`; returns the value standing for `e`."""
        op, inputs, more = plan
        if op is None:
            return self.gate(rebuild(e, memo))
        vals, (count, const), unit = [memo.get(o, o) for o in inputs], more, 0 if op is sp.Add else 1
        top, bottom = vals[:count], vals[count:]
        if top:
            acc = self.fold(op, top)
        elif op is sp.Add and (len(bottom) > 1 or const == 0):  # the sum of the negated terms, then × -1
            acc, bottom = self.gate(-self.fold(sp.Add, bottom)), []
        else:  # 1 - x, 2/x, 1/x: one gate
            acc, const = const, unit
        for b in bottom:
            acc = self.gate(acc - b if op is sp.Add else acc / b)
        return self.gate(op(acc, const)) if const != unit else acc


def split_gates(steps: list[tuple[str, sp.Expr]]) -> list[tuple[str, sp.Expr]]:
    """`steps`, scalar ``(name, expr)`` pairs checked by the front end, each split into elementary gates."""
    names = {n for n, _ in steps} | {s.name for _, e in steps for s in e.free_symbols if isinstance(s, sp.Symbol)}
    circuit = _Circuit(Namer(names))
    gates = [g for n, e in steps for g in circuit.split(n, e)]
    free = [c for c in LETTERS if not any(n.startswith(c) for n in names)]  # w0, w1 taken: no w
    if len(circuit.generated) > len(free):
        return gates
    rename = dict(zip(circuit.generated, free))
    swap = {sp.Symbol(old): sp.Symbol(new) for old, new in rename.items()}
    return [(rename.get(n, n), e.xreplace(swap)) for n, e in gates]
