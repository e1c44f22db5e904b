"""`grad`: the scalar front end, reverse pass and worked table behind one object.

>>> import sympy as sp, symback as sb
>>> x, y, z = sp.symbols("x y z")
>>> g = sb.grad((x + y) * z)
>>> g.gradient[x], g.gradient[z]
(z, v1)
>>> t = g.at(x=-2, y=5, z=-4)
>>> t.value, t.grad["x"], t.grad["y"], t.grad["z"]
(-12, -4, -4, 3)
"""

from __future__ import annotations

import re
from functools import lru_cache, partial

import sympy as sp

from ..derivation import Derivation, Displayed, Summary, _provided, as_document
from ..errors import SymbackError
from ..evaluate import evaluate, to_python, value_at
from ..ir import Graph, Node, combine, no_gc, printed, same_symbols, swap, sym
from ..nonsmooth import plain_str, sympy_names
from ..ops import expand_ops, local_derivative
from ..parse import names_in_order, number, parse_program, to_expr
from ..textparse import abbreviate
from .expression import build_graph, free_symbols, natural_key
from .gates import split_gates
from .indexed import IndexGradient, check, component, free_indices_ok, lower, symbolic, uses_indices

#: Expressions with more operations than this are not passed to sympy.simplify.
SIMPLIFY_LIMIT = 60
#: sympy.simplify of an expression (the same result, once): the CLI, a page and the API expand the same gradient
_simplified = lru_cache(maxsize=1024)(sp.simplify)


def _known(names, inputs: list[str], option: str) -> list[str]:
    """`names`, each a variable of the expression, or the error naming the first that is not."""
    known = set(inputs)
    for name in names:
        if name not in known:
            raise SymbackError(f"{option}: {name!r} is not a variable of the expression "
                               f"(its variables: {', '.join(inputs)})")
    return list(names)


def _key(var) -> str:
    if isinstance(var, sp.Indexed):
        return component(var.base.label, var.indices)
    if isinstance(var, sp.IndexedBase):
        return var.label.name
    return var.name if isinstance(var, sp.Symbol) else str(var)


class _ByName(dict):
    """A dict keyed by variable name that also accepts the SymPy symbol."""

    def __getitem__(self, key):
        return super().__getitem__(_key(key))

    def __contains__(self, key):
        return super().__contains__(_key(key))


class Gradient(Derivation):
    """The `Derivation` of a scalar expression, with its gradient and worked table (never simplified)."""

    def __init__(self, graph: Graph, output: str, wrt: list[str], summary: Summary):
        super().__init__(graph, output, wrt, summary, simplify=False)
        _finite(self.graph)
        # a term whose local derivative is 0 (floor, Heaviside, x*0) leaves its upstream unused, and
        # pruning dropped that adjoint: the term adds nothing, and is dropped too
        backward = self.graph.backward()
        adjoint_of = self._adjoint_of = {n.of: n.name for n in backward}
        for node in backward:  # the sweep's own new nodes, so they are edited in place
            terms = node.terms
            if len(terms) == 1 and terms[0].consumer in adjoint_of:  # most nodes: one term, live
                continue
            live = tuple(t for t in terms if t.consumer in adjoint_of)
            if len(live) < len(terms):
                node.terms = live

    @property
    def source(self) -> str:
        return self.summary.source

    @property
    def named_steps(self) -> bool:
        return self.summary.named_steps

    def _to_user(self, expr: sp.Expr) -> sp.Expr:
        """IR's real symbols -> the user's own symbols, for results handed back."""
        user = self.summary.user_symbols
        if expr.is_Symbol:
            return user.get(expr.name) or sp.Symbol(expr.name)
        return swap(expr, {s: user.get(s.name) or sp.Symbol(s.name) for s in expr.free_symbols})

    def adjoints_of(self, name: str) -> str:
        """Name of the adjoint node d output / d name."""
        return self._adjoint_of[name]

    # -- symbolic ------------------------------------------------------------
    @property
    def expr(self) -> sp.Expr:
        """The output written in the input variables alone."""
        return self._to_user(self._expanded()[self.output])

    @property
    @no_gc()
    def gradient(self) -> dict[str, sp.Expr]:
        """d output / d var for each var, over the named intermediates (linear in size)."""
        return _ByName((v, self._to_user(e)) for v, e in self.node_gradient().items())

    @no_gc()
    def node_gradient(self) -> dict[str, sp.Expr]:
        """`gradient` in the IR's own symbols (what the printers use)."""
        inline: dict[sp.Symbol, sp.Expr] = {}
        written: dict[str, sp.Expr] = {}
        for node in self.graph.backward():
            e = written[node.name] = _replace(node.expr, inline, node.terms)
            # a leaf's adjoint is used by no other node: it is never inlined (nor its symbol made)
            if not self.graph[node.of].is_leaf and (e.is_Atom or sp.count_ops(e) <= 1):
                inline[node.symbol] = e
        return _ByName((v, written[self.adjoints[v]] if v in self.adjoints else sp.Integer(0)) for v in self.wrt)

    def _expanded(self) -> dict[str, sp.Expr]:
        full: dict[sp.Symbol, sp.Expr] = {}
        for node in self.graph:
            if not node.is_leaf:
                full[node.symbol] = node.expr.xreplace(full)
        return {s.name: e for s, e in full.items()}

    def expanded(self) -> dict[str, sp.Expr]:
        """d output / d var written in the input variables alone, simplified when small."""
        return _ByName((v, self._to_user(e)) for v, e in self.node_expanded().items())

    def node_expanded(self) -> dict[str, sp.Expr]:
        """`expanded` in the IR's own symbols."""
        full = self._expanded()
        out = _ByName()
        for v in self.wrt:
            e = full.get(self.adjoints.get(v, ""), sp.Integer(0))
            out[v] = _simplified(e) if sp.count_ops(e) <= SIMPLIFY_LIMIT else e
        return out

    # -- numeric -------------------------------------------------------------
    def at(self, point: dict | None = None, **values) -> "Table":
        """The worked forward/backward table at a point, e.g. ``g.at(x=-2, y=5, z=-4)``."""
        given = {_key(k): v for k, v in {**(point or {}), **values}.items()}
        _known(given, self.inputs, "--at")
        missing = [v for v in self.inputs if v not in given]
        if missing:
            raise SymbackError(f"--at: no value for {', '.join(missing)}; give every variable, e.g. --at "
                               + ",".join(f"{v}=1" for v in self.inputs))
        exact = {k: number(v, f"--at {k}") for k, v in given.items()}
        return Table(self, evaluate(self.graph, exact))

    def check(self, hand, **options):
        """Hand-derived partials (``df/dx = ...`` text; a `pathlib.Path` for a file) against these: a `check.Report`."""
        return _provided("check_gradient")(self, hand, **options)

    # -- output --------------------------------------------------------------
    @no_gc()
    def to_dict(self, table: "Table | None" = None, expand: bool = False) -> dict:
        """The JSON object of ``symback grad --json`` (DESIGN.md)."""
        grads = self.expanded() if expand else self.gradient
        data = {
            "expr": self.source,
            "wrt": list(self.wrt),
            "steps": [],
            "gradient": {v: _sympy_text(grads[v]) for v in self.wrt},
        }
        for node in self.graph:  # forward quantities, then backward ones, in evaluation order
            row = {"node": node.name, "expr": _sympy_text(node.expr if node.expr is not None else node.symbol)}
            if table is not None:  # grad: None for an adjoint, and off every path from a wrt variable
                g = table.adjoint_value(node.name) if node.role != "adjoint" else None
                row.update(value=to_python(table.values[node.name]), grad=None if g is None else to_python(g))
            data["steps"].append(row)
        if table is not None:
            data["value"] = to_python(table.value)
            data["grad_at"] = {v: to_python(table.grad[v]) for v in self.wrt}
        # names a reader passes to sympify as locals: a variable called gamma, I, N or S stays a symbol
        data["variables"] = list(self.inputs)
        return data

    def render(self, format: str = "text", expand: bool = False, standalone: bool = False) -> str:
        """The worked gradient in `format`; ``standalone=True`` makes LaTeX a whole document."""
        return as_document(_provided("render_gradient")(self, None, format, expand), format, standalone)

    def __repr__(self) -> str:
        return f"<Gradient of {self.source} with respect to {', '.join(self.wrt)}>"


class Table(Displayed):
    """Forward values and gradients of every node at one point."""

    def __init__(self, gradient: Gradient, values: dict[str, sp.Expr]):
        self.gradient = gradient
        self.values = values
        self.value = values[gradient.output]
        self.grad = _ByName(
            (v, values[gradient.adjoints[v]] if v in gradient.adjoints else sp.Integer(0)) for v in gradient.wrt
        )

    def adjoint_value(self, name: str):
        """d output / d name at this point (None when `name` does not affect the output)."""
        adj = self.gradient._adjoint_of.get(name)
        return self.values[adj] if adj else None

    def local(self, node: Node, arg: str) -> sp.Expr:
        """The local gradient d node / d arg at this point."""
        return value_at(local_derivative(node.expr, sym(arg), f"node {node.name}"), self.values,
                        f"local gradient d{node.name}/d{arg}")

    def to_dict(self, expand: bool = False) -> dict:
        return self.gradient.to_dict(self, expand)

    def render(self, format: str = "text", expand: bool = False, standalone: bool = False) -> str:
        """The worked table in `format`; ``standalone=True`` makes LaTeX a whole document."""
        return as_document(_provided("render_gradient")(self.gradient, self, format, expand), format, standalone)


_LEAF = re.compile(r"(?<![\w'])([^\W\d]\w*\[\d+(?:,\d+)*\])")


def _sympy_text(expr) -> str:
    """`expr` as text that ``sympy.sympify`` reads back: SymPy's own function names only.

    Registered ops are written by their definitions and ``Indicator(u > 0)``
    as ``Heaviside(u, 0)``; people read ``I[u > 0]`` in the rendered table.
    A component leaf (`indexed`) is ``Symbol('W[1,2]')``, the variable of that name.
    """
    text = _symbols_text(expr)
    text = printed(expr, _readable) if text is None else text
    return _LEAF.sub(r"Symbol('\1')", text) if "[" in text else text  # most texts hold no component


def _readable(expr) -> str:
    return plain_str(sympy_names(expand_ops(expr)))


def _symbols_text(expr) -> str | None:
    """What SymPy prints for a symbol, or a sum or product of symbols, written directly (None for anything else):
    its printer costs ~40 us each, and a 10^5-term sum has 2*10^5 such nodes."""
    if type(expr) is sp.Symbol:
        return expr.name
    if not (expr.is_Mul or expr.is_Add) or not same_symbols(expr.args):
        return None
    names = [a.name for a in expr.args]
    if any(n[:1] == "-" for n in names):  # a symbol named like a negation prints as one
        return None
    # a product's factors sorted by name, a sum's terms in stored (name) order
    return "*".join(sorted(names)) if expr.is_Mul else " + ".join(names)


def _replace(expr: sp.Expr, new: dict, terms: tuple = ()) -> sp.Expr:
    """``expr.xreplace(new)``, done directly for a symbol or a sum or product of symbols (most adjoints), and for
    one term upstream x local whose upstream is 1: its local derivative (``-sin(x)`` of ``-df_dv*sin(x)``)."""
    if expr.is_Symbol:
        return new.get(expr, expr)
    if len(terms) == 1 and terms[0].value is expr and new.get(terms[0].upstream) is sp.S.One and not any(
            s in new for s in terms[0].local.free_symbols):
        return terms[0].local  # x*1 = x
    if (expr.is_Mul or expr.is_Add) and all(a.is_Symbol for a in expr.args):
        args = [new.get(a, a) for a in expr.args]
        if all(a is b for a, b in zip(args, expr.args)):
            return expr
        unit = sp.S.One if expr.is_Mul else sp.S.Zero  # x*1 = x, x + 0 = x: what SymPy makes of the product or sum
        rest = [a for a in args if a is not unit]
        if len(rest) <= 1:
            return rest[0] if rest else unit
        if same_symbols(rest) and len(set(rest)) == len(rest):
            return combine(expr.func, *rest)
        return expr.func(*args)
    if expr.is_Mul and len(expr.args) == 2:  # a local derivative times its upstream adjoint, which is 1
        for upstream, local in (expr.args, reversed(expr.args)):
            if new.get(upstream) is sp.S.One and not any(s in new for s in local.free_symbols):
                return local  # x*1 = x
    return expr.xreplace(new)


def _describe(expr, size: int) -> str:
    """The source as text; a description instead where it is too deep to print."""
    try:
        # order="none": SymPy's default printing sorts the terms of a sum, quadratic in their number
        if isinstance(expr, (list, tuple)):
            return "; ".join(f"{n} = {sp.sstr(e, order='none')}" for n, e in expr)
        terms = [_symbols_text(t) for t in expr.args] if expr.is_Add else [None]
        return " + ".join(terms) if None not in terms else sp.sstr(expr, order="none")
    except RecursionError:
        return f"<expression of {size} nodes, too deep to print>"


def _with_unused(graph: Graph, wrt, written=(), order=()) -> Graph:
    """`graph` with an input leaf for each SymPy symbol in `wrt`, and each name `written` in the text, that SymPy
    cancelled from it.

    ``sb.grad(x*0 + y, wrt=x)``: SymPy made the expression ``y`` before symback
    saw it, but the gradient by the symbol ``x`` is 0, as ``sympy.diff`` says; so
    for a variable written in the text (``f = x + y - y``: df/dy = 0, and ``--at``
    takes y). A name given as text must still be a variable (a typo is an error).
    """
    names = [*(w.name for w in wrt or () if isinstance(w, sp.Symbol)), *written]
    extra = [Node(n, "input", shape=()) for n in dict.fromkeys(names) if n not in graph]
    if not extra:
        return graph
    rank, leaves = {n: i for i, n in enumerate(dict.fromkeys(order))}, graph.leaves("input")  # as written: x*0 + z
    inputs = sorted([*leaves, *extra], key=lambda n: rank.get(n.name, len(rank)))  # x, then z
    return Graph([*inputs, *(n for n in graph if n not in leaves)])


def _finite(graph: Graph) -> None:
    """Refuse a node (forward or gradient) holding zoo, nan or oo: SymPy's x/0 is zoo*x, whose gradient is no number."""
    for node in graph:
        if node.expr is not None and node.expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            kind = "the gradient node" if node.role == "adjoint" else "node"
            raise SymbackError(f"{kind} {node.name} = {abbreviate(str(node.expr), 60)} is not finite (zoo, nan or oo, "
                               "as from a division by zero); remove that division or constant")


def _index_form(expr, wrt, order: list[str], source: str | None):
    """Index notation (`indexed`): an `IndexGradient` for symbolic bounds, else (lowered expr, wrt, input order,
    the components and scalars written).

    Components are leaves named ``W[1,2]``, handed back as those symbols (``g.gradient[W[1, 2]]`` finds them).
    """
    steps = list(expr) if isinstance(expr, (list, tuple)) else [("f", expr)]
    steps = [(str(n), to_expr(e, f"step {str(n)!r}", evaluate=False)) for n, e in steps]
    defs: dict[sp.Symbol, sp.Expr] = {}
    for n, e in steps:  # every step inlined: the checks see the one scalar the steps define
        whole = defs[sp.Symbol(n)] = e.xreplace(defs)
    ranks = check(whole)
    if symbolic(whole):
        names = None if wrt is None else list(dict.fromkeys(_key(w).split("[")[0] for w in wrt))
        return IndexGradient(whole, steps[-1][0], source or sp.sstr(whole, order="none"), names, order)
    if not all(free_indices_ok(e) for _, e in steps):  # a step with a free index (h[i]): lowered inlined
        steps = [(steps[-1][0], whole)]
    leaves: dict[str, sp.Indexed] = {}
    lowered = []
    for n, e in steps:
        e, used = lower(e)
        lowered.append((n, e))
        leaves.update(used)
    rank = {b: i for i, b in enumerate(dict.fromkeys([*order, *ranks]))}
    parts = sorted(leaves, key=lambda c: (rank[c.split("[")[0]], natural_key(c)))
    indices = {str(v) for _, e in steps for s in e.atoms(sp.Sum) for v in s.variables}
    written = [*parts, *(n for n in order if n not in ranks and n not in indices and n not in dict(steps))]
    if wrt is not None:  # an array's name stands for all its components
        wrt = [c for w in wrt for c in ([p for p in parts if p.startswith(_key(w) + "[")] if _key(w) in ranks
                                        else [_key(w)])]
    return (lowered if isinstance(expr, (list, tuple)) else lowered[0][1]), wrt, [*parts, *order], written


@no_gc()
def grad(expr, wrt=None, atomize: bool | None = None, gates: bool = False) -> Gradient | IndexGradient:
    """Reverse-mode gradient of a scalar expression (or of named steps, or of their text).

    `expr` is a SymPy expression, a list of ``(name, expr)`` steps whose last
    one is the output, or a string such as ``"(x + y)*z"`` or
    ``"q = x + y; f = q*z"``. `wrt` is a variable or a list of them (names or
    symbols); by default every variable, in natural order. ``gates=True``
    splits every step into the lecture's elementary gates (`gates.split_gates`),
    each a named intermediate: ``q = x*y; r = q + z; ...``. Index notation
    (``Sum(W[i,j]*x[j], (j, 1, 3))``, see `indexed`) is lowered to one leaf per
    component (``W[1,2]``); with a symbolic bound (``n``) the result is an `IndexGradient`.
    """
    source_text = expr.strip() if isinstance(expr, str) else None
    if isinstance(expr, dict):
        expr = list(expr.items())
    texts = []  # steps given as text: the names they write are variables even where SymPy cancels them
    if isinstance(expr, (list, tuple)):  # steps given as text are read by the safe parser, never run
        texts = [s[1] for s in expr if isinstance(s, tuple) and len(s) == 2 and isinstance(s[1], str)]
        expr = [(s[0], to_expr(s[1], f"step {s[0]!r}", evaluate=False))
                if isinstance(s, tuple) and len(s) == 2 and isinstance(s[1], str) else s for s in expr]
    order: list[str] = []
    if isinstance(expr, str):
        order = names_in_order(expr.replace("^", "**"))
        expr = parse_program(expr)
    if not (wrt is None or isinstance(wrt, (str, sp.Basic, list, tuple, set, dict))):
        raise TypeError(f"wrt: a variable (name or symbol) or a list of them, not {type(wrt).__name__}")
    wrt = [wrt] if isinstance(wrt, (str, sp.Basic)) else None if wrt is None else list(wrt)
    steps = {str(n) for n, _ in expr} if isinstance(expr, (list, tuple)) else set()
    written = [n for n in [*order, *(m for t in texts for m in names_in_order(t.replace("^", "**")))]
               if n not in steps]  # the variables of the text, kept if SymPy cancels them
    if any(uses_indices(e) for e in ([s[-1] for s in expr] if isinstance(expr, (list, tuple)) else [expr])):
        form = _index_form(expr, wrt, order, source_text)
        if isinstance(form, IndexGradient):
            return form
        expr, wrt, order, written = form  # the components and variables written, kept if SymPy cancels them
    graph, output = build_graph(expr, atomize=atomize, order=order)  # also the checks of every step
    if gates:
        steps = expr if isinstance(expr, (list, tuple)) else [(output, expr)]
        steps = split_gates([(str(n), to_expr(e, f"step {str(n)!r}", evaluate=False)) for n, e in steps])
        graph, output = build_graph(steps, order=order)
    graph = _with_unused(graph, wrt, written, order)
    inputs = [n.name for n in graph.leaves("input")]
    if not inputs:
        raise SymbackError(f"expression {source_text or expr} has no variables to differentiate by")
    names = _known(inputs if wrt is None else dict.fromkeys(_key(w) for w in wrt), inputs, "--wrt")
    if source_text is None:  # written when first read: printing a large expression costs more than deriving it
        source_text = partial(_describe, expr, len(graph))
    exprs = [e for _, e in expr] if isinstance(expr, (list, tuple)) else [sp.sympify(expr)]
    user = {s.name: s for e in exprs for s in free_symbols(e) if isinstance(s, sp.Symbol)}
    summary = Summary("expression", source_text, named_steps=isinstance(expr, (list, tuple)), user_symbols=user)
    return Gradient(graph, output, names, summary)

