"""Every name the code generator emits, built in one place (as Tangent's naming.py).

Stage: codegen. Input: IR node names and layout names. Output: Python
identifiers that cannot collide with each other or with the kernel's own
locals (``B``, ``P``, ``X``, ``Y``, ``ws``, ``lr``, ``mode``, ``loss``, loop
variables ``s``, ``i``, ``j``, ``k``): IR names are user-chosen (a DAG value
may be called ``B`` or ``np``), so each kind of emitted name gets a prefix.
"""

from __future__ import annotations

#: the kernel's arguments and fixed locals
KERNEL_ARGS = ("P", "X", "Y", "ws", "lr", "mode")
SAMPLE, ROW, COMPONENT, INNER = "s", "i", "i", "j"


def kernel(layout: str) -> str:
    """The njit kernel of one loop layout: ``_step_blas``."""
    return f"_step_{layout}"


def value(node: str) -> str:
    """A stored per-sample vector's buffer (a view into the workspace)."""
    return f"v_{node}"


def param(name: str) -> str:
    """A parameter's view into the flat buffer ``P``."""
    return f"p_{name}"


def grad(name: str) -> str:
    """A parameter gradient's view into the gradient block of the workspace."""
    return f"g_{name}"


def row(node: str) -> str:
    """One component row (all samples) of a stored vector, in the batch-inner layout."""
    return f"r_{node}"


def block(width: int) -> str:
    """The workspace block holding every stored vector of one width (blas layout)."""
    return f"V{width}"


def temp(k: int) -> str:
    """A common subexpression of an elementwise loop body."""
    return f"t{k}"


def out(k: int) -> str:
    """The value of one output of an elementwise loop body, before it is stored."""
    return f"o{k}"


def reduction(k: int) -> str:
    """A per-sample reduction (a sum over components)."""
    return f"red{k}"


def maximum(k: int) -> str:
    """The running maximum subtracted before exponentiating (log-sum-exp, softmax)."""
    return f"mx{k}"


def pick(k: int) -> str:
    """A per-sample pick of one component, such as f[y]."""
    return f"pk{k}"


def acc(k: int = 0) -> str:
    return "acc" if k == 0 else f"acc{k}"
