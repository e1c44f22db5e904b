"""The IR: the lecture's "series of intermediate calculations".

A `Graph` is an ordered list of `Node`s. Each node names one quantity, says
how it is computed from earlier nodes (`op` plus `args`, and for most ops a
SymPy `expr` in symbols named after the args), and carries a `shape`:
``()`` for a scalar, ``(n,)`` for a vector of n, ``(m, n)`` for a matrix
(sizes may be SymPy symbols). Forward and backward quantities live in the
same graph, so every later stage (evaluation, rendering, code generation)
reads one structure.

Ops used so far (each op's rules, its VJP among them, are its entry in `ops`):

- ``input`` / ``param`` / ``target``: leaves, no expression.
- ``scalar``: a scalar SymPy expression of the args' symbols.
"""

from __future__ import annotations

import gc
import re
from bisect import bisect_left
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Iterable, Iterator

import sympy as sp

Shape = tuple  # () scalar, (n,) vector, (m, n) matrix; entries int or sp.Symbol

LEAF_OPS = frozenset({"input", "param", "target"})


@dataclass(slots=True, frozen=True)
class Meta:
    """What a node is, for the stages after derive: typed, so a misspelt field fails at once.

    Frozen, so one empty `Meta` serves every node without one (a 10^5-term sum has 6 * 10^5 nodes): change a
    node's with ``node.meta = dataclasses.replace(node.meta, ...)``.

    ``kind`` says what the node means to a course (``input``, ``weight``,
    ``bias``, ``pre``, ``act``, ``value``, ``loss``, ``label``, ``target``, or a
    rewrite's name such as ``softmax``); ``layer`` is its layer in a layered
    network (CS229 indexing). The rest belong to one op each.
    """

    kind: str | None = None
    layer: int | None = None
    activation: str | None = None  # ew: the activation's name or formula
    shapes: dict | None = None  # linear: shape of each argument
    tied: str | None = None  # linear: the parameter used transposed (tied weights)
    loss: str | None = None  # loss: its name ("custom" for a user's formula)
    loss_kind: str | None = None  # loss: "separable" or "class"
    prediction: str | None = None  # loss: the value it scores
    size: object = None  # loss: number of outputs
    terminal: bool = False  # loss: the output of the whole graph
    regularizer: object = None  # loss: lam/2 * sum of Trace(W^T W) over the weights, once per batch (weight decay)
    path: str | None = None  # adjoint: one consumer's share of a branching gradient
    sum_of_paths: bool = False  # adjoint: the sum of the per-path shares
    fused: str | None = None  # adjoint: the elementwise adjoint substituted into this one
    rate: object = None  # input of kind "const": dropout's drop probability p, for its mask (a kernel draws it)
    geometry: object = None  # conv, pool, image input: its `ops.conv.Geometry` (C x H x W shapes, kernel, stride)


NO_META = Meta()


@dataclass(slots=True)
class Node:
    """One named quantity: ``name = op(args)``, described by ``expr``.

    ``role`` is ``"forward"`` for the forward pass (leaves included) or
    ``"adjoint"`` for a backward quantity; ``of`` names the forward node an
    adjoint belongs to; ``terms`` keeps, for an adjoint, one summand per
    consumer so rendering can show where gradients add.
    """

    name: str
    op: str
    args: tuple[str, ...] = ()
    expr: sp.Expr | None = None
    shape: Shape = ()
    role: str = "forward"
    of: str | None = None
    terms: tuple = ()
    meta: Meta = NO_META
    _symbol: sp.Symbol | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def symbol(self) -> sp.Symbol:
        """The SymPy symbol that stands for this node in later expressions (one object per node: dict
        look-ups by an identical symbol skip SymPy's comparison)."""
        if self._symbol is None or self._symbol.name != self.name:
            self._symbol = sym(self.name)
        return self._symbol

    @property
    def is_leaf(self) -> bool:
        return self.op in LEAF_OPS


_REAL = sp.Symbol("_real", real=True)  # its three assumption tables are every real symbol's (SymPy shares them too)


@lru_cache(maxsize=1 << 16)
def sym(name: str) -> sp.Symbol:
    """Symbol naming an IR node; real, so |x|' = sign(x) and Max' = Heaviside.

    What SymPy's uncached constructor (`Symbol.__xnew__`, behind `Dummy`) makes, without its per-call look-up of the
    assumption tables (a third of the time of making the 4 * 10^5 symbols of a 10^5-term sum); this cache keeps one
    per name, and SymPy's own cache would halve the speed again.
    """
    if not isinstance(name, str):
        raise TypeError(f"a symbol's name is a string, not {name!r}")
    obj = sp.Expr.__new__(sp.Symbol)
    obj.name = name
    obj._assumptions, obj._assumptions_orig, obj._assumptions0 = (
        _REAL._assumptions, _REAL._assumptions_orig, _REAL._assumptions0)
    return obj


class Namer:
    """Deterministic fresh names that avoid the names already taken (the user's variables, earlier nodes)."""

    def __init__(self, taken: Iterable[str]):
        self.taken = set(taken)
        self.count = 0

    def fresh(self, prefix: str = "v") -> str:
        while True:
            self.count += 1
            name = f"{prefix}{self.count}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def claim(self, name: str) -> str:
        """`name`, with underscores appended while it is taken."""
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name


_GC = threading.Lock()
_gc_state = {"depth": 0, "enabled": False}  # open `no_gc` blocks, and whether the collector ran before the first


@contextmanager
def no_gc():
    """Run the block without Python's cyclic garbage collector, then restore it as it was.

    A derivation allocates hundreds of thousands of acyclic SymPy objects and nodes that all stay alive; the
    collector finds no garbage among them, yet each full pass walks them all (a third of a 10^5-term sum's time).
    Nested and concurrent blocks share one count: the collector comes back when the last block ends, and what the
    block made joins the oldest generation unscanned (``gc.freeze`` then ``gc.unfreeze``; skipped while the program
    keeps objects frozen itself): the first allocation after it would otherwise scan every object it made
    (0.5 s after a 10^5-term sum, growing faster than the sum), to find no garbage again.
    """
    with _GC:
        if _gc_state["depth"] == 0:
            _gc_state["enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["depth"] += 1
    try:
        yield
    finally:
        with _GC:
            _gc_state["depth"] -= 1
            if _gc_state["depth"] == 0 and _gc_state["enabled"]:
                if gc.get_freeze_count() == 0:
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()


def same_symbols(args) -> bool:
    """True when every one of `args` is a plain SymPy symbol with the assumptions of the first (SymPy orders such
    symbols by name alone)."""
    kind = getattr(args[0], "_assumptions0", None)
    return all(type(a) is sp.Symbol and a._assumptions0 == kind for a in args)


def combine(cls: type[sp.Add] | type[sp.Mul], *args: sp.Expr) -> sp.Expr:
    """``cls(*args)`` for `Add` or `Mul`. Distinct plain symbols of one kind (a sum of nodes, a local derivative
    times its upstream) SymPy orders by name: that sum or product is built directly, without its flattening."""
    if len(args) == 2:  # the common case, without the general checks
        a, b = args
        if type(a) is sp.Symbol is type(b) and a._assumptions0 == b._assumptions0 and a.name != b.name:
            return cls._from_args((a, b) if a.name < b.name else (b, a), a.is_commutative)
    elif len(args) > 2 and same_symbols(args) and len(set(args)) == len(args):
        return cls._from_args(sorted(args, key=attrgetter("name")), args[0].is_commutative)
    return cls(*args)


#: the names a shape's symbols take, in name order: ``x3*y3`` and ``x7*y7`` are both ``_a0*_a1``
CANONICAL = tuple(sym(f"_a{k}") for k in range(8))
_PROBES = tuple(sym(f"_b{k}") for k in range(8))  # other names in the same order, to test a template once
_POSITION = {c: k for k, c in enumerate(CANONICAL)}
_STABLE: dict[int, tuple] = {}  # id(template) -> (template, whether `_remake` of it is what SymPy's evaluation gives)
_MADE: dict[tuple, sp.Expr] = {}  # (func, positions of the args in name order) -> func(*CANONICAL in those places)


def plain(args) -> bool:
    """True for distinct IR symbols (real, made by `sym`), at most as many as `CANONICAL`."""
    return (len(args) <= len(CANONICAL) and all(type(a) is sp.Symbol and a._assumptions0 is _REAL._assumptions0
                                                 for a in args) and len(set(args)) == len(args))


def in_order(args) -> bool:
    """True for IR symbols (real, made by `sym`) with names in strictly increasing order, at most as many as
    `CANONICAL`: distinct, and in the order SymPy keeps them in a sum or product."""
    if len(args) > len(CANONICAL):
        return False
    last = None
    for a in args:
        if type(a) is not sp.Symbol or a._assumptions0 is not _REAL._assumptions0 or (last is not None
                                                                                    and a.name <= last):
            return False
        last = a.name
    return True


#: the constructors of a function SymPy defines (sin, exp, ...) that no subclass changes: unevaluated, they make
#: ``Basic.__new__(cls, *args)`` with its `nargs`
_PLAIN_NEW = {sp.Function.__new__, getattr(sp.core.function, "DefinedFunction", sp.Function).__new__}
_PLAIN_NEW_ = sp.Function._new_.__func__


def _remake(e: sp.Expr, new: dict) -> sp.Expr:
    """`e` with its symbols replaced by `new`, every node made again as it stands, without SymPy's evaluation."""
    if not e.args:
        return new.get(e, e)
    args = [_remake(a, new) for a in e.args]
    cls = type(e)
    if e.is_Add or e.is_Mul:
        return cls._from_args(args, e.is_commutative)
    if cls.__new__ in _PLAIN_NEW and cls._new_.__func__ is _PLAIN_NEW_ and vars(e).keys() == {"nargs"}:  # sin, exp
        made = sp.Basic.__new__(cls, *args)  # what `Function.__new__` makes unevaluated, without its cache and
        made.nargs = e.nargs  # without making the FiniteSet of its number of arguments anew (20 us)
        return made
    return cls(*args, evaluate=False)


def rename(template: sp.Expr, held) -> sp.Expr:
    """``template.xreplace(dict(zip(CANONICAL, held)))`` for IR symbols `held` in name order.

    Renaming symbols of one kind in an order-preserving way renames SymPy's evaluation too (its choices read the
    symbols' assumptions and their order, not their names), so where `_remake` of the template with other names gives
    what `xreplace`'s evaluation gives (tested once per template), every instance is made without evaluating it:
    ``cos(x7)`` from ``cos(_a0)`` without running ``cos.eval`` again.
    """
    if held is None:  # a derivative over more symbols than a shape has
        return template
    if not template.args:  # a number, or one of the symbols
        return held[_POSITION[template]] if template in _POSITION else template
    new = dict(zip(CANONICAL, held))
    return _remake(template, new) if _stable(template) and in_order(held) else template.xreplace(new)


def _stable(template: sp.Expr) -> bool:
    """Whether `_remake` of `template` with other names in the same order is what `xreplace` makes (tested once)."""
    def test():
        probes = dict(zip(CANONICAL, _PROBES))
        try:
            return template, _remake(template, probes) == template.xreplace(probes)
        except (TypeError, ValueError):  # a class that takes no `evaluate`
            return template, False

    hit = _cached(_STABLE, id(template), test)
    if hit[0] is not template:  # another template made at the address of one since gone
        hit = _STABLE[id(template)] = test()
    return hit[1]


def _cached(cache: dict, key, make):
    """``cache[key]``, made by ``make()`` when missing. Bounded: a stream of new keys clears it (the keys of one
    large derivation repeat); shared by threads: a clear by another thread between look-up and use loses nothing."""
    value = cache.get(key, _MISSING)
    if value is _MISSING:
        value = make()
        if len(cache) > 4096:
            cache.clear()
        cache[key] = value
    return value


_MISSING = object()


_TIMES: dict[tuple, tuple] = {}  # (id(template), place of the factor) -> (template, template * that canonical symbol)


def times(template: sp.Expr, held, factor: sp.Expr) -> sp.Expr:
    """``rename(template, held) * factor`` as SymPy evaluates it: for an IR symbol `factor` (the upstream adjoint)
    not in `held`, from one evaluated product per template and place of `factor` among the names."""
    if held is None or not template.args or not _stable(template) or len(held) >= len(CANONICAL) or not in_order((factor,)) \
            or not in_order(held) or factor.name in [h.name for h in held]:
        return combine(sp.Mul, rename(template, held), factor)
    place = bisect_left([h.name for h in held], factor.name)
    def product():
        shift = {c: CANONICAL[k + 1] for k, c in enumerate(CANONICAL[place:-1], place)}
        return template, _remake(template, shift) * CANONICAL[place]

    hit = _cached(_TIMES, (id(template), place), product)
    if hit[0] is not template:
        hit = _TIMES[id(template), place] = product()
    return rename(hit[1], (*held[:place], factor, *held[place:]))


def shape(e: sp.Expr, names: dict) -> object:
    """`e.xreplace(names)` as nested tuples: equal where those expressions are equal, and built without SymPy."""
    if e in names:
        return names[e]
    return (e.func, *[shape(a, names) for a in e.args]) if e.args else e


_SWAPS: dict[tuple, bool] = {}  # (shape, the new symbols' kind) -> whether `_remake` gives what `xreplace` does


def swap(expr: sp.Expr, new: dict) -> sp.Expr:
    """``expr.xreplace(new)``, `new` mapping every free symbol of `expr` (IR symbols) to a symbol of one other kind
    with names in the same order (the user's own symbols); made without SymPy's evaluation where a test of the
    expression's shape, once per shape and kind, shows that evaluating would make the same (`rename`)."""
    held = sorted(new, key=attrgetter("name"))
    made = [new[h] for h in held]
    if not made:
        return expr
    kind = getattr(made[0], "_assumptions0", None)
    if not (in_order(held) and all(type(m) is sp.Symbol and m._assumptions0 == kind for m in made)
            and all(a.name < b.name for a, b in zip(made, made[1:]))):
        return expr.xreplace(new)
    names = dict(zip(held, CANONICAL))
    def test() -> bool:
        probes = {c: sp.Symbol(f"_b{k}", **made[0]._assumptions_orig) for k, c in enumerate(CANONICAL)}
        try:
            template = _remake(expr, names)
            return _remake(template, probes) == template.xreplace(probes)
        except (TypeError, ValueError):  # a class that takes no `evaluate`
            return False

    return _remake(expr, new) if _cached(_SWAPS, (shape(expr, names), kind), test) else expr.xreplace(new)


_TEXTS: dict[tuple, str] = {}  # (printer, shape, kind) -> the text of the shape in the names `_a0`, `_a1`, ...
_KINDS: dict[tuple, tuple] = {}  # a kind of symbol (its assumptions) -> the symbols `_a0`, ..., `_a7` of that kind
_NAMED = re.compile(r"\b_a([0-7])\b")
_IDENTIFIER = re.compile(r"[^\W\d_]\w*\Z")


def printed(expr: sp.Expr, to_text) -> str:
    """``to_text(expr)`` (a SymPy printer), printed once per shape: for an expression over at most eight symbols of
    one kind named like identifiers, the text of its shape in the names ``_a0``, ``_a1``, ... with its own names put
    back (printers order terms and factors by comparing names, and an order-preserving renaming keeps that order)."""
    held = sorted(expr.free_symbols, key=attrgetter("name"))
    kind = getattr(held[0], "_assumptions0", None) if held else None
    if not held or len(held) > len(CANONICAL) or not all(
            type(h) is sp.Symbol and h._assumptions0 == kind and _IDENTIFIER.match(h.name) for h in held) or any(
            a.name == b.name for a, b in zip(held, held[1:])):
        return to_text(expr)
    names = dict(zip(held, _cached(_KINDS, kind, lambda: tuple(sp.Symbol(c.name, **held[0]._assumptions_orig)
                                                                for c in CANONICAL))))

    def text() -> str | None:
        try:
            return to_text(_remake(expr, names))
        except (TypeError, ValueError):  # a class that takes no `evaluate`
            return None

    shaped = _cached(_TEXTS, (to_text, shape(expr, names), kind), text)
    return to_text(expr) if shaped is None else _NAMED.sub(lambda m: held[int(m.group(1))].name, shaped)


def make(func, args) -> sp.Expr:
    """``func(*args)`` as SymPy evaluates it; for distinct IR symbols, from one evaluation per shape (`rename`)."""
    if not plain(args):
        return func(*args)
    held = sorted(args, key=attrgetter("name"))
    places = [held.index(a) for a in args]
    return rename(_cached(_MADE, (func, *places), lambda: func(*(CANONICAL[k] for k in places))), held)


class Graph:
    """An ordered, append-only list of nodes with name lookup and consumers."""

    def __init__(self, nodes: Iterable[Node] = ()):
        self._nodes: list[Node] = []
        self._position: dict[str, int] = {}
        self._consumers: dict[str, list[str]] | None = None  # built when first asked for
        for node in nodes:
            self.add(node)

    def copy(self) -> Graph:
        """A new graph with the same nodes (the nodes themselves shared), without checking them again."""
        new = Graph()
        new._nodes, new._position = list(self._nodes), dict(self._position)
        return new

    def add(self, node: Node) -> Node:
        """Append `node`; its args must already be in the graph (topological order)."""
        if node.name in self._position:
            raise ValueError(f"node {node.name!r} is defined twice")
        for arg in node.args:
            if arg not in self._position:
                raise ValueError(f"node {node.name!r} uses {arg!r} before it is defined")
        self._position[node.name] = len(self._nodes)
        self._nodes.append(node)
        self._consumers = None
        return node

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __getitem__(self, name: str) -> Node:
        return self._nodes[self._position[name]]

    def __contains__(self, name: object) -> bool:
        return name in self._position

    @property
    def names(self) -> list[str]:
        return [n.name for n in self._nodes]

    def position(self, name: str) -> int:
        """Index of node `name` in evaluation order."""
        return self._position[name]

    def consumers(self, name: str) -> list[str]:
        """Names of the nodes that use `name`, in graph order."""
        if self._consumers is None:
            self._consumers = {n: [] for n in self._position}
            for node in self._nodes:
                for arg in dict.fromkeys(node.args):
                    self._consumers[arg].append(node.name)
        return list(self._consumers[name])

    def uses(self, expr) -> tuple[str, ...]:
        """Names of the nodes an expression uses, in graph order."""
        if type(expr) is sp.Symbol:
            return (expr.name,) if expr.name in self._position else ()
        if (expr.is_Add or expr.is_Mul) and all(type(a) is sp.Symbol for a in expr.args):  # most other nodes
            names = {a.name for a in expr.args if a.name in self._position}
            return tuple(sorted(names, key=self._position.__getitem__))
        if expr.is_Symbol or ((expr.is_Add or expr.is_Mul) and all(a.is_Symbol for a in expr.args)):
            found = expr.args or (expr,)  # most nodes are sums or products of plain symbols: no tree walk
        else:
            found = expr.free_symbols | (expr.atoms(sp.MatrixSymbol) if isinstance(expr, sp.MatrixExpr) else set())
        names = {s.name for s in found if isinstance(getattr(s, "name", None), str) and s.name in self._position}
        return tuple(sorted(names, key=self._position.__getitem__))

    def leaves(self, op: str | None = None) -> list[Node]:
        return [n for n in self._nodes if n.is_leaf and (op is None or n.op == op)]

    def forward(self) -> list[Node]:
        return [n for n in self._nodes if n.role == "forward"]

    def backward(self) -> list[Node]:
        return [n for n in self._nodes if n.role == "adjoint"]

    def ops(self, nodes: Iterable[Node]) -> int:
        """Arithmetic operation count of the nodes' expressions (SymPy's count_ops)."""
        return sum(int(sp.count_ops(n.expr)) for n in nodes if n.expr is not None)
