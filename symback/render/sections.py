"""Build the sections of a network's or DAG's derivation as a format-free document.

Stage: render. Input: a `Derivation` (forward and backward IR nodes, its
`Summary`), a notation preset, a layout and the per-sample or minibatch form.
Output: `document.Section`s, the lecture's parts: the forward pass, the
backward recursion (the error term of each layer, then the general line, e.g.
CS229's ``delta^[k] = g'(z^[k]) ∘ (W^[k+1]T delta^[k+1])``), the parameter
gradients (``dl/dW_k = delta_k h_{k-1}^T``) and the SGD update.

Every right-hand side is the IR's own expression (`Shown`), so the
activation's derivative reads as SymPy derived it (``I[f > 0]``,
``h(1 - h)``); every symbol is the notation's term for its node
(`symback.notation.nodes.term`). Nothing here knows a format: `pages` prints
the document in each.
"""

from __future__ import annotations

import itertools

import sympy as sp

from ..ir import sym
from ..nonsmooth import Indicator
from ..notation.nodes import BATCHED, Error, Grad, Idx, Loss, Quantity, Template, at, depth, legend, spell, term, totals
from ..ops import decay_rate
from .document import (
    Alt,
    Call,
    Cat,
    Dims,
    Equation,
    Hadamard,
    Layers,
    Note,
    Paren,
    Prose,
    Section,
    Shown,
    Transposed,
    Word,
    note,
)
from .printers import Display, TextPrinter, is_atomic

#: equal layers in a row that a typeset architecture writes once, with their count
REPEATED = 4
LAYOUT_NOTES = {
    "numerator": "Layout: numerator. A derivative of the loss by a column vector is a row, the Jacobian's shape. "
    "{dh} is a row, and {dW} is laid out like the transpose of {W}. The update subtracts its transpose.",
    "denominator": "Layout: denominator. A derivative has the shape of what it is taken with respect to. "
    "{dh} is a column like {h}, and {dW} has the shape of {W}.",
}


class Builder:
    """Builds the document for one derivation, notation, layout and form (per sample or minibatch)."""

    def __init__(self, d, notation, layout: str, *, batch: bool = False):
        self.d, self.nt, self.layout, self.batch = d, notation, layout, batch
        self.g = d.graph
        self.adj, self.at, self.depth = totals(self.g), at(self.g), depth(self.g)
        self.display = self._display()

    # -- symbols -------------------------------------------------------------
    def sym(self, kind: str, k=None) -> Quantity:
        return Quantity(kind, k, self.batch and kind in BATCHED)

    def error(self, k) -> Error:
        return Error(k, self.batch)

    def derivative(self, kind: str, k) -> Grad:
        return Grad(self.sym(kind, k), self.batch)

    def node_symbol(self, name: str):
        """The notation's term for node `name` (`symback.notation.nodes.term`)."""
        return term(self.g, name, self.batch, layered=bool(self.depth))

    def key(self, fragment) -> str:
        """What a formula reads as (its text spelling): lines that read the same are one line."""
        return TextPrinter({"notation": self.nt}).math(fragment)

    def _display(self) -> Display:
        g = self.g
        return Display(
            layout=self.layout,
            names={n.name: self.node_symbol(n.name) for n in g if n.role != "forward" or n.meta.kind != "loss"},
            vectors={n.name for n in g if len(n.shape) >= 1},
            adjoints={n.name for n in g if n.role == "adjoint"},
            onehot="Onehot" if self.batch else "onehot",
            broadcast={n.name for n in g.forward() if n.meta.kind == "bias"} if self.batch else set(),
        )

    def shape(self, name: str) -> Dims:
        node = self.g[name]
        shape = tuple(node.shape)
        if len(shape) == 1:
            of = self.g[node.of] if node.role == "adjoint" else node
            stacked = self.batch and not (of.is_leaf and of.op == "param")
            shape = (shape[0], "B" if stacked else 1)
        if node.role == "adjoint" and self.layout == "numerator":
            shape = shape[::-1]
        return Dims(shape)

    def per_batch(self):
        """``(1/B)`` before a sum over the minibatch, nothing where the loss is their sum."""
        return Word("per_batch") if self.d.summary.reduction != "sum" else ""

    def define(self, name: str, rhs: list, where: Note | None = None) -> Equation:
        """The equation that defines node `name`, with its shape."""
        return Equation(self.node_symbol(name), rhs, self.shape(name), where, name=name)

    # -- right-hand sides ----------------------------------------------------
    def linear(self, expr, display: Display | None = None) -> Shown:
        display = display or self.display
        if display.layout == "numerator" and {s.name for s in expr.free_symbols} & (display.adjoints | display.inline):
            expr = expr.T
        return Shown(expr, display)

    def ew(self, expr, display: Display | None = None):
        """An elementwise expression; in numerator layout, its transpose (adjoints are rows)."""
        display = display or self.display
        adj = display.adjoints | display.inline
        coeff, rest = expr.as_coeff_Mul()
        row_sum = isinstance(rest, sp.Add) and all(isinstance(t, sp.Symbol) and t.name in adj for t in rest.args)
        if display.layout != "numerator" or row_sum:  # a sum of rows is a row already
            return Shown(expr, display)
        factors = sp.Mul.make_args(rest)
        rows = [f for f in factors if isinstance(f, sp.Symbol) and f.name in adj]
        parts = [Shown(f, display) for f in rows]
        if len(rows) < len(factors):
            o = sp.Mul(*[f for f in factors if f not in rows])
            atomic = is_atomic(o) or (isinstance(o, sp.Pow) and is_atomic(o.base))
            parts.append(Transposed(Shown(o, display), atomic))
        return Hadamard(tuple(parts), coeff)

    def rhs(self, name: str, display: Display | None = None):
        node = self.g[name]
        display = display or self.display
        if node.op == "loss":  # a scalar formula in components: no elementwise products
            return Shown(loss_expr(node), display.but(vectors=set()))
        if node.role != "adjoint":  # forward quantities are columns in either layout
            return Shown(node.expr, display)
        return (self.linear if node.op == "linear" else self.ew)(node.expr, display)

    # -- sections --------------------------------------------------------------
    def header(self) -> Section:
        net, nt = self.d.summary, self.nt
        syms = [Quantity(kind, Idx(-getattr(nt, kind).offset)) for kind in ("pre", "act", "weight", "bias")]
        listed = Cat("(", *[p for q in syms for p in (", ", q)][1:], ")")
        notation = Alt([f"Notation: {nt.title}."], [f"Notation: {nt.title.split(' (')[0]} ", listed])
        network = Note(["Network: ", architecture(net), ", loss ", *loss_name(net), "."])
        layout = Builder(self.d, nt, self.layout).layout_note() if self.batch else self.layout_note()  # per sample
        return Section("", [network, Note([notation]), layout, self.legend()])

    def layout_note(self) -> Note:
        if self.depth:
            hname = next((self.at[c] for c in (("act", 1), ("pre", 1)) if self.at.get(c) in self.adj), None)
            wname = self.at[("weight", self.depth)]
        else:  # a DAG: its first vector with a gradient and its first matrix parameter
            hname = next((n.of for n in self.g.backward() if len(n.shape) == 1 and not self.g[n.of].is_leaf), None)
            wname = next((p for p in self.d.params if len(self.g[p].shape) == 2), None)
        if hname is None or wname is None or hname not in self.adj:
            return Note([f"Layout: {self.layout}."])
        h, dh, W, dW = (self.node_symbol(n) for n in (hname, self.adj[hname], wname, self.adj[wname]))
        return note(LAYOUT_NOTES[self.layout], h=h, dh=dh, W=W, dW=dW)

    def legend(self) -> Note:
        parts = [Word("hadamard"), " is the elementwise product; functions of vectors act elementwise."]
        exprs = [n.expr for n in self.g if n.expr is not None]
        if any(e.has(Indicator) for e in exprs):
            parts += [" ", Word("indicator"), " is 1 where ", Cat("c"), " holds, else 0."]
        if any(e.has(sp.MatrixSlice) for e in exprs):
            parts += [f" Components count from {self.nt.first}: ", Word("range"), " holds the components ", Cat("i"),
                      " to ", Cat("j"), " of ", Cat("v"), ", both included."]
        if any(e.has(sp.KroneckerDelta) for e in exprs):
            what = [" holds the one-hot columns of the labels."] if self.batch else [
                " is the one-hot vector of the class ", Quantity("target"), "."]
            parts += [" ", Word(self.display.onehot), *what]
        if self.batch:
            cols = Alt([" has columns x_1, ..., x_B."], [" has the samples as columns."])
            parts += [" A minibatch of ", Cat("B"), " samples, one column per sample: ", self.sym("input"), cols]
            rows = "row" if self.layout == "numerator" else "column"
            parts += [" ", Word("one"), " is a column of ", Cat("B"), " ones.", " ", self.error(self.depth)]
            parts += [f" stacks the per-sample error terms, one {rows} per sample."]
        return Note(parts + legend(self.nt, self.g))

    def forward(self) -> Section:
        s = Section("Forward pass" + (" (one sample)" if not self.batch else " (minibatch)"))
        for n in self.g.forward():
            if n.is_leaf:
                continue
            kind, rhs = n.meta.kind, [self.rhs(n.name)]
            if kind == "loss" and self.batch:
                rhs = [Cat(self.per_batch(), Word("total"), " ", Loss(), "_i")]
            elif kind == "softmax":
                rhs.insert(0, Call("softmax", self.node_symbol(n.args[0])))
            elif kind == "sigmoid":
                rhs = [Shown(n.expr, self.display.but(sigma=False))]
            s.items.append(self.define(n.name, rhs))
            if kind == "loss" and n.meta.regularizer is not None:
                s.items += self.objective(decay_rate(self.g))
        return s

    def objective(self, lam) -> list[Note]:
        """Weight decay: the objective L + lambda/2 sum_k ||W_k||^2, the penalty once per minibatch (two short notes,
        so that each fits a line of a LaTeX page)."""
        K = Idx(-self.nt.weight.offset)
        W = Cat(Word("norm"), self.sym("weight", K), Word("norm"), Word("squared"))
        J = Cat(Loss(batch=True), " + ", Shown(lam / 2, self.display), " ", Word("sum_k"), W)
        gains = Cat(Shown(lam, self.display), Word("juxtapose"), self.sym("weight", K))
        return [Note(["Weight decay: the minibatch objective is ", J, ","]),
                Note(["with ", Loss(batch=True), " the mean loss and the penalty once per minibatch (as torch's SGD"
                      " weight_decay):"]),
                Note(["each weight gradient gains ", gains, "."])]

    def backward(self) -> Section:
        s = Section("Backward pass (output layer first)")
        params = {n.name for n in self.g.leaves("param")}
        display = self._inline_acts() if self.batch else None  # the minibatch form writes dl/dH_k out
        for n in self.g.backward():
            if n.op == "seed" or n.of in params or (self.batch and self.g[n.of].meta.kind != "pre"):
                continue
            fused = n.meta.fused is not None and not self.batch
            where = Note(["(fused: the activation's derivative cancels)"]) if fused else None
            s.items.append(self.define(n.name, [self.rhs(n.name, display)], where))
        s.items += self.recursion()
        return s

    def _inline_acts(self, display: Display | None = None, only: set | None = None) -> Display:
        """Display in which each dl/dh_k (of the names in `only`, when given) is written out as its expression,
        in parentheses."""
        display = display or self.display
        names, inline = dict(display.names), set(display.inline)
        for n in self.g.backward():
            if self.g[n.of].meta.kind == "act" and (only is None or n.name in only):
                names[n.name] = self.rhs(n.name, display)
                inline.add(n.name)
        return display.but(names=names, inline=inline)

    def _generic(self, mapping: dict) -> Display:
        return self.display.but(names={**self.display.names, **mapping})

    def _for_layers(self, layers, kind: str = "pre") -> Note:
        """``for k = 0, 1, 2`` in the notation's indexing."""
        off = getattr(self.nt, kind).offset
        return Note(["for ", Layers(tuple(k + off for k in layers))])

    def _group(self, groups: dict, line, k: int) -> None:
        """Add layer k to the group of lines that read like `line` (or start one)."""
        groups.setdefault(self.key(line), (line, []))[1].append(k)

    def recursion(self) -> list[Equation]:
        """The general line delta_k = a'(f_k) ⊙ (W_{k+1}^T delta_{k+1}), grouped by activation derivative."""
        K = Idx(-self.nt.pre.offset)
        groups: dict = {}
        for k in range(1, self.depth):
            pre, nxt = self.at.get(("pre", k)), self.at.get(("pre", k + 1))
            err, err_next = self.adj.get(pre), self.adj.get(nxt)
            if err is None or err_next is None:
                continue
            mapping = {
                pre: self.sym("pre", K),
                self.at[("weight", k + 1)]: self.sym("weight", K + 1),
                err_next: self.error(K + 1),
                err: self.error(K),
            }
            act = self.at.get(("act", k))
            if act is not None:
                mapping[act] = self.sym("act", K)
            shown = {s.name for s in self.g[err].expr.free_symbols}  # the line inlines only its own dl/dh_k
            self._group(groups, self.rhs(err, self._inline_acts(self._generic(mapping), shown)), k)
        if len(groups) == 1 and self.depth <= 2:
            return []  # one hidden layer: its line above already is the whole recursion
        return [Equation(self.error(K), [line], where=self._for_layers(layers)) for line, layers in groups.values()]

    def gradients(self) -> Section:
        s = Section("Parameter gradients")
        for p in self.d.params:
            for via in self.g.backward():  # a shared parameter: one share per use, then their sum
                if via.of == p and via.meta.path is not None and not self.batch:
                    s.items.append(self.define(via.name, [self.rhs(via.name)]))
            name = self.d.adjoints[p]
            s.items.append(self.define(name, [self.batch_grad(p) if self.batch else self.rhs(name)]))
        if not self.batch:
            s.items += self.general_gradients()
        elif self.d.summary.reduction == "sum":
            s.items.append(
                Note(["(reduction='sum': the batch loss is the sum of the per-sample losses, so there is no 1/B)"])
            )
        return s

    def batch_grad(self, p: str):
        node = self.g[self.d.adjoints[p]]
        scale = self.per_batch()
        if self.g[p].meta.kind == "bias":
            if self.layout == "numerator":
                return Cat(scale, Transposed(Word("one"), True), " ", self.linear(node.expr))
            return Cat(scale, Shown(node.expr, self.display), " ", Word("one"))
        return Cat(scale, self.linear(node.expr))

    def general_gradients(self) -> list:
        """dl/dW_k = delta_k h_{k-1}^T and dl/db_k = delta_k, when every layer has the same form."""
        if self.depth < 2:
            return []
        K = Idx(-self.nt.pre.offset)
        lines: dict[str, dict] = {"weight": {}, "bias": {}}
        uses_input = False
        for k in range(1, self.depth + 1):
            err = self.adj.get(self.at[("pre", k)])
            mapping = {err: self.error(K)}
            for kind in ("weight", "bias"):
                gnode = self.g[self.adj[self.at[(kind, k)]]]
                for a in gnode.args:
                    a_kind = self.g[a].meta.kind
                    if a == self.at[(kind, k)]:  # weight decay's lambda W_k
                        mapping[a] = self.sym(kind, K)
                    elif a != err and a_kind in ("input", "act", "pre"):  # h_{k-1}, written h_0 for the input
                        mapping[a] = Template("act", K - 1) if a_kind == "input" else self.sym(a_kind, K - 1)
                        uses_input |= a_kind == "input"
                self._group(lines[kind], self.rhs(gnode.name, self._generic(mapping)), k)
        out = [
            Equation(self.derivative(kind, K), [line], where=self._for_layers(layers, kind))
            for kind in ("weight", "bias")
            for line, layers in lines[kind].values()
            if len(layers) >= 2
        ]
        h0, x = Template("act", 0), Quantity("input")
        if uses_input and out and spell(self.nt, h0) != spell(self.nt, x):
            out.append(Note(["where ", Cat(h0, " = ", x)]))
        return out

    def sgd(self) -> Section:
        alpha = Word("alpha")
        s = Section(["SGD update, learning rate ", alpha])
        if not self.depth:  # not layered (a DAG): one update per parameter
            steps = [(self.node_symbol(p), self.node_symbol(self.d.adjoints[p]), None) for p in self.d.params]
        else:
            K = Idx(-self.nt.pre.offset) if self.depth > 1 else 1
            layers = range(1, self.depth + 1)
            steps = [
                (
                    self.sym(kind, K),
                    self.derivative(kind, K),
                    self._for_layers(layers, kind) if self.depth > 1 else None,
                )
                for kind in ("weight", "bias")
            ]
        for P, grad, where in steps:
            s.items.append(update(P, alpha, Transposed(grad, False) if self.layout == "numerator" else grad, where))
        if self.depth and not self.batch:
            s.items += self.output_update(alpha)
            verb = "sums" if self.d.summary.reduction == "sum" else "averages"
            s.items.append(Note([f"A minibatch step {verb} these gradients over its ", Cat("B"), " samples."]))
        return s

    def output_update(self, alpha) -> list:
        """The output layer's update with its error term written out (the perceptron rule w <- w - alpha (sigma - y) x)."""
        K = self.depth
        err = self.adj.get(self.at[("pre", K)])
        expr = self.g[err].expr
        for _ in range(len(self.g)):  # substitute elementwise adjoints back to the loss: (a - y) ∘ I[z > 0]
            ups = [s for s in expr.free_symbols if s.name in self.display.adjoints]
            if not ups or any(self.g[s.name].op != "ew" for s in ups) or any(  # read across components: stays
                    e.base.name in self.display.adjoints for e in expr.atoms(sp.Indexed)):
                break
            expr = expr.xreplace({s: self.g[s.name].expr for s in ups})
        if any(s.name in self.display.adjoints for s in expr.free_symbols):
            return []
        coeff, rest = expr.as_coeff_Mul()
        if not coeff.is_Number or coeff == -1:
            coeff, rest = sp.Integer(1), expr
        column = self.display.but(layout="denominator")
        inner = Shown(rest, column)
        column = column.but(names={**column.names, err: inner if is_atomic(rest) else Paren((inner,))}, inline=set())
        a = alpha if coeff == 1 else Cat(Shown(coeff, column), " ", alpha)
        out = [Note(["The output layer, its error term written out:"])]
        for kind in ("weight", "bias"):
            g = self.g[self.adj[self.at[(kind, K)]]]
            grad = Shown(g.expr, column)  # with weight decay a sum, in parentheses
            out.append(update(self.sym(kind, K), a, Paren((grad,)) if isinstance(g.expr, sp.MatAdd) else grad))
        return out

    def document(self) -> list[Section]:
        return [self.header(), self.forward(), self.backward(), self.gradients(), self.sgd()]


def update(P, rate, grad, where: Note | None = None) -> Equation:
    """The SGD line ``P <- P - rate grad``."""
    return Equation(P, [Cat(P, " - ", rate, " ", grad)], op=Word("arrow"), where=where)


def loss_expr(node):
    """The loss formula; a sum over one output component is written without the sum."""
    expr = node.expr
    if node.meta.size == 1:

        def one(s):
            (j, lo, hi), body = s.limits[0], s.function
            return body.xreplace({j: lo}) if lo == hi else s

        expr = expr.replace(lambda e: isinstance(e, sp.Sum), one)
        expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.indices == (0,), lambda e: sym(e.base.name))
    return expr


def architecture(net):
    """``3 -> 4 (relu) -> 1``, or the DAG's name.

    Typeset, a run of `REPEATED` or more equal layers is written once, ``[64 (relu)] × 20``:
    a LaTeX row does not wrap as text does, and a deep network's would run off the page.
    """
    if not net.layered:
        return Prose(f"the DAG {net.name}" if net.name else "a DAG of modules")
    layers = [(f"{layer.n_out}",) + (() if layer.is_identity else (Word("space"), "(", Prose(layer.activation), ")"))
              for layer in net.layers]
    plain, typeset = [str(net.sizes[0])], [str(net.sizes[0])]
    for parts, run in itertools.groupby(layers):
        count = len(list(run))
        spelled = [Word("to"), *parts] * count
        plain += spelled
        typeset += [Word("to"), "[", *parts, "]", Word("times"), str(count)] if count >= REPEATED else spelled
    return Cat(*plain) if plain == typeset else Alt([Cat(*plain)], [Cat(*typeset)])


def loss_name(net) -> list:
    """The loss as note parts: its name, or a user's formula (as math)."""
    loss = net.loss
    if loss is None:
        return ["as declared"]
    if loss.name != "custom":
        return [Alt([loss.name], [loss.name.replace("_", " ")])]
    return [Shown(loss.expr, Display()), " per output component"]
