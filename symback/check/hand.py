"""Check hand-derived backprop formulas against a network's derivation, numerically.

Input: a `Derivation`, a hand file (``LHS = RHS`` per line, see `handfile`)
and a notation. Output: a `report.Report`. For each equation the left side
names a derived quantity (`names.Namespace`), the right side is parsed
(`formula` for text, `latex` for LaTeX) and both are evaluated on random
small instances (`instances`, values from `numeric.evaluate_sample`):

- equal: every sample agrees to `RTOL` relative to max(1, largest entry);
- different: a counterexample (instance, sample, entry, both values), and
  the likely mistake where one small repair makes it agree (`diagnose`);
  a formula whose sizes do not fit together is different too;
- undecided: the derived value is not a finite number on any instance.

Names the notation does not have, malformed formulas and a missing file are
bad input: `SymbackError` (one line, exit 2 on the command line).
"""

from __future__ import annotations

import re
from dataclasses import replace as copy

import numpy as np

from ..errors import SymbackError
from . import latex
from .diagnose import likely_cause
from .formula import GENERIC, Name, names, parse_text, tokenize, walk
from .handfile import Equation, read_hand
from .instances import make_instances
from .matrix import Env, ShapeError, dims, evaluate
from .names import Namespace
from .report import DIFFERENT, EQUAL, UNDECIDED, Counterexample, Report, Result

RTOL = 1e-9  # relative to max(1, largest |entry|)
INSTANCES = 4
SEED = 0


def close(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return False
    scale = max(1.0, float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    return float(np.max(np.abs(a - b))) <= RTOL * scale


def _loss(ns: Namespace) -> tuple:
    r"""The notation's loss symbol in LaTeX and in text, e.g. (\mathcal{L}, l)."""
    return ns.notation.loss.render(None, "latex"), ns.notation.loss.render(None)


def lhs_name(text: str, where: str, loss: tuple = ()) -> str:
    r"""The canonical name a left-hand side spells (text or LaTeX, e.g. \frac{\partial \ell}{\partial f_1})."""
    s = text.strip().strip("$").strip()
    if "\\" in s or "{" in s:
        s = latex.normalize(s, loss)
        s = re.sub(r"\\frac\s*\{\s*(?:\\partial|d)\s*(.*?)\}\s*\{\s*(?:\\partial|d)\s*(.*)\}$", r"d\1/d\2", s)
        s = s.replace(r"\partial", "d").replace(r"\ell", "l")
        s = re.sub(r"\\([A-Za-z]+)", r"\1", s).replace(" ", "")
    try:
        toks = tokenize(s, where)
    except SymbackError:
        toks = []
    if len(toks) == 2 and toks[0].kind == "name":
        return toks[0].value
    raise SymbackError(f"{where}: the left-hand side {text.strip()!r} should name one quantity, e.g. dl/dOmega_1")


def parse_rhs(eq: Equation, ns: Namespace):
    generic = tuple(dict.fromkeys(GENERIC + (ns.notation.activation_fn,)))
    if eq.latex:
        bases = {re.match(r"[A-Za-z]+", q.name).group(0) for q in ns.quantities.values()
                 if re.match(r"[A-Za-z]+", q.name)}
        bases = {b for b in bases if b not in ("dl", "dJ", "dL")}
        node = latex.parse(eq.rhs, ns.known, bases, eq.where, generic, _loss(ns))
    else:
        node = parse_text(eq.rhs, eq.where, generic)
    for name in names(node):
        if not ns.known(name) and name != "e":
            raise SymbackError(f"{eq.where}: {name!r} is not a name in {ns.notation.name} notation for this network"
                               f"{ns.near(name)}; valid names: {ns.listing()}")
    return node


class Trial:
    """One equation on every instance: the student's formula against the derived quantity."""

    def __init__(self, ns: Namespace, other: Namespace, lhs: str, formula, insts, batch: bool):
        self.ns, self.other, self.lhs, self.formula, self.insts, self.batch = ns, other, lhs, formula, insts, batch
        q = ns.get(lhs)
        if batch and not q.batch and q.kind in ("weight", "bias"):
            q = copy(q, batch=True)
        self.q = q
        self.batch_size = insts[0].batch
        self.points = [(inst, None) for inst in insts] if batch else [
            (inst, s) for inst in insts for s in range(inst.batch)]
        self.expected = {id(ns): [ns.value(q, inst, s).a for inst, s in self.points]}
        self.finite = [i for i, e in enumerate(self.expected[id(ns)]) if np.all(np.isfinite(e))]
        self.expected_shape = self.expected[id(ns)][0].shape
        self._shapes = None

    def values(self, formula, namespace=None) -> list | None:
        ns = namespace or self.ns
        out = []
        with np.errstate(all="ignore"):
            for i in self.finite:
                inst, s = self.points[i]
                out.append(evaluate(formula, Env(ns, inst, s)).a)
        return out

    def expected_in(self, namespace) -> list:
        key = id(namespace)
        if key not in self.expected:
            q = namespace.get(self.lhs)
            q = copy(q, batch=self.q.batch)
            self.expected[key] = [namespace.value(q, inst, s).a for inst, s in self.points]
        return [self.expected[key][i] for i in self.finite]

    def matches(self, formula, namespace=None) -> bool:
        try:
            got = self.values(formula, namespace)
        except (ShapeError, SymbackError, KeyError, ValueError, TypeError, IndexError):
            return False
        return all(close(g, e) for g, e in zip(got, self.expected_in(namespace or self.ns)))

    # -- what `diagnose` asks ------------------------------------------------
    @property
    def layout_dependent(self) -> bool:
        """Whether the formula reads differently in the other layout (it names a derivative bigger than 1x1)."""
        mine, theirs = self._safe(self.ns), self._safe(self.other)
        if mine is None or theirs is None:
            return (mine is None) != (theirs is None)
        return not all(close(a, b) for a, b in zip(mine, theirs))

    def _safe(self, namespace) -> list | None:
        try:
            return self.values(self.formula, namespace)
        except (ShapeError, SymbackError):
            return None

    @property
    def shapes(self) -> dict:
        """Shape of every subterm of the formula on the first instance (where it can be evaluated)."""
        if self._shapes is None:
            self._shapes = {}
            inst, s = self.points[self.finite[0]]
            env = Env(self.ns, inst, s)
            for path, sub in walk(self.formula):
                try:
                    with np.errstate(all="ignore"):
                        self._shapes[path] = evaluate(sub, env).shape
                except (ShapeError, SymbackError, KeyError, ValueError, TypeError):
                    pass  # a part that does not fit: no shape to offer
        return self._shapes

    @property
    def activated_layers(self) -> list[int]:
        return [k for k, layer in enumerate(self.ns.summary.layers, 1) if not layer.is_identity]

    def width(self, k: int) -> int:
        return int(np.asarray(self.insts[0].params[f"b{k}"]).shape[0])

    @property
    def forward_rule(self) -> str:
        layer = self.q.layer or next((self.ns.get(n).layer for n in names(self.formula)
                                      if self.ns.get(n) and self.ns.get(n).layer), 1)
        layer = min(max(layer, 1), self.ns.K)
        return f"{self.ns.notation.name}: {self.ns.forward_rule(layer)}"

    @property
    def loss_hint(self) -> str:
        loss = self.ns.summary.loss
        if loss.name == "mse":
            return " (the squared loss sum_j (f_j - y_j)^2 has no 1/2, so its derivative is 2(f - y))"
        if loss.kind == "separable":
            return f" (the per-sample loss here is the sum over outputs of {loss.expr})"
        return ""

    def _layer_of(self, node):
        for _, sub in walk(node):
            if isinstance(sub, Name):
                q = self.ns.get(sub.text)
                if q is not None and q.kind == "pre" and not q.deriv:
                    return q
        return None

    def linear_note(self, factor) -> str:
        q = self._layer_of(factor)
        if q is not None and self.ns.summary.layers[q.layer - 1].is_identity:
            return f" ({q.name} goes through no activation, so no derivative factor belongs here)"
        return ""

    def activation_note(self, arg) -> str:
        q = self._layer_of(arg)
        if q is None:
            return ""
        return f" ({q.name} goes through {self.ns.summary.layers[q.layer - 1].activation})"


def _inputs(ns: Namespace, inst, sample) -> dict:
    """The sample's input and target in the notation's symbols (X, Y for a batch)."""
    n = ns.notation
    xs = [ns.get("x"), ns.get("y")]
    out = {}
    for q in xs:
        name = n.symbol("input") if q.kind == "input" else "y"
        if sample is None:
            out[name[:1].upper() + name[1:]] = ns.value(copy(q, batch=True), inst, None).a
        elif q.kind == "target" and ns.graph["y"].meta.kind == "label":
            out[name] = float(inst.samples[sample]["y"])
        else:
            out[name] = ns.value(q, inst, sample).a
    return out


def _params(ns: Namespace, inst) -> dict:
    n = ns.notation
    out = {}
    for k in range(1, ns.K + 1):
        out[n.symbol("weight", k)] = np.asarray(inst.params[f"W{k}"])
        out[n.symbol("bias", k)] = np.asarray(inst.params[f"b{k}"]).reshape(-1, 1)
    return out


def check_equation(eq: Equation, ns: Namespace, other: Namespace, insts) -> Result:
    lhs = ns.lhs(lhs_name(eq.lhs, eq.where, _loss(ns)), eq.where).name
    formula = parse_rhs(eq, ns)
    batch = ns.get(lhs).batch or any(ns.get(n).batch for n in names(formula) if ns.get(n))
    t = Trial(ns, other, lhs, formula, insts, batch)
    result = Result(eq.line, eq.lhs, eq.rhs, EQUAL)
    key = _key(ns.get(lhs))
    if any(_key(ns.get(n)) == key for n in names(formula) if ns.get(n)):
        result.status, result.reason = UNDECIDED, f"the right-hand side uses {lhs} itself, so agreeing proves nothing"
        return result
    if not t.finite:
        result.status, result.reason = UNDECIDED, f"{lhs} is not a finite number on any random instance"
        return result
    try:
        got = t.values(formula)
    except ShapeError as exc:
        inst, s = t.points[t.finite[0]]
        result.status = DIFFERENT
        result.counterexample = Counterexample(inst.index, None if s is None else s + 1, message=exc.message,
                                               derived_value=t.expected[id(ns)][t.finite[0]])
        result.cause = likely_cause(t) or _shape_cause(exc.message)
        return result
    expected = t.expected_in(ns)
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if not close(g, e)]
    if not bad:
        return result
    i = max(bad, key=lambda k: _gap(got[k], expected[k]))  # the clearest disagreement
    g, e = got[i], expected[i]
    inst, s = t.points[t.finite[i]]
    ce = Counterexample(inst.index, None if s is None else s + 1, yours_value=g, derived_value=e,
                        inputs=_inputs(ns, inst, s), params=_params(ns, inst))
    if g.shape != e.shape:
        ce.message = f"yours is {dims(g.shape)}, {lhs} is {dims(e.shape)}"
    else:
        diff = np.abs(g - e)
        diff[~np.isfinite(diff)] = np.inf
        r, c = np.unravel_index(int(np.argmax(diff)), diff.shape)
        ce.entry, ce.yours, ce.derived = (int(r) + 1, int(c) + 1), float(g[r, c]), float(e[r, c])
    result.status, result.counterexample = DIFFERENT, ce
    result.cause = likely_cause(t)
    if result.cause is None and ce.message:
        result.cause = _shape_cause(ce.message)
    return result


def _key(q) -> tuple:
    """What a name stands for, whatever its spelling (delta^[2] and dJ/dz^[2] are one quantity)."""
    node = q.node
    return (q.kind if q.kind != "input" else "act", node, q.deriv)


def _gap(g: np.ndarray, e: np.ndarray) -> float:
    """How clearly two values differ: the largest entry gap relative to max(1, largest entry)."""
    if g.shape != e.shape:
        return np.inf
    d = np.abs(g - e)
    if not np.all(np.isfinite(d)):
        return np.inf
    return float(np.max(d)) / max(1.0, float(np.max(np.abs(e))))


def _shape_cause(message: str):
    from .diagnose import Cause

    return Cause("shape", f"the sizes do not fit: {message}")


def _widths(derivation, inst) -> list[int]:
    import sympy as sp

    sub = {sp.Symbol(k, integer=True, positive=True): v for k, v in inst.sizes.items()}
    return [int(sp.sympify(w).xreplace(sub)) for w in derivation.summary.sizes]


def check_derivation(derivation, hand, notation="udl", layout: str | None = None,
                     instances: int = INSTANCES, seed: int = SEED, target: str = "") -> Report:
    """Compare each hand formula with the derived quantity it names; a `Report` (exit code 0 or 1)."""
    ns = Namespace(derivation, notation, layout)
    other = Namespace(derivation, ns.notation, "numerator" if ns.layout == "denominator" else "denominator")
    where, equations = read_hand(hand)
    insts = make_instances(derivation, count=instances, seed=seed)
    results = [check_equation(eq, ns, other, insts) for eq in equations]
    widths = _widths(derivation, insts[0])
    n = ns.notation
    layout_text = ("dl/dq has the shape of q" if ns.layout == "denominator"
                   else "dl/dq is laid out as q^T: a row for a vector q")
    header = [
        f"{n.title}",
        f"{ns.layout} layout ({layout_text}); vectors are columns",
        (f"compared on {instances} random instances: widths {'-'.join(map(str, widths))}, "
         f"batch B = {insts[0].batch}, relative tolerance {RTOL:g}"),
    ]
    settings = {"notation": n.name, "layout": ns.layout, "instances": instances, "batch": insts[0].batch,
                "widths": widths, "sizes": dict(insts[0].sizes), "tolerance": RTOL, "seed": seed}
    return Report(target or derivation.summary.source, where, "network", results, settings, header)

