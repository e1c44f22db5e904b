"""``ew``: elementwise, a scalar expression in the args' component symbols.

``h1 = Max(0, f1)`` means each component; several args of one shape combine
componentwise (``out = h + v``, ``g = a*tanh(b)``). Its VJP is the scalar
rule applied componentwise: ``sympy.diff`` of the expression, times the
upstream component.

`register_op` adds a named elementwise function from its SymPy definition
(``softsign(z) = z/(1 + |z|)``): a SymPy `Function` whose derivative is
``sympy.diff`` of the definition, whose printed form is the one given (so
every SymPy printer shows it), and whose numbers come from the definition.
`expand_ops` writes registered ops back as their definitions.
"""

from __future__ import annotations

import sympy as sp
from mpmath.libmp import prec_to_dps

from .. import library
from ..errors import SymbackError
from ..ir import Node, sym
from . import batched
from .arrays import MODULES, pointwise, substitute
from .base import Op, Term, local_derivative, register
from .reduce import over_components


def build(name: str, body: sp.Expr, args: tuple[str, ...], shapes: dict) -> tuple[sp.Expr, tuple]:
    """The expression itself, and the one shape its args share (scalars broadcast)."""
    vector = {shapes[a] for a in args if shapes[a] != ()}
    if len(vector) > 1:
        detail = ", ".join(f"{a} {shapes[a]}" for a in args)
        raise SymbackError(f"module {name}: elementwise inputs must have one shape, got {detail}")
    return body, vector.pop() if vector else ()


def vjp(node: Node, arg: str, upstream: sp.Symbol) -> Term:
    local = local_derivative(node.expr, sym(arg), lambda: f"node {node.name} = {node.expr}")
    shapes = node.meta.shapes or {}
    if node.shape != () and shapes.get(arg) == ():  # a scalar broadcast over the components: the sum of its shares
        vectors = {a for a, s in shapes.items() if s != ()} | {upstream.name}
        return Term(node.name, local, over_components(local * upstream, node.shape[0], vectors), op="ew")
    return Term(node.name, local, local * upstream, op="ew", upstream=upstream)


register(Op("ew", "a(f): a scalar expression applied componentwise", vjp=vjp, exact=substitute,
            numeric=pointwise, batched=batched.pointwise, build=build))


class DefinedOp(sp.Function):
    """An elementwise op registered by `register_op`: a name and printed form for its definition."""

    nargs = 1
    definition: sp.Lambda  # the forward formula, Lambda(z, ...)
    text: str  # str() form: ``softsign(x)``
    latex_name: str  # LaTeX form of the name: ``\operatorname{softsign}``

    @classmethod
    def eval(cls, z):
        if z.is_Number:  # exact numbers for worked tables: softsign(3) = 3/4
            return cls.definition(z)
        return None

    def fdiff(self, argindex=1):
        z = library.Z
        return sp.diff(self.definition.expr, z).xreplace({z: self.args[0]})

    def _eval_evalf(self, prec):
        return self.definition(self.args[0]).evalf(prec_to_dps(prec))

    def _sympystr(self, printer):
        return f"{self.text}({printer._print(self.args[0])})"

    def _latex(self, printer, exp=None):
        out = rf"{self.latex_name}\left({printer._print(self.args[0])}\right)"
        return out if exp is None else rf"{out}^{{{exp}}}"

    def _pretty(self, printer):
        return printer._helper_print_function(self.func, self.args, func_name=self.text)

    # symback's own printers (render/printers.py) dispatch on these print methods
    _symback_text = _sympystr
    _symback_latex = _latex


#: name -> the registered op's SymPy function class
DEFINED: dict[str, type[DefinedOp]] = {}


def register_op(name: str, definition, latex: str | None = None, text: str | None = None) -> type[DefinedOp]:
    r"""A named elementwise op from its definition in one symbol; usable as an activation by name.

    ``register_op("softsign", z / (1 + sp.Abs(z)), latex=r"\operatorname{softsign}")`` returns the
    SymPy function ``softsign``; ``sb.Dense(3, "softsign")`` and ``softsign(x)`` in ``sb.grad`` use it.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise SymbackError(f"op name {name!r} must be a Python identifier")
    fn = library.as_lambda(name, definition)
    impl = sp.lambdify(library.Z, expand_ops(fn.expr), MODULES)  # NumPy values, for lambdify anywhere
    cls = type(name, (DefinedOp,), {"definition": fn, "text": text or name, "_imp_": staticmethod(impl),
                                    "latex_name": latex or rf"\operatorname{{{name}}}", "__module__": __name__})
    DEFINED[name] = cls
    library.register_activation(name, sp.Lambda(library.Z, cls(library.Z)))
    return cls


def expand_ops(expr: sp.Expr) -> sp.Expr:
    """`expr` with every registered op replaced by its definition (for code generators and evaluators)."""
    while expr.atoms(DefinedOp):  # again while any remain: an op may be defined through another
        expr = expr.replace(lambda e: isinstance(e, DefinedOp), lambda e: e.definition(e.args[0]))
    return expr
