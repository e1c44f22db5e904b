"""The quantities a hand file may name for a DAG of modules: its values, their derivatives, each path's share.

A DAG has no layers, so its names are the ones ``symback derive`` prints for it
(`notation.term` and `notation.spell`, the one node -> symbol map): every value
by its own name (``x1``, ``W_enc``, ``xhat``), ``dl/dx1`` for the loss's
derivative by a value or parameter, ``dl/dw1 (via x3)`` for one use's share of
a gradient that branches, ``y`` the target, ``yhat`` the prediction the loss
sees. Nodes of the unsimplified chain rule count too (``dl/du`` where the
printed derivation fused it away). LaTeX spellings (``x_{3}``) read as the
name without the underscore (``x3``) when only that one exists.
"""

from __future__ import annotations

from .. import library
from ..notation import spell, term
from .matrix import Z
from .names import Namespace, Quantity

#: a value's kind for the repairs: what `Namespace` calls an input, parameter, target or loss
KINDS = {"input": "input", "weight": "weight", "bias": "bias", "target": "target", "label": "target", "loss": "loss"}


class DagNames(Namespace):
    """Every name a hand file may use for a DAG's derivation, in one notation and layout (per sample)."""

    what = "DAG"

    def _build(self) -> None:
        nt = self.notation
        for graph in (self.graph, self.derivation.raw):
            for node in graph:
                if node.name in ("y",) or node.op == "loss":
                    continue
                of = graph[node.of] if node.role == "adjoint" else node
                kind = KINDS.get(of.meta.kind, "value")
                q = Quantity(spell(nt, term(graph, node.name, layered=False)), kind, None,
                             node.role == "adjoint", False, of.name, held=node.name)
                self._add(q)
                course = spell(nt, term(graph, node.name, layered=False, letters=True))  # zhat^[1] for xhat1
                if course != q.name:
                    self._add(Quantity(course, kind, None, q.deriv, False, of.name, True, held=node.name))
        self._add(Quantity(spell(nt, term(self.graph, "l", layered=False)), "loss", None, False, False, "l", held="l"))
        self._add(Quantity("y", "target", None, False, False, "y", held="y"))
        if self.graph["y"].meta.kind == "label":
            self._alias("e_y", "target", None, "y")
        self._predictions()
        if any(n.op == "batch" for n in self.graph):  # batch statistics: sums over the batch divide by its size
            self._add(Quantity("B", "size", None, False, False, ""))  # a number in per-sample formulas
        self.plain = {}  # a name without underscores -> the name, for LaTeX's x_{3} (x3); ambiguous ones left out
        for name in self.quantities:
            key = name.replace("_", "")
            self.plain[key] = None if key in self.plain and self.plain[key] != name else name

    def _alias(self, name: str, kind: str, layer, node: str) -> None:
        self._add(Quantity(name, kind, layer, False, False, node, True, held=node))

    def get(self, name: str) -> Quantity | None:
        q = super().get(name)
        if q is None and "[" not in name and (plain := self.plain.get(name.replace("_", ""))):
            return self.quantities[plain]
        return q

    def width(self, q: Quantity | None) -> int:
        if q is None or q.kind == "loss":
            return 0
        node = self.graph[q.held] if q.held in self.graph else self.derivation.raw[q.held]
        if q.kind == "target" and node.meta.kind == "label":
            return int(self.graph[self.derivation.output].meta.size)
        return int(node.shape[0]) if len(node.shape) == 1 else 0

    def listing(self) -> str:
        order = ("value", "weight", "bias", "input", "target", "loss")
        qs = [q for q in self.quantities.values() if not q.alias and q.held in self.graph]
        qs.sort(key=lambda q: (not q.deriv, order.index(q.kind)))
        return ", ".join(q.name for q in qs)

    def shift(self, name: str, delta: int) -> str | None:
        return None  # a DAG has no layers to be off by one

    def activated(self, batch: bool = False) -> list[tuple[str, str, str, object]]:
        """(input, output, the activation's name, its formula in `Z`) of each activation module (``map``)."""
        if batch:
            return []
        names = {q.held: q.name for q in self.quantities.values() if not q.deriv and not q.alias}
        return [(names[n.args[0]], names[n.name], n.meta.activation, library.activation(n.meta.activation)(Z))
                for n in self.graph.forward() if n.op == "ew" and n.meta.activation and len(n.args) == 1]

    def shares(self, q: Quantity) -> list[Quantity]:
        """The per-path shares whose sum is the derivative `q` (empty unless its value feeds several modules)."""
        if not q.deriv or q.rows is not None:
            return []
        return [s for s in self.quantities.values()
                if s.deriv and s.node == q.node and s.held.startswith(q.held + "_via_")]
