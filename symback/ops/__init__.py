"""The op table: one entry per op, its rules side by side, one module per op family.

`base` defines the `Op` entry, the table `OPS` and its typed lookups; the
family modules register their entries when imported here: `scalar` (leaves,
``scalar``, ``seed``), `linear`, `elementwise` (``ew``), `loss`, `concat`, `reduce` (``coupled``).
"""

from . import attention, batchnorm, concat, conv, elementwise, linear, loss, pool, reduce, scalar, tensor  # noqa: F401
from .base import OPS, I, Op, Term, local_derivative, lookup, msym, register, vjp_of
from .elementwise import DefinedOp, expand_ops, register_op
from .loss import decay_rate, sum_kronecker

__all__ = ["OPS", "DefinedOp", "I", "Op", "Term", "decay_rate", "expand_ops", "local_derivative", "lookup", "msym",
           "register", "register_op", "sum_kronecker", "vjp_of"]
