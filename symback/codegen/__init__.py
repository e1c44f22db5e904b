"""Code generation: a derivation -> a standalone NumPy + Numba training module.

Stage: codegen. Input: a `Derivation`. Output: a Python file following the
contract of DESIGN.md (``PARAMS``, ``init_params``, ``forward``,
``loss_and_grad``, ``sgd_step``), written atomically and imported.

Modules, one job each: `naming` (every emitted name), `printer` (SymPy ->
Numba expressions, stabilizing rewrites), `plan` (IR -> steps), `storage`
(buffer liveness and reuse), `body` (elementwise loop bodies), `base` (what
every layout shares), `sample`, `small`, `blas` (one loop layout each),
`runtime` (the Python side, copied into every module), `module` (assembly,
the layout table), `write` (atomic write, hand-edit guard).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import numpy as np

from ..derivation import provides
from ..errors import SymbackError
from .module import generate
from .plan import declared
from .write import write_module

__all__ = ["compile_derivation", "generate", "load_module", "write_module"]


def load_module(path):
    """Import a generated module from its path (a fresh import each call)."""
    path = Path(path).resolve()
    name = f"symback_generated_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@provides("compile")
def compile_derivation(d, path, notation: str = "udl", dtype=None, force: bool = False,
                       source: str | None = None, command: str | None = None, layouts=None, inference: bool = False,
                       conv: str = "auto"):
    """Write the module for derivation `d` to `path` and import it.

    With `dtype` (np.float32 or np.float64), the returned module's
    ``init_params`` defaults to that dtype. With `inference`, the module
    has the forward pass only: ``forward`` (and ``predict`` for a classifier).
    """
    if Path(path).suffix != ".py":
        raise SymbackError(f"compile: {str(path)[:80]!r} must end in .py (the module is imported from it)")
    text = generate(d, source or declared(d).label, notation=notation, command=command, layouts=layouts,
                    inference=inference, conv=conv)
    write_module(path, text, force=force)
    module = load_module(path)
    if dtype is not None:
        module.init_params = functools.partial(module.init_params, dtype=np.dtype(dtype))
    return module
