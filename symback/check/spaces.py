r"""What differs between checking an expression and checking a network, as two `Space`\ s.

Stage: check. A space is the data the one checker (`compare`) runs on: how a
hand line's left side names a quantity (`read`), the random points both sides
are valued at (`draw`, `points`), the value of a quantity and of a formula at a
point (as 2-D arrays, so one comparison serves both), how a disagreement is
shown (`counterexample`), which repairs may explain it (`repairs`), and the
report's header and settings. `far` gives the points an equal verdict is
confirmed at: the same kind of draw times each factor of `randomdata.FAR`.

- `ExpressionSpace`: the partials ``df/dx`` of a scalar expression; right sides
  in SymPy syntax or LaTeX; exact values at random points (`instances.make_points`).
- `NetworkSpace`: a layered network's quantities in a course's notation and
  layout (`names.Namespace`); right sides in the matrix syntax of `formula` or
  LaTeX; NumPy values on random instances (`instances.make_instances`).
"""

from __future__ import annotations

import re
from dataclasses import replace as copy

import numpy as np
import sympy as sp

from ..errors import SymbackError
from ..notation import spell, totals
from ..notation.nodes import Quantity as Term
from ..parse import parse_expression
from . import latex
from .dagnames import DagNames
from .diagnose import Cause
from .formula import GENERIC, Call, Name, Num, Op, names, parse_text, replace, tokenize, walk
from .handfile import Equation
from .instances import BOUND, DIGITS, Far, make_instances, make_points
from .matrix import Env, dims, evaluate
from .mistakes import dag_repairs, expression_repairs, network_repairs
from .names import Namespace, capital
from .randomdata import FAR
from .report import Counterexample
from .trial import RTOL

#: operations (sums, products, powers, calls) of one scalar hand formula: each costs ~5 ms over the check's
#: points, so 5,000 sin terms took 71 s; an expression's derivative written by hand is far smaller
MAX_OPERATIONS = 1000


def _few_operations(expr: sp.Expr, where: str) -> None:
    """Refuse a hand formula past MAX_OPERATIONS before it is compared (counting stops at the limit)."""
    count = 0
    for node in sp.preorder_traversal(expr):
        count += not node.is_Atom
        if count > MAX_OPERATIONS:
            raise SymbackError(f"{where}: the formula has more than {MAX_OPERATIONS:,} operations (limit "
                               f"{MAX_OPERATIONS:,}); write it shorter, e.g. with df/dq for a named step q")


#: what LaTeX may write that binds a variable (\\int, \\frac{d}{dz}, \\sum_{z=1}, \\lim_{z \\to 0}); all but sums
#: and products of other indices are refused (SymPy gives no value, or nan, at a point)
_BINDING = (sp.Integral, sp.Derivative, sp.Sum, sp.Product, sp.Limit)
POINTS = 6  # random points of an expression
FAR_LINE = "an equal line is confirmed again far from the origin (the same draws times ±10 to ±10^6)"
INSTANCES = 4  # random instances of a network, each with a batch of samples
SEED = 0


class ExpressionSpace:
    """The partial derivatives of a scalar expression, compared at random points of its inputs.

    A hand file names ``df/dx``: the output over a variable, or over a named
    step (``df/dq`` for ``q = x + y; f = q*z``); right sides use its nodes.
    """

    kind = "expression"
    repairs = staticmethod(expression_repairs)

    def __init__(self, derivation, count: int = POINTS, seed: int = SEED):
        self.derivation, self.count, self.seed = derivation, count, seed
        self.source, self.out = derivation.summary.source, derivation.output
        self.nodes = [n.name for n in derivation.graph.forward()]
        #: every node's derivative, as ``symback grad`` prints them (df/dv1 too): what a hand file may name
        self.adjoints = {f"d{self.out}/d{n}": a for n, a in totals(derivation.graph).items() if n in self.nodes}
        # the ones to list and to try as another variable: the user's names (q = x + y), not the automatic v1, v2
        named = [n for n in self.nodes if n in derivation.inputs or derivation.summary.named_steps]
        self.derivs = {f"d{self.out}/d{n}": self.adjoints[f"d{self.out}/d{n}"] for n in named
                       if n != self.out and f"d{self.out}/d{n}" in self.adjoints}
        self.at: list[dict] = []
        self._far: list | None = None

    def draw(self) -> None:
        self.at = make_points(self.derivation, self.count, self.seed)

    def far(self, batch: bool) -> list:
        """The far points (`instances.Far`), valued exactly at 30 digits (drawn when first asked)."""
        if self._far is None:
            self._far = make_points(self.derivation, self.count, self.seed, FAR)
        return self._far

    def read(self, eq: Equation) -> tuple[str, sp.Expr, bool]:
        """(the quantity's name, the right side in the IR's node names, whether it is a batch formula: never)."""
        s = eq.lhs.strip().strip("$").replace(" ", "")
        m = re.fullmatch(r"\\frac\{(?:\\partial|d)(.+?)\}\{(?:\\partial|d)(.+)\}", s)
        s = (f"d{m.group(1)}/d{m.group(2)}" if m else s).replace("∂", "d").replace(r"\partial", "d")
        if "/d" in s:
            num, _, den = s[1:].partition("/d")
            s = f"d{_key(num)}/d{self.name(den.lstrip(chr(92))) or _key(den)}"
        if s not in self.adjoints:
            raise SymbackError(f"{eq.where}: {eq.lhs.strip()!r} is not a derivative of {self.out}; "
                               f"valid names: {', '.join(self.derivs)}")
        # the right side, SymPy syntax or LaTeX (bounded in length, nesting and digits); df/dv1 stands for its node
        rhs, held = self._derivatives(eq)
        expr = latex.parse_scalar(rhs, eq.where) if eq.latex else parse_expression(rhs, eq.where, implicit=True)
        _few_operations(expr, eq.where)
        for op in expr.atoms(*_BINDING):  # an integral, or a sum whose index is a variable: no value to compare
            bound = [v.name for v in op.atoms(sp.Symbol) - op.free_symbols if self.name(v.name)]
            kind = type(op).__name__.lower()
            if bound:
                raise SymbackError(f"{eq.where}: the {kind} over {bound[0]} reuses a name of {self.source}; "
                                   "give its index another letter, or write out what it gives")
            if isinstance(op, (sp.Integral, sp.Derivative, sp.Limit)):
                raise SymbackError(f"{eq.where}: cannot check a formula holding a {kind}; write out what it gives")
        rename = {}
        for x in expr.free_symbols:
            node = held.get(x.name) or self.name(x.name)
            if node is None:
                raise SymbackError(f"{eq.where}: {x.name!r} is not a variable or named step of {self.source}; "
                                   f"its names: {', '.join(self.nodes)}")
            rename[x] = sp.Symbol(node)
        return s, expr.xreplace(rename), False

    def _derivatives(self, eq: Equation) -> tuple[str, dict]:
        """The right side with each derivative (``df/dv1``, ``\\frac{\\partial f}{\\partial v_{1}}``) as a
        placeholder symbol, and placeholder -> the IR node holding it; ``×`` and ``·`` are products."""
        held = {}

        def mark(m: re.Match) -> str:
            name = self.name(re.sub(r"^\\|[{}\s]", "", m.group(1) or m.group(2)))
            if name is None or f"d{self.out}/d{name}" not in self.adjoints:
                return m.group(0)
            key = f"Xi_{{{len(held)}}}" if eq.latex else f"qqd{len(held)}"  # one symbol to either parser
            held[key] = self.adjoints[f"d{self.out}/d{name}"]
            return f" \\{key} " if eq.latex else f" {key} "

        out = re.escape(self.out)
        rhs = re.sub(rf"(?<![A-Za-z0-9_])d{out}\s*/\s*d([A-Za-z_]\w*)|\\frac\{{\s*\\partial\s*{out}\s*\}}"
                     rf"\{{\s*\\partial\s*(\\?[A-Za-z]\w*(?:_\{{?\w+\}}?)?)\s*\}}", mark, eq.rhs)
        return rhs.replace("×", "*").replace("·", "*"), held

    def name(self, written: str) -> str | None:
        """The node a written name means, ignoring braces, underscores and spaces."""
        return next((n for n in self.nodes if n == written or _key(n) == _key(written)), None)

    def points(self, batch: bool) -> list:
        return self.at

    def quantity(self, lhs: str, batch: bool) -> str:
        """The IR node holding a quantity: ``df/dx``'s adjoint, or a node by its own name."""
        return self.adjoints.get(lhs, lhs)

    def value(self, node: str, point: dict) -> np.ndarray:
        return _number(point[node], isinstance(point, Far))

    def evaluate(self, formula: sp.Expr, point: dict) -> np.ndarray:
        at = {sp.Symbol(k): val for k, val in point.items()}
        if isinstance(point, Far):
            value = _bounded(formula, at)
            return _number(sp.nan if value is None else sp.N(value, DIGITS), True)
        return _number(sp.N(formula.xreplace(at), DIGITS), False)

    def circular(self, lhs: str, formula) -> bool:
        return sp.Symbol(self.adjoints[lhs]) in formula.free_symbols

    def note(self, t) -> None:
        return None  # an expression's names mean one thing each

    def never_finite(self, lhs: str) -> str:
        return f"{self.source} is not finite at any random point"

    def counterexample(self, t, i: int, yours, derived, message: str | None = None) -> Counterexample:
        k, point = t.finite[i], t.points[t.finite[i]]
        inputs = {v: float(point[v]) for v in self.derivation.inputs}
        scale = getattr(point, "scale", None)
        return Counterexample(k + 1 + (len(self.at) if scale else 0), None, None, float(yours[0, 0]),
                              float(derived[0, 0]), inputs=inputs, unit="point", scale=scale)

    @property
    def header(self) -> list[str]:
        return [f"{self.source}: partial derivatives of {self.out}",
                f"compared at {len(self.at)} random points (standard normal inputs), relative tolerance {RTOL:g}",
                FAR_LINE]

    @property
    def settings(self) -> dict:
        return {"notation": None, "layout": None, "instances": len(self.at), "tolerance": RTOL, "seed": self.seed}


class NetworkSpace:
    """A layered network's quantities in one notation and layout, compared on random instances.

    `other` is the same network read in the other layout (a repair: the
    formula was written for it); it shares this space's instances.
    """

    kind = "network"
    repairs = staticmethod(network_repairs)
    names = Namespace

    def __init__(self, derivation, notation="udl", layout: str | None = None, count: int = INSTANCES,
                 seed: int = SEED, other: NetworkSpace | None = None):
        self.derivation, self.count, self.seed = derivation, count, seed
        self.ns = self.names(derivation, notation, layout)
        self.insts: list = []
        self._far: dict = {}  # batch formula or not -> far points
        if other is None:
            flipped = "numerator" if self.ns.layout == "denominator" else "denominator"
            other = type(self)(derivation, self.ns.notation, flipped, count, seed, other=self)
        self.other = other

    def draw(self) -> None:
        self.insts = make_instances(self.derivation, count=self.count, seed=self.seed)

    def far(self, batch: bool) -> list:
        """The (instance, sample) pairs of the far instances where float64 is trustworthy (`Instance.consistent`:
        the network's values are NumPy's, not exact)."""
        if batch not in self._far:
            insts = make_instances(self.derivation, count=self.count, seed=self.seed, scales=FAR)
            self._far[batch] = [(inst, s) for inst in insts for s in ([None] if batch else range(inst.batch))
                                if all(map(inst.consistent, range(inst.batch) if s is None else [s]))]
        return self._far[batch]

    @property
    def batch_size(self) -> int:
        return self.insts[0].batch

    def width(self, k: int) -> int:
        return int(np.asarray(self.insts[0].params[self.ns.nodes[("bias", k)]]).shape[0])

    # -- reading a line -------------------------------------------------------
    def read(self, eq: Equation) -> tuple[str, object, bool]:
        """(the quantity's canonical name, the right side's AST, whether it is a batch formula)."""
        ns = self.ns
        lhs = ns.lhs(lhs_name(eq.lhs, eq.where, self.loss_symbols), eq.where).name
        formula = self.parse_rhs(eq, lhs)
        batch = ns.get(lhs).batch or any(ns.get(n).batch for n in names(formula) if ns.get(n))
        return lhs, formula, batch

    @property
    def loss_symbols(self) -> tuple:
        r"""The notation's loss symbol in LaTeX and in text, e.g. (\mathcal{L}, l)."""
        loss = self.ns.notation.loss
        return loss.render(None, "latex"), loss.render(None)

    def parse_rhs(self, eq: Equation, lhs: str):
        ns = self.ns
        generic = tuple(dict.fromkeys(GENERIC + (ns.notation.activation_fn,)))
        if eq.latex:
            bases = {m.group(0) for q in ns.quantities.values() if (m := re.match(r"[A-Za-z]+", q.name))}
            node = latex.parse(eq.rhs, ns.known, bases - {"dl", "dJ", "dL"}, eq.where, generic, self.loss_symbols)
        else:
            node = parse_text(eq.rhs, eq.where, generic)
        node = self._identity(node, lhs)
        for name in names(node):
            if not ns.known(name) and name != "e":
                raise SymbackError(f"{eq.where}: {name!r} is not a name in {ns.notation.name} notation for this {ns.what}"
                                   f"{ns.near(name)}{'' if '[' in name else '; valid names: ' + ns.listing()}")
        return node

    def _identity(self, node, lhs: str):
        """``I`` and ``diag(c)`` of a number (a constant local derivative, as the steps print it): the identity
        matrix of the left side's size, times c."""
        scaled = [(path, sub) for path, sub in walk(node) if (isinstance(sub, Name) and sub.text == "I"
                  and not self.ns.known("I")) or (isinstance(sub, Call) and sub.fn == "diag" and isinstance(
                      sub.args[0], Num))]
        rows, cols = self.value(self.quantity(lhs, False), self.points(False)[0]).shape[:2] if scaled else (0, 1)
        for path, sub in scaled if rows == cols else ():
            eye = Op("eye", (Num(float(rows), str(rows)),))
            node = replace(node, path, eye if isinstance(sub, Name) else Op("matmul", (sub.args[0], eye)))
        return node

    # -- values ---------------------------------------------------------------
    def points(self, batch: bool) -> list:
        """(instance, sample) pairs; (instance, None) for a batch formula."""
        return [(inst, s) for inst in self.insts for s in ([None] if batch else range(inst.batch))]

    def quantity(self, lhs: str, batch: bool):
        """The quantity a name stands for; a parameter's gradient in a batch formula is the batch loss's."""
        q = self.ns.get(lhs)
        return copy(q, batch=True) if batch and not q.batch and q.kind in ("weight", "bias", "loss") else q

    def value(self, q, point) -> np.ndarray:
        return self.ns.value(q, *point).a

    def evaluate(self, formula, point) -> np.ndarray:
        return evaluate(formula, Env(self.ns, *point)).a

    def circular(self, lhs: str, formula) -> bool:
        """Whether the right side of a derivative names the left side's quantity, whatever its spelling.

        A value's definition may (``h_0 = x``): it states what the name is, and nothing is derived from it.
        """
        key = _meaning(self.ns.get(lhs))
        return key[2] and any(_meaning(self.ns.get(n)) == key for n in names(formula) if self.ns.get(n))

    def never_finite(self, lhs: str) -> str:
        return f"{lhs} is not a finite number on any random instance"

    def note(self, t) -> Cause | None:
        """What a different formula's names mean when no repair explains it: yhat, for a loss that takes logits."""
        said = self.ns.yhat_note()
        return Cause("yhat", said) if said and {"yhat", "Yhat"} & set(names(t.formula)) else None

    def counterexample(self, t, i: int, yours, derived, message: str | None = None) -> Counterexample:
        """Where yours and the derived value differ: the instance, the sample, the worst entry, the data."""
        inst, s = t.points[t.finite[i]]
        sample = None if s is None else s + 1
        if message is not None:  # the formula's sizes do not fit: no value of yours to show
            return Counterexample(inst.index, sample, message=message, derived_value=derived)
        labels = ("y",) if self.ns.graph[self.ns.target].meta.kind == "label" else ()
        ce = Counterexample(inst.index, sample, yours_value=yours, derived_value=derived,
                            inputs=self._inputs(inst, s), params=self._params(inst), labels=labels, scale=inst.scale)
        if yours.shape != derived.shape:
            ce.message = f"yours is {dims(yours.shape)}, {t.lhs} is {dims(derived.shape)}"
        else:
            diff = np.nan_to_num(np.abs(yours - derived), nan=np.inf, posinf=np.inf)
            r, c = np.unravel_index(int(np.argmax(diff)), diff.shape)
            ce.entry, ce.yours, ce.derived = (int(r) + 1, int(c) + 1), float(yours[r, c]), float(derived[r, c])
        return ce

    def _inputs(self, inst, sample) -> dict:
        """The sample's inputs and target in the notation's symbols (X, Y for a batch); a class counted from 1."""
        ns = self.ns
        out = {}
        for q in self.data():
            name = spell(ns.notation, Term(q.kind)) if q.alias or q.kind != "input" else q.name
            if sample is None:
                out[capital(name)] = ns.value(copy(q, batch=True), inst, None).a
            elif q.kind == "target" and ns.graph[ns.target].meta.kind == "label":
                out[name] = float(inst.samples[sample][ns.target]) + ns.notation.first
            else:
                out[name] = ns.value(q, inst, sample).a
        return out

    def data(self) -> list:
        """The quantities a counterexample shows the values of: the input, then the target."""
        return [self.ns.get("x"), self.ns.get("y")]

    def _params(self, inst) -> dict:
        ns = self.ns  # a bias as a column
        return {spell(ns.notation, Term(kind, k)): ns.orient(inst.params[ns.nodes[(kind, k)]], False)
                for k in range(1, ns.K + 1) for kind in ("weight", "bias")}

    # -- the report -----------------------------------------------------------
    @property
    def widths(self) -> list[int]:
        sub = {sp.Symbol(k, integer=True, positive=True): v for k, v in self.insts[0].sizes.items()}
        return [int(sp.sympify(w).xreplace(sub)) for w in self.derivation.summary.sizes]

    @property
    def header(self) -> list[str]:
        n, layout = self.ns.notation, self.ns.layout
        layout_text = ("dl/dq has the shape of q" if layout == "denominator"
                       else "dl/dq is laid out as q^T: a row for a vector q")
        return [
            f"{n.title}",
            f"{layout} layout ({layout_text}); vectors are columns",
            (f"compared on {self.count} random instances: "
             + (f"widths {'-'.join(map(str, self.widths))}, " if self.widths else "")
             + f"batch B = {self.batch_size}, relative tolerance {RTOL:g}"),
            FAR_LINE,
        ]

    @property
    def settings(self) -> dict:
        return {"notation": self.ns.notation.name, "layout": self.ns.layout, "instances": self.count,
                "batch": self.batch_size, "widths": self.widths, "sizes": dict(self.insts[0].sizes),
                "tolerance": RTOL, "seed": self.seed}


class DagSpace(NetworkSpace):
    """A DAG's values, derivatives and per-path shares (`dagnames.DagNames`), compared on random instances."""

    repairs = staticmethod(dag_repairs)
    names = DagNames

    def data(self) -> list:
        ns = self.ns
        return [q for q in ns.quantities.values() if q.kind == "input" and not q.deriv and not q.alias] + [ns.get("y")]

    def _params(self, inst) -> dict:
        return {q.name: self.ns.orient(inst.params[q.node], False) for q in self.ns.quantities.values()
                if q.kind in ("weight", "bias") and not q.deriv}

    @property
    def header(self) -> list[str]:
        title = (f"{self.derivation.summary.architecture}: the values, derivatives and per-path shares of a DAG, "
                 f"in {self.ns.notation.name} notation")
        return [title, *super().header[1:]]


def lhs_name(text: str, where: str, loss: tuple = ()) -> str:
    r"""The canonical name a left-hand side spells (text or LaTeX, e.g. \frac{\partial \ell}{\partial f_1})."""
    s = text.strip().strip("$").strip()
    if "\\" in s or "{" in s:
        s = latex.normalize(s, loss)
        share = re.search(r"\|\s*_\s*\{(.*)\}\s*$", s)  # a DAG's share: \frac{...}{...}\big|_{m}
        s = s[:share.start()] if share else s
        s = re.sub(r"\\frac\s*\{\s*(?:\\partial|d)\s*(.*?)\}\s*\{\s*(?:\\partial|d)\s*(.*)\}$", r"d\1/d\2", s.strip())
        s = s.replace(r"\partial", "d").replace(r"\ell", "l")
        s = re.sub(r"\\([A-Za-z]+)", r"\1", s).replace(" ", "")
        s += " (via " + re.sub(r"[{}\s\\]", "", share.group(1)) + ")" if share else ""
    try:
        toks = tokenize(s, where)
    except SymbackError:
        toks = []
    if len(toks) == 2 and toks[0].kind == "name":
        return toks[0].value
    raise SymbackError(f"{where}: the left-hand side {text.strip()!r} should name one quantity, e.g. dl/dOmega_1")


def _meaning(q) -> tuple:
    """What a name stands for, whatever its spelling (delta^[2] and dJ/dz^[2] are one quantity)."""
    return (q.kind if q.kind != "input" else "act", q.node, q.deriv, q.held)  # a DAG's share is not its sum


def _bounded(expr: sp.Expr, at: dict) -> sp.Expr | None:
    """`expr` at the point `at`, each part valued as it is rebuilt from its arguments (a number at 30 digits);
    None once a part is larger than `instances.BOUND` (the next, exp of it, would take digits without end)."""
    if expr in at or not expr.args:
        return at.get(expr, expr)
    args = [_bounded(a, at) for a in expr.args]
    if any(a is None for a in args):
        return None
    value = expr.func(*args)
    return None if value.is_Number and value.is_finite and abs(value) > BOUND else value


def _number(v, exact: bool) -> np.ndarray:
    """A value as a 1x1 array: a float, or (`exact`, at a far point) the 30-digit number itself; NaN when it is
    complex or still symbolic."""
    if exact:
        return np.array([[v if v.is_Number and v.is_real else float("nan")]], dtype=object)
    try:
        return np.array([[float(v)]])
    except TypeError:  # complex, or still symbolic
        return np.array([[float("nan")]])


def _key(name: str) -> str:
    return re.sub(r"[\\{}_\s]", "", name)
