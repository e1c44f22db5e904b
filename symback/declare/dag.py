"""Front end for DAGs of modules: named values, shared parameters, several consumers.

FoML's "backprop beyond MLPs": ``x1 = phi1(x0; w1)``, ``x2 = phi2(x0, x1; w2)``,
``x3 = phi3(x1, x2; w1)``. Values and parameters are named; a module may use
several values, a value may feed several modules and a parameter may be used
by several modules. The DAG lowers to the same IR as a layered `Network`
(which is built with this very class), so the derivation, rendering and code
generation need no second mechanism.

    g = sb.DAG("residual")
    h = g.input("h", 4)
    W1, W2 = g.param("W1", (4, 4)), g.param("W2", (4, 4))
    r = g.map("r", g.linear("u", W1, h), "relu")
    out = g.add("out", h, g.linear("v", W2, r))
    g.loss(out, "mse")

Modules may name values that are declared later (a declarative order);
`graph()` sorts them topologically and rejects cycles, dangling inputs,
shape mismatches and unused parameters with one-line errors naming the node.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import sympy as sp

from .. import library
from .. import notation as notations
from ..derivation import Derivation, Summary, differentiable
from ..errors import SymbackError
from ..ir import Graph, Meta, Node, sym
from ..ops import batchnorm as batch_op
from ..ops import concat, elementwise, linear
from ..ops import loss as loss_op
from ..parse import to_expr
from . import dropout
from .attention import Products
from .layernorm import Components


@dataclass
class _Decl:
    name: str
    op: str
    args: tuple[str, ...]
    shape: tuple | None
    build: object = None  # callable(shapes) -> (expr, shape) for non-leaves
    meta: Meta = field(default_factory=Meta)


def width(value, where: str):
    """A layer width or shape entry: a positive integer or a SymPy symbol (a one-line error otherwise)."""
    if isinstance(value, bool):
        raise SymbackError(f"{where}: width must be a positive integer or a SymPy symbol, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise SymbackError(f"{where}: width must be positive, got {value}")
        return value
    if isinstance(value, str) and value.isidentifier():
        return sp.Symbol(value, integer=True, positive=True)
    if isinstance(value, sp.Symbol):
        return sp.Symbol(value.name, integer=True, positive=True)
    raise SymbackError(f"{where}: width must be a positive integer or a SymPy symbol, got {value!r}")


class DAG(Components, Products):
    """A graph of modules; every method returns the name of the value it declares."""

    def __init__(self, name: str | None = None):
        self.name = name
        self._decls: dict[str, _Decl] = {}
        self._loss: tuple | None = None
        self.reduction = "mean"

    # -- leaves --------------------------------------------------------------
    def input(self, name: str, size) -> str:
        """A per-sample input vector of `size` entries."""
        return self._declare(_Decl(name, "input", (), (width(size, f"input {name}"),), meta=Meta(kind="input")))

    def const(self, name: str, size=None, like: str | None = None, rate=None) -> str:
        """A per-sample constant input (a mask): given with the data, never differentiated; `size` entries, or as
        many as the value `like` (dropout's mask, whose `rate` p the compiled module draws it with)."""
        if (size is None) == (like is None):
            raise SymbackError(f"const {name}: give its size or like=<a value of the same width>, not both")
        shape = None if like else (width(size, f"const {name}"),)
        build = (lambda shapes: (None, shapes[like])) if like else None
        return self._declare(_Decl(name, "input", (like,) if like else (), shape, build, Meta(kind="const", rate=rate)))

    def param(self, name: str, shape, kind: str | None = None, layer: int | None = None) -> str:
        """A trainable parameter: a matrix ``(rows, cols)`` or a vector ``(n,)``/``n``."""
        if not isinstance(shape, (tuple, list)):
            shape = (shape,)
        shape = tuple(width(s, f"param {name}") for s in shape)
        if len(shape) not in (1, 2):
            raise SymbackError(f"param {name}: shape must be (rows, cols) or (n,), got {shape}")
        meta = Meta(kind=kind or ("weight" if len(shape) == 2 else "bias"), layer=layer)
        return self._declare(_Decl(name, "param", (), shape, meta=meta))

    # -- modules -------------------------------------------------------------
    def linear(self, name: str, W, x, b=None, kind: str = "value", layer: int | None = None) -> str:
        """``name = W x (+ b)``; `W` may be a parameter name or ``DAG.T(name)`` for a tied transpose."""
        transposed = isinstance(W, _Transposed)
        w = W.name if transposed else W
        args = (w, x) + ((b,) if b is not None else ())

        def build(shapes):
            return linear.build(name, w, x, b, transposed, shapes)

        meta = Meta(kind=kind, layer=layer, tied=w if transposed else None)
        return self._declare(_Decl(name, "linear", args, None, build, meta))

    def ew(self, name: str, expr, inputs: dict[str, str] | None = None, kind: str = "value",
           layer: int | None = None, **meta) -> str:
        """An elementwise module: `expr` in symbols standing for components of the `inputs` values.

        ``g.ew("gate", a * sp.tanh(b), {"a": "x1", "b": "x2"})`` or with symbols
        already named after the values (``inputs`` omitted).
        """
        expr = to_expr(expr, f"module {name}")
        inputs = dict(inputs or {s.name: s.name for s in expr.free_symbols})
        args = tuple(dict.fromkeys(inputs.values()))
        by_name = {s.name: s for s in expr.free_symbols}
        unknown = sorted(set(by_name) - set(inputs))
        if unknown:
            raise SymbackError(f"module {name}: {unknown[0]!r} in {expr} is not one of its inputs "
                               f"({', '.join(inputs)})")
        body = expr.xreplace({by_name[k]: sym(v) for k, v in inputs.items() if k in by_name})

        def build(shapes):
            return elementwise.build(name, body, args, shapes)

        m = Meta(kind=kind, layer=layer, **meta)
        return self._declare(_Decl(name, "ew", args, None, build, m))

    def map(self, name: str, x: str, activation, kind: str = "value", layer: int | None = None) -> str:
        """``name = a(x)`` elementwise, `activation` a name or an expression of one symbol."""
        fn = library.activation(activation)
        label = activation if isinstance(activation, str) else str(fn(library.Z))
        return self.ew(name, fn(sym(x)), {x: x}, kind=kind, layer=layer, activation=label)

    def add(self, name: str, *values: str) -> str:
        """Elementwise sum (a residual connection)."""
        syms = [sp.Symbol(f"_a{i}") for i in range(len(values))]
        return self.ew(name, sp.Add(*syms), {s.name: v for s, v in zip(syms, values)})

    def mul(self, name: str, a: str, b: str) -> str:
        """Elementwise product (gating)."""
        return self.ew(name, sp.Symbol("_a") * sp.Symbol("_b"), {"_a": a, "_b": b})

    def dropout(self, name: str, x: str, p) -> str:
        """Inverted dropout ``name = m ⊙ x / (1 - p)`` with its mask input ``m_name`` (`declare.dropout`)."""
        return dropout.declare(self, name, x, p)

    def concat(self, name: str, *values: str) -> str:
        """Stack vectors: ``[a; b]``."""

        def build(shapes):
            return concat.build(name, values, shapes)

        return self._declare(_Decl(name, "concat", tuple(values), None, build, Meta(kind="value")))

    def dense(self, name: str, x: str, W: str, b: str | None = None, activation="identity") -> str:
        """``name = a(W x + b)`` as two modules, ``name_pre`` and `name` (one if a is the identity)."""
        fn = library.activation(activation)
        if fn(library.Z) == library.Z:
            return self.linear(name, W, x, b)
        pre = self.linear(f"{name}_pre", W, x, b, kind="pre")
        return self.map(name, pre, activation)

    def batchnorm(self, name: str, x: str, gamma: str, beta: str, eps=1e-5, eps_at: str = "variance",
                  kind: str = "batchnorm", layer: int | None = None) -> str:
        """Batch normalisation in training mode: ``gamma * (x - mu) / sqrt(var + eps) + beta``, mu and var the batch's
        mean and biased variance per feature; ``eps_at="std"``: ``/ (sqrt(var) + eps)`` (UDL's placement)."""
        eps, eps_at = batch_op.epsilon(eps, f"batchnorm {name}"), batch_op.placement(eps_at, f"batchnorm {name}")

        def build(shapes):
            ops = {p: self._decls[p].op for p in (gamma, beta)}
            return batch_op.build(name, x, gamma, beta, eps, shapes, ops, eps_at)

        return self._declare(_Decl(name, "batch", (x, gamma, beta), None, build, Meta(kind=kind, layer=layer)))

    @staticmethod
    def T(param: str) -> _Transposed:
        """The transpose of a parameter, for tied weights (``W_dec = W_enc^T``)."""
        return _Transposed(param)

    def loss(self, prediction: str, loss="mse", reduction: str = "mean") -> None:
        """The training loss of `prediction` against a target ``y`` (values or class labels)."""
        self._loss = (prediction, library.loss(loss))
        if reduction not in ("mean", "sum"):
            raise SymbackError(f"loss: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    # -- lowering ------------------------------------------------------------
    def _module(self, name: str, op: str, args: tuple, build, meta: Meta) -> str:
        """Declare a module of `op` whose `build(shapes)` gives its expression and shape."""
        return self._declare(_Decl(name, op, args, None, build, meta))

    def _declare(self, decl: _Decl) -> str:
        if not isinstance(decl.name, str) or not decl.name.isidentifier():
            raise SymbackError(f"{decl.name!r} is not a valid name for a value (use a Python identifier)")
        if decl.name in self._decls or decl.name in ("y", "l"):
            raise SymbackError(f"{decl.name!r} is declared twice" if decl.name in self._decls
                               else f"{decl.name!r} is reserved (target y, loss l)")
        self._decls[decl.name] = decl
        return decl.name

    @property
    def loss_spec(self):
        if self._loss is None:
            raise SymbackError(f"{self.name or 'DAG'}: no loss declared; call .loss(prediction, 'mse')")
        return self._loss[1]

    def _order(self) -> list[str]:
        """Topological order of the declarations (declaration order where free); cycles named."""
        for d in self._decls.values():
            for a in d.args:
                if a not in self._decls:
                    raise SymbackError(f"module {d.name}: input {a!r} is never declared (a dangling input)")
        order, state = [], {}
        for start in self._decls:
            stack = [(start, iter(self._decls[start].args))]
            if state.get(start) == "done":
                continue
            state[start] = "open"
            path = [start]
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    path.pop()
                    state[node] = "done"
                    order.append(node)
                elif state.get(nxt) == "open":
                    cycle = path[path.index(nxt):] + [nxt]
                    raise SymbackError(f"cycle: {' -> '.join(reversed(cycle))}; a value cannot depend on itself")
                elif state.get(nxt) != "done":
                    state[nxt] = "open"
                    path.append(nxt)
                    stack.append((nxt, iter(self._decls[nxt].args)))
        return order

    def graph(self) -> tuple[Graph, str]:
        """Lower to the IR; returns (graph, output name)."""
        pred, loss = self._loss or (None, self.loss_spec)  # loss_spec raises the one-line error
        if pred not in self._decls:
            raise SymbackError(f"loss: prediction {pred!r} is never declared")
        order = [self._decls[n] for n in self._order()]
        leaves = [d for d in order if d.op in ("input", "param")]
        shapes: dict[str, tuple] = {d.name: d.shape for d in leaves}
        modules = []
        for d in order:
            if d.op in ("input", "param") and d.build:  # a constant as wide as a value
                shapes[d.name] = d.build(shapes)[1]
            elif d.op not in ("input", "param"):
                expr, shapes[d.name] = d.build(shapes)
                meta = replace(d.meta, shapes={a: shapes[a] for a in d.args})
                modules.append(Node(d.name, d.op, args=d.args, expr=expr, shape=shapes[d.name], meta=meta))
        out_shape = shapes[pred]
        if len(out_shape) != 1:
            raise SymbackError(f"loss: prediction {pred} must be a vector, has shape {out_shape}")
        label = loss.kind == "class"
        g = Graph(Node(d.name, "input", shape=shapes[d.name], meta=d.meta) for d in leaves if d.op == "input")
        g.add(Node("y", "target", shape=() if label else out_shape, meta=Meta(kind="label" if label else "target")))
        for node in [*(Node(d.name, "param", shape=d.shape, meta=d.meta) for d in leaves if d.op == "param"), *modules]:
            g.add(node)
        g.add(loss_op.build(pred, out_shape[0], loss))
        self._check_use(g, pred)
        return g, "l"

    def _check_use(self, g: Graph, pred: str) -> None:
        reaches = {"l"}
        for node in reversed(list(g)):
            if node.name in reaches:
                reaches.update(node.args)
        dead = []
        for node in g:
            if node.op == "param" and not g.consumers(node.name):
                raise SymbackError(f"param {node.name} is declared but never used; remove it or use it in a module")
            if node.op == "param" and node.name not in reaches:  # its gradient would be 0, from no path
                raise SymbackError(f"param {node.name} is used only by modules that never reach the loss "
                                   f"({', '.join(g.consumers(node.name))}); remove it or use it in one that does")
            if node.name not in reaches and node.op not in ("target", "input"):
                dead.append(node.name)
        if dead:  # one warning for the whole dead branch, its modules in order
            verb = "does" if len(dead) == 1 else "do"
            warnings.warn(f"{', '.join(dead)} {verb} not reach the loss; no gradient flows through "
                          f"{'it' if len(dead) == 1 else 'them'}", stacklevel=3)

    def params(self) -> list[str]:
        return [n for n, d in self._decls.items() if d.op == "param"]

    def derive(self, simplify: bool = True, notation="udl", layout: str | None = None, wrt=None) -> Derivation:
        """The backpropagation equations of this DAG (a `Derivation`), shown in `notation` and `layout` by default;
        with `wrt` (names of inputs or intermediates), their gradients too, besides the parameters'."""
        return derivation(self, simplify, notation, layout, wrt)

    def summary(self) -> Summary:
        """The plain description consumers read instead of this object."""
        return Summary("dag", repr(self), name=self.name, loss=self.loss_spec, reduction=self.reduction)

    def __repr__(self) -> str:
        return f"DAG({self.name or ''!s}: {len(self._decls)} values)"


def derivation(declared, simplify: bool, notation, layout: str | None, wrt=None) -> Derivation:
    """The `Derivation` of a `DAG` or `Network`, remembering the notation and layout it renders in by default."""
    notations.layout_of(notations.get(notation), layout)  # an unknown name fails here, in one line, before any work
    forward, output = declared.graph()
    params = [n.name for n in forward.leaves("param")]
    wrt = params if wrt is None else params + differentiable(forward, output, wrt)
    return Derivation(forward, output, list(dict.fromkeys(wrt)), declared.summary(), simplify, notation, layout)


@dataclass(frozen=True)
class _Transposed:
    name: str
