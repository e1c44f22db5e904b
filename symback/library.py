"""Named activations and losses: forward formulas only.

Every entry is the SymPy expression of the forward computation. No
derivative is written here, or anywhere in symback: `derive` obtains each one
by differentiating these formulas, so a function a user registers works
exactly like the built-in ones.
"""

from __future__ import annotations

import difflib

import sympy as sp

from .errors import SymbackError

#: The symbol every activation is written in.
Z = sp.Symbol("z", real=True)

ACTIVATIONS: dict[str, sp.Lambda] = {}


def _as_lambda(name: str, expr) -> sp.Lambda:
    """Accept a Lambda or an expression of exactly one free symbol."""
    if isinstance(expr, sp.Lambda):
        if len(expr.variables) != 1:
            raise SymbackError(f"activation {name!r}: a Lambda of one variable is needed, got {len(expr.variables)}")
        var = expr.variables[0]
        body = expr.expr
    else:
        try:
            expr = sp.sympify(expr)
        except (sp.SympifyError, TypeError) as exc:
            raise SymbackError(f"activation {name!r}: {expr!r} is not a SymPy expression") from exc
        free = sorted(expr.free_symbols, key=lambda s: s.name)
        if len(free) != 1:
            names = ", ".join(s.name for s in free) or "none"
            raise SymbackError(
                f"activation {name!r}: must be a function of exactly one symbol, found {len(free)} ({names}); "
                "write it in one symbol, e.g. z*tanh(z), or pass sympy.Lambda(z, ...)"
            )
        var, body = free[0], expr
    return sp.Lambda(Z, body.xreplace({var: Z}))


def register_activation(name: str, expr) -> sp.Lambda:
    """Make a user's elementwise function a named activation (usable by name everywhere)."""
    if not name.isidentifier():
        raise SymbackError(f"activation name {name!r} must be a Python identifier")
    ACTIVATIONS[name] = _as_lambda(name, expr)
    return ACTIVATIONS[name]


def activation(name_or_expr) -> sp.Lambda:
    """Look up a named activation, or wrap an expression / Lambda as one."""
    if isinstance(name_or_expr, str):
        if name_or_expr not in ACTIVATIONS:
            raise SymbackError(f"unknown activation {name_or_expr!r}{suggest(name_or_expr, ACTIVATIONS)}")
        return ACTIVATIONS[name_or_expr]
    return _as_lambda("custom", name_or_expr)


def suggest(name: str, known) -> str:
    """'; did you mean ...?' with the nearest known names, or the list of them."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
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
