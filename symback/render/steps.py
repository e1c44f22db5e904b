"""The step-by-step section: the unsimplified chain rule, one local derivative multiplied in per step.

Stage: render. Input: `Derivation.unsimplified()` (the reverse sweep's own
graph; nothing is re-derived). Output: a `document.Section` with UDL's
``dl/df_2 = dh_3/df_2 (df_3/dh_3 dl/df_3)`` for every adjoint, each local
derivative named as a matrix (``W^T``, ``diag(a'(f))``, ``I``) where it is one.
"""

from __future__ import annotations

import sympy as sp

from .document import Call, Cat, Equation, Note, Paren, Partial, PartialOf, Section, Shown, Word
from .sections import Builder, loss_expr


class Steps(Builder):
    """The unsimplified chain rule of `Derivation.unsimplified()`, factor by factor."""

    def factor(self, consumer: str, arg: str) -> Partial:
        return Partial(self.node_symbol(consumer), self.node_symbol(arg))

    def jacobian(self, term, upstream: str):
        """The local derivative as a matrix: W^T (denominator) or W (numerator), diag(a'(f)), I."""
        if term.op == "ew":
            return Call("diag", Shown(term.local, self.display.but(layout="denominator")))
        value = term.value
        if term.op != "linear":
            return None
        if isinstance(value, sp.MatrixSymbol) and value.name == upstream:
            return Word("identity")
        if isinstance(value, sp.MatMul) and getattr(value.args[-1], "name", None) == upstream:
            A = sp.MatMul(*value.args[:-1]) if len(value.args) > 2 else value.args[0]
            return Shown(A.T if self.layout == "numerator" else A, self.display)
        return None

    def _then(self, factor, upstream) -> Cat:
        """factor times upstream, in the layout's order."""
        return Cat(factor, " ", upstream) if self.layout != "numerator" else Cat(upstream, " ", factor)

    def chain(self, name: str) -> list:
        """The local derivatives from this adjoint back to the loss, in multiplication order."""
        node = self.g[name]
        if len(node.terms) != 1 or self.g[node.terms[0].consumer].op == "loss":
            return [self.node_symbol(name)]
        consumer = node.terms[0].consumer
        f, up = self.factor(consumer, node.of), self.chain(self.adj[consumer])
        return [f, *up] if self.layout != "numerator" else [*up, f]

    def section(self) -> Section:
        s = Section(
            "Step by step (the unsimplified chain rule)", [Note(["Each step multiplies in one local derivative."])]
        )
        params = {n.name for n in self.g.leaves("param")}
        for n in self.g.backward():
            if n.op == "seed" or len(n.terms) != 1:
                continue
            t = n.terms[0]
            consumer, lhs = self.g[t.consumer], self.node_symbol(n.name)
            if consumer.op == "loss":
                d = PartialOf(self.node_symbol(n.of), Shown(loss_expr(consumer), self.display))
                s.items.append(Equation(lhs, [d, self.rhs(n.name)], stack=True, name=n.name))
                continue
            up_name = self.adj[t.consumer]
            F = self.factor(t.consumer, n.of)
            rhs = [self._then(F, self.node_symbol(up_name))]
            up_chain = self.chain(up_name)
            if len(up_chain) > 1 and n.of not in params:
                rhs.append(self._then(F, Paren(tuple(up_chain))))
            jac = self.jacobian(t, up_name)
            where = Note(["where ", Cat(F, " = ", jac)]) if jac is not None else None
            s.items.append(Equation(lhs, [*rhs, self.rhs(n.name)], where=where, stack=True, name=n.name))
        return s
