"""The names a kernel gives its quantities, kept apart from the kernel's own locals (as Tangent's naming.py).

Stage: codegen. Input: IR node names. Output: Python identifiers. A kernel names each quantity as the
derivation does (``W2``, ``b2``, ``f1``, ``h1``, ``dl_df2``, the gradient ``dl_dW2``), so the body reads
like the math. IR names are user-chosen (a DAG value may be called ``B`` or ``np``), so a name that would
collide with the kernel's own locals (listed here: the layouts' fixed names, and numbered ones such as
``t0``, ``red1``, ``acc2``, ``V64`` by pattern), a module global or a builtin gets the prefix ``v_``.
"""

from __future__ import annotations

import builtins
import keyword
import re

#: the kernel's arguments: flat parameters, inputs, targets, workspace, learning rate, run mode
KERNEL_ARGS = ("P", "X", "Y", "ws", "lr", "mode")
#: run modes (module constants of the runtime): the forward pass only, and the SGD update too
FORWARD, SGD = "FORWARD", "SGD"
#: the transposed block of stored rows (batch-innermost layout) and the scratch block (BLAS layout)
ROWS, SCRATCH = "R", "S"

_LOCALS = {"B", "s", "i", "j", "k", "r", "g", "gi", "a", "w", "o", "d", "z", "f", "acc", "chk", "loss", "scale",
           "step", "Sk", "Gs", "G", "math", "np", "njit", "out", ROWS, SCRATCH, *KERNEL_ARGS}
_GLOBALS = {"PARAMS", "SHAPES", "INPUTS", "OUTPUT", "LOSS", "REDUCTION", "SIZES", "N_PARAMS", "FORWARD", "GRADIENT",
            "SGD"}
_NUMBERED = re.compile(r"(t|o|red|mx|pk|acc|bias|vec|V|_p)\d+$")


def _taken(name: str) -> bool:
    return (name in _LOCALS or name in _GLOBALS or _NUMBERED.match(name) is not None or keyword.iskeyword(name)
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


def row(ident: str) -> str:
    """Row i (one component, every sample) of a stored value, batch-innermost layout: ``h1_i``."""
    return f"{ident}_i"
