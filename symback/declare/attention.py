"""Products of computed values, transposes, sequences and a scaled dot-product attention head (`sb.Attention`).

`Products` gives `DAG` its methods ``g.sequence``, ``g.matmul``, ``g.transpose``, ``g.outer``, ``g.dot``,
``g.row_softmax`` and ``g.attention``. A sequence of T tokens of width d is a per-sample value of T*d entries,
row-major, whose T x d shape the module that made it records (``meta.geometry.shape_out``); a parameter matrix is
itself. Each product is a ``product`` module in index form (symback/ops/attention.py); ``g.dot`` is a ``coupled``
per-sample scalar ``sum_j a_j b_j``. Shapes are checked here, at declaration, in one line naming the module and
both shapes.

The attention head, per sample (PyTorch's ``nn.Linear`` convention: X W^T)::

    Q = X Wq^T    K = X Wk^T    V = X Wv^T    S = Q K^T / sqrt(d)    P = softmax of each row of S
    O = P V       out = X + O   (the residual)
"""

from __future__ import annotations

import numbers
from dataclasses import replace

import sympy as sp

from ..errors import SymbackError
from ..ir import Meta
from ..ops import attention as products
from ..ops import reduce


class Products:
    """`DAG` methods for products of computed values; each returns the name it declares."""

    def matrix_shape(self, value: str) -> tuple:
        """The (rows, cols) of a declared value: a parameter matrix, a sequence or a product, or an elementwise
        module of one (a residual add, an activation)."""
        seen, todo = set(), [value]
        while todo:
            v = todo.pop(0)
            decl = self._decls.get(v)
            if decl is None or v in seen:
                continue
            seen.add(v)
            if decl.op == "param" and len(decl.shape) == 2:
                return decl.shape
            geometry = decl.meta.geometry
            if geometry is not None and len(getattr(geometry, "shape_out", ())) == 2:
                return geometry.shape_out
            if decl.op in ("ew", "coupled"):
                todo += list(decl.args)
        if value not in self._decls:
            raise SymbackError(f"{value!r} is never declared; declare it before its products")
        raise SymbackError(f"{value} is not a matrix: declare it with g.sequence, as a parameter (rows, cols) or as a "
                           "product first")

    def _vector_shape(self, value: str) -> tuple:
        """The (n,) of a declared vector: a leaf, a linear module (its matrix's rows) or an elementwise one of them."""
        decl = self._decls.get(value)
        if decl is None:
            raise SymbackError(f"{value!r} is never declared; declare it before its products")
        if decl.shape is not None:
            return decl.shape
        if decl.op == "linear":
            rows, cols = self._decls[decl.args[0]].shape
            return (cols if decl.meta.tied else rows,)
        for a in decl.args if decl.op == "ew" else ():
            shape = self._vector_shape(a)
            if shape != ():
                return shape
        raise SymbackError(f"{value} is not a vector of a size known where it is declared: give a leaf or a linear "
                           "module")

    def sequence(self, name: str, tokens: int, d: int) -> str:
        """A per-sample input of `tokens` rows of width `d`, stored flat (tokens*d entries, row-major)."""
        for n, what in ((tokens, "tokens"), (d, "d")):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise SymbackError(f"sequence {name}: {what} must be a positive integer, got {n!r:.40}")
        self.input(name, tokens * d)
        decl = self._decls[name]
        decl.meta = replace(decl.meta, geometry=products.Layout("sequence", (tokens, d)))
        return name

    def _product(self, name: str, args: tuple, made, kind: str, layer) -> str:
        form, layout = made
        bases = {b.name: b for b in form.body.atoms(sp.IndexedBase)}
        want = {a: self._decls[a].shape if self._decls[a].op == "param" else (_size(bases[a].shape),) for a in args}

        def build(shapes):
            for a in args:
                if tuple(shapes[a]) != tuple(want[a]):
                    raise SymbackError(f"module {name}: {a} has shape {shapes[a]}, expected {want[a]}")
            n = layout.shape_out[0] * layout.shape_out[1]
            return form, (int(n) if sp.sympify(n).is_Integer else n,)

        return self._module(name, "product", args, build, Meta(kind=kind, layer=layer, geometry=layout))

    def matmul(self, name: str, a: str, b: str, ta: bool = False, tb: bool = False, scale=1, kind: str = "value",
               layer: int | None = None) -> str:
        """``name = scale * A B`` of two matrices (parameters or computed values); ``ta``/``tb`` read A^T, B^T."""
        made = products.matmul(name, a, self.matrix_shape(a), b, self.matrix_shape(b), ta, tb, _scale(scale, name))
        return self._product(name, (a, b), made, kind, layer)

    def transpose(self, name: str, a: str, kind: str = "value", layer: int | None = None) -> str:
        """``name = A^T`` of a computed matrix (a parameter's transpose in a product is ``DAG.T``)."""
        decl = self._decls.get(a)
        shape = decl.shape if decl is not None and decl.op == "input" and decl.meta.geometry is None else None
        made = products.transpose(name, a, shape or self.matrix_shape(a))
        return self._product(name, (a,), made, kind, layer)

    def outer(self, name: str, a: str, b: str, kind: str = "value", layer: int | None = None) -> str:
        """``name = a b^T`` of two vectors: a matrix value."""
        made = products.outer(name, a, self._vector_shape(a), b, self._vector_shape(b))
        return self._product(name, (a, b), made, kind, layer)

    def dot(self, name: str, a: str, b: str, kind: str = "value", layer: int | None = None) -> str:
        """``name = sum_j a_j b_j``: a per-sample scalar (elementwise modules broadcast it over vectors)."""
        n, m = self._vector_shape(a), self._vector_shape(b)
        if n != m or len(n) != 1:
            raise SymbackError(f"module {name}: the dot product of {a} {n} and {b} {m} needs two vectors of one size")

        def build(shapes):
            n = reduce.vector_of(name, a, shapes, "a dot product")
            return reduce.component_sum(a, n, lambda v: v * sp.IndexedBase(b, real=True)[reduce.J]), ()

        return self._module(name, "coupled", (a, b), build, Meta(kind=kind, layer=layer))

    def row_softmax(self, name: str, s: str, kind: str = "softmax", layer: int | None = None) -> str:
        """``name[t, u] = exp(S[t, u]) / sum_v exp(S[t, v])``: the softmax of each row of the matrix `s`."""
        return self._product(name, (s,), products.row_softmax(name, s, self.matrix_shape(s)), kind, layer)

    def attention(self, name: str, x: str, prefix: str = "", residual: bool = True, layer: int | None = None) -> str:
        """A scaled dot-product attention head on the sequence `x` (T x d), with parameters ``Wq``, ``Wk``, ``Wv``
        (d x d, each `prefix`-ed) and the residual ``x + P V`` unless `residual` is False."""
        _, d = self.matrix_shape(x)
        names = {k: f"{k}{prefix}" for k in ("Wq", "Wk", "Wv", "Q", "K", "V", "S", "P", "O")}
        for w in ("Wq", "Wk", "Wv"):
            self.param(names[w], (d, d), kind="weight", layer=layer)
        for v in "QKV":
            self.matmul(names[v], x, names[f"W{v.lower()}"], tb=True, layer=layer)
        self.matmul(names["S"], names["Q"], names["K"], tb=True, scale=1 / sp.sqrt(d), kind="scores", layer=layer)
        self.row_softmax(names["P"], names["S"], layer=layer)
        out = self.matmul(names["O"] if residual else name, names["P"], names["V"], kind="attention", layer=layer)
        return self.add(name, x, out) if residual else out


def _scale(value, name: str) -> sp.Expr:
    """A product's scale: a finite nonzero number (1/sqrt(d) as ``1 / sp.sqrt(d)`` or 0.5); never text."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, sp.Expr)) or not sp.sympify(value).is_number \
            or not sp.sympify(value).is_finite or value == 0:
        raise SymbackError(f"module {name}: scale must be a nonzero number, got {value!r:.40}")
    return sp.nsimplify(value, rational=True) if isinstance(value, float) else sp.sympify(value)


def _size(shape: tuple):
    n = sp.Mul(*shape)
    return int(n) if n.is_Integer else n


class Attention:
    """A one-head self-attention layer with its residual, on a sequence of `tokens` rows (the width is tokens*d):
    ``sb.Attention(tokens=4)``."""

    opens_layer = False

    def __init__(self, tokens: int):
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise SymbackError(f"Attention: tokens must be a positive integer, got {tokens!r:.40}")
        self.tokens = tokens

    def width(self, n_in):
        if not isinstance(n_in, int) or n_in % self.tokens:
            raise SymbackError(f"{self!r}: its input width {n_in} is not a whole number of {self.tokens} tokens")
        return n_in

    def lower(self, g, prev: str, k: int, n_in) -> str:
        self.width(n_in)
        decl = g._decls[prev]
        if decl.meta.geometry is None:
            decl.meta = replace(decl.meta, geometry=products.Layout("sequence", (self.tokens, n_in // self.tokens)))
        return g.attention(f"a{k}", prev, prefix=str(k), layer=k)

    def __repr__(self) -> str:
        return f"Attention(tokens={self.tokens})"
