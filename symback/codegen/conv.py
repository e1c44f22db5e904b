"""Direct loops for index-form nodes (convolutions, pooling and their derived gradients), from their expressions.

Stage: codegen. Input: a node whose value is an `IndexForm` (``conv``, ``pool``, ``index``). Output: an
`IndexStep` the plan schedules, and its Numba source: per sample, one loop per free index, one per summation
index, the body printed from the derived expression itself (no template per op). An entry read outside its array
(zero padding, or a fractional index from a strided gradient) is a conditional expression: 0, or -inf as an
argument of ``Max`` (max-pooling's padding). Images are read flat, row-major; a kernel as its parameter matrix
row o, column (c, u, v) flattened.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass

import sympy as sp

from ..errors import SymbackError
from ..ir import Node
from ..ops.tensor import IndexForm, bases
from .printer import to_numba

#: the least extent of an output's last axis for which the sums go outside it (`emit`). Measured (CPU time of one
#: LeNet SGD step, batch 64, BLAS 1 thread, 2026-12-03): 26.6 ms with the serial sums only, 15.2 ms from 8,
#: 29.9 ms from 16, 12.8 ms from 2 (a kernel's 5 columns gain too); digits CNN 0.39 -> 0.24 ms from 2
OUTER_SUM = 2


@dataclass
class IndexStep:
    node: str
    form: IndexForm
    grad: str | None  # the parameter whose gradient this node sums into, or None for a per-sample value
    gemm: object = None  # its GEMM form (`im2col.Conv`), if it is a convolution's value or gradient

    def reads(self) -> set[str]:
        return set(bases(self.form.body)) - {self.node}

    def writes(self) -> list[str]:
        return [] if self.grad else [self.node]


def index_step(node: Node, grad_of: dict) -> IndexStep:
    return IndexStep(node.name, node.expr, grad_of.get(node.name))


def _ints(shape, where: str) -> tuple:
    if not all(sp.sympify(n).is_Integer for n in shape):
        raise SymbackError(f"codegen: {where}: size {shape} is a symbol; give the image integer sizes to compile it")
    return tuple(int(n) for n in shape)


def _flat(codes: list[str], shape: tuple) -> str:
    """Row-major offset of an entry: ``(c*H + m)*W + n``."""
    out = codes[0]
    for code, n in zip(codes[1:], shape[1:]):
        out = f"({out})*{n} + {code}"
    return out


class _Printer:
    """The source text of an index-form expression inside one layout's loops."""

    def __init__(self, layout, names: dict, ranges: dict):
        self.layout, self.names, self.ranges = layout, names, ranges  # ranges: index -> (first, last) value
        self.safe: set = set()  # (index, axis size) pairs the loop bounds keep inside
        self.guarded: set = set()  # factors of a term whose tests guard the whole term (`guard`)
        self.stepped: set = set()  # (numerator, q) pairs whole by their loop's step (`_steps`): not tested

    def guard(self, core: sp.Expr) -> str:
        """The tests of the term's entry factors, joined: where one fails that factor reads 0, so the product is 0
        and the term is skipped rather than valued (a strided gradient's gaps, the max gate's other windows)."""
        tests = []
        for f in sp.Mul.make_args(core):
            if isinstance(f, sp.Indexed):
                tests += self.parts(f)[1]
                self.guarded.add(f)
        return " and ".join(dict.fromkeys(tests))

    def code(self, e: sp.Expr) -> str:
        return str(sp.expand(e).xreplace({v: sp.Symbol(self.names[v]) for v in e.free_symbols}))

    def index(self, e: sp.Expr) -> tuple[str, str | None, int]:
        """(the integer index, the test that it is an integer, its denominator) of one index expression."""
        num, den = sp.fraction(sp.together(e))
        code, den = self.code(num), int(den)
        test = None if den == 1 or (num, den) in self.stepped else f"({code}) % {den} == 0"
        return (code if den == 1 else f"(({code}) // {den})"), test, den

    def parts(self, e: sp.Indexed) -> tuple[str, list[str]]:
        """(the read of entry `e`, the tests that its index is whole and inside its array)."""
        shape = _ints(e.base.shape, e.base.name)
        parts = [self.index(i) for i in e.indices]
        # a loop index runs over its array's axis by construction; any other index expression is tested
        tests = [t for _, t, _ in parts if t] + [f"0 <= {c} < {n}" for (c, _, _), n, i in zip(parts, shape, e.indices)
                                                 if (i, n) not in self.safe and not inside(i, n, self.ranges)]
        name = e.base.name
        if name in self.layout.plan.offsets:  # a parameter: its matrix (o, flattened rest) or vector
            cols = [c for c, _, _ in parts]
            at = cols[0] if len(shape) == 1 else f"{cols[0]}, {_flat(cols[1:], shape[1:])}"
            return f"{self.layout.q(name)}[{at}]", tests
        return self.layout.read(name, _flat([c for c, _, _ in parts], shape)), tests

    def entry(self, e: sp.Indexed, pad: str) -> str:
        """``(x[flat] if the index is inside x else pad)``; a guarded factor's read alone (its term's `if` tests)."""
        read, tests = self.parts(e)
        return f"({read} if {' and '.join(tests)} else {pad})" if tests and e not in self.guarded else read

    def value(self, e: sp.Expr) -> str:
        """A scalar expression without sums: its entries as conditional reads, the rest by `to_numba`."""
        placeholders, names = {}, dict(self.names)

        def swap(x, pad):
            s = sp.Dummy("e")
            names[s] = self.entry(x, pad)
            placeholders[x, pad] = s
            return s

        # atoms in a fixed order: the placeholders' order is the printed factors' order (sets follow the hash seed)
        maxes = {m: m.func(*[swap(a, "-math.inf") if isinstance(a, sp.Indexed) else a for a in m.args],
                           evaluate=False) for m in sorted(e.atoms(sp.Max), key=sp.default_sort_key)}
        e = e.xreplace(maxes)
        e = e.xreplace({x: swap(x, "0.0") for x in sorted(e.atoms(sp.Indexed), key=sp.default_sort_key)})
        return to_numba(e, names)


def emit(layout, st: IndexStep) -> None:
    """Per sample: for every free index, the body summed over its summation indices, stored or summed into the
    parameter's gradient. Where the last free index runs far enough (`OUTER_SUM`), the sums go outside it: the
    output, zeroed first, gathers every term in a loop over that index innermost (independent entries,
    unit stride: LLVM vectorises it) instead of one long serial sum per entry."""
    c, form, plan = layout.code, st.form, layout.plan
    layout.comment(st.node)
    free = [(i, n) for i, n in zip(form.indices, _ints(form.shape, st.node))]
    names = {i: f"{i.name}_" for i, _ in free}
    ranges = {i: (0, n - 1) for i, n in free}
    codes, shape = [names[i] for i, _ in free], tuple(n for _, n in free)
    if st.grad:
        at = codes[0] if len(shape) == 1 else f"{codes[0]}, {_flat(codes[1:], shape[1:])}"
        target = f"{layout.q(plan.grads[st.grad])}[{at}]"
        if st.grad not in layout.ready:
            c(f"{layout.q(plan.grads[st.grad])}[:] = 0.0")
            layout.ready.add(st.grad)
    else:
        target = layout.read(st.node, _flat(codes, shape))
    outer = shape[-1] >= OUTER_SUM
    with layout.samples(), ExitStack() as loops:
        if outer:
            if not st.grad:
                with c.block(f"for k_ in range({math.prod(shape)}):"):
                    c(f"{layout.read(st.node, 'k_')} = 0.0")
            for term in sp.Add.make_args(form.body):
                _term(layout, term, {i: names[i] for i, _ in free[:-1]}, ranges, free[-1], target, free[:-1])
            return
        for i, n in free:
            loops.enter_context(c.block(f"for {names[i]} in range({n}):"))
        c("acc = 0.0")
        for term in sp.Add.make_args(form.body):
            _term(layout, term, names, ranges)
        c(f"{target} {'+=' if st.grad else '='} acc")


def _term(layout, term: sp.Expr, names: dict, ranges: dict, inner=None, target="acc", outside=()) -> None:
    """``target += coef * body``, inside one loop per free index of `outside` ((index, extent) pairs), one per
    summation index of the term, then (`inner`: a free index and its extent) one over that free index, innermost.
    A loop whose index a factor reads as ``(v + r) / q`` (a pooling or strided gradient's gaps) steps by q from
    the first v that makes it whole, instead of testing every v."""
    c = layout.code
    coef, core = term.as_coeff_Mul()
    limits = []
    while isinstance(core, sp.Sum):
        limits += list(reversed(core.limits))
        core = core.function
    if core.has(sp.Sum):
        raise SymbackError(f"codegen: cannot compile the nested sum in {term}")
    if inner:
        limits.append((inner[0], 0, inner[1] - 1))
    inner_names = dict(names) | {v: f"{v.name}_" for v, _, _ in limits}
    printer = _Printer(layout, inner_names, ranges | {v: (int(lo), int(hi)) for v, lo, hi in limits})
    bounds = _bounds(core, [v for v, _, _ in limits], names, printer)
    steps = _steps(core, {v for v, _ in outside} | {v for v, _, _ in limits if not bounds[v][0]}, printer)
    with ExitStack() as loops:
        for v, n in outside:
            loops.enter_context(c.block(f"for {names[v]} in range({_stepped(0, n, steps.get(v))}):"))
        for v, lo, hi in limits:
            los, his = [str(int(lo))] + bounds[v][0], [str(int(hi) + 1)] + bounds[v][1]
            span = f"{los[0]}, {his[0]}" if len(los) == 1 else f"max({', '.join(los)}), min({', '.join(his)})"
            span = _stepped(int(lo), int(hi) + 1, steps[v]) if v in steps else span
            loops.enter_context(c.block(f"for {inner_names[v]} in range({span}):"))
        scale = "" if coef == 1 else f"{float(coef)!r} * "
        guard = printer.guard(core)
        with c.block(f"if {guard}:") if guard else ExitStack():
            c(f"{target} += {scale}{printer.value(core)}")


def _steps(core: sp.Expr, loops: set, printer: _Printer) -> dict:
    """{v: (q, r)} for each loop index v a factor of `core` reads only as ``(v + r) / q`` (r an integer, q > 1):
    its loop steps by q, and the printer no longer tests that index for being whole."""
    found: dict = {}
    for f in sp.Mul.make_args(core):
        for e in f.indices if isinstance(f, sp.Indexed) else ():
            num, den = sp.fraction(sp.together(e))
            v = next(iter(num.free_symbols)) if len(num.free_symbols) == 1 else None
            if den != 1 and v in loops and num.coeff(v) == 1 and (num - v).is_Integer:
                found.setdefault(v, set()).add((int(den), int(num - v)))
    steps = {v: pairs.pop() for v, pairs in found.items() if len(pairs) == 1}
    printer.stepped = {(v + r, q) for v, (q, r) in steps.items()}
    for f in (f for f in sp.Mul.make_args(core) if isinstance(f, sp.Indexed)):
        for e, n in zip(f.indices, _ints(f.base.shape, f.base.name)):
            num, q = sp.fraction(sp.together(e))
            v = next((v for v in steps if (num, q) == (v + steps[v][1], steps[v][0])), None)
            if v is not None:  # v + r runs over the multiples of q from the loop's first to its last value
                lo, hi = printer.ranges[v]
                if 0 <= (lo + (-steps[v][1] - lo) % q + steps[v][1]) // q and (hi + steps[v][1]) // q < n:
                    printer.safe.add((e, n))
    return steps


def _stepped(lo: int, hi: int, step) -> str:
    """A range from lo to hi, over the v with (v + r) % q == 0 for a `step` (q, r)."""
    if step is None:
        return f"{lo}, {hi}" if lo else str(hi)
    q, r = step
    return f"{lo + (-r - lo) % q}, {hi}, {q}"


def inside(e: sp.Expr, n: int, ranges: dict) -> bool:
    """Whether an integer index expression stays in [0, n) over the ranges of its indices (interval arithmetic)."""
    syms = e.free_symbols
    if not syms <= set(ranges) or not all(e.diff(v).is_Integer for v in syms):
        return False
    c0 = sp.sympify(e.xreplace({v: sp.Integer(0) for v in syms}))
    if not c0.is_Integer:
        return False
    lo = c0 + sum(min(e.diff(v) * a for a in ranges[v]) for v in syms)
    hi = c0 + sum(max(e.diff(v) * a for a in ranges[v]) for v in syms)
    return 0 <= lo and hi < n


def _bounds(core: sp.Expr, order: list, outer: dict, printer: _Printer) -> dict:
    """Loop bounds that keep a factor's index ``a*v + r`` inside its axis (a zero-padded entry makes the whole
    product 0, so those iterations are skipped rather than tested): for a > 0, v from -(r // a) to (n - 1 - r) // a
    (for a < 0 the mirror image), with r
    read from the free indices and the loops outside v; none where the index never leaves its axis. Returns
    {v: ([lower], [upper])}; the printer's `safe` learns the (index, size) pairs the bounds keep inside."""
    bounds = {v: ([], []) for v in order}
    for f in sp.Mul.make_args(core):
        if not isinstance(f, sp.Indexed):
            continue
        for e, n in zip(f.indices, _ints(f.base.shape, f.base.name)):
            found = [v for v in order if e.has(v)]  # the innermost is bounded, given the loops outside it
            if not found or sp.denom(sp.together(e)) != 1 or inside(e, n, printer.ranges):
                continue
            v = found[-1]
            a, r = e.coeff(v), e - e.coeff(v) * v
            known = set(outer) | set(order[:order.index(v)])
            if not (a.is_Integer and a != 0) or r.has(v) or not r.free_symbols <= known:
                continue
            rest = printer.code(r)
            # "1 + ...", not "... + 1": `Code` folds "<number> + <number>" in a line whose loop it unrolled
            if a > 0:  # 0 <= a v + r <= n - 1
                bounds[v][0].append(f"-(({rest}) // {a})")
                bounds[v][1].append(f"1 + ({n - 1} - ({rest})) // {a}")
            else:  # 0 <= r - b v <= n - 1, b = -a
                bounds[v][0].append(f"-(({n - 1} - ({rest})) // {-a})")
                bounds[v][1].append(f"1 + ({rest}) // {-a}")
            printer.safe.add((e, n))
    return bounds
