"""Checking a hand line in index form, as symback prints a conv or pool gradient, against the derivation.

Stage: check. Input: one hand `Equation` whose right side is ``(o, c, u, v) ↦ sum_i, j dl/df_0[o, i, j]
x[c, i + u - 1, j + v - 1]`` (text; ``|->`` for ``↦``, ``sum_{i,j}`` for ``sum_i, j``) and the check's space. Output:
a `report.Result`: equal when the line's array equals the derived one on every random instance and sample,
different with the worst entry and, when one edit of the derived index form gives the line's numbers, the classic
mistake it is (`conv._mistakes`: kernel not flipped, stride ignored, padding off by one, gradient sent to every
pooled input).

The line is read by `formula.tokenize` (the safe lexer: no text is evaluated) and a small recursive descent that
builds SymPy objects: names resolve through the space's namespace to IR arrays (their C x H x W shapes read off
the derivation's index forms); a sum's index ranges over the axis it indexes alone; the free indices range over
the left side's axes. The array is valued by `tensor.value`, the evaluator of every index-form node.
"""

from __future__ import annotations

import math
import re

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..ir import Node
from ..nonsmooth import Indicator
from ..ops import tensor
from ..ops.pool import WindowMax
from ..ops.tensor import IndexForm, index
from .conv import _mistakes
from .diagnose import Cause
from .formula import tokenize
from .report import DIFFERENT, EQUAL, Counterexample, Result
from .spaces import lhs_name
from .trial import close, gap

HEAD = re.compile(r"^\s*\(\s*([a-z](?:\s*,\s*[a-z]){0,7})\s*\)\s*(?:↦|\|->|->)\s*")
SUMS = re.compile(r"sum_\{\s*([a-z](?:\s*,\s*[a-z])*)\s*\}")
MAX_GRID = 10**7  # entries of one line's index grid (free and summed indices, one sample): a hand line, not a bomb
MAX_SUMS = 8  # summed indices in one line (the deepest conv gradient sums three)
RELATIONS = {">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "<": sp.StrictLessThan, "<=": sp.LessThan}


def is_index_form(rhs: str) -> bool:
    return bool(HEAD.match(rhs))


#: the functions a hand line may apply to values or numbers, as SymPy's (never evaluated as Python)
FUNCTIONS = {"max": sp.Max, "min": sp.Min, "sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log, "tanh": sp.tanh}

class _Reader:
    """Recursive descent over the tokens of an index-form body; names resolved by `array(name) -> IndexedBase`."""

    def __init__(self, text: str, where: str, array, free: list):
        self.toks, self.k, self.where, self.array = tokenize(SUMS.sub(r"sum_\1", text), where), 0, where, array
        self.scope, self.sums = {v.name: v for v in free}, 0

    @property
    def tok(self):
        return self.toks[self.k]

    def fail(self, what: str):
        raise SymbackError(f"{self.where}: {what} at column {self.tok.pos + 1} of the index form")

    def take(self, text: str):
        if self.tok.text != text:
            self.fail(f"expected {text!r}, got {self.tok.text or 'the end'!r}")
        self.k += 1

    def parse(self) -> sp.Expr:
        e = self.relation()
        if self.tok.kind != "end":
            self.fail(f"unexpected {self.tok.text!r}")
        return e

    def relation(self) -> sp.Expr:
        e = self.sum()
        if self.tok.kind == "op" and self.tok.value in RELATIONS:
            op = RELATIONS[self.tok.value]
            self.k += 1
            e = op(e, self.sum())
        return e

    def sum(self) -> sp.Expr:
        e = self.product()
        while self.tok.kind == "op" and self.tok.value in "+-":
            sign = 1 if self.tok.value == "+" else -1
            self.k += 1
            e = e + sign * self.product()
        return e

    def product(self) -> sp.Expr:
        e = self.factor()
        while True:
            if self.tok.kind == "op" and self.tok.value in ("*", "⊙"):
                self.k += 1
                e = e * self.factor()
            elif self.tok.kind == "op" and self.tok.value == "/":
                self.k += 1
                e = e / self.factor()
            elif self.tok.kind in ("num", "name") or self.tok.text == "(":
                e = e * self.factor()
            else:
                return e

    def factor(self) -> sp.Expr:
        if self.tok.kind == "op" and self.tok.value == "-":
            self.k += 1
            return -self.factor()
        e = self.atom()
        if self.tok.kind == "op" and self.tok.value == "^":
            self.k += 1
            if self.tok.kind != "num" or not float(self.tok.value).is_integer():
                self.fail("a power must be a whole number")
            e = e ** int(self.tok.value)
            self.k += 1
        return e

    def atom(self) -> sp.Expr:
        tok = self.tok
        if tok.kind == "num":
            self.k += 1
            return sp.Rational(tok.text) if float(tok.value).is_integer() else sp.Float(tok.value)
        if tok.text == "(":
            self.k += 1
            e = self.relation()
            self.take(")")
            return e
        if tok.kind != "name":
            self.fail(f"unexpected {tok.text or 'end'!r}")
        self.k += 1
        name, pick = re.fullmatch(r"(.*?)(?:\[(\d+|[jy])\])?", tok.value).groups()
        if name.startswith("sum_") and not pick:
            return self.summed(name[4:])
        if name in FUNCTIONS and self.tok.text == "(":  # max(...), or sqrt(d) in attention's 1/sqrt(d), ...
            self.k += 1
            args = self.items(")")
            if name not in ("max", "min") and len(args) != 1:
                self.fail(f"{name} takes one argument, got {len(args)}")
            return WindowMax(*args) if name == "max" and len(args) == 1 else FUNCTIONS[name](*args)  # pad: -inf
        if name == "I" and self.tok.text == "[":
            self.k += 1
            cond = self.relation()
            self.take("]")
            if not isinstance(cond, sp.core.relational.Relational):
                self.fail("I[...] needs a comparison, e.g. I[u > 0]")
            return Indicator(cond)
        if pick is not None:
            return self.entry(name, [self.letter(pick) if pick.isalpha() else sp.Integer(pick)])
        if (name in self.scope or re.fullmatch(r"[a-z]", name)) and self.tok.text != "[":
            return self.letter(name)
        if self.tok.text != "[":
            self.fail(f"{name} needs its indices, e.g. {name}[c, i, j]")
        self.k += 1
        return self.entry(name, self.items("]"))

    def items(self, close: str) -> list:
        """Comma-separated expressions up to the bracket `close` (the opening one already read)."""
        out = [self.sum()]
        while self.tok.text == ",":
            self.k += 1
            out.append(self.sum())
        self.take(close)
        return out

    def letter(self, name: str) -> sp.Symbol:
        if name not in self.scope:
            self.fail(f"index {name!r} is neither free (before ↦) nor summed")
        return self.scope[name]

    def entry(self, name: str, idx: list) -> sp.Indexed:
        base = self.array(name)
        if len(idx) != len(base.shape):
            self.fail(f"{name} has {len(base.shape)} indices ({'x'.join(map(str, base.shape))}), not {len(idx)}")
        for i in idx:
            if not i.free_symbols <= set(self.scope.values()) or not sp.Poly(i, *self.scope.values()).is_linear:
                self.fail(f"an index of {name} must be linear in the indices, got {i}")
        return base[tuple(idx)]

    def summed(self, first: str) -> sp.Expr:
        letters = [first]
        while self.tok.text == "," and self.toks[self.k + 1].kind == "name" and len(self.toks[self.k + 1].value) == 1:
            letters.append(self.toks[self.k + 1].value)
            self.k += 2
        self.sums += len(letters)
        if self.sums > MAX_SUMS or not all(re.fullmatch(r"[a-z]", v) for v in letters):
            self.fail(f"sums run over at most {MAX_SUMS} one-letter indices in all, e.g. sum_i, j")
        outer = dict(self.scope)
        self.scope.update({v: index(v) for v in letters})
        body = self.product()
        limits = []
        for v in letters:
            sym = self.scope[v]
            sizes = [int(e.base.shape[k]) for e in body.atoms(sp.Indexed) for k, i in enumerate(e.indices) if i == sym]
            if not sizes:
                self.fail(f"the range of sum index {v} is not fixed: index an array by {v} alone")
            limits.append((sym, 0, min(sizes) - 1))
        self.scope = outer
        return tensor.nested(body, limits)


def _arrays(derivation) -> dict:
    """IR name -> its IndexedBase (with its image shape) as the derivation's index forms read it."""
    out = {}
    for node in derivation.graph:
        if isinstance(node.expr, IndexForm):
            out.update(tensor.bases(node.expr.body))
    return out


def judge_index(eq, space) -> Result:
    """One index-form line against the derived array it names, on every random instance and sample."""
    ns, graph = space.ns, space.derivation.graph
    inst0 = space.insts[0]
    q = ns.lhs(lhs_name(eq.lhs, eq.where, space.loss_symbols), eq.where)
    target = inst0.adjoint(q.node) if q.deriv else q.node
    derived = graph[target].expr if target in graph else None
    if not isinstance(derived, IndexForm):
        raise SymbackError(f"{eq.where}: {q.name} is not an index-form array here; write it as symback prints it")
    head = HEAD.match(eq.rhs)
    letters = [v.strip() for v in head.group(1).split(",")]
    if len(letters) != len(derived.axes):
        raise SymbackError(f"{eq.where}: {q.name} has {len(derived.axes)} indices "
                           f"({', '.join(map(str, derived.indices))}), the line names {len(letters)}")
    free = [index(v, bound=False) for v in letters]
    arrays, irs = _arrays(space.derivation), {}

    def array(name: str) -> sp.IndexedBase:
        r = ns.get(name)
        if r is None or r.rows is not None or r.at_label:
            raise SymbackError(f"{eq.where}: {name!r} is not an array of this network{ns.near(name)}")
        ir = inst0.adjoint(r.node) if r.deriv else r.node
        irs[name] = ir
        return arrays.get(ir) or sp.IndexedBase(ir, shape=(int(np.size(inst0.value(0, ir))),), real=True)

    body = _Reader(eq.rhs[head.end():], eq.where, array, free).parse()
    form = IndexForm(body, list(zip(free, derived.shape)))
    grid = math.prod(int(n) for n in derived.shape) * math.prod(
        int(hi) - int(lo) + 1 for s in body.atoms(sp.Sum) for _, lo, hi in s.limits)
    if grid > MAX_GRID:
        raise SymbackError(f"{eq.where}: the index form spans {grid:,} entries per sample (limit {MAX_GRID:,})")

    points = space.points(False)
    read = set(tensor.bases(body)) | set(tensor.bases(derived.body))
    data = [{b: np.asarray(inst.value(s, b), dtype=float).ravel() for b in read} for inst, s in points]
    got, want = _values(form, data), _values(derived, data)
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if not close(g, w)]
    if not bad:
        return Result(eq.line, eq.lhs, eq.rhs, EQUAL)
    i = max(bad, key=lambda k: gap(got[k], want[k]))
    inst, s = points[i]
    r = int(np.argmax(np.nan_to_num(np.abs(got[i] - want[i]), nan=np.inf)))
    ce = Counterexample(inst.index, s + 1, (r + 1, 1), float(got[i][r, 0]), float(want[i][r, 0]), got[i], want[i])
    return Result(eq.line, eq.lhs, eq.rhs, DIFFERENT, ce, _cause(space.derivation, q.node, derived, got, data))


def _values(form: IndexForm, data: list) -> list:
    """The array `form` at each point (one sample's values of the arrays it reads), as columns."""
    node = Node("line", "index", expr=form, shape=(math.prod(int(n) for n in form.shape),))
    return [tensor.value(node, vals).reshape(-1, 1) for vals in data]


def _cause(derivation, arg: str, derived: IndexForm, got: list, data: list) -> Cause | None:
    """The first classic mistake whose edit of the derived index form gives the line's numbers."""
    fwd = next((n for n in derivation.graph if n.op in ("conv", "pool") and arg in n.args), None)
    if fwd is None:
        return None
    names = {"x": fwd.args[0], "W": fwd.args[1] if fwd.op == "conv" else ""}
    for cause, body in _mistakes(fwd.meta.geometry, arg, derived, names):
        if all(close(g, t) for g, t in zip(got, _values(IndexForm(body, derived.axes), data))):
            return Cause("conv", cause)
    return None
