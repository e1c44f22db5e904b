"""Every name the code generator emits, built in one place (as Tangent's naming.py).

Stage: codegen. Input: IR node names, parameter names and layout names.
Output: Python identifiers. A kernel names each quantity as the derivation
does (``W2``, ``b2``, ``f1``, ``h1``, ``dl_df2``, the gradient ``dl_dW2``),
so the body reads like the math. IR names are user-chosen (a DAG value may
be called ``B`` or ``np``), so a name that would collide with the kernel's
own locals, a module global or a builtin gets the prefix ``v_``.
"""

from __future__ import annotations

import builtins
import keyword
import re

#: the kernel's arguments: flat parameters, inputs, targets, workspace, learning rate, run mode
PARAMS, INPUTS, TARGETS, WORK, RATE, MODE = "P", "X", "Y", "ws", "lr", "mode"
KERNEL_ARGS = (PARAMS, INPUTS, TARGETS, WORK, RATE, MODE)
SAMPLE, COMPONENT, INNER = "s", "i", "j"
#: run modes (module constants of the runtime): forward only, loss and gradient, and the SGD update too
FORWARD, GRADIENT, SGD = "FORWARD", "GRADIENT", "SGD"
#: the gradient block of the workspace, as one flat vector (the SGD update is one pass over it)
GRADIENT_BLOCK = "G"
#: the transposed block of stored rows (batch-innermost layout) and the scratch block (BLAS layout)
ROWS, SCRATCH = "R", "S"
#: njit options of a kernel. The loop layouts add ``_nrt=False`` (no reference counting): they allocate
#: nothing, and their named views of P and ws live only during the call, so counting references would only
#: cost time (it tripled the step of a tiny network). The BLAS layout needs it for np.dot's result.
JIT_OPTIONS = "cache=True, fastmath=_FASTMATH"
NO_REFCOUNT = ", _nrt=False"
#: the kernel that checks a batch before any layout runs
CHECK = "_check_batch"

_LOCALS = {"B", "k", "r", "g", "gi", "a", "w", "o", "d", "z", "f", "acc", "chk", "loss", "scale", "step",
           "Sk", "Gs", "math", "np", "njit", "out"}
_GLOBALS = {"PARAMS", "SHAPES", "INPUTS", "OUTPUT", "LOSS", "REDUCTION", "SIZES", "N_PARAMS", "FORWARD", "GRADIENT",
            "SGD"}
_NUMBERED = re.compile(r"(t|o|red|mx|pk|acc|bias|vec|V|_p)\d+$")
_RESERVED = set(KERNEL_ARGS) | {SAMPLE, COMPONENT, INNER, GRADIENT_BLOCK, ROWS, SCRATCH} | _LOCALS | _GLOBALS


def _taken(name: str) -> bool:
    return (name in _RESERVED or _NUMBERED.match(name) is not None or keyword.iskeyword(name)
            or hasattr(builtins, name) or name.startswith("_") or not name.isidentifier())


def quantities(names) -> dict[str, str]:
    """IR name -> kernel identifier: the IR name itself unless it collides, then ``v_`` + the name."""
    names = list(names)
    used = set(names)
    out = {}
    for n in names:
        if not _taken(n):
            out[n] = n
            continue
        cand = "v_" + re.sub(r"\W", "_", n).lstrip("_")
        while cand in used or _taken(cand):
            cand += "_"
        used.add(cand)
        out[n] = cand
    return out


def kernel(layout: str) -> str:
    """The njit kernel of one loop layout: ``_step_blas``."""
    return f"_step_{layout}"


def block(width: int) -> str:
    """The workspace block holding every stored vector of one width (BLAS layout)."""
    return f"V{width}"


def output() -> str:
    """The rows of network outputs that a forward pass leaves in the workspace (sample-outer layout)."""
    return "out"


def row(ident: str) -> str:
    """Row i (one component, every sample) of a stored value, batch-innermost layout: ``h1_i``."""
    return f"{ident}_i"


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
    """A running sum (``acc``, ``acc1``, ...)."""
    return "acc" if k == 0 else f"acc{k}"


def bias(k: int) -> str:
    """A bias component hoisted out of a batch loop."""
    return f"bias{k}"


def operand(k: int) -> str:
    """A vector term's row, hoisted out of a batch loop."""
    return f"vec{k}"
