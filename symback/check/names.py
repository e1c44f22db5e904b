"""The quantities a hand file may name for a layered network, and their values.

`Namespace` maps each course symbol of a notation preset and layout
(``delta^[2]``, ``dl/dOmega_1``, ``X``) to a `Quantity` (which IR node, which
layer in the IR's indexing, derivative or not, per sample or batch) and values
it on a random `Instance`:

- vectors are columns: f, h, x, y (a class label y is its one-hot column);
- a derivative dl/dq has the shape of q in the denominator layout and the
  transposed shape (a row for a vector) in the numerator layout;
- a batch matrix (capitalised name: ``H_1``, ``A^[1]``, ``Delta^[2]``, ``X``)
  holds the per-sample quantity of each of the B samples side by side
  (columns; rows for row-shaped derivatives); ``B`` is the batch size and
  ``dL/dOmega_1`` the gradient of the batch loss L (the mean of the
  per-sample losses, or their sum with ``reduction="sum"``).

The nodes (`notation.at`) and the spellings (`notation.spell`) come from
`symback.notation`, the one node -> course-symbol map; the few spellings
students write that a notation does not (``x``, ``h_0``, ``e_y``, ``yhat``)
are aliases, accepted but not listed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

import numpy as np

from .. import notation as notations
from ..errors import SymbackError
from ..notation import spell
from ..notation.nodes import Error, Grad, Loss, Prob, Template
from ..notation.nodes import Quantity as Term
from .matrix import Val, Z

VECTOR_KINDS = ("pre", "act", "input", "target", "error", "pred", "prob", "value")
#: losses that take logits: their prediction, ``yhat``, is the probabilities the loss computes from them
LOGIT_LOSSES = ("softmax_cross_entropy", "bce_with_logits")
#: f_3[2], dl/dc[4..6]: components as `formula` spells them (not a superscript's ^[2])
PICK = re.compile(r"(.*[^^])\[(\d{1,9})(?:\.\.(\d{1,9}))?\]")
#: f[j]: every component, as symback writes a sum over them (sum_j (f[j] - y[j])^2); s[y]: the label's component
EVERY = re.compile(r"(.*[^^])\[([jy])\]")
#: dz^[2]/da^[1]: a local Jacobian (the numerator a value, not the loss)
JACOBIAN = re.compile(r"d([^/]+)/d([^/]+)")


@dataclass(frozen=True)
class Quantity:
    name: str  # canonical spelling in the notation
    kind: str  # pre act weight bias input target loss pred prob size
    layer: int | None  # IR layer (CS229 indexing), 0 for the input
    deriv: bool = False  # dl/d(this)
    batch: bool = False
    node: str = ""  # IR forward node holding the quantity
    alias: bool = False  # another spelling, not listed
    rows: tuple | None = None  # components picked (f_3[2..3]), as a 0-based slice (start, stop) of the vector
    held: str = ""  # the IR node holding the value itself (a DAG's values and shares; a Jacobian's denominator)
    at_label: bool = False  # s[y]: the component at the sample's class label


def capital(name: str) -> str:
    """The batch spelling of a per-sample symbol: f_1 -> F_1, delta^[2] -> Delta^[2], dl/df_1 -> dl/dF_1."""
    head, d, rest = name.rpartition("/d")  # ("", "", name) for a name that is no derivative
    return f"{head}{d}{rest[:1].upper()}{rest[1:]}"


class Namespace:
    """Every name a hand file may use for one derivation, in one notation and layout."""

    what = "network"  # for messages: "is not a quantity of this network"

    def __init__(self, derivation, notation="udl", layout: str | None = None):
        self.derivation = derivation
        self.notation = notations.get(notation)
        self.layout = notations.layout_of(self.notation, layout)
        self.summary = derivation.summary
        self.graph = derivation.graph
        self.K = self.summary.depth
        self.nodes = notations.at(self.graph)  # (kind, IR layer) -> node
        self.input = next(n.name for n in self.graph.forward() if n.meta.kind == "input")
        self.target = next(n.name for n in self.graph.forward() if n.meta.kind in ("target", "label"))
        self.quantities: dict[str, Quantity] = {}
        self._by_key: dict[tuple, str] = {}
        self._build()

    # -- construction --------------------------------------------------------
    def _add(self, q: Quantity) -> None:
        if q.name in self.quantities:
            return
        self.quantities[q.name] = q
        key = (q.kind, q.layer, q.deriv, q.batch)
        if not q.alias and key not in self._by_key:
            self._by_key[key] = q.name

    def _both(self, t: Term, kind: str, layer, node: str, deriv_ok: bool = True, alias: bool = False):
        """Add notation quantity `t`, its derivative dl/dt, and their batch spellings when vectors.

        Every spelling is the notation's (`spell`): f_1, F_1, dl/df_1, dl/dF_1; dL/dOmega_1 for a parameter.
        """
        nt, vector = self.notation, kind in VECTOR_KINDS
        batch, name = replace(t, batch=True), spell(nt, t)
        self._add(Quantity(name, kind, layer, False, False, node, alias))
        if vector:
            self._add(Quantity(spell(nt, batch), kind, layer, False, True, node, alias))
            self._add(Quantity(capital(name), kind, layer, False, True, node, True))  # beside a course's own
        if deriv_ok:  # a parameter's batch derivative is the batch loss's gradient dL/dW (dJ/dW: already there)
            d = spell(nt, Grad(t))
            self._add(Quantity(d, kind, layer, True, False, node, alias))
            big = Grad(batch) if vector else Grad(t, batch=True)
            self._add(Quantity(spell(nt, big), kind, layer, True, True, node, alias))
            big = capital(d) if vector else f"d{capital(spell(nt, Loss()))}/d{name}"
            self._add(Quantity(big, kind, layer, True, True, node, True))

    def _alias(self, name: str, kind: str, layer, node: str) -> None:
        """Another spelling students write for a vector (x, h_0, e_y, yhat, p) and its batch capital; not listed."""
        self._add(Quantity(name, kind, layer, False, False, node, True))
        self._add(Quantity(capital(name), kind, layer, False, True, node, True))

    def _build(self) -> None:
        nt, g, at = self.notation, self.graph, self.nodes
        for k in range(1, self.K + 1):
            pre = at[("pre", k)]
            self._both(Term("pre", k), "pre", k, pre)
            # the error term: the course's delta^[k] (Delta^[k]), else dl/df_k (already there) and Delta_k
            self._add(Quantity(spell(nt, Error(k)), "pre", k, True, False, pre))
            self._add(Quantity(spell(nt, Error(k, batch=True)), "pre", k, True, True, pre, alias=nt.error is None))
            # what students write beside a course's own batch name: Delta^[k], or Delta with f_k's index
            own = capital(spell(nt, Error(k))) if nt.error else re.sub(r"^[A-Za-z]+", "Delta", spell(nt, Term("pre", k)))
            self._add(Quantity(own, "pre", k, True, True, pre, alias=True))
            # an identity layer has no h_k in the IR: its activation is its pre-activation
            self._both(Term("act", k), "act", k, at.get(("act", k), pre), alias=("act", k) not in at)
            for kind in ("weight", "bias"):
                self._both(Term(kind, k), kind, k, at[(kind, k)])
        x, y = self.input, self.target
        self._both(Term("input"), "input", 0, x, deriv_ok=x in self.derivation.adjoints)  # dl/dx when derived
        for name in ("x", spell(nt, Template("act", 0))):  # x, and the input as layer 0's activation (h_0)
            self._alias(name, "input", 0, x)
        self._both(Term("target"), "target", None, y, deriv_ok=False)
        self._alias("y", "target", None, y)
        if g[y].meta.kind == "label":  # the one-hot label, as symback writes it
            self._alias("e_y", "target", None, y)
            self._add(Quantity("E_Y", "target", None, False, True, y, alias=True))
        self._losses()
        self._predictions()
        self._add(Quantity("B", "size", None, False, True, ""))

    def _losses(self) -> None:
        """The loss l, the batch loss L (mean or sum of the l_i), and l_i: the per-sample losses as a row of B."""
        nt, out = self.notation, self.derivation.output
        one, batch = spell(nt, Loss()), spell(nt, Loss(batch=True))
        self._add(Quantity(one, "loss", None, False, False, out))
        self._add(Quantity(batch, "loss", None, False, True, out, alias=batch == one))
        for name in {one, batch}:
            self._add(Quantity(f"{name}_i", "losses", None, False, True, out, alias=True))

    def _predictions(self) -> None:
        """``yhat``: the prediction the loss compares with y (for softmax cross-entropy the probabilities p)."""
        g, nt = self.graph, self.notation
        prob = next((n.name for n in g.forward() if n.meta.kind == "softmax"), None)
        if prob is not None:
            self._alias(spell(nt, Prob()), "prob", None, prob)
        pred = self.prediction
        if pred is not None:
            self._alias("yhat", "prob" if pred != g[self.derivation.output].meta.prediction else "pred", None, pred)

    @property
    def prediction(self) -> str | None:
        """The IR node ``yhat`` names: the loss's prediction, or its softmax when the loss takes logits."""
        g, loss = self.graph, self.summary.loss
        pred = g[self.derivation.output].meta.prediction
        prob = next((n.name for n in g.forward() if n.meta.kind == "softmax"), None)
        return prob if prob is not None and loss is not None and loss.name in LOGIT_LOSSES else pred

    def logits(self, batch: bool = False) -> str | None:
        """The name of what the loss takes when ``yhat`` is not that (the logits of softmax cross-entropy)."""
        out = self.graph[self.derivation.output].meta.prediction
        return None if self.prediction == out else next((q.name for q in self.quantities.values() if q.node == out
                                                         and not q.deriv and q.batch == batch and not q.alias), None)

    def yhat_note(self) -> str:
        """What ``yhat`` means, when it is not the network's output itself (else "")."""
        logits = self.logits()
        return "" if logits is None else (f"yhat is the prediction the {self.summary.loss.name} loss sees, the "
                                          f"probabilities {spell(self.notation, Prob())} = softmax({logits}), "
                                          f"not the logits {logits}")

    # -- lookup ----------------------------------------------------------------
    def get(self, name: str) -> Quantity | None:
        pick = PICK.fullmatch(name)
        if pick:
            return self._pick(*pick.groups())
        every = EVERY.fullmatch(name)
        if every:
            q, labels = self.get(every.group(1)), self.graph[self.target].meta.kind == "label"
            if q is None or not self.width(q) or (every.group(2) == "y" and not labels):
                return None  # s[y] needs a class label y
            return replace(q, name=name, at_label=True) if every.group(2) == "y" else q
        m = re.fullmatch(r"(.*?[A-Za-z])(\d+)", name)  # h1 for h_1, W2 for W_2: a digit run after letters
        return self.quantities.get(name) or (self.quantities.get(f"{m.group(1)}_{m.group(2)}") if m else None) \
            or self._jacobian(name)

    def _jacobian(self, name: str) -> Quantity | None:
        """``dz^[2]/da^[1]``: the local derivative of a value by one of its module's inputs, as the steps print it."""
        m = JACOBIAN.fullmatch(name)
        top, by = (self.get(m.group(1)), self.get(m.group(2))) if m else (None, None)
        if top is None or by is None or top.kind in ("loss", "losses") or any(
                q.deriv or q.batch or q.rows or q.at_label for q in (top, by)):
            return None
        a, b = top.held or top.node, by.held or by.node
        if b not in self.derivation.raw[a].args or a == b:
            return None
        self._add(Quantity(name, "jacobian", None, True, False, a, True, held=b))
        return self.quantities[name]

    def width(self, q: Quantity | None) -> int:
        """How many components vector quantity `q` has (a class label: one per class); 0 for anything else."""
        if q is None or q.kind not in VECTOR_KINDS + ("bias",):
            return 0
        node = self.graph[q.node]
        if q.kind == "target" and node.meta.kind == "label":
            return int(self.graph[self.derivation.output].meta.size)
        return int(node.shape[0])

    def _pick(self, base: str, lo: str, hi: str | None) -> Quantity | None:
        """Components lo..hi of a vector, counted as the notation counts (both ends included); None if out of range."""
        q, first = self.get(base), self.notation.first
        lo, hi = int(lo), int(hi or lo)
        if q is None or q.rows is not None or not first <= lo <= hi < first + self.width(q):
            return None
        name = f"{q.name}[{lo}..{hi}]" if hi > lo else f"{q.name}[{lo}]"
        return replace(q, name=name, rows=(lo - first, hi - first + 1))

    def known(self, name: str) -> bool:
        return self.get(name) is not None

    def listing(self) -> str:
        """The names one can check (derivatives first), for error messages."""
        order = ("pre", "act", "weight", "bias", "input", "target", "loss")
        qs = [q for q in self.quantities.values() if not q.alias and not q.batch and q.kind in order]
        qs.sort(key=lambda q: (not q.deriv, order.index(q.kind), q.layer or 0))
        return compact([q.name for q in qs])

    def near(self, text: str) -> str:
        pick = PICK.fullmatch(text)
        if pick and (q := self.get(pick.group(1))) is not None:  # a known name, components out of range
            first = self.notation.first
            if not self.width(q):
                return f" ({q.name} is not a vector: only a vector's components can be picked)"
            last = first + self.width(q) - 1
            return f" ({q.name} has components {first}..{last}, counted from {first} in {self.notation.name} notation)"
        close = difflib.get_close_matches(text, [q.name for q in self.quantities.values() if not q.alias], n=2)
        return f" (did you mean {' or '.join(close)}?)" if close else ""

    def lhs(self, text: str, where: str) -> Quantity:
        q = self.get(text)
        if q is None or q.kind == "size":
            near = self.near(text)  # a close name says enough; otherwise every name, as ranges
            raise SymbackError(f"{where}: {text!r} is not a quantity of this {self.what} in {self.notation.name} "
                               f"notation{near or '; valid names: ' + self.listing()}")
        return q

    def shift(self, name: str, delta: int) -> str | None:
        """The same kind of quantity `delta` layers later (the off-by-one the student may have made)."""
        pick = PICK.fullmatch(name)
        if pick:  # the same components of the shifted quantity
            new = self.shift(pick.group(1), delta)
            return new + name[pick.end(1):] if new and self.known(new + name[pick.end(1):]) else None
        q = self.get(name)
        if q is None or q.layer is None:
            return None
        layer, kind = q.layer + delta, "act" if q.kind == "input" else q.kind
        return self._by_key.get(("input" if kind == "act" and layer == 0 else kind, layer, q.deriv, q.batch))

    def activated(self, batch: bool = False) -> list[tuple[str, str, str, object]]:
        """(pre-activation, activation, the activation's name, its formula in `Z`) of each layer that has one."""
        return [(self._by_key[("pre", k, False, batch)], self._by_key[("act", k, False, batch)], layer.activation,
                 layer.fn(Z)) for k, layer in enumerate(self.summary.layers, 1) if not layer.is_identity]

    def forward_rule(self, k: int) -> str:
        """The notation's forward equation of layer k, e.g. ``f_1 = beta_1 + Omega_1 h_1``."""
        n = self.notation
        if n.name == "udl":
            return f"{n.symbol('pre', k)} = {n.symbol('bias', k)} + {n.symbol('weight', k)} {n.symbol('act', k - 1)}"
        return f"{n.symbol('pre', k)} = {n.symbol('weight', k)} {n.symbol('act', k - 1)} + {n.symbol('bias', k)}"

    # -- values ----------------------------------------------------------------
    def orient(self, value: np.ndarray, deriv: bool) -> np.ndarray:
        """A node's value as a 2-D array in this layout (vectors are columns; derivatives per layout)."""
        a = np.asarray(value, dtype=float)
        a = a.reshape(-1, 1) if a.ndim < 2 else a
        return a.T if deriv and self.layout == "numerator" else a

    def sample_value(self, q: Quantity, inst, s: int) -> np.ndarray:
        if q.kind == "jacobian":
            return self.orient(inst.jacobian(s, q.node, q.held), True)
        if q.kind == "target" and self.graph[self.target].meta.kind == "label":  # the one-hot column
            a = np.eye(inst.n_out)[:, [int(inst.samples[s][self.target])]]
        else:
            held = q.held or (inst.adjoint(q.node) if q.deriv else q.node)
            a = self.orient(inst.value(s, held), q.deriv)
        if q.at_label:
            return a[[int(inst.samples[s][self.target])]]
        if q.rows is None:
            return a
        lo, hi = q.rows  # the picked components: columns of a row-shaped derivative, else rows
        return a[:, lo:hi] if q.deriv and self.layout == "numerator" else a[lo:hi]

    def value(self, q: Quantity, inst, sample: int | None) -> Val:
        """`q` on instance `inst`: for one sample (per-sample quantities) or the whole batch."""
        if q.kind == "size":
            return Val(np.array([[float(inst.batch)]]))
        if not q.batch:  # a parameter is among every sample's values
            return Val(self.sample_value(q, inst, 0 if sample is None else sample))
        if q.kind in ("weight", "bias", "loss"):  # dL/dW, L: mean (or sum) of the per-sample values
            total = sum(self.sample_value(q, inst, s) for s in range(inst.batch))
            return Val(total / inst.batch if self.summary.reduction == "mean" else total)
        cols = [self.sample_value(q, inst, s) for s in range(inst.batch)]
        if q.deriv and self.layout == "numerator":  # row-shaped derivatives stack as rows
            return Val(np.vstack(cols), 0)
        return Val(np.hstack(cols), 1)


def compact(names: list[str]) -> str:
    """Names that differ only in their last number as one range: ``dl/dOmega_0..3``, ``delta^[1..3]``."""
    groups: dict[str, list[int]] = {}  # a name without a number, or a template with {} for its last number
    for name in names:
        last = list(re.finditer(r"\d+", name))[-1:]
        key = name[: last[0].start()] + "{}" + name[last[0].end():] if last else name
        groups.setdefault(key, []).extend(int(m.group()) for m in last)
    parts = []
    for key, ks in groups.items():
        ks.sort()
        if len(ks) > 2 and ks == list(range(ks[0], ks[-1] + 1)):
            parts.append(key.format(f"{ks[0]}..{ks[-1]}"))
        else:
            parts += [key.format(k) for k in ks] or [key]
    return ", ".join(parts)
