"""Named activations and losses: forward formulas only.

Every entry is the SymPy expression of the forward computation. No
derivative is written here, or anywhere in symback: `derive` obtains each one
by differentiating these formulas, so a function a user registers works
exactly like the built-in ones.
"""

from __future__ import annotations

import difflib
from collections import ChainMap

import sympy as sp

from .errors import SymbackError
from .textbuild import FUNCTIONS, read_expr
from .textparse import abbreviate

#: The symbol every activation is written in.
Z = sp.Symbol("z", real=True)

ACTIVATIONS: dict[str, sp.Lambda] = {}
# the names a registered formula may call: the activations, then SymPy's functions
_CALLABLE = ChainMap(ACTIVATIONS, FUNCTIONS)


def as_lambda(name: str, expr) -> sp.Lambda:
    """Accept a Lambda or an expression of exactly one free symbol."""
    if isinstance(expr, sp.Lambda):
        if len(expr.variables) != 1:
            raise SymbackError(f"activation {name!r}: a Lambda of one variable is needed, got {len(expr.variables)}")
        return sp.Lambda(Z, expr(Z))
    expr = read_expr(expr, f"activation {name!r}", functions=_CALLABLE)
    free = sorted(expr.free_symbols, key=lambda s: s.name)
    if len(free) != 1:
        names = ", ".join(s.name for s in free) or "none"
        raise SymbackError(f"activation {name!r}: must be a function of exactly one symbol, found {len(free)} "
                           f"({names}); write it in one symbol, e.g. z*tanh(z), or pass sympy.Lambda(z, ...)")
    return sp.Lambda(Z, expr.xreplace({free[0]: Z}))


def _register(table: dict, what: str, name: str, make, expr):
    """``table[name] = make(name, expr)`` for a name that is a Python identifier."""
    if not name.isidentifier():
        raise SymbackError(f"{what} name {name!r} must be a Python identifier")
    table[name] = make(name, expr)
    return table[name]


def _lookup(table: dict, what: str, name_or_expr, make):
    """``table[name]`` (an unknown name: the nearest known ones), or a user's formula wrapped by `make`."""
    if not isinstance(name_or_expr, str):
        return make("custom", name_or_expr)
    if name_or_expr not in table:
        raise SymbackError(f"unknown {what} {abbreviate(name_or_expr)}{suggest(name_or_expr, table)}")
    return table[name_or_expr]


def register_activation(name: str, expr) -> sp.Lambda:
    """Make a user's elementwise function a named activation (usable by name everywhere)."""
    return _register(ACTIVATIONS, "activation", name, as_lambda, expr)


def activation(name_or_expr) -> sp.Lambda:
    """Look up a named activation, or wrap an expression / Lambda as one."""
    return _lookup(ACTIVATIONS, "activation", name_or_expr, as_lambda)


def suggest(name: str, known) -> str:
    """'; did you mean ...?' with the nearest known names, or the list of them."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5) if len(str(name)) < 200 else []
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "; known: " + ", ".join(sorted(known))


_z = Z
for _name, _body in {
    "identity": _z,
    "relu": sp.Max(0, _z),
    "sigmoid": 1 / (1 + sp.exp(-_z)),
    "tanh": sp.tanh(_z),
    "softplus": sp.log(1 + sp.exp(_z)),
    "leaky_relu": sp.Piecewise((_z, _z > 0), (_z / 100, True)),
    "elu": sp.Piecewise((_z, _z > 0), (sp.exp(_z) - 1, True)),
    "gelu": _z / 2 * (1 + sp.erf(_z / sp.sqrt(2))),
    "swish": _z / (1 + sp.exp(-_z)),
}.items():
    register_activation(_name, _body)


# -- losses -----------------------------------------------------------------
#
# A loss is the per-sample formula. A *separable* loss is one expression in
# the symbols F (one output component) and Y (its target), summed over the
# components; a *class* loss is an indexed expression of the output vector
# ``FV[j]``, the integer label ``LABEL`` and the size ``N`` (j runs 0..N-1).

F = sp.Symbol("f", real=True)
Y = sp.Symbol("y", real=True)
FV = sp.IndexedBase("f", real=True)
J = sp.Symbol("j", integer=True)
N = sp.Symbol("n", integer=True, positive=True)
LABEL = sp.Symbol("y", integer=True, nonnegative=True)


class Loss:
    """A per-sample loss: `kind` is "separable" (expr in F, Y) or "class" (expr in FV[j], LABEL, N)."""

    def __init__(self, name: str, expr: sp.Expr, kind: str):
        self.name, self.expr, self.kind = name, expr, kind

    def __repr__(self) -> str:
        return f"Loss({self.name!r}, {self.expr}, {self.kind!r})"


LOSSES: dict[str, Loss] = {}


def _as_loss(name: str, expr) -> Loss:
    if isinstance(expr, Loss):
        return expr
    expr = read_expr(expr, f"loss {name!r}", functions=_CALLABLE)
    if expr.atoms(sp.Indexed):
        return Loss(name, expr, "class")
    by_name = {s.name: s for s in expr.free_symbols}
    extra = sorted(set(by_name) - {"f", "y"})
    if extra:
        raise SymbackError(
            f"loss {name!r}: write it in the symbols f (an output component) and y (its target); "
            f"found {', '.join(extra)}"
        )
    if "f" not in by_name:
        raise SymbackError(f"loss {name!r}: {expr} does not depend on the output f, so no gradient can flow")
    body = expr.xreplace({by_name[k]: {"f": F, "y": Y}[k] for k in by_name})
    return Loss(name, body, "separable")


def register_loss(name: str, expr) -> Loss:
    """Make a user's per-sample loss a named one: an expression in f and y, summed over components."""
    return _register(LOSSES, "loss", name, _as_loss, expr)


def loss(name_or_expr) -> Loss:
    """Look up a named loss, or wrap a user's expression in f and y as one."""
    return _lookup(LOSSES, "loss", name_or_expr, _as_loss)


_sigma = 1 / (1 + sp.exp(-F))
register_loss("mse", (F - Y) ** 2)
register_loss("bce", -(Y * sp.log(F) + (1 - Y) * sp.log(1 - F)))
register_loss("bce_with_logits", -(Y * sp.log(_sigma) + (1 - Y) * sp.log(1 - _sigma)))
register_loss("huber", sp.Piecewise(((F - Y) ** 2 / 2, sp.Abs(F - Y) <= 1), (sp.Abs(F - Y) - sp.Rational(1, 2), True)))
LOSSES["softmax_cross_entropy"] = Loss(
    "softmax_cross_entropy", -FV[LABEL] + sp.log(sp.Sum(sp.exp(FV[J]), (J, 0, N - 1))), "class"
)
