"""Render a layered network's `Derivation` in a course's notation.

Stage: render. Input: a `Derivation` (forward and backward IR nodes), a
notation preset and a layout. Output: text (80 columns), LaTeX (one
``align*`` block that compiles and shows in Jupyter), Markdown or JSON.

The document has the lecture's parts: the forward pass, the backward
recursion (the error term of each layer, then the general line, e.g. CS229's
``delta^[k] = g'(z^[k]) ∘ (W^[k+1]T delta^[k+1])``), the parameter gradients
(``dl/dW_k = delta_k h_{k-1}^T``), and the SGD update. Every right-hand side
is the IR's own expression printed through `printers`, so the activation's
derivative reads as SymPy derived it (``I[f > 0]``, ``h(1 - h)``).
``batch=True`` writes the minibatch form (one column per sample,
``dL/dW_k = (1/B) Delta_k H_{k-1}^T``); ``steps=True`` adds the unsimplified
chain rule, one local derivative multiplied in per step (UDL's
``dl/df_2 = dh_3/df_2 (df_3/dh_3 dl/df_3)``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import sympy as sp

from .. import notation as notations
from ..errors import SymbackError
from ..ir import sym
from ..nonsmooth import Indicator
from .printers import Display, is_atomic, show, transposed

FORMATS = ("text", "latex", "markdown", "json")
WIDTH = 80
SCHEMA = "symback.derivation/1"


class Idx:
    """A symbolic layer index ``k`` (plus a shift) that notation templates can format."""

    def __init__(self, shift: int = 0):
        self.shift = shift

    def __add__(self, n: int) -> Idx:
        return Idx(self.shift + n)

    __radd__ = __add__

    def __sub__(self, n: int) -> Idx:
        return Idx(self.shift - n)

    def __format__(self, spec: str) -> str:
        return "k" if not self.shift else f"k{self.shift:+d}"


# -- the document: sections of equations and notes, built once per format ------------------------


@dataclass
class Math:
    """A piece of a note that is mathematics (printed inline)."""

    s: str


@dataclass
class Note:
    parts: list  # str (prose) and Math


@dataclass
class Eq:
    lhs: str
    rhs: list[str]
    shape: str = ""
    where: Note | None = None
    op: str = "="
    stack: bool = False  # one right-hand side per line (the step-by-step chain)
    name: str | None = None  # the IR node, when the equation defines one


@dataclass
class Section:
    title: str
    items: list = field(default_factory=list)


def _capital(s: str, fmt: str) -> str:
    """A vector's symbol -> its minibatch matrix: h_1 -> H_1, \\mathbf{x} -> \\mathbf{X}, delta -> Delta."""
    if fmt == "latex":
        m = re.match(r"(\\mathbf\{|\\boldsymbol\{)?(\\?)([A-Za-z]+)", s)
        if m:
            name = m.group(3)
            new = name[0].upper() + name[1:]
            return s[: m.start(3)] + new + s[m.end(3) :]
        return s
    m = re.match(r"[A-Za-z]+", s)
    return (s[0].upper() + s[1:]) if m else s


class Builder:
    """Builds the document for one derivation, notation, layout and format ("text" or "latex")."""

    def __init__(self, d, notation, layout: str, fmt: str, batch: bool = False):
        self.d, self.nt, self.layout, self.fmt, self.batch = d, notation, layout, fmt, batch
        self.g = d.graph
        self.adj = {n.of: n.name for n in self.g.backward() if n.meta.path is None}
        self.at = {}  # (kind, IR layer) -> forward node name
        for n in self.g.forward():
            if n.meta.layer is not None:
                self.at[(n.meta.kind, n.meta.layer)] = n.name
        self.depth = max((k for (kind, k) in self.at if kind == "pre"), default=0)
        self.display = self._display()

    # -- symbols -------------------------------------------------------------
    def fix(self, s: str) -> str:
        """Text needs braces around a compound index: f_{k+1}, not f_k+1."""
        return re.sub(r"_(k[+-]\d+)", r"_{\1}", s) if self.fmt == "text" else s

    def sym(self, kind: str, k=None) -> str:
        return self.fix(self._sym(kind, k))

    def _sym(self, kind: str, k=None) -> str:
        if self.batch and kind in ("pre", "act", "input", "target"):
            custom = self.nt.batch.get(kind)
            if custom is not None:
                return custom.render(k, self.fmt)
            return _capital(self.nt.symbol(kind, k, self.fmt), self.fmt)
        return self.nt.symbol(kind, k, self.fmt)

    @property
    def loss(self) -> str:
        s = self.nt.symbol("loss", None, self.fmt)
        if self.batch:
            return "L" if s in ("l", r"\ell") else s
        return s

    def frac(self, top: str, bottom: str) -> str:
        if self.fmt == "latex":
            return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"
        return f"d{top}/d{bottom}"

    def error(self, k) -> str:
        return self.fix(self._error(k))

    def _error(self, k) -> str:
        if self.batch:
            custom = self.nt.batch.get("error")
            if custom is not None:
                return custom.render(k, self.fmt)
            base = self.nt.error.render(k, self.fmt) if self.nt.error else self.nt.symbol("pre", k, self.fmt)
            if self.fmt == "latex":
                return re.sub(
                    r"^(\\mathbf\{[A-Za-z]\}|\\boldsymbol\{\\?[A-Za-z]+\}|\\?[A-Za-z]+)",
                    lambda m: r"\boldsymbol{\Delta}" if "bf" in m.group(1) or "bold" in m.group(1) else r"\Delta",
                    base,
                )
            return re.sub(r"^[A-Za-z]+", "Delta", base)
        return self.nt.error_term(k, self.fmt)

    def derivative(self, kind: str, k) -> str:
        return self.frac(self.loss, self.sym(kind, k))

    def node_symbol(self, name: str) -> str:
        node = self.g[name]
        if node.role == "adjoint":
            of = self.g[node.of]
            kind, k = of.meta.kind, of.meta.layer
            if node.meta.path is not None:  # one consumer's share of a gradient that branches
                via = self.node_symbol(node.meta.path)
                return (
                    f"{self.node_symbol(self.adj[of.name])} (via {via})"
                    if self.fmt == "text"
                    else rf"{self.node_symbol(self.adj[of.name])}\big|_{{{via}}}"
                )
            if k is None and kind != "input":
                return self.frac(self.loss, self.node_symbol(of.name))
            if kind == "pre":
                return self.error(k)
            if kind in ("act", "weight", "bias", "input"):
                return self.derivative(kind, k)
            return self.frac(self.loss, self.node_symbol(of.name))
        kind, k = node.meta.kind, node.meta.layer
        if kind == "input" and not self.depth:  # a DAG may have several inputs: keep their names
            return name if self.fmt == "text" else sp.latex(sp.Symbol(name))
        if kind == "input":
            return self.sym("input")
        if kind in ("target", "label"):
            return self.sym("target")
        if kind in ("weight", "bias", "pre", "act") and k is not None:
            return self.sym(kind, k)
        if kind == "loss":
            return self.loss
        if kind == "softmax":
            base = "P" if self.batch else "p"
            return rf"\mathbf{{{base}}}" if self.fmt == "latex" else base
        if kind == "sigmoid":
            arg = self.node_symbol(node.args[0])
            return rf"\sigma\left({arg}\right)" if self.fmt == "latex" else f"sigma({arg})"
        return name if self.fmt == "text" else sp.latex(sp.Symbol(name))

    def _display(self, **changes) -> Display:
        names, vectors, adjoints = {}, set(), set()
        for n in self.g:
            if n.role == "forward" and n.meta.kind == "loss":
                continue
            names[n.name] = self.node_symbol(n.name)
            if len(n.shape) >= 1:
                vectors.add(n.name)
            if n.role == "adjoint":
                adjoints.add(n.name)
        onehot = "e_y" if not self.batch else "E_y"
        if self.fmt == "latex":
            onehot = r"\mathbf{e}_{y}" if not self.batch else r"\mathbf{E}_{y}"
        broadcast = {n.name for n in self.g.forward() if n.meta.kind == "bias"} if self.batch else set()
        d = Display(
            fmt=self.fmt,
            layout=self.layout,
            names=names,
            vectors=vectors,
            adjoints=adjoints,
            hadamard=self.nt.hadamard,
            onehot=onehot,
            broadcast=broadcast,
        )
        for key, value in changes.items():
            setattr(d, key, value)
        return d

    def shape(self, name: str) -> str:
        node = self.g[name]
        shape = tuple(node.shape)
        if not shape:
            return r"\text{scalar}" if self.fmt == "latex" else "scalar"
        if len(shape) == 1:
            of = self.g[node.of] if node.role == "adjoint" else node
            stacked = self.batch and not (of.is_leaf and of.op == "param")
            shape = (shape[0], "B" if stacked else 1)
        if node.role == "adjoint" and self.layout == "numerator":
            shape = shape[::-1]
        times = r" \times " if self.fmt == "latex" else "×"
        return times.join(str(s) for s in shape)

    # -- right-hand sides ----------------------------------------------------
    def linear(self, expr, display: Display | None = None) -> str:
        display = display or self.display
        if display.layout == "numerator" and _has_adjoint(expr, display):
            expr = expr.T
        return show(expr, display)

    def ew(self, expr, display: Display | None = None) -> str:
        """An elementwise expression; in numerator layout, its transpose (adjoints are rows)."""
        display = display or self.display
        if display.layout != "numerator":
            return show(expr, display)
        adj = display.adjoints | display.inline
        coeff, rest = expr.as_coeff_Mul()
        factors = sp.Mul.make_args(rest)
        rows = [f for f in factors if isinstance(f, sp.Symbol) and f.name in adj]
        others = [f for f in factors if f not in rows]
        if isinstance(rest, sp.Add) and all(isinstance(t, sp.Symbol) and t.name in adj for t in rest.args):
            return show(expr, display)
        parts = [show(f, display) for f in rows]
        if others:
            o = sp.Mul(*others)
            s = show(o, display)
            atomic = is_atomic(o) or (isinstance(o, sp.Pow) and is_atomic(o.base))
            parts.append(transposed(s, self.fmt, atomic))
        h = display.hadamard if self.fmt == "text" else {"⊙": r"\odot", "∘": r"\circ"}.get(display.hadamard)
        body = f" {h} ".join(parts)
        if coeff == 1:
            return body
        if coeff == -1:
            return "-" + body
        c = show(coeff, display)
        return c + ("" if body.startswith(("(", r"\left(")) else " ") + body

    def rhs(self, name: str, display: Display | None = None) -> str:
        node = self.g[name]
        display = display or self.display
        if node.op == "loss":  # a scalar formula in components: no elementwise products
            return show(_loss_expr(node), Display(**{**display.__dict__, "vectors": set()}))
        if node.role != "adjoint":  # forward quantities are columns in either layout
            return show(node.expr, display)
        if node.op == "linear":
            return self.linear(node.expr, display)
        return self.ew(node.expr, display)

    # -- sections --------------------------------------------------------------
    def header(self) -> Section:
        net = self.d.summary
        title = self.nt.title
        s = Section("")
        arch = _architecture(net, r" \to " if self.fmt == "latex" else " -> ", self.fmt)
        loss = _loss_name(net, self.fmt)
        s.items.append(Note(["Network: ", Math(arch) if self.fmt == "latex" else arch, ", loss ", *loss, "."]))
        if self.fmt == "latex":
            course = title.split(" (")[0]
            syms = ", ".join(
                self.nt.symbol(kind, Idx(-getattr(self.nt, kind).offset), "latex")
                for kind in ("pre", "act", "weight", "bias")
            )
            s.items.append(Note([f"Notation: {course} ", Math(f"({syms})")]))
        else:
            s.items.append(Note([f"Notation: {title}."]))
        s.items.append(
            Builder(self.d, self.nt, self.layout, self.fmt).layout_note() if self.batch else self.layout_note()
        )
        s.items.append(self.legend())
        return s

    def layout_note(self) -> Note:
        if self.depth:
            hname = next((self.at[c] for c in (("act", 1), ("pre", 1)) if self.at.get(c) in self.adj), None)
            wname = self.at[("weight", self.depth)]
        else:  # a DAG: its first vector with a gradient and its first matrix parameter
            hname = next((n.of for n in self.g.backward() if len(n.shape) == 1 and not self.g[n.of].is_leaf), None)
            wname = next((p for p in self.d.params if len(self.g[p].shape) == 2), None)
        if hname is None or wname is None or hname not in self.adj:
            return Note([f"Layout: {self.layout}."])
        h, dh = self.node_symbol(hname), self.node_symbol(self.adj[hname])
        W = self.node_symbol(wname)
        dW = self.node_symbol(self.adj[wname])
        if self.layout == "numerator":
            return Note(
                [
                    ("Layout: numerator. A derivative of the loss by a column vector is a row, the Jacobian's shape. "),
                    Math(dh),
                    " is a row, and ",
                    Math(dW),
                    " is laid out like the transpose of ",
                    Math(W),
                    ". The update subtracts its transpose.",
                ]
            )
        return Note(
            [
                "Layout: denominator. A derivative has the shape of what it is taken with respect to. ",
                Math(dh),
                " is a column like ",
                Math(h),
                ", and ",
                Math(dW),
                " has the shape of ",
                Math(W),
                ".",
            ]
        )

    def legend(self) -> Note:
        h = self.nt.hadamard if self.fmt == "text" else {"⊙": r"\odot", "∘": r"\circ"}[self.nt.hadamard]
        parts = [Math(h), " is the elementwise product; functions of vectors act elementwise."]
        exprs = [n.expr for n in self.g if n.expr is not None]
        if any(e.has(Indicator) for e in exprs):
            ind = r"\mathbb{I}[c]" if self.fmt == "latex" else "I[c]"
            parts += [" ", Math(ind), " is 1 where c holds, else 0."]
        if any(e.has(sp.KroneckerDelta) for e in exprs):
            parts += [
                " ",
                Math(self.display.onehot),
                " is the one-hot vector of the class y."
                if not self.batch
                else " holds the one-hot columns of the labels.",
            ]
        if self.batch:
            X, one = self.sym("input"), (r"\mathbf{1}" if self.fmt == "latex" else "1")
            parts += [
                " A minibatch of B samples, one column per sample: ",
                Math(X),
                " has columns x_1, ..., x_B." if self.fmt == "text" else " has the samples as columns.",
                " ",
                Math(one),
                " is a column of B ones.",
            ]
            err = self.error(self.depth)
            if self.layout == "numerator":
                parts += [" ", Math(err), " stacks the per-sample error terms, one row per sample."]
            else:
                parts += [" ", Math(err), " stacks the per-sample error terms, one column per sample."]
        return Note(parts)

    def forward(self) -> Section:
        s = Section("Forward pass" + (" (one sample)" if not self.batch else " (minibatch)"))
        for n in self.g.forward():
            if n.is_leaf:
                continue
            kind = n.meta.kind
            if kind == "loss":
                if self.batch:
                    mean = r"\frac{1}{B} \sum_{i=1}^{B}" if self.fmt == "latex" else "(1/B) sum_i"
                    total = r"\sum_{i=1}^{B}" if self.fmt == "latex" else "sum_i"
                    li = self.nt.symbol("loss", None, self.fmt) + "_i"
                    body = (total if self.d.summary.reduction == "sum" else mean) + f" {li}"
                    s.items.append(Eq(self.loss, [body], self.shape(n.name), name=n.name))
                    continue
                s.items.append(Eq(self.loss, [self.rhs(n.name)], self.shape(n.name), name=n.name))
                continue
            rhs = [self.rhs(n.name)]
            if kind == "softmax":
                arg = self.node_symbol(n.args[0])
                rhs.insert(
                    0, rf"\operatorname{{softmax}}\left({arg}\right)" if self.fmt == "latex" else f"softmax({arg})"
                )
            if kind == "sigmoid":
                rhs = [show(n.expr, self._display(sigma=False))]
            s.items.append(Eq(self.node_symbol(n.name), rhs, self.shape(n.name), name=n.name))
        return s

    def backward(self) -> Section:
        s = Section("Backward pass (output layer first)")
        params = {n.name for n in self.g.leaves("param")}
        for n in self.g.backward():
            if n.op == "seed" or n.of in params:
                continue
            if self.batch:
                if self.g[n.of].meta.kind != "pre":
                    continue
                disp = self._inline_acts()
                s.items.append(Eq(self.node_symbol(n.name), [self.rhs(n.name, disp)], self.shape(n.name), name=n.name))
                continue
            where = None
            if n.meta.fused is not None:
                where = Note(["(fused: the activation's derivative cancels)"])
            s.items.append(Eq(self.node_symbol(n.name), [self.rhs(n.name)], self.shape(n.name), where, name=n.name))
        for eq in self.recursion():
            s.items.append(eq)
        return s

    def _inline_acts(self, display: Display | None = None) -> Display:
        """Display in which each dl/dh_k is written out as its expression, in parentheses."""
        display = display or self.display
        names = dict(display.names)
        inline = set(display.inline)
        for n in self.g.backward():
            if self.g[n.of].meta.kind == "act":
                names[n.name] = self.linear(n.expr, display) if n.op == "linear" else self.ew(n.expr, display)
                inline.add(n.name)
        d = Display(**{**display.__dict__, "names": names, "inline": inline})
        return d

    def _generic(self, mapping: dict[str, str]) -> Display:
        names = {**self.display.names, **mapping}
        return Display(**{**self.display.__dict__, "names": names})

    def _for_layers(self, layers: list[int], kind: str = "pre") -> Note:
        """``for k = 0, 1, 2`` in the notation's indexing."""
        off = getattr(self.nt, kind).offset
        shown = [k + off for k in layers]
        if len(shown) > 4 and shown == list(range(shown[0], shown[-1] + 1)):
            ks = f"k = {shown[0]}, " + (r"\ldots" if self.fmt == "latex" else "...") + f", {shown[-1]}"
        else:
            ks = "k = " + ", ".join(str(k) for k in shown)
        return Note(["for ", Math(ks)])

    def recursion(self) -> list[Eq]:
        """The general line delta_k = a'(f_k) ⊙ (W_{k+1}^T delta_{k+1}), grouped by activation derivative."""
        K = Idx(-self.nt.pre.offset)
        groups: dict[str, list[int]] = {}
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
            disp = self._inline_acts(self._generic(mapping))
            line = self.rhs(err, disp)
            groups.setdefault(line, []).append(k)
        out = []
        for line, layers in groups.items():
            if len(layers) < 2 and len(groups) == 1 and self.depth <= 2:
                continue  # one hidden layer: its line above already is the whole recursion
            out.append(Eq(self.error(K), [line], where=self._for_layers(layers)))
        return out

    def gradients(self) -> Section:
        s = Section("Parameter gradients")
        reduce = self.d.summary.reduction
        for p in self.d.params:
            node = self.g[self.d.adjoints[p]]
            for via in self.g.backward():  # a shared parameter: one share per use, then their sum
                if via.of == p and via.meta.path is not None and not self.batch:
                    s.items.append(
                        Eq(self.node_symbol(via.name), [self.rhs(via.name)], self.shape(via.name), name=via.name)
                    )
            if self.batch:
                s.items.append(
                    Eq(self.node_symbol(node.name), [self.batch_grad(p)], self.shape(node.name), name=node.name)
                )
                continue
            s.items.append(
                Eq(self.node_symbol(node.name), [self.rhs(node.name)], self.shape(node.name), name=node.name)
            )
        if not self.batch:
            s.items += self.general_gradients()
        elif reduce == "sum":
            s.items.append(
                Note([("(reduction='sum': the batch loss is the sum of the per-sample losses, so there is no 1/B)")])
            )
        return s

    def batch_grad(self, p: str) -> str:
        node = self.g[self.d.adjoints[p]]
        kind = self.g[p].meta.kind
        mean = self.d.summary.reduction != "sum"
        scale = (r"\frac{1}{B} " if self.fmt == "latex" else "(1/B) ") if mean else ""
        one = r"\mathbf{1}" if self.fmt == "latex" else "1"
        if kind == "bias":
            err = show(node.expr, self.display) if self.layout != "numerator" else self.linear(node.expr)
            if self.layout == "numerator":
                one_t = r"\mathbf{1}^{\top}" if self.fmt == "latex" else "1^T"
                return f"{scale}{one_t} {err}"
            return f"{scale}{err} {one}"
        return scale + self.linear(node.expr)

    def general_gradients(self) -> list:
        """dl/dW_k = delta_k h_{k-1}^T and dl/db_k = delta_k, when every layer has the same form."""
        if self.depth < 2:
            return []
        K = Idx(-self.nt.pre.offset)
        lines: dict[str, dict[str, list[int]]] = {"weight": {}, "bias": {}}
        uses_input = False
        for k in range(1, self.depth + 1):
            pre = self.at[("pre", k)]
            err = self.adj.get(pre)
            mapping = {err: self.error(K)}
            for kind in ("weight", "bias"):
                name = self.at[(kind, k)]
                gnode = self.g[self.adj[name]]
                args = [a for a in gnode.args if a != err]
                for a in args:
                    a_kind = self.g[a].meta.kind
                    if a_kind == "input":
                        mapping[a] = self.fix(self.nt.act.render(K - 1, self.fmt))
                        uses_input = True
                    elif a_kind in ("act", "pre"):
                        mapping[a] = self.sym(a_kind, K - 1)
                line = self.rhs(gnode.name, self._generic(mapping))
                lines[kind].setdefault(line, []).append(k)
        out = []
        for kind in ("weight", "bias"):
            for line, layers in lines[kind].items():
                if len(layers) < 2:
                    continue
                out.append(Eq(self.derivative(kind, K), [line], where=self._for_layers(layers, kind)))
        if uses_input and out:
            h0, x = self.nt.act.render(0, self.fmt), self.nt.symbol("input", None, self.fmt)
            if h0 != x:
                out.append(Note(["where ", Math(f"{h0} = {x}")]))
        return out

    def sgd(self) -> Section:
        s = Section("SGD update, learning rate alpha" if self.fmt == "text" else "SGD update")
        alpha = r"\alpha" if self.fmt == "latex" else "alpha"
        arrow = r"\leftarrow" if self.fmt == "latex" else "<-"
        if not self.depth:  # not layered (a DAG): one update per parameter
            for p in self.d.params:
                P, grad = self.node_symbol(p), self.node_symbol(self.d.adjoints[p])
                if self.layout == "numerator":
                    grad = transposed(grad, self.fmt, False)
                s.items.append(Eq(P, [f"{P} - {alpha} {grad}"], op=arrow))
            return s
        general = self.depth > 1
        K = Idx(-self.nt.pre.offset) if general else 1
        for kind in ("weight", "bias"):
            P = self.sym(kind, K)
            grad = self.derivative(kind, K)
            if self.layout == "numerator":
                grad = transposed(grad, self.fmt, False)
            where = self._for_layers(list(range(1, self.depth + 1)), kind) if general else None
            s.items.append(Eq(P, [f"{P} - {alpha} {grad}"], op=arrow, where=where))
        if not self.batch:
            s.items += self.output_update(alpha, arrow)
            verb = "sums" if self.d.summary.reduction == "sum" else "averages"
            s.items.append(Note([f"A minibatch step {verb} these gradients over its B samples."]))
        return s

    def output_update(self, alpha: str, arrow: str) -> list:
        """The output layer's update with its error term written out (the perceptron rule w <- w - alpha (sigma - y) x)."""
        K = self.depth
        err = self.adj.get(self.at[("pre", K)])
        expr = self.g[err].expr
        for _ in range(len(self.g)):  # substitute elementwise adjoints back to the loss: (a - y) ∘ I[z > 0]
            ups = [s for s in expr.free_symbols if s.name in self.display.adjoints]
            if not ups or any(self.g[s.name].op != "ew" for s in ups):
                break
            expr = expr.xreplace({s: self.g[s.name].expr for s in ups})
        if any(s.name in self.display.adjoints for s in expr.free_symbols):
            return []
        coeff, rest = expr.as_coeff_Mul()
        if not coeff.is_Number or coeff == -1:
            coeff, rest = sp.Integer(1), expr
        column = Display(**{**self.display.__dict__, "layout": "denominator"})
        inner = show(rest, column)
        wrapped = inner if is_atomic(rest) else (f"({inner})" if self.fmt == "text" else rf"\left({inner}\right)")
        column.names = {**column.names, err: wrapped}
        column.inline = set()
        a = alpha if coeff == 1 else f"{show(coeff, column)} {alpha}"
        out = [Note(["The output layer, its error term written out:"])]
        for kind in ("weight", "bias"):
            p = self.at[(kind, K)]
            g = self.g[self.adj[p]]
            P = self.sym(kind, K)
            out.append(Eq(P, [f"{P} - {a} {show(g.expr, column)}"], op=arrow))
        return out

    def document(self) -> list[Section]:
        return [self.header(), self.forward(), self.backward(), self.gradients(), self.sgd()]


def _has_adjoint(expr, display: Display) -> bool:
    names = {s.name for s in expr.free_symbols}
    return bool(names & (display.adjoints | display.inline))


def _loss_expr(node):
    """The loss formula; a sum over one output component is written without the sum."""
    expr = node.expr
    if node.meta.size == 1:

        def one(s):
            (j, lo, hi), body = s.limits[0], s.function
            return body.xreplace({j: lo}) if lo == hi else s

        expr = expr.replace(lambda e: isinstance(e, sp.Sum), one)
        expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.indices == (0,), lambda e: sym(e.base.name))
    return expr


def _architecture(net, arrow: str, fmt: str) -> str:
    if not net.layered:
        name = net.name
        if fmt == "latex":
            return rf"\text{{the DAG {_tex_escape(name)}}}" if name else r"\text{a DAG of modules}"
        return f"the DAG {name}" if name else "a DAG of modules"
    parts = [str(net.sizes[0])]
    for layer in net.layers:
        act = layer.activation
        if layer.is_identity:
            parts.append(f"{layer.n_out}")
        elif fmt == "latex":
            parts.append(rf"{layer.n_out}\ (\text{{{_tex_escape(act)}}})")
        else:
            parts.append(f"{layer.n_out} ({act})")
    return arrow.join(parts)


def _loss_name(net, fmt: str) -> list:
    """The loss as note parts: its name, or a user's formula (as math)."""
    loss = net.loss
    if loss is None:
        return ["as declared"]
    if loss.name != "custom":
        return [loss.name.replace("_", " ") if fmt == "latex" else loss.name]
    formula = show(loss.expr, Display(fmt=fmt))
    return [Math(formula) if fmt == "latex" else formula, " per output component"]


# -- steps: the unsimplified chain, one local derivative per step ------------------------------------


class Steps(Builder):
    """The unsimplified chain rule of `Derivation.unsimplified()`, factor by factor."""

    def local(self, consumer: str, arg: str) -> str:
        return self.frac(self.node_symbol(consumer), self.node_symbol(arg)).replace(
            r"\partial " + self.loss, r"\partial " + self.node_symbol(consumer)
        )

    def factor(self, consumer: str, arg: str) -> str:
        c, a = self.node_symbol(consumer), self.node_symbol(arg)
        if self.fmt == "latex":
            return rf"\frac{{\partial {c}}}{{\partial {a}}}"
        return f"d{c}/d{a}"

    def jacobian(self, term, upstream: str) -> str | None:
        """The local derivative as a matrix: W^T (denominator) or W (numerator), diag(a'(f)), I."""
        if term.op == "linear":
            G = upstream
            value = term.value
            if isinstance(value, sp.MatrixSymbol) and value.name == G:
                return r"\mathbf{I}" if self.fmt == "latex" else "I"
            if (
                isinstance(value, sp.MatMul)
                and isinstance(value.args[-1], sp.MatrixSymbol)
                and value.args[-1].name == G
            ):
                A = sp.MatMul(*value.args[:-1]) if len(value.args) > 2 else value.args[0]
                if self.layout == "numerator":
                    A = A.T
                return show(A, self.display)
            return None
        if term.op == "ew":
            diag = r"\operatorname{diag}" if self.fmt == "latex" else "diag"
            inner = show(term.local, Display(**{**self.display.__dict__, "layout": "denominator"}))
            return rf"{diag}\left({inner}\right)" if self.fmt == "latex" else f"{diag}({inner})"
        return None

    def chain(self, name: str) -> list[str]:
        """The local derivatives from this adjoint back to the loss, in multiplication order."""
        node = self.g[name]
        if len(node.terms) != 1:
            return [self.node_symbol(name)]
        t = node.terms[0]
        consumer = self.g[t.consumer]
        if consumer.op == "loss":
            return [self.node_symbol(name)]
        up = self.chain(self.adj[t.consumer])
        f = self.factor(t.consumer, node.of)
        return [f] + up if self.layout != "numerator" else up + [f]

    def section(self) -> Section:
        s = Section("Step by step (the unsimplified chain rule)")
        s.items.append(Note(["Each step multiplies in one local derivative."]))
        params = {n.name for n in self.g.leaves("param")}
        for n in self.g.backward():
            if n.op == "seed" or len(n.terms) != 1:
                continue
            t = n.terms[0]
            consumer = self.g[t.consumer]
            lhs = self.node_symbol(n.name)
            result = self.rhs(n.name)
            if consumer.op == "loss":
                loss = show(_loss_expr(consumer), self.display)
                d = (
                    rf"\frac{{\partial}}{{\partial {self.node_symbol(n.of)}}} \left[{loss}\right]"
                    if self.fmt == "latex"
                    else f"d/d{self.node_symbol(n.of)} [{loss}]"
                )
                s.items.append(Eq(lhs, [d, result], stack=True, name=n.name))
                continue
            up_name = self.adj[t.consumer]
            U = self.node_symbol(up_name)
            F = self.factor(t.consumer, n.of)
            rhs = [f"{F} {U}" if self.layout != "numerator" else f"{U} {F}"]
            up_chain = self.chain(up_name)
            if len(up_chain) > 1 and n.of not in params:
                if self.fmt == "text":
                    inner = "(" + " ".join(up_chain) + ")"
                else:  # LaTeX rows do not wrap: four fractions a row
                    size = -(-len(up_chain) // -(-len(up_chain) // 4))  # balanced rows of at most four
                    rows = [" ".join(up_chain[i : i + size]) for i in range(0, len(up_chain), size)]
                    inner = r"\left(" + r"\right. \\ &\qquad \left. ".join(rows) + r"\right)"
                rhs.append(f"{F} {inner}" if self.layout != "numerator" else f"{inner} {F}")
            rhs.append(result)
            where = None
            jac = self.jacobian(t, up_name)
            if jac is not None:
                where = Note(["where ", Math(f"{F} = {jac}")])
            s.items.append(Eq(lhs, rhs, where=where, stack=True, name=n.name))
        return s


# -- output formats --------------------------------------------------------------------------------


def _note_text(note: Note) -> str:
    return "".join(p.s if isinstance(p, Math) else p for p in note.parts)


def wrap(line: str, indent: int, width: int = WIDTH) -> list[str]:
    """Break a long line at spaces outside brackets (before an operator if possible), hanging `indent`."""
    out = []
    while len(line) > width:
        depth, best, good = 0, None, None
        for i, c in enumerate(line[: width + 1]):
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == " " and i > indent + 8 and depth == 0:
                best = i
                if i + 1 < len(line) and line[i + 1] in "⊙∘+-=<":
                    good = i
        cut = good if good is not None and good > width // 2 else best
        if cut is None:
            cut = line.rfind(" ", indent + 1, width)
            if cut <= indent:
                break
        out.append(line[:cut].rstrip())
        line = " " * indent + line[cut + 1 :]
    out.append(line)
    return out


def to_text(sections: list[Section]) -> str:
    lines: list[str] = []
    for sec in sections:
        if sec.title:
            lines.append("")
            lines.append(sec.title)
        eqs = [it for it in sec.items if isinstance(it, Eq)]
        width = min(max((len(e.lhs) for e in eqs), default=0), 16)
        for it in sec.items:
            if isinstance(it, Note):
                lines += wrap(("  " if sec.title else "") + _note_text(it), 2 if sec.title else 0)
                continue
            lhs = it.lhs.ljust(width)
            if it.stack:
                pad = " " * (2 + len(lhs) + 1)
                for k, r in enumerate(it.rhs):
                    head = f"  {lhs} {it.op} " if k == 0 else f"{pad}{it.op} "
                    lines += wrap(head + r, len(pad) + 2)
                if it.where:
                    lines += wrap(f"{pad}  {_note_text(it.where)}", len(pad) + 4)
                continue
            line = f"  {lhs} {it.op} " + f" {it.op} ".join(it.rhs)
            indent = 2 + len(lhs) + len(it.op) + 2
            if it.where:
                extra = "   " + _note_text(it.where)
                if len(line) + len(extra) <= WIDTH:
                    line += extra
                    body = wrap(line, indent)
                else:
                    body = wrap(line, indent) + wrap(" " * indent + _note_text(it.where), indent)
            else:
                body = wrap(line, indent)
            if it.shape:
                last = body[-1]
                if len(last) + 2 + len(it.shape) <= WIDTH:
                    body[-1] = last + " " * (WIDTH - len(last) - len(it.shape)) + it.shape
                else:
                    body.append(it.shape.rjust(WIDTH))
            lines += body
    return "\n".join(line.rstrip() for line in lines).lstrip("\n") + "\n"


def _tex_escape(s: str) -> str:
    s = re.sub(r"([&%#$_{}])", r"\\\1", s)
    return s.replace("^", r"\^{}").replace("~", r"\~{}")


def _note_tex(note: Note) -> str:
    out = []
    for p in note.parts:
        if isinstance(p, Math):
            out.append(p.s)
        elif p:
            out.append(rf"\text{{{_tex_escape(p)}}}")
    return " ".join(out)


def _eq_tex(it: Eq, shapes: bool = True) -> list[str]:
    op = {"=": "=", r"\leftarrow": r"\leftarrow"}.get(it.op, it.op)
    rows = []
    if it.stack:
        for k, r in enumerate(it.rhs):
            rows.append((f"{it.lhs} " if k == 0 else "") + f"&{op} {r}")
    else:
        rows.append(f"{it.lhs} &{op} " + f" {op} ".join(it.rhs))
    if it.where:
        if it.stack:
            rows.append(r"&\qquad " + _note_tex(it.where))
        else:
            rows[-1] += r" \qquad " + _note_tex(it.where)
    if shapes and it.shape:
        rows[-1] += rf" && {it.shape}"
    return rows


def _sentences(note: Note) -> list[Note]:
    """A note split after each sentence, so no LaTeX row runs far past the page."""
    out, current = [], []
    for p in note.parts:
        if isinstance(p, Math):
            current.append(p)
            continue
        for piece in re.split(r"(?<=\.) ", p):
            if not current:
                piece = piece.lstrip()
            if piece:
                current.append(piece)
            if piece.endswith("."):
                out.append(Note(current))
                current = []
    if current:
        out.append(Note(current))
    return [n for n in out if any(isinstance(p, Math) or p.strip() for p in n.parts)]


def to_latex(sections: list[Section]) -> str:
    rows = []
    for sec in sections:
        if sec.title:
            rows.append(rf"&\textbf{{{_tex_escape(sec.title)}}}")
        for it in sec.items:
            if isinstance(it, Note):
                rows += ["&" + _note_tex(n) for n in _sentences(it)]
            else:
                rows += _eq_tex(it)
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"


def _aligned(block: list[str]) -> list[str]:
    """A Markdown display-math block of equation rows (empty if there are none)."""
    if not block:
        return []
    return ["$$", "\\begin{aligned}", " \\\\\n".join(block), "\\end{aligned}", "$$", ""]


def to_markdown(sections: list[Section]) -> str:
    out = []
    for sec in sections:
        if sec.title:
            out += [f"**{sec.title}**", ""]
        block: list[str] = []
        for it in sec.items:
            if isinstance(it, Note):
                out += _aligned(block)
                block = []
                out += ["".join(f"${p.s}$" if isinstance(p, Math) else p for p in it.parts), ""]
            else:
                block += _eq_tex(it)
        out += _aligned(block)
    return "\n".join(out).rstrip("\n") + "\n"


# -- entry points ---------------------------------------------------------------------------------


def _documents(d, notation, layout, fmt, steps, batch) -> list[Section]:
    doc = Builder(d, notation, layout, fmt, batch=batch).document()
    if steps:
        doc.insert(3, Steps(d.unsimplified(), notation, layout, fmt).section())
    return doc


def _shape_json(shape) -> list:
    return [int(s) if isinstance(s, int) or getattr(s, "is_Integer", False) else str(s) for s in shape]


def derivation_dict(d, notation="udl", layout=None, steps=False, batch=False) -> dict:
    """The JSON form: the quantities of the IR with their symbols, and the rendered sections."""
    nt = notations.get(notation)
    layout = notations.layout_of(nt, layout)
    text, tex = Builder(d, nt, layout, "text"), Builder(d, nt, layout, "latex")
    quantities = []
    for n in d.graph:
        of = d.graph[n.of] if n.role == "adjoint" else n
        expr = n.expr
        quantities.append(
            {
                "name": n.name,
                "symbol": text.node_symbol(n.name),
                "latex": tex.node_symbol(n.name),
                "kind": of.meta.kind,
                "layer": of.meta.layer,
                "shape": _shape_json(n.shape),
                "role": n.role,
                "of": n.of,
                "op": n.op,
                "expr": None if expr is None else str(expr),
                "expr_text": None if expr is None else text.rhs(n.name),
                "expr_latex": None if expr is None else tex.rhs(n.name),
            }
        )
    sections = []
    for st, sl in zip(
        _documents(d, nt, layout, "text", steps, batch), _documents(d, nt, layout, "latex", steps, batch)
    ):
        items = []
        for a, b in zip(st.items, sl.items):
            if isinstance(a, Note):
                items.append({"note": _note_text(a), "note_latex": _note_tex(b)})
            else:
                items.append(
                    {
                        "name": a.name,
                        "lhs": a.lhs,
                        "op": a.op,
                        "rhs": a.rhs,
                        "shape": a.shape or None,
                        "where": _note_text(a.where) if a.where else None,
                        "lhs_latex": b.lhs,
                        "rhs_latex": b.rhs,
                    }
                )
        sections.append({"title": st.title, "items": items})
    net = d.summary
    return {
        "schema": SCHEMA,
        "network": _network_json(net),
        "notation": nt.name,
        "layout": layout,
        "form": "minibatch" if batch else "per-sample",
        "params": list(d.params),
        "gradients": dict(d.adjoints),
        "quantities": quantities,
        "sections": sections,
    }


def _network_json(net) -> dict:
    if not net.layered:
        return {"dag": net.name, "reduction": net.reduction}
    return {
        "sizes": _shape_json(net.sizes),
        "activations": [layer.activation for layer in net.layers],
        "loss": net.loss.name,
        "reduction": net.reduction,
    }


def render_derivation(
    d, format: str = "text", notation="udl", layout: str | None = None, steps: bool = False, batch: bool = False
) -> str:
    """The derivation as text, LaTeX, Markdown or JSON in a course's notation."""
    if format not in FORMATS:
        raise SymbackError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    nt = notations.get(notation)
    layout = notations.layout_of(nt, layout)
    if format == "json":
        return json.dumps(derivation_dict(d, nt, layout, steps, batch), indent=2, ensure_ascii=False) + "\n"
    if format == "text":
        return to_text(_documents(d, nt, layout, "text", steps, batch))
    doc = _documents(d, nt, layout, "latex", steps, batch)
    return to_latex(doc) if format == "latex" else to_markdown(doc)


def equations(d, notation="udl") -> dict[str, str]:
    """{node name: "lhs = rhs"}: each derived node's equation as `symback derive` prints it (text)."""
    nt = notations.get(notation)
    b = Builder(d, nt, notations.layout_of(nt, None), "text")
    return {
        n.name: f"{b.node_symbol(n.name)} = {b.rhs(n.name)}" for n in d.graph if not n.is_leaf and n.expr is not None
    }
